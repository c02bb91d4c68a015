#!/usr/bin/env python3
"""DuckDB peer and checker for the window-aggregation backfill benchmark.

The 15 features of bench/window_repo.sh's `user_windows`, as of each spine row
(user_id, T = event_timestamp), over the events of the same user with
window_start(T) <= ts <= T, where window_start(T) = floor(T - W) to the window's hop
(5 min for W <= 12 h, 1 h for W <= 12 d, 1 day beyond; crates/aggregate/src/window.rs).
Nulls in dwell_s are ignored by sum/mean/max; sum/mean/max of nothing is null; counts
of nothing are 0.

usage:
  window_peers.py sql [--ordered]                  print the SQL
  window_peers.py run --data DIR --out OUT.parquet [--ordered] [--threads N]
      one DuckDB run: Parquet in -> COPY ... (FORMAT parquet, COMPRESSION zstd) out;
      prints one JSON line (wall s of the query, rows).  Output columns: rid (the spine
      row number), user_id, event_timestamp, user_windows__<feature> x 15; --ordered
      sorts by rid (spine order, like Tessera).
  window_peers.py check TESSERA_OUT DUCKDB_OUT [--show 20]
      every row: Tessera's output (spine order; row i = spine row i) against the
      DuckDB output (joined on rid): keys and timestamps equal, counts exactly, floats
      within 1e-9 relative (both null, or |a-b| <= 1e-9 * max(|a|, |b|)).  Prints the
      differing rows (spine row, user, T, feature, both values) and a JSON summary;
      exit 1 on any difference.
"""
import argparse
import json
import os
import sys
import time

SEC = 1_000_000
MIN = 60 * SEC
HOUR = 60 * MIN
DAY = 24 * HOUR

# (feature, function, column, window µs, filter)
FEATURES = []
for name, w in (("1h", HOUR), ("1d", DAY), ("7d", 7 * DAY)):
    FEATURES.append((f"dwell_s_sum_{name}", "sum", "dwell_s", w, None))
for name, w in (("1d", DAY), ("7d", 7 * DAY), ("30d", 30 * DAY)):
    FEATURES.append((f"plays_{name}", "count", None, w, "e.action = 'play'"))
for name, w in (("1d", DAY), ("7d", 7 * DAY), ("30d", 30 * DAY)):
    FEATURES.append((f"item_id_count_distinct_{name}", "count_distinct", "item_id", w, None))
for name, w in (("1h", HOUR), ("1d", DAY), ("7d", 7 * DAY)):
    FEATURES.append((f"dwell_s_mean_{name}", "mean", "dwell_s", w, None))
for name, w in (("1h", HOUR), ("1d", DAY), ("7d", 7 * DAY)):
    FEATURES.append((f"dwell_s_max_{name}", "max", "dwell_s", w, None))
COUNTS = {f for f, fn, *_ in FEATURES if fn in ("count", "count_distinct")}


def hop(w):
    if w <= 12 * HOUR:
        return 5 * MIN
    if w <= 12 * DAY:
        return HOUR
    return DAY


def sql(spine, events, ordered):
    windows = sorted({w for *_, w, _ in FEATURES})
    starts = ",\n         ".join(
        f"(t - {w}) // {hop(w)} * {hop(w)} AS ws_{w}" for w in windows)
    lo = "least(" + ", ".join(f"ws_{w}" for w in windows) + ")"
    aggs = []
    for f, fn, col, w, flt in FEATURES:
        cond = f"e.ets >= ws_{w}" + (f" AND {flt}" if flt else "")
        if fn == "count":
            expr = f"count(CASE WHEN {cond} THEN 1 END)"
        elif fn == "count_distinct":
            expr = f"count(DISTINCT CASE WHEN {cond} THEN e.{col} END)"
        elif fn == "mean":
            expr = f"avg(CASE WHEN {cond} THEN e.{col} END)"
        else:
            expr = f"{fn}(CASE WHEN {cond} THEN e.{col} END)"
        aggs.append(f"{expr} AS user_windows__{f}")
    aggs = ",\n       ".join(aggs)
    order = "\nORDER BY s.rid" if ordered else ""
    return f"""WITH sp AS (
  SELECT file_row_number AS rid, user_id, event_timestamp, epoch_us(event_timestamp) AS t
  FROM read_parquet('{spine}', file_row_number = true)
), s AS (
  SELECT *,
         {starts}
  FROM sp
), e AS (
  SELECT user_id, epoch_us(ts) AS ets, item_id, action, dwell_s FROM read_parquet('{events}')
)
SELECT s.rid, s.user_id, s.event_timestamp,
       {aggs}
FROM s LEFT JOIN e ON e.user_id = s.user_id AND e.ets >= {lo} AND e.ets <= s.t
GROUP BY s.rid, s.user_id, s.event_timestamp{order}"""


def cmd_run(a):
    import duckdb
    con = duckdb.connect()
    if a.threads:
        con.execute(f"SET threads = {int(a.threads)}")
    q = sql(os.path.join(a.data, "spine.parquet"), os.path.join(a.data, "events.parquet"), a.ordered)
    tmp = a.out + ".tmp"
    t0 = time.perf_counter()
    con.execute(f"COPY ({q}) TO '{tmp}' (FORMAT parquet, COMPRESSION zstd)")
    wall = time.perf_counter() - t0
    os.replace(tmp, a.out)
    rows = con.execute(f"SELECT count(*) FROM read_parquet('{a.out}')").fetchone()[0]
    print(json.dumps({"engine": "duckdb_ordered" if a.ordered else "duckdb", "query_wall_s": round(wall, 3),
                      "rows": rows, "duckdb": duckdb.__version__}))


def cmd_check(a):
    import duckdb
    con = duckdb.connect()
    feats = [f for f, *_ in FEATURES]
    conds = []
    for f in feats:
        c = f"user_windows__{f}"
        if f in COUNTS:
            conds.append(f"(t.{c} IS DISTINCT FROM d.{c})")
        else:
            conds.append(f"(NOT ((t.{c} IS NULL AND d.{c} IS NULL) OR "
                         f"(t.{c} IS NOT NULL AND d.{c} IS NOT NULL AND "
                         f"abs(t.{c} - d.{c}) <= 1e-9 * greatest(abs(t.{c}), abs(d.{c})))))")
    con.execute(f"""CREATE TABLE j AS
      SELECT t.file_row_number AS rid, t.user_id AS tu, d.user_id AS du,
             epoch_us(t.event_timestamp) AS tt, epoch_us(d.event_timestamp) AS dt,
             {', '.join(f'({c}) AS bad_{f}' for c, f in zip(conds, feats))},
             {', '.join(f't.user_windows__{f} AS t_{f}, d.user_windows__{f} AS d_{f}' for f in feats)}
      FROM read_parquet('{a.tessera}', file_row_number = true) t
      FULL OUTER JOIN read_parquet('{a.duckdb}') d ON t.file_row_number = d.rid""")
    n = con.execute("SELECT count(*) FROM j").fetchone()[0]
    shape = con.execute("SELECT count(*) FROM j WHERE rid IS NULL OR tu IS DISTINCT FROM du OR tt IS DISTINCT FROM dt").fetchone()[0]
    per = {}
    bad_rows = []
    for f in feats:
        k = con.execute(f"SELECT count(*) FROM j WHERE bad_{f}").fetchone()[0]
        per[f] = k
        if k:
            for r in con.execute(f"SELECT rid, tu, make_timestamp(tt), t_{f}, d_{f} FROM j WHERE bad_{f} ORDER BY rid LIMIT {a.show}").fetchall():
                bad_rows.append((f,) + tuple(r))
    nonempty = con.execute("SELECT count(*) FROM j WHERE d_plays_30d > 0").fetchone()[0]
    nonnull_1h = con.execute("SELECT count(*) FROM j WHERE d_dwell_s_sum_1h IS NOT NULL").fetchone()[0]
    for f, rid, u, t, tv, dv in bad_rows:
        print(f"DIFF spine row {rid} user {u} T {t} {f}: tessera {tv!r} duckdb {dv!r}")
    total_bad = sum(per.values())
    print(json.dumps({"rows": n, "shape_mismatches": shape, "value_mismatches": total_bad,
                      "per_feature": {k: v for k, v in per.items() if v}, "values_compared": n * len(feats),
                      "rows_with_plays_30d_gt_0": nonempty, "rows_with_sum_1h_not_null": nonnull_1h}))
    sys.exit(1 if (shape or total_bad) else 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sql")
    s.add_argument("--ordered", action="store_true")
    r = sub.add_parser("run")
    r.add_argument("--data", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--ordered", action="store_true")
    r.add_argument("--threads", type=int)
    c = sub.add_parser("check")
    c.add_argument("tessera")
    c.add_argument("duckdb")
    c.add_argument("--show", type=int, default=20)
    a = ap.parse_args()
    if a.cmd == "sql":
        print(sql("DATA/spine.parquet", "DATA/events.parquet", a.ordered))
    elif a.cmd == "run":
        cmd_run(a)
    else:
        cmd_check(a)


if __name__ == "__main__":
    main()
