#!/usr/bin/env bash
# Erasure benchmark: how long `tessera erase` takes to erase one entity from an embedded
# online store of U entities plus a stream source's offline log of E events, tier by tier.
#
# usage: bench/erase_bench.sh [USERS_DATA_DIR [EVENTS_PARQUET]]
#        (defaults: /tmp/tessera-bench/m1e7 — 1e6 users, made by gen_data.py --users 1000000
#         --feature-rows 10000000 — and /tmp/tessera-bench/w1e7/events.parquet — 1e7 events)
#
# Steps (everything under WORK, default /tmp/tessera-bench/erase):
#   1. a repo: bench/tessera_repo.sh's `user_stats` view over USERS_DATA_DIR, plus a stream
#      source `plays` whose offline log is EVENTS split into LOG_FILES Parquet files (as a
#      compacted log looks), registered once;
#   2. `tessera materialize` fills the embedded store (one row per user) — not timed here —
#      then a first erasure (of a user that does not exist) compacts away the free pages
#      the materialisation left; its cost is printed apart (`first_*`);
#   3. the repo is copied REPS times; each copy erases one user that has events
#      (`tessera erase --json`, timed tier by tier; the first also with --verify);
#   4. the medians per tier, in a table.
# Environment: TESSERA_BIN (default target/release/tessera, else $CARGO_TARGET_DIR/release),
# REPS (3), LOG_FILES (10), ROW_GROUP_ROWS (32768, the log's own), WORK, PY (python with pyarrow; default the bench venv).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(dirname "$HERE")
die() { echo "erase_bench.sh: $*" >&2; exit 2; }
log() { echo "== $*" >&2; }

USERS=${1:-/tmp/tessera-bench/m1e7}
EVENTS=${2:-/tmp/tessera-bench/w1e7/events.parquet}
REPS=${REPS:-3}
LOG_FILES=${LOG_FILES:-10}
ROW_GROUP_ROWS=${ROW_GROUP_ROWS:-32768}   # as the log writer and its compaction write them
WORK=${WORK:-/tmp/tessera-bench/erase}
PY=${PY:-$HOME/.cache/tessera/benchenv/bin/python}
case "$WORK" in /|"") die "refusing WORK='$WORK'" ;; esac
if [ -z "${TESSERA_BIN:-}" ]; then
  TESSERA_BIN=$ROOT/target/release/tessera
  [ -x "$TESSERA_BIN" ] || TESSERA_BIN=${CARGO_TARGET_DIR:-/nonexistent}/release/tessera
fi
[ -x "$TESSERA_BIN" ] || die "no tessera binary at '$TESSERA_BIN' (cargo build --release -p tessera-cli, or set TESSERA_BIN)"
"$TESSERA_BIN" erase --help >/dev/null 2>&1 || die "'$TESSERA_BIN' has no erase command (rebuild it)"
[ -f "$USERS/user_stats.parquet" ] || die "no $USERS/user_stats.parquet (make it with bench/gen_data.py)"
[ -f "$EVENTS" ] || die "no $EVENTS (make it with bench/gen_data.py --events N, or gen_windows.py)"

BASE=$WORK/base
if [ ! -f "$BASE/.ready" ]; then
  rm -rf "$BASE"
  mkdir -p "$BASE"
  "$HERE/tessera_repo.sh" "$USERS" "$BASE" >/dev/null
  log "splitting $EVENTS into $LOG_FILES log files"
  "$PY" - "$EVENTS" "$BASE/data/plays" "$LOG_FILES" "$ROW_GROUP_ROWS" <<'PYEOF'
import sys, os, pyarrow as pa, pyarrow.parquet as pq, pyarrow.compute as pc
src, out, n, ROW_GROUP = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
t = pq.read_table(src)
ts = "ts" if "ts" in t.column_names else "event_timestamp"
t = t.rename_columns(["ts" if c == ts else c for c in t.column_names])
t = t.set_column(t.column_names.index("ts"), "ts", pc.cast(t["ts"], pa.timestamp("us", tz="UTC")))
os.makedirs(out, exist_ok=True)
per = -(-t.num_rows // n)
for i in range(n):
    first, last = i * 1000, i * 1000 + 999
    # row groups as the log writes them (LOG_ROW_GROUP_ROWS in crates/stream/src/offline_log.rs)
    pq.write_table(t.slice(i * per, per), f"{out}/part-plays-{first:012d}-{last:012d}.parquet", compression="zstd", row_group_size=ROW_GROUP)
print(t.num_rows)
PYEOF
  # The stream source, before `feature_views:`.
  "$PY" - "$BASE/features/users.yaml" <<'PYEOF'
import sys
p = sys.argv[1]
s = open(p).read()
stream = """  - name: plays
    type: stream
    path: data/plays
    timestamp_field: ts
    stream:
      schema: { user_id: int64, item_id: int64, action: string, dwell_s: float64 }
      allowed_lateness: 1d
"""
s = s.replace("feature_views:", stream + "feature_views:", 1)
open(p, "w").write(s)
PYEOF
  "$TESSERA_BIN" apply --repo "$BASE" >/dev/null
  log "materialising $USERS into the embedded store"
  t0=$(date +%s.%N)
  "$TESSERA_BIN" materialize --repo "$BASE" --start 2000-01-01 --end 2100-01-01 --quiet
  t1=$(date +%s.%N)
  # A first erasure (of an entity that does not exist) compacts the free pages the
  # materialisation left: its cost is reported apart; the runs below start from there.
  t2=$(date +%s.%N)
  "$TESSERA_BIN" erase --repo "$BASE" --entity user_id=-1 --json > "$WORK/first.json"
  t3=$(date +%s.%N)
  first=$("$PY" - "$WORK/first.json" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
o = [t for t in r["tiers"] if t["tier"] == "online"][0]
print("first_erase_total_ms=%.1f first_compact_ms=%s first_compact_bytes=%s->%s"
      % (r["total_ms"], o.get("compact_ms"), o.get("bytes_before"), o.get("bytes_after")))
PYEOF
)
  echo "materialize_s=$(echo "$t1 - $t0" | bc) first_erase_wall_s=$(echo "$t3 - $t2" | bc) $first" > "$BASE/.ready"
fi
cat "$BASE/.ready" >&2
du -sh "$BASE/.tessera/online" "$BASE/data/plays" >&2

# Users that have events, one per run.
mapfile -t VICTIMS < <("$PY" - "$BASE/data/plays" "$REPS" <<'PYEOF'
import sys, glob, pyarrow.parquet as pq
files = sorted(glob.glob(sys.argv[1] + "/*.parquet"))
ids = pq.read_table(files[len(files) // 2], columns=["user_id"])["user_id"].to_pylist()
seen = []
for u in ids[1000:]:
    if u >= 10000 and u not in seen:
        seen.append(u)
    if len(seen) == int(sys.argv[2]):
        break
print("\n".join(map(str, seen)))
PYEOF
)
RESULTS=$WORK/results.jsonl
: > "$RESULTS"
for i in $(seq 0 $((REPS - 1))); do
  RUN=$WORK/run$i
  rm -rf "$RUN"
  cp -a "$BASE" "$RUN"
  sync
  EXTRA=()
  [ "$i" = 0 ] && EXTRA=(--verify)
  log "run $i: erasing user_id=${VICTIMS[$i]} ${EXTRA[*]:-}"
  t0=$(date +%s.%N)
  "$TESSERA_BIN" erase --repo "$RUN" --entity "user_id=${VICTIMS[$i]}" --json "${EXTRA[@]}" > "$RUN.json"
  t1=$(date +%s.%N)
  "$PY" - "$RUN.json" "$(echo "$t1 - $t0" | bc)" >> "$RESULTS" <<'PYEOF'
import sys, json
r = json.load(open(sys.argv[1]))
out = {"wall_s": float(sys.argv[2]), "total_ms": r["total_ms"]}
for t in r["tiers"]:
    out[t["tier"] + "_ms"] = t["ms"]
    for k in ("rows_removed", "files_rewritten", "bytes_before", "bytes_after", "compact_ms"):
        if k in t:
            out[t["tier"] + "_" + k] = t[k]
if r.get("verify"):
    out["verify_ms"] = r["verify"]["ms"]
    out["verify_clean"] = r["verify"]["clean"]
    out["verify_bytes"] = r["verify"]["bytes_scanned"]
print(json.dumps(out))
PYEOF
  rm -rf "$RUN"
done
"$PY" - "$RESULTS" <<'PYEOF'
import sys, json, statistics
rows = [json.loads(l) for l in open(sys.argv[1])]
keys = sorted({k for r in rows for k in r})
print("| measure | median | runs |")
print("|---|---|---|")
for k in keys:
    vals = [r[k] for r in rows if k in r]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
        print(f"| {k} | {statistics.median(vals):.1f} | {', '.join(f'{v:.1f}' for v in vals)} |")
    else:
        print(f"| {k} | {vals[0]} | |")
PYEOF
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
