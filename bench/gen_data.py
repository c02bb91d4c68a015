#!/usr/bin/env python3
"""Seeded synthetic data for Tessera's point-in-time (PIT) benchmarks.

Everything is derived from one numpy Generator seeded with --seed, so the same
arguments always give byte-identical tables.  Files written under OUT:

  user_stats.parquet  feature history
      user_id int64, event_timestamp timestamp[us], created timestamp[us],
      f0..f9 float64, i0..i4 int64
      About 1 % of the rows repeat the (user_id, event_timestamp) of another row
      with a strictly later `created` (exactly two rows per such key), so the
      "ties broken by greatest created" part of the PIT rule is exercised.
  entity_df.parquet   the spine: user_id int64, event_timestamp timestamp[us], label int64
  events.parquet      raw interactions: user_id, item_id, event_timestamp (sorted),
                      action (string), dwell_s float64
  items.parquet       item metadata: item_id, genre (string), artist_id,
                      release_year, duration_s

All timestamps are naive microseconds spread over 90 days from 2026-01-01.
Rows of user_stats and of the spine are in random (not time) order.

usage:
  gen_data.py OUT [--users U] [--feature-rows M] [--entity-rows K]
                  [--events E] [--items I] [--seed S]
Needs numpy and pyarrow.
"""
import argparse
import os
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

EPOCH_START_US = int(np.datetime64("2026-01-01T00:00:00", "us").astype(np.int64))
WINDOW_US = 90 * 86_400 * 1_000_000      # timestamps span 90 days
MAX_LAG_US = 3_600 * 1_000_000           # `created` trails the event by < 1 h (< 2 h for duplicates)
DUP_FRACTION = 0.01

TS = pa.timestamp("us")
GENRES = ["pop", "rock", "jazz", "classical", "hiphop", "electronic", "country", "podcast"]
ACTIONS = ["play", "skip", "like", "purchase"]
ACTION_P = [0.70, 0.20, 0.08, 0.02]


def ts_array(us: np.ndarray) -> pa.Array:
    """int64 microseconds since the Unix epoch -> Arrow timestamp[us] (no time zone)."""
    return pa.array(us.astype(np.int64, copy=False), type=TS)


def random_times(rng: np.random.Generator, n: int) -> np.ndarray:
    return EPOCH_START_US + rng.integers(0, WINDOW_US, n, dtype=np.int64)


def feature_history(rng, n_rows: int, n_users: int) -> pa.Table:
    uid = rng.integers(0, n_users, n_rows, dtype=np.int64)
    ets = random_times(rng, n_rows)
    created = ets + rng.integers(0, MAX_LAG_US, n_rows, dtype=np.int64)

    # Duplicate keys: pick disjoint "copy" and "original" row sets; each copy takes
    # the (user, ts) of its own original and a created strictly after the original's.
    # Disjointness means every duplicated key has exactly two rows with distinct created.
    n_dup = int(n_rows * DUP_FRACTION) if n_rows >= 2 else 0
    if n_dup:
        picked = rng.permutation(n_rows)[: 2 * n_dup]
        copies, originals = picked[:n_dup], picked[n_dup:]
        uid[copies] = uid[originals]
        ets[copies] = ets[originals]
        created[copies] = created[originals] + rng.integers(1, MAX_LAG_US, n_dup, dtype=np.int64)

    cols = {
        "user_id": pa.array(uid),
        "event_timestamp": ts_array(ets),
        "created": ts_array(created),
    }
    del uid, ets, created
    for j in range(10):                       # floats with a different centre/scale each
        cols[f"f{j}"] = pa.array(rng.normal(loc=float(j), scale=1.0 + j, size=n_rows))
    for j in range(5):                        # small non-negative counters
        cols[f"i{j}"] = pa.array(rng.integers(0, 1_000 * (j + 1), n_rows, dtype=np.int64))
    return pa.table(cols)


def spine(rng, n_rows: int, n_users: int) -> pa.Table:
    return pa.table({
        "user_id": pa.array(rng.integers(0, n_users, n_rows, dtype=np.int64)),
        "event_timestamp": ts_array(random_times(rng, n_rows)),
        "label": pa.array(rng.integers(0, 2, n_rows, dtype=np.int64)),
    })


def interactions(rng, n_rows: int, n_users: int, n_items: int) -> pa.Table:
    # skewed item popularity: a few items get most of the traffic
    item = (rng.zipf(1.3, n_rows) - 1) % max(n_items, 1)
    return pa.table({
        "user_id": pa.array(rng.integers(0, n_users, n_rows, dtype=np.int64)),
        "item_id": pa.array(item.astype(np.int64)),
        "event_timestamp": ts_array(np.sort(random_times(rng, n_rows))),
        "action": pa.array(rng.choice(ACTIONS, n_rows, p=ACTION_P)),
        "dwell_s": pa.array(rng.exponential(120.0, n_rows)),
    })


def catalogue(rng, n_items: int) -> pa.Table:
    return pa.table({
        "item_id": pa.array(np.arange(n_items, dtype=np.int64)),
        "genre": pa.array(rng.choice(GENRES, n_items)),
        "artist_id": pa.array(rng.integers(0, n_items // 10 + 1, n_items, dtype=np.int64)),
        "release_year": pa.array(rng.integers(1960, 2027, n_items, dtype=np.int64)),
        "duration_s": pa.array(rng.integers(30, 3_600, n_items, dtype=np.int64)),
    })


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="output directory (created if missing)")
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--feature-rows", type=int, default=1_000_000)
    ap.add_argument("--entity-rows", type=int, default=100_000)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--items", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=20260101)
    a = ap.parse_args()
    for name in ("users", "items"):
        if getattr(a, name) < 1:
            ap.error(f"--{name} must be >= 1")
    for name in ("feature_rows", "entity_rows", "events"):
        if getattr(a, name) < 0:
            ap.error(f"--{name.replace('_', '-')} must be >= 0")

    os.makedirs(a.out, exist_ok=True)
    # one independent stream per table, so changing e.g. --events leaves user_stats unchanged
    streams = np.random.SeedSequence(a.seed).spawn(4)
    r_feat, r_spine, r_events, r_items = (np.random.default_rng(s) for s in streams)

    t0 = time.perf_counter()
    jobs = [
        ("user_stats.parquet", lambda: feature_history(r_feat, a.feature_rows, a.users)),
        ("entity_df.parquet", lambda: spine(r_spine, a.entity_rows, a.users)),
        ("events.parquet", lambda: interactions(r_events, a.events, a.users, a.items)),
        ("items.parquet", lambda: catalogue(r_items, a.items)),
    ]
    for fname, make in jobs:
        table = make()
        path = os.path.join(a.out, fname)
        tmp = path + ".tmp"
        pq.write_table(table, tmp)          # pyarrow defaults (row groups, snappy)
        os.replace(tmp, path)               # never leave a half-written file under the real name
        print(f"  {fname}: {table.num_rows} rows", file=sys.stderr)
        del table
    print(f"wrote {a.out}: user_stats={a.feature_rows} entity_df={a.entity_rows} "
          f"events={a.events} items={a.items} users={a.users} seed={a.seed} "
          f"({time.perf_counter() - t0:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
