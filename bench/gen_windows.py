#!/usr/bin/env python3
"""Seeded synthetic data for the window-aggregation backfill benchmark.

Everything comes from one numpy Generator seeded with --seed: the same arguments
always give the same tables.  Written under OUT:

  events.parquet  user_id int64, item_id int64, ts timestamp[us], action string,
                  dwell_s float64 (null on ~1/8 of rows); sorted by ts.
                  Times are whole seconds over --days days from 2026-01-01, so many
                  events sit exactly on 5-minute / 1-hour / 1-day tile edges (the
                  window-start rule is exercised); users uniform; items skewed
                  (item = floor(items * u^2)) so count_distinct differs from count;
                  actions play/skip/like/purchase at 70/20/8/2 %.
  spine.parquet   user_id int64, event_timestamp timestamp[us], in random order.
                  90 % of rows: a uniform time (whole seconds); 5 %: exactly the time
                  of one of that user's events (the inclusive upper bound); 5 %: an
                  exact multiple of 1 hour (window starts on a tile edge).

usage: gen_windows.py OUT [--users 100000] [--events 10000000] [--spine 1000000]
                          [--items 5000] [--days 90] [--seed 7]
Needs numpy and pyarrow.
"""
import argparse
import os
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

START_US = int(np.datetime64("2026-01-01T00:00:00", "us").astype(np.int64))
SEC = 1_000_000
HOUR = 3600 * SEC
ACTIONS = np.array(["play", "skip", "like", "purchase"])
ACTION_P = [0.70, 0.20, 0.08, 0.02]
TS = pa.timestamp("us")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--users", type=float, default=100_000)
    ap.add_argument("--events", type=float, default=10_000_000)
    ap.add_argument("--spine", type=float, default=1_000_000)
    ap.add_argument("--items", type=int, default=5000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    users, n, m = int(a.users), int(a.events), int(a.spine)
    rng = np.random.default_rng(a.seed)
    t0 = time.time()
    os.makedirs(a.out, exist_ok=True)
    span_s = a.days * 86_400

    uid = rng.integers(0, users, n, dtype=np.int64)
    ts = START_US + rng.integers(0, span_s, n, dtype=np.int64) * SEC
    item = (rng.random(n) ** 2 * a.items).astype(np.int64)
    action = rng.choice(len(ACTIONS), n, p=ACTION_P)
    dwell = np.round(rng.gamma(2.0, 60.0, n), 3)
    dwell_null = rng.random(n) < 0.125
    order = np.argsort(ts, kind="stable")
    uid, ts, item, action, dwell, dwell_null = (x[order] for x in (uid, ts, item, action, dwell, dwell_null))
    events = pa.table({
        "user_id": pa.array(uid),
        "item_id": pa.array(item),
        "ts": pa.array(ts, type=TS),
        "action": pa.DictionaryArray.from_arrays(pa.array(action.astype(np.int32)), pa.array(ACTIONS)).cast(pa.string()),
        "dwell_s": pa.array(dwell, mask=dwell_null),
    })
    pq.write_table(events, os.path.join(a.out, "events.parquet"), compression="zstd")

    # Spine.
    s_uid = rng.integers(0, users, m, dtype=np.int64)
    s_ts = START_US + rng.integers(0, span_s, m, dtype=np.int64) * SEC
    kind = rng.random(m)
    on_hour = kind >= 0.95
    s_ts[on_hour] = (s_ts[on_hour] // HOUR) * HOUR
    at_event = kind < 0.05
    k = int(at_event.sum())
    pick = rng.integers(0, n, k)
    s_uid[at_event] = uid[pick]
    s_ts[at_event] = ts[pick]
    spine = pa.table({"user_id": pa.array(s_uid), "event_timestamp": pa.array(s_ts, type=TS)})
    pq.write_table(spine, os.path.join(a.out, "spine.parquet"), compression="zstd")
    print(f"gen_windows.py: {n} events, {users} users, {m} spine rows -> {a.out} in {time.time() - t0:.1f}s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
