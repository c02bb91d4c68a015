#!/usr/bin/env bash
# Materialisation benchmark: how fast `tessera materialize` fills the online store.
#
# usage: bench/materialize_bench.sh [DATA_DIR ...]      (default /tmp/tessera-bench/m1e6)
#
# DATA_DIR is a data set made by bench/gen_data.py (user_stats.parquet: user_id, 15
# features, 90 days of event times). For each one the script writes a repo with
# bench/tessera_repo.sh, registers it once, then runs REPS times each:
#   full    empty store; every row of the source in range (start 2025-12-01, end 2026-12-31):
#           a full scan, then one latest row per user written
#   again   the same command on the full store: every row is skipped (idempotence cost)
# and, when REDIS_URL is set, `full` and `again` against Redis too (keys under
# tessera:<project>:, deleted before each full run and at the end).
# Each run is its own process; the line Tessera prints is kept, and the wall time of
# the whole process (start-up, registry, scan, writes, fsync) is measured here.
#
# Environment (all optional):
#   TESSERA_BIN  executable (default <repo>/target/release/tessera, else
#                ~/.cache/tessera-release/release/tessera)
#   REPS         runs per scenario (default 3); medians are reported
#   WORK         scratch dir (default /tmp/tessera-bench/materialize)
#   REDIS_URL    e.g. redis://127.0.0.1:6379/0 to also measure the Redis store
#   BATCH_ROWS   rows per store write (default: Tessera's default)
#
# The machine is shared and noisy: compare medians from one run, keep the load average.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(dirname "$HERE")
die() { echo "materialize_bench.sh: $*" >&2; exit 2; }
log() { echo "== $*" >&2; }

REPS=${REPS:-3}
[[ "$REPS" =~ ^[1-9][0-9]*$ ]] || die "REPS must be a positive integer, got '$REPS'"
WORK=${WORK:-/tmp/tessera-bench/materialize}
case "$WORK" in /|"") die "refusing WORK='$WORK'" ;; esac
if [ -z "${TESSERA_BIN:-}" ]; then
  TESSERA_BIN=$ROOT/target/release/tessera
  [ -x "$TESSERA_BIN" ] || TESSERA_BIN=$HOME/.cache/tessera-release/release/tessera
fi
[ -x "$TESSERA_BIN" ] || die "no tessera binary at '$TESSERA_BIN' (cargo build --release -p tessera-cli, or set TESSERA_BIN)"
"$TESSERA_BIN" materialize --help >/dev/null 2>&1 || die "'$TESSERA_BIN' has no materialize command (rebuild it)"
EXTRA=()
[ -n "${BATCH_ROWS:-}" ] && EXTRA=(--batch-rows "$BATCH_ROWS")
[ $# -gt 0 ] || set -- /tmp/tessera-bench/m1e6

START=2025-12-01T00:00:00Z
END=2026-12-31T00:00:00Z
mkdir -p "$WORK"
RESULTS=$WORK/results.tsv
printf 'data\tstore\tscenario\trun\twall_s\tsource_rows\tentities\twritten\tskipped\ttessera_s\n' > "$RESULTS"

# Runs one materialisation, appends a row to RESULTS.
one() { # data store scenario run repo
  local t0 t1 out line
  t0=$(date +%s.%N)
  out=$("$TESSERA_BIN" materialize --repo "$5" --start "$START" --end "$END" --quiet "${EXTRA[@]}")
  t1=$(date +%s.%N)
  line=$(grep -E 'source rows' <<<"$out" | head -1)
  [ -n "$line" ] || die "unexpected output: $out"
  echo "   $2 $3 #$4: $line" >&2
  # "... : N source rows, E entities: W written, S already as new; T.TTs (...)"
  awk -v d="$1" -v st="$2" -v sc="$3" -v r="$4" -v w="$(echo "$t1 - $t0" | bc -l)" '{
      for (i = 1; i <= NF; i++) {
        if ($(i+1) == "source" && $(i+2) == "rows,") rows = $i
        if ($(i+1) == "entities:") ents = $i
        if ($(i+1) == "written,") wr = $i
        if ($(i+1) == "already") sk = $i
        if ($i ~ /^[0-9.]+s$/ && t == "") { t = $i; sub(/s$/, "", t) }
      }
      printf "%s\t%s\t%s\t%s\t%.3f\t%s\t%s\t%s\t%s\t%s\n", d, st, sc, r, w, rows, ents, wr, sk, t
    }' <<<"$line" >> "$RESULTS"
}

# Deletes tessera:<project>:* server-side (SCAN + UNLINK in one EVAL). Keys hold binary
# entity-key bytes (which can include newlines), so piping `redis-cli --scan` into
# `xargs redis-cli del` silently deletes nothing; this does not go through a shell.
redis_clear() { # project
  local n
  n=$(redis-cli -u "$REDIS_URL" EVAL "local c='0' local n=0 repeat local r=redis.call('SCAN',c,'MATCH',ARGV[1],'COUNT',5000) c=r[1] for _,k in ipairs(r[2]) do redis.call('UNLINK',k) n=n+1 end until c=='0' return n" 0 "tessera:$1:*")
  [[ "$n" =~ ^[0-9]+$ ]] || die "clearing tessera:$1:* in Redis failed: $n"
}

log "binary: $TESSERA_BIN; load: $(cut -d' ' -f1-3 /proc/loadavg)"
for DATA_IN in "$@"; do
  [ -f "$DATA_IN/user_stats.parquet" ] || die "'$DATA_IN/user_stats.parquet' is missing (bench/gen_data.py)"
  NAME=$(basename "$DATA_IN")
  REPO=$WORK/repo_$NAME
  rm -rf "$REPO"
  "$HERE/tessera_repo.sh" "$DATA_IN" "$REPO" >&2
  "$TESSERA_BIN" apply --repo "$REPO" >/dev/null
  cat "$DATA_IN/user_stats.parquet" > /dev/null   # warm the page cache
  log "$NAME: embedded store"
  for r in $(seq 1 "$REPS"); do
    rm -rf "$REPO/.tessera/online"
    one "$NAME" embedded full "$r" "$REPO"
    one "$NAME" embedded again "$r" "$REPO"
  done
  du -sh "$REPO/.tessera/online" >&2
  if [ -n "${REDIS_URL:-}" ]; then
    PROJECT="matbench_$$"
    sed -i "s|^project: .*|project: $PROJECT|; s|^online_store: .*|online_store: { type: redis, url: $REDIS_URL }|" "$REPO/tessera.yaml"
    log "$NAME: redis store ($REDIS_URL, keys tessera:$PROJECT:*)"
    for r in $(seq 1 "$REPS"); do
      redis_clear "$PROJECT"
      one "$NAME" redis full "$r" "$REPO"
      one "$NAME" redis again "$r" "$REPO"
    done
    redis_clear "$PROJECT"
  fi
done

log "medians over $REPS runs (load now: $(cut -d' ' -f1-3 /proc/loadavg))"
python3 - "$RESULTS" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
groups = {}
for r in rows:
    groups.setdefault((r["data"], r["store"], r["scenario"]), []).append(r)
print("| data | store | scenario | source rows | entities | written (each run) | median wall s | median Tessera s | source rows/s (wall) | source rows/s (Tessera) | rows written/s (wall) |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for (d, st, sc), rs in groups.items():
    wall = statistics.median(float(r["wall_s"]) for r in rs)
    ts = statistics.median(float(r["tessera_s"]) for r in rs)
    n = int(rs[0]["source_rows"])
    ws = sorted({int(r["written"]) for r in rs})
    wmed = statistics.median(int(r["written"]) for r in rs)
    print(f"| {d} | {st} | {sc} | {n:,} | {int(rs[0]['entities']):,} | {'/'.join(f'{w:,}' for w in ws)} | "
          f"{wall:.2f} | {ts:.2f} | {n / wall:,.0f} | {n / ts:,.0f} | {wmed / wall:,.0f} |")
PY
echo "(raw: $RESULTS)" >&2
