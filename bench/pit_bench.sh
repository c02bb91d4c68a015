#!/usr/bin/env bash
# Point-in-time training-set benchmark: Tessera vs peers, one run, one data set.
#
# usage: bench/pit_bench.sh [DATA_DIR]        (default /tmp/tessera-bench/m1e7)
#
# Environment (all optional):
#   TESSERA_BIN  tessera executable (default ${CARGO_TARGET_DIR:-<repo>/target}/release/tessera);
#                if it is missing, Tessera is skipped and only the peers run
#   REPS         rounds, i.e. timed runs per engine (default 3); medians are reported
#   PY           Python with numpy, pyarrow, duckdb, polars
#                (default ~/.cache/tessera/benchenv/bin/python)
#   FEAST_PY     Python of the Feast venv (default /tmp/feastenv/bin/python); Feast runs
#                only if it exists.  FEAST=0 skips Feast regardless.
#   PEERS        peer engines (default "duckdb_asof duckdb_asof_ordered duckdb_window
#                duckdb_window_ordered polars_asof"; an _ordered suffix keeps the spine
#                order, as Tessera does)
#   CHECK_PEERS  1 (default) also runs pit_check.py on every peer output; 0 skips that
#   WORK         scratch dir (default /tmp/tessera-bench/run_<data name>): Tessera repo,
#                outputs, results.jsonl, report.md
#   TIMEOUT      seconds allowed per Tessera / Feast run (default 1800)
#
# Steps: warm the page cache with the inputs; write a Tessera repo (tessera_repo.sh) and
# run `tessera apply` once; write and apply the Feast repo; then REPS rounds, each
# running every engine once in its own process, round-robin so that load from other
# work is shared out: `tessera training-set` (timecmd.py: wall, CPU, peak RSS of the
# child), each peer (pit_peers.py), Feast's DuckDB offline store (feast_offline.py).
# Then the last output of each engine is checked row by row (pit_check.py) and a
# markdown table of medians over the rounds is printed (pit_report.py) with the load
# averages.  Exit status 1 if anything failed or any check found a mismatch.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(dirname "$HERE")
die() { echo "pit_bench.sh: $*" >&2; exit 2; }
log() { echo "== $*" >&2; }

DATA_IN=${1:-/tmp/tessera-bench/m1e7}
[ -d "$DATA_IN" ] || die "data dir '$DATA_IN' not found; generate it with bench/gen_data.py (see bench/README.md)"
DATA=$(cd "$DATA_IN" && pwd -P)
for f in user_stats.parquet entity_df.parquet; do
  [ -f "$DATA/$f" ] || die "'$DATA/$f' is missing; regenerate the data set with bench/gen_data.py"
done
NAME=$(basename "$DATA")

REPS=${REPS:-3}
[[ "$REPS" =~ ^[1-9][0-9]*$ ]] || die "REPS must be a positive integer, got '$REPS'"
TIMEOUT=${TIMEOUT:-1800}
[[ "$TIMEOUT" =~ ^[1-9][0-9]*$ ]] || die "TIMEOUT must be a positive integer, got '$TIMEOUT'"
PY=${PY:-$HOME/.cache/tessera/benchenv/bin/python}
FEAST_PY=${FEAST_PY:-/tmp/feastenv/bin/python}
FEAST=${FEAST:-1}
CHECK_PEERS=${CHECK_PEERS:-1}
PEERS=${PEERS:-duckdb_asof duckdb_asof_ordered duckdb_window duckdb_window_ordered polars_asof}
TESSERA_BIN=${TESSERA_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/tessera}
case "$TESSERA_BIN" in /*) ;; */*) TESSERA_BIN="$PWD/$TESSERA_BIN" ;; esac
WORK=${WORK:-/tmp/tessera-bench/run_$NAME}
case "$WORK" in /|"") die "refusing WORK='$WORK'" ;; esac
for peer in $PEERS; do
  case "${peer%_ordered}" in
    duckdb_asof|duckdb_window|polars_asof) ;;
    *) die "unknown peer '$peer' in PEERS (known: duckdb_asof duckdb_window polars_asof, each optionally _ordered)" ;;
  esac
done

[ -x "$PY" ] || die "no Python at '$PY'; create the venv: python3 -m venv ~/.cache/tessera/benchenv && ~/.cache/tessera/benchenv/bin/pip install numpy pyarrow duckdb polars (or set PY)"
"$PY" -c "import numpy, pyarrow, duckdb, polars" 2>/dev/null \
  || die "'$PY' lacks numpy/pyarrow/duckdb/polars; pip install them into that venv (or set PY)"

mkdir -p "$WORK/out"
rm -rf "$WORK/repo"
rm -f "$WORK/out/"*.parquet "$WORK/ref.parquet" "$WORK/results.jsonl" "$WORK/apply.json" "$WORK/report.md"
RESULTS=$WORK/results.jsonl
REF=$WORK/ref.parquet
: > "$RESULTS"
STATUS=0

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD_START=$(loadavg)
log "pit_bench on $DATA, REPS=$REPS, $(nproc) cores, work dir $WORK"
log "uptime at start: $(uptime)"

# The first reader of a file pays the disk; read the inputs once, untimed, so every
# engine starts from the same warm page cache.
cat "$DATA/user_stats.parquet" "$DATA/entity_df.parquet" > /dev/null

# pit_check.py on one output; the first call computes the DuckDB reference and saves it.
check() {  # check NAME FILE [extra pit_check args...]
  local name=$1 file=$2; shift 2
  local refarg=(--save-ref "$REF")
  [ -f "$REF" ] && refarg=(--ref "$REF")
  if ! "$PY" "$HERE/pit_check.py" "$file" "$DATA" --name "$name" --json-out "$RESULTS" \
        "${refarg[@]}" "$@" > /dev/null; then
    echo "pit_check: $name output does NOT match the reference (details above)" >&2
    STATUS=1
  fi
}

# record NAME JSON-or-empty RC: append a result line, or an error line if none came out
record() {
  local name=$1 json=$2 rc=$3
  if [ -n "$json" ]; then
    printf '%s\n' "$json" >> "$RESULTS"
  else
    printf '{"engine": "%s", "data": "%s", "error": "exit status %s, no result"}\n' "$name" "$NAME" "$rc" >> "$RESULTS"
  fi
  [ "$rc" -eq 0 ] || STATUS=1
}

# ---------------------------------------------------------------- setup
FEATS=$(printf 'user_stats:%s,' f0 f1 f2 f3 f4 f5 f6 f7 f8 f9 i0 i1 i2 i3 i4); FEATS=${FEATS%,}
REPO=$WORK/repo
TOUT=$WORK/out/tessera_out.parquet
FOUT=$WORK/out/feast_duckdb.parquet
ENGINES=()          # engines still in the race; one that fails is dropped from later rounds
if [ -x "$TESSERA_BIN" ]; then
  "$HERE/tessera_repo.sh" "$DATA" "$REPO" >&2
  log "tessera apply (once, timed for information)"
  rc=0; json=$("$PY" "$HERE/timecmd.py" --name tessera_apply --data "$NAME" --reps 1 \
               --timeout "$TIMEOUT" -- "$TESSERA_BIN" apply --repo "$REPO") || rc=$?
  printf '%s\n' "$json" > "$WORK/apply.json"
  if [ $rc -eq 0 ]; then
    ENGINES+=(tessera)
  else
    echo "pit_bench.sh: 'tessera apply' failed: $json" >&2
    record tessera "{\"engine\": \"tessera\", \"data\": \"$NAME\", \"error\": \"tessera apply failed\"}" $rc
  fi
else
  log "tessera: skipped, no executable at $TESSERA_BIN (cargo build --release, or set TESSERA_BIN)"
  printf '{"engine": "tessera", "data": "%s", "skipped": "no executable at %s"}\n' "$NAME" "$TESSERA_BIN" >> "$RESULTS"
fi
for peer in $PEERS; do ENGINES+=("$peer"); done
if [ "$FEAST" != 0 ] && [ -x "$FEAST_PY" ]; then
  log "feast: writing and applying the Feast repo (untimed)"
  if "$FEAST_PY" "$HERE/feast_offline.py" --data "$DATA" --store duckdb --work "$WORK/feast_repo" \
       --apply-only > /dev/null; then
    ENGINES+=(feast_duckdb)
  else
    record feast_duckdb "{\"engine\": \"feast_duckdb\", \"data\": \"$NAME\", \"error\": \"feast apply failed\"}" 1
  fi
else
  log "feast: skipped (no $FEAST_PY, or FEAST=0)"
fi

# one timed run of one engine, as its own process; appends one JSON line
run_engine() {
  local e=$1 rc=0 json
  case "$e" in
    tessera)
      json=$("$PY" "$HERE/timecmd.py" --name tessera --data "$NAME" --reps 1 --rm "$TOUT" \
             --timeout "$TIMEOUT" -- \
             "$TESSERA_BIN" training-set --repo "$REPO" --spine "$DATA/entity_df.parquet" \
             --features "$FEATS" --purpose training --out "$TOUT") || rc=$?
      ;;
    feast_duckdb)
      json=$("$FEAST_PY" "$HERE/feast_offline.py" --data "$DATA" --store duckdb --reps 1 \
             --timeout "$TIMEOUT" --keep-out --out "$FOUT" --work "$WORK/feast_repo" \
             --reuse-repo) || rc=$?
      ;;
    *)
      local args=(run --engine "${e%_ordered}" --data "$DATA" --reps 1 --keep-out --out "$WORK/out/$e.parquet")
      [ "$e" = "${e%_ordered}" ] || args+=(--ordered)
      json=$("$PY" "$HERE/pit_peers.py" "${args[@]}") || rc=$?
      ;;
  esac
  record "$e" "$json" $rc
  return $rc
}

# ---------------------------------------------------------------- timed rounds
# Round-robin: every round runs each engine once, so load from other work on the
# machine (a compile, say) is spread over all engines instead of hitting whichever
# happened to run at that moment.  Medians are taken over the rounds.
for ((round = 1; round <= REPS; round++)); do
  log "round $round/$REPS: ${ENGINES[*]:-nothing to run}"
  still=()
  for e in "${ENGINES[@]}"; do
    if run_engine "$e"; then
      still+=("$e")
    else
      echo "pit_bench.sh: $e failed in round $round; dropped from later rounds" >&2
    fi
  done
  ENGINES=("${still[@]}")
done

# ---------------------------------------------------------------- checks
# The last output of each engine that completed every round, against the DuckDB
# ASOF reference (spine order for Tessera and the _ordered peers, any order otherwise).
for e in "${ENGINES[@]}"; do
  case "$e" in
    tessera) log "pit_check: tessera"; check tessera "$TOUT" ;;
    feast_duckdb) [ "$CHECK_PEERS" = 1 ] && { log "pit_check: $e"; check "$e" "$FOUT" --any-order; } ;;
    *_ordered) [ "$CHECK_PEERS" = 1 ] && { log "pit_check: $e"; check "$e" "$WORK/out/$e.parquet"; } ;;
    *) [ "$CHECK_PEERS" = 1 ] && { log "pit_check: $e"; check "$e" "$WORK/out/$e.parquet" --any-order; } ;;
  esac
done
rm -f "$WORK/out/"*.parquet

# ---------------------------------------------------------------- report
LOAD_END=$(loadavg)
{
  echo "PIT training set, data $NAME ($DATA), REPS=$REPS, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "load average (1/5/15 min): start $LOAD_START, end $LOAD_END"
  [ -f "$WORK/apply.json" ] && echo "tessera apply: $(cat "$WORK/apply.json")"
  echo
  "$PY" "$HERE/pit_report.py" "$RESULTS"
  echo
  echo "raw results: $RESULTS"
} | tee "$WORK/report.md"
[ $STATUS -eq 0 ] || echo "pit_bench.sh: some step failed or a check found a mismatch (see above)" >&2
exit $STATUS
