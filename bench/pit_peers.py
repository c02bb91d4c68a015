#!/usr/bin/env python3
"""Peer engines for point-in-time (PIT) training-set generation, Parquet in -> Parquet out.

The PIT rule (the one Tessera implements): for every spine row (entity_df.parquet),
take the user_stats row with the same user_id and the greatest event_timestamp such
that  spine_ts - 7 days <= event_timestamp <= spine_ts  (both bounds inclusive);
among rows with that timestamp take the one with the greatest `created`.  If there
is none the features are null; the spine row is always kept.

Output schema (same as `tessera training-set`): user_id, event_timestamp, label,
user_stats__f0 .. user_stats__f9, user_stats__i0 .. user_stats__i4.

Engines
  duckdb_asof    ASOF LEFT JOIN on a composite {event_timestamp, created} key, then the
                 TTL applied by nulling a match older than spine_ts - 7d; COPY ... TO
                 parquet (zstd).
  duckdb_window  range join on the TTL window + QUALIFY row_number() = 1 (the classic
                 SQL-warehouse formulation); COPY ... TO parquet (zstd).
  polars_asof    LazyFrame.join_asof(by=user_id, backward, tolerance=7d) with the
                 history sorted by (ts, created) so the last of equal keys is the
                 greatest created; sink_parquet (zstd).
  --ordered      any engine: the output keeps the spine's row order (as Tessera's does);
                 without it each engine may emit rows in whatever order is cheapest.

usage
  pit_peers.py run --engine E --data DIR [--reps 3] [--ordered] [--out FILE] [--keep-out]
  pit_peers.py selftest        # hand-made TTL-boundary / tie / order cases, all engines
  pit_peers.py sql --engine E --data DIR [--ordered]   # print the SQL (DuckDB engines)

`run` times --reps runs inside one process (run each engine in its own process so
memory does not carry over) and prints one JSON line: all wall times, the median,
CPU seconds (user+sys, all threads) per run, ru_maxrss of the process, and the
1-minute load average before each run.  Needs duckdb and/or polars, and pyarrow.
"""
import argparse
import datetime as dt
import gc
import json
import os
import resource
import shutil
import sys
import tempfile
import time

FEATURES = [f"f{j}" for j in range(10)] + [f"i{j}" for j in range(5)]
VIEW = "user_stats"
TTL_DAYS = 7
ENGINES = ("duckdb_asof", "duckdb_window", "polars_asof")
DUCKDB_TMP = os.environ.get("PIT_DUCKDB_TMP", "/tmp/tessera-bench/duckdb_tmp")


def out_name(feature: str) -> str:
    return f"{VIEW}__{feature}"


def inputs(data_dir: str):
    hist = os.path.join(data_dir, "user_stats.parquet")
    spine = os.path.join(data_dir, "entity_df.parquet")
    for p in (hist, spine):
        if not os.path.isfile(p):
            raise SystemExit(f"pit_peers: missing input {p} (generate it with bench/gen_data.py)")
    return hist, spine


def sql_quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


# ------------------------------------------------------------------ DuckDB
def asof_sql(data_dir: str, ordered: bool) -> str:
    """DuckDB ASOF formulation.

    The ASOF inequality compares structs field by field, so the right-hand row chosen
    is the one with the greatest (event_timestamp, created) not above
    (spine_ts, +infinity): the latest timestamp <= spine_ts, ties -> greatest created.
    ASOF has no lower bound, so the TTL is applied afterwards: if the latest candidate
    is older than spine_ts - 7d, every candidate is, and the features become null.
    """
    hist, spine = inputs(data_dir)
    keep = ",\n       ".join(
        f"CASE WHEN h.feat_ts >= s.event_timestamp - INTERVAL {TTL_DAYS} DAY "
        f"THEN h.{c} END AS {out_name(c)}" for c in FEATURES)
    order = "ORDER BY s.spine_row" if ordered else ""
    return f"""
WITH s AS (
  SELECT user_id, event_timestamp, label, file_row_number AS spine_row
  FROM read_parquet({sql_quote(spine)}, file_row_number = true)
), h AS (
  SELECT user_id, event_timestamp AS feat_ts, created, {", ".join(FEATURES)}
  FROM read_parquet({sql_quote(hist)})
)
SELECT s.user_id, s.event_timestamp, s.label,
       {keep}
FROM s ASOF LEFT JOIN h
  ON s.user_id = h.user_id
 AND struct_pack(t := s.event_timestamp, c := 'infinity'::TIMESTAMP)
     >= struct_pack(t := h.feat_ts, c := h.created)
{order}
"""


def window_sql(data_dir: str, ordered: bool) -> str:
    """Range join on the TTL window, then keep the newest (ts, created) per spine row."""
    hist, spine = inputs(data_dir)
    cols = ", ".join(f"h.{c} AS {out_name(c)}" for c in FEATURES)
    order = "ORDER BY s.spine_row" if ordered else ""
    return f"""
WITH s AS (
  SELECT user_id, event_timestamp, label, file_row_number AS spine_row
  FROM read_parquet({sql_quote(spine)}, file_row_number = true)
), h AS (
  SELECT user_id, event_timestamp AS feat_ts, created, {", ".join(FEATURES)}
  FROM read_parquet({sql_quote(hist)})
)
SELECT s.user_id, s.event_timestamp, s.label, {cols}
FROM s LEFT JOIN h
  ON h.user_id = s.user_id
 AND h.feat_ts <= s.event_timestamp
 AND h.feat_ts >= s.event_timestamp - INTERVAL {TTL_DAYS} DAY
QUALIFY row_number() OVER (PARTITION BY s.spine_row
                           ORDER BY h.feat_ts DESC NULLS LAST, h.created DESC NULLS LAST) = 1
{order}
"""


def duckdb_connect():
    import duckdb
    os.makedirs(DUCKDB_TMP, exist_ok=True)
    con = duckdb.connect()
    # ORDER BY is still honoured; this only lets unordered plans write in parallel
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"SET temp_directory = {sql_quote(DUCKDB_TMP)}")
    return con


def run_duckdb(sql: str, out: str) -> None:
    con = duckdb_connect()
    try:
        con.execute(f"COPY ({sql}) TO {sql_quote(out)} (FORMAT parquet, COMPRESSION zstd)")
    finally:
        con.close()


# ------------------------------------------------------------------ Polars
def polars_plan(data_dir: str, ordered: bool):
    import polars as pl
    hist, spine = inputs(data_dir)
    s = pl.scan_parquet(spine).select("user_id", "event_timestamp", "label")
    if ordered:
        s = s.with_row_index("__spine_row")
    # join_asof needs both sides sorted by the asof key (within each `by` group; a
    # global sort satisfies that and measured ~2.5x faster here than sorting by
    # (user_id, ts)).  A backward match is the LAST right row with key <= left key, so
    # ordering equal timestamps by `created` ascending makes it the greatest created.
    s = s.sort("event_timestamp")
    h = (pl.scan_parquet(hist)
         .select(["user_id", "event_timestamp", "created"] + FEATURES)
         .sort("event_timestamp", "created")
         .drop("created")
         .rename({c: out_name(c) for c in FEATURES}))
    j = s.join_asof(h, on="event_timestamp", by="user_id", strategy="backward",
                    tolerance=dt.timedelta(days=TTL_DAYS), check_sortedness=False)
    if ordered:
        j = j.sort("__spine_row").drop("__spine_row")
    return j.select(["user_id", "event_timestamp", "label"] + [out_name(c) for c in FEATURES])


def run_polars(data_dir: str, ordered: bool, out: str) -> None:
    # streaming sink: measured slightly faster than collect() + write_parquet()
    polars_plan(data_dir, ordered).sink_parquet(out, compression="zstd")


# ------------------------------------------------------------------ driver
def execute(engine: str, data_dir: str, ordered: bool, out: str) -> None:
    if engine == "duckdb_asof":
        run_duckdb(asof_sql(data_dir, ordered), out)
    elif engine == "duckdb_window":
        run_duckdb(window_sql(data_dir, ordered), out)
    elif engine == "polars_asof":
        run_polars(data_dir, ordered, out)
    else:
        raise SystemExit(f"pit_peers: unknown engine {engine!r}; choose from {', '.join(ENGINES)}")


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def parquet_rows(path: str) -> int:
    import pyarrow.parquet as pq
    return pq.ParquetFile(path).metadata.num_rows


def cmd_run(a) -> int:
    label = a.engine + ("_ordered" if a.ordered else "")
    data = os.path.abspath(a.data)
    inputs(data)
    out = a.out or os.path.join("/tmp/tessera-bench/out", f"{label}_{os.path.basename(data)}.parquet")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    times, cpus, loads = [], [], []
    for _ in range(a.reps):
        if os.path.exists(out):
            os.remove(out)
        gc.collect()
        loads.append(os.getloadavg()[0])
        c0, t0 = cpu_seconds(), time.perf_counter()
        execute(a.engine, data, a.ordered, out)
        times.append(time.perf_counter() - t0)
        cpus.append(cpu_seconds() - c0)
    rows, out_bytes = parquet_rows(out), os.path.getsize(out)
    spine_rows = parquet_rows(os.path.join(data, "entity_df.parquet"))
    if not a.keep_out:
        os.remove(out)
    rec = {
        "engine": label, "data": os.path.basename(data), "reps": a.reps,
        "rows_out": rows, "rows_spine": spine_rows,
        "times_s": [round(t, 3) for t in times], "median_s": round(median(times), 3),
        "cpu_s": [round(c, 2) for c in cpus], "median_cpu_s": round(median(cpus), 2),
        # ru_maxrss is in KiB on Linux; covers the interpreter, libraries and all reps
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "load1_before": [round(x, 2) for x in loads],
        "out": out if a.keep_out else None, "out_bytes": out_bytes,
    }
    if rows != spine_rows:
        rec["error"] = f"output has {rows} rows, spine has {spine_rows}"
    print(json.dumps(rec), flush=True)
    return 1 if "error" in rec else 0


# ------------------------------------------------------------------ selftest
def cmd_selftest(a) -> int:
    """Small hand-built cases with a known answer, through every engine and both orders."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    D = dt.datetime
    day10 = D(2026, 1, 10)
    us = dt.timedelta(microseconds=1)
    # (user, event_ts, created, value)
    hist = [
        (1, day10, D(2026, 1, 10, 1), 1),            # three rows share (1, day10):
        (1, day10, D(2026, 1, 10, 3), 2),            #   greatest created wins -> 2
        (1, day10, D(2026, 1, 10, 2), 3),
        (2, D(2026, 1, 3), D(2026, 1, 3, 0, 5), 4),  # exactly 7 days before day10
        (3, day10 + us, day10 + us, 5),              # 1 us in the future of the spine
        (3, D(2026, 1, 9), D(2026, 1, 9), 6),
        (5, D(2026, 1, 9), D(2026, 1, 9, 10), 7),    # newer event, created earlier
        (5, D(2026, 1, 8), D(2026, 1, 12), 8),       # older event, created later: loses
        (6, D(2026, 1, 1), D(2026, 1, 1), 9),        # only history far outside the TTL
    ]
    # (user, spine_ts, label) -> expected value; deliberately not in (user, ts) order
    spine = [
        (5, day10, 0, 7),
        (1, day10, 1, 2),
        (2, day10 + us, 2, None),                    # 7d + 1us old -> outside the TTL
        (2, day10, 3, 4),                            # lower bound inclusive
        (3, day10, 4, 6),                            # future row ignored
        (4, day10, 5, None),                         # unknown user
        (1, day10, 6, 2),                            # duplicate spine rows are both kept
        (6, day10, 7, None),
        (1, D(2026, 1, 9), 8, None),                 # before any history
        (1, D(2026, 1, 17), 9, 2),                   # exactly 7 days after -> still valid
        (1, D(2026, 1, 17) + us, 10, None),
    ]
    ts = pa.timestamp("us")
    tmp = tempfile.mkdtemp(prefix="pit_selftest_")
    try:
        cols = {"user_id": pa.array([r[0] for r in hist], pa.int64()),
                "event_timestamp": pa.array([r[1] for r in hist], ts),
                "created": pa.array([r[2] for r in hist], ts)}
        for c in FEATURES:
            if c.startswith("f"):
                cols[c] = pa.array([float(r[3]) + 0.5 for r in hist], pa.float64())
            else:
                cols[c] = pa.array([r[3] for r in hist], pa.int64())
        pq.write_table(pa.table(cols), os.path.join(tmp, "user_stats.parquet"))
        pq.write_table(pa.table({
            "user_id": pa.array([r[0] for r in spine], pa.int64()),
            "event_timestamp": pa.array([r[1] for r in spine], ts),
            "label": pa.array([r[2] for r in spine], pa.int64()),
        }), os.path.join(tmp, "entity_df.parquet"))
        want_i = [r[3] for r in spine]
        want_f = [None if v is None else float(v) + 0.5 for v in want_i]
        ok = True
        for eng in ENGINES:
            for ordered in (False, True):
                name = eng + ("_ordered" if ordered else "")
                out = os.path.join(tmp, name + ".parquet")
                try:
                    execute(eng, tmp, ordered, out)
                    t = pq.read_table(out)
                except Exception as e:  # report every engine, do not stop at the first
                    print(f"{name}: ERROR {type(e).__name__}: {e}")
                    ok = False
                    continue
                labels = t.column("label").to_pylist()
                problems = []
                if sorted(labels) != list(range(len(spine))):
                    problems.append(f"labels {labels}")
                if ordered and labels != list(range(len(spine))):
                    problems.append(f"spine order lost: {labels}")
                by_label = {}
                for i, lab in enumerate(labels):
                    by_label[lab] = {c: t.column(out_name(c))[i].as_py() for c in FEATURES}
                for lab, (wi, wf) in enumerate(zip(want_i, want_f)):
                    got = by_label.get(lab)
                    if got is None:
                        continue
                    for c in FEATURES:
                        want = wf if c.startswith("f") else wi
                        if got[c] != want:
                            problems.append(f"label {lab} {c}: got {got[c]!r} want {want!r}")
                            break
                print(f"{name}: {'ok' if not problems else 'WRONG: ' + '; '.join(problems[:4])}")
                ok &= not problems
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("selftest:", "passed" if ok else "FAILED")
    return 0 if ok else 1


def cmd_sql(a) -> int:
    if a.engine == "duckdb_asof":
        print(asof_sql(os.path.abspath(a.data), a.ordered))
    elif a.engine == "duckdb_window":
        print(window_sql(os.path.abspath(a.data), a.ordered))
    else:
        raise SystemExit("pit_peers: `sql` is only for the DuckDB engines")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description="PIT training-set peers (Parquet in -> Parquet out)")
    sp = ap.add_subparsers(dest="cmd", required=True)
    r = sp.add_parser("run", help="time one engine; prints one JSON line")
    r.add_argument("--engine", required=True, choices=ENGINES)
    r.add_argument("--data", required=True, help="directory with user_stats.parquet and entity_df.parquet")
    r.add_argument("--reps", type=int, default=3)
    r.add_argument("--ordered", action="store_true", help="keep the spine's row order")
    r.add_argument("--out", help="output parquet (default /tmp/tessera-bench/out/ENGINE_DATA.parquet)")
    r.add_argument("--keep-out", action="store_true", help="keep the last output file")
    s = sp.add_parser("sql", help="print the SQL of a DuckDB engine")
    s.add_argument("--engine", required=True, choices=ENGINES[:2])
    s.add_argument("--data", required=True)
    s.add_argument("--ordered", action="store_true")
    sp.add_parser("selftest", help="hand-made edge cases through all engines")
    a = ap.parse_args()
    if a.cmd == "run" and a.reps < 1:
        ap.error("--reps must be >= 1")
    return {"run": cmd_run, "selftest": cmd_selftest, "sql": cmd_sql}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
