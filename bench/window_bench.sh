#!/usr/bin/env bash
# Window-aggregation backfill: `tessera training-set` over a batch-source aggregation
# view (bench/window_repo.sh: 5 aggregations x 3 windows) against the same 15 features
# in DuckDB SQL (bench/window_peers.py), one data set made by bench/gen_windows.py.
#
# usage: bench/window_bench.sh DATA_DIR
#
# 1. writes the repo under WORK and runs `tessera apply` once;
# 2. check first: one Tessera run and one DuckDB run, then window_peers.py check
#    compares every row (counts exactly, floats 1e-9 relative); a mismatch stops here
#    (exit 1) unless FORCE=1;
# 3. REPS rounds, each: tessera, duckdb (any order), duckdb_ordered (spine order), each a
#    fresh process timed by timecmd.py (wall, CPU, peak RSS); results.jsonl gets one line
#    per engine per round, with the 1-minute load before it;
# 4. prints a markdown table (median wall / CPU, peak RSS, ratio vs DuckDB) and the
#    load averages at start and end; the last outputs are checked again.
#
# Knobs: TESSERA_BIN (default ~/.cache/tessera-release/release/tessera), PY
# (default ~/.cache/tessera/benchenv/bin/python), REPS (3), WORK
# (/tmp/tessera-bench/win_run_<data>), TIMEOUT (per run, s; default 1800), FORCE=1,
# PEERS ("duckdb duckdb_ordered").
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 1 ] || { echo "usage: $0 DATA_DIR" >&2; exit 2; }
DATA=$(cd "$1" && pwd -P)
NAME=$(basename "$DATA")
TESSERA_BIN=${TESSERA_BIN:-$HOME/.cache/tessera-release/release/tessera}
PY=${PY:-$HOME/.cache/tessera/benchenv/bin/python}
REPS=${REPS:-3}
WORK=${WORK:-/tmp/tessera-bench/win_run_$NAME}
TIMEOUT=${TIMEOUT:-1800}
PEERS=${PEERS:-duckdb duckdb_ordered}
mkdir -p "$WORK/out"
RES=$WORK/results.jsonl
: > "$RES"
echo "window_bench: data $DATA, work $WORK, binary $TESSERA_BIN ($(sha256sum "$TESSERA_BIN" | cut -c1-12))" >&2
echo "start: $(date -u +%FT%TZ) $(uptime)" | tee "$WORK/load.txt" >&2
cat "$DATA"/*.parquet > /dev/null   # warm page cache

rm -rf "$WORK/repo"
bash "$HERE/window_repo.sh" "$DATA" "$WORK/repo"
"$TESSERA_BIN" apply --repo "$WORK/repo" >&2

TOUT=$WORK/out/tessera.parquet
FEATURES=user_windows:dwell_s_sum_1h,user_windows:dwell_s_sum_1d,user_windows:dwell_s_sum_7d,user_windows:plays_1d,user_windows:plays_7d,user_windows:plays_30d,user_windows:item_id_count_distinct_1d,user_windows:item_id_count_distinct_7d,user_windows:item_id_count_distinct_30d,user_windows:dwell_s_mean_1h,user_windows:dwell_s_mean_1d,user_windows:dwell_s_mean_7d,user_windows:dwell_s_max_1h,user_windows:dwell_s_max_1d,user_windows:dwell_s_max_7d
run_tessera() {
  "$PY" "$HERE/timecmd.py" --name tessera --data "$NAME" --reps 1 --rm "$TOUT" --timeout "$TIMEOUT" -- \
    "$TESSERA_BIN" training-set --repo "$WORK/repo" --spine "$DATA/spine.parquet" \
    --features "$FEATURES" --purpose training --out "$TOUT"
}
run_peer() {   # $1 = duckdb | duckdb_ordered
  local extra=""
  [ "$1" = duckdb_ordered ] && extra=--ordered
  "$PY" "$HERE/timecmd.py" --name "$1" --data "$NAME" --reps 1 --rm "$WORK/out/$1.parquet" --timeout "$TIMEOUT" -- \
    "$PY" "$HERE/window_peers.py" run --data "$DATA" --out "$WORK/out/$1.parquet" $extra
}

echo "== check before timing" >&2
run_tessera > /dev/null
run_peer duckdb > /dev/null
if ! "$PY" "$HERE/window_peers.py" check "$TOUT" "$WORK/out/duckdb.parquet" | tee "$WORK/check_before.txt" >&2; then
  echo "window_bench: Tessera and DuckDB disagree (see $WORK/check_before.txt)" >&2
  [ "${FORCE:-0}" = 1 ] || exit 1
fi

for r in $(seq 1 "$REPS"); do
  echo "== round $r/$REPS ($(uptime))" >&2
  run_tessera | tee -a "$RES" >&2 || true
  for p in $PEERS; do run_peer "$p" | tee -a "$RES" >&2 || true; done
done
echo "end: $(date -u +%FT%TZ) $(uptime)" | tee -a "$WORK/load.txt" >&2

status=0
"$PY" "$HERE/window_peers.py" check "$TOUT" "$WORK/out/duckdb.parquet" > "$WORK/check_after.txt" || status=1
if [ -f "$WORK/out/duckdb_ordered.parquet" ]; then
  "$PY" "$HERE/window_peers.py" check "$TOUT" "$WORK/out/duckdb_ordered.parquet" >> "$WORK/check_after.txt" || status=1
fi
tail -n 2 "$WORK/check_after.txt" >&2

"$PY" - "$RES" <<'EOF'
import json, sys, statistics as st
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in rows:
    by.setdefault(r["engine"], []).append(r)
def med(xs):
    return st.median(xs) if xs else float("nan")
wall = {e: med([t for r in rs for t in r["times_s"]]) for e, rs in by.items()}
cpu = {e: med([t for r in rs for t in r["cpu_s"]]) for e, rs in by.items()}
base = wall.get("duckdb")
print("| engine | runs | wall s (each) | median wall s | median CPU s | peak RSS MB | wall ratio vs duckdb | 1-min load before each |")
print("|---|---:|---|---:|---:|---:|---:|---|")
for e, rs in by.items():
    ts = [t for r in rs for t in r["times_s"]]
    loads = [l for r in rs for l in r["load1_before"]]
    rss = max(r["peak_rss_mb"] or 0 for r in rs)
    ratio = wall[e] / base if base else float("nan")
    errs = [r["error"] for r in rs if "error" in r]
    print(f"| {e} | {len(ts)} | {', '.join(f'{t:.2f}' for t in ts)} | {wall[e]:.2f} | {cpu[e]:.2f} | {rss:.0f} | {ratio:.2f} | {', '.join(f'{l:.2f}' for l in loads)} |" + (f" errors: {errs}" if errs else ""))
EOF
exit $status
