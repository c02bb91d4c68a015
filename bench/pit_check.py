#!/usr/bin/env python3
"""Check a point-in-time training set against the DuckDB ASOF reference, row by row.

usage:
  pit_check.py OUT_PARQUET DATA_DIR [--any-order] [--prefix user_stats__]
               [--ref REF_PARQUET | --save-ref REF_PARQUET] [--nan-as-null]
               [--name NAME] [--json-out FILE] [--max-report 10]

OUT_PARQUET must hold one row per spine row (DATA_DIR/entity_df.parquet) with the
columns user_id, event_timestamp, label, user_stats__f0..f9, user_stats__i0..i4, in
spine order (as `tessera training-set` writes it).  The reference is
`pit_peers.py`'s duckdb_asof engine in spine order (see the PIT rule there).

Values must be equal exactly (floats bit for bit: they are copied, not computed);
null must meet null.  Timestamps are compared as microseconds since the epoch, so a
naive timestamp[us] and a UTC timestamp[ns] of the same instant are equal; other
type differences are cast to the reference type and reported as warnings.

--any-order   sort both sides by (user_id, event_timestamp, label) first (for engines
              that do not keep the spine order; identical spine rows have identical
              answers, so this loses nothing)
--prefix P    feature column prefix in OUT ('' for Feast, which names them f0..i4)
--ref/--save-ref  reuse / store the reference so several outputs can be checked cheaply
--nan-as-null treat NaN in OUT as null (pandas writers)

Exit status: 0 all equal, 1 values differ, 2 shape/schema problem or bad input.
"""
import argparse
import json
import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.dont_write_bytecode = True   # no __pycache__ inside the repo's bench/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pit_peers  # noqa: E402  (same directory: the reference SQL lives there)

KEYS = ["user_id", "event_timestamp", "label"]


def fail(msg: str, code: int, a, extra=None) -> int:
    print(f"pit_check: FAIL: {msg}", file=sys.stderr)
    record(a, ok=False, error=msg, **(extra or {}))
    return code


def record(a, **kw) -> None:
    rec = {"kind": "check", "engine": a.name, "out": a.out, "data": os.path.basename(a.data.rstrip("/"))}
    rec.update(kw)
    line = json.dumps(rec)
    print(line)
    if a.json_out:
        with open(a.json_out, "a") as f:
            f.write(line + "\n")


def reference(a) -> pa.Table:
    """The DuckDB ASOF answer in spine order (computed, or read back from --ref)."""
    if a.ref:
        t = pq.read_table(a.ref)
    else:
        import duckdb
        con = duckdb.connect()
        # Keep the default preserve_insertion_order=true here: with it off, DuckDB 2.0.1's
        # execute(...).to_arrow_table() was seen returning an ORDER BY result out of order.
        try:
            t = con.sql(pit_peers.asof_sql(os.path.abspath(a.data), ordered=True)).to_arrow_table()
        finally:
            con.close()
    # The reference must itself be in spine order: compare its keys with the spine.
    spine = pq.read_table(os.path.join(a.data, "entity_df.parquet"), columns=KEYS)
    if t.num_rows != spine.num_rows or not all(
            t.column(k).equals(spine.column(k).cast(t.schema.field(k).type)) for k in KEYS):
        raise RuntimeError("reference is not one row per spine row in spine order"
                           + (f" (stale --ref {a.ref}?)" if a.ref else ""))
    if a.save_ref:
        pq.write_table(t, a.save_ref, compression="zstd")
    return t


def normalise(col: pa.ChunkedArray, want: pa.DataType, name: str, warnings: list, nan_as_null: bool):
    """Bring an output column to the reference's representation for comparison."""
    have = col.type
    if pa.types.is_timestamp(want):
        if not pa.types.is_timestamp(have):
            raise TypeError(f"column {name}: expected a timestamp, got {have}")
        if have.unit != "us" or have.tz is not None:
            warnings.append(f"{name}: {have} (reference {want}); compared as epoch microseconds")
        col = pc.cast(col, pa.timestamp("us", tz=have.tz), safe=False)
        return pc.cast(col, pa.int64())
    if nan_as_null and pa.types.is_floating(have):
        col = pc.if_else(pc.is_nan(col), pa.scalar(None, have), col)
    if have != want:
        warnings.append(f"{name}: type {have}, reference {want}; cast for comparison")
        col = pc.cast(col, want)  # safe cast: a fractional value in an int column fails
    return col


def main() -> int:
    ap = argparse.ArgumentParser(description="compare a PIT output with the DuckDB ASOF reference")
    ap.add_argument("out", help="output parquet to check")
    ap.add_argument("data", help="data dir with user_stats.parquet and entity_df.parquet")
    ap.add_argument("--any-order", action="store_true")
    ap.add_argument("--prefix", default=f"{pit_peers.VIEW}__")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--ref")
    g.add_argument("--save-ref")
    ap.add_argument("--nan-as-null", action="store_true")
    ap.add_argument("--name", default="output")
    ap.add_argument("--json-out")
    ap.add_argument("--max-report", type=int, default=10)
    a = ap.parse_args()

    if not os.path.isfile(a.out):
        return fail(f"no such file {a.out}", 2, a)
    try:
        ref = reference(a)
    except Exception as e:
        return fail(f"reference: {type(e).__name__}: {e}", 2, a)
    try:
        got = pq.read_table(a.out)
    except Exception as e:
        return fail(f"cannot read {a.out}: {type(e).__name__}: {e}", 2, a)

    feat_cols = [(f"{pit_peers.VIEW}__{c}", f"{a.prefix}{c}") for c in pit_peers.FEATURES]
    pairs = [(k, k) for k in KEYS] + feat_cols          # (reference name, output name)
    missing = [o for _, o in pairs if o not in got.column_names]
    if missing:
        return fail(f"missing columns {missing}; output has {got.column_names}", 2, a)
    warnings = []
    extra = [c for c in got.column_names if c not in {o for _, o in pairs}]
    if extra:
        warnings.append(f"extra columns ignored: {extra}")
    if got.column_names[: len(pairs)] != [o for _, o in pairs]:
        warnings.append("column order differs from user_id, event_timestamp, label, features")
    if got.num_rows != ref.num_rows:
        return fail(f"{got.num_rows} rows, spine/reference has {ref.num_rows}", 2, a,
                    {"rows_out": got.num_rows, "rows_ref": ref.num_rows})

    try:
        cols_ref = {r: normalise(ref.column(r), ref.schema.field(r).type, r, [], False) for r, _ in pairs}
        cols_got = {r: normalise(got.column(o), ref.schema.field(r).type, o, warnings, a.nan_as_null)
                    for r, o in pairs}
    except Exception as e:
        return fail(f"incompatible column: {type(e).__name__}: {e}", 2, a)

    if a.any_order:
        def sort(cols):
            t = pa.table(cols).sort_by([(k, "ascending") for k in KEYS])
            return {name: t.column(name) for name in t.column_names}
        cols_ref, cols_got = sort(cols_ref), sort(cols_got)

    bad = np.zeros(ref.num_rows, dtype=bool)
    per_col = {}
    for r, _ in pairs:
        x, y = cols_ref[r], cols_got[r]
        same = pc.or_(pc.fill_null(pc.equal(x, y), False), pc.and_(pc.is_null(x), pc.is_null(y)))
        diff = ~same.to_numpy(zero_copy_only=False)
        if diff.any():
            per_col[r] = int(diff.sum())
            bad |= diff

    matched = ref.num_rows - ref.column(f"{pit_peers.VIEW}__f0").null_count
    for w in warnings:
        print(f"pit_check: warning: {w}", file=sys.stderr)
    n_bad = int(bad.sum())
    if n_bad:
        idx = np.flatnonzero(bad)[: a.max_report]
        print(f"pit_check: {n_bad} of {ref.num_rows} rows differ; per column: {per_col}", file=sys.stderr)
        for i in idx:
            cols = KEYS + [r for r, _ in pairs if r in per_col and r not in KEYS][:3]
            show = {r: (cols_ref[r][int(i)].as_py(), cols_got[r][int(i)].as_py()) for r in cols}
            print(f"  row {int(i)} (reference, output): {show}", file=sys.stderr)
    else:
        print(f"pit_check: OK: {ref.num_rows} rows equal ({matched} with features, "
              f"{ref.num_rows - matched} null){' [any order]' if a.any_order else ''}", file=sys.stderr)
    record(a, ok=n_bad == 0, rows=ref.num_rows, rows_with_features=matched,
           mismatched_rows=n_bad, mismatches_per_col=per_col, any_order=a.any_order,
           warnings=warnings)
    return 0 if n_bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
