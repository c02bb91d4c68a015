#!/usr/bin/env bash
# Issue 14, guarantee 12: kill -9 at random instants, then restart and check.
#
# Cells (each TRIALS times; a trial prints one line):
#   materialize  `tessera materialize` of the media template killed at a random instant in
#                [0, clean duration]; rerun to completion; every online value of every user
#                and item equals a clean run's (`tessera get`, all features).
#   ingest       `tessera ingest` from NATS JetStream killed once a random fraction (5-90 %)
#                of the stream is in the offline log; restarted: every event in the log once,
#                every user's counts exactly what was published (no loss, no double count).
#                (the CLI test streaming::kill_9_mid_stream_loses_and_doubles_nothing, with
#                KILL_FRACTION)
#   serve        `tessera serve` killed at a random instant (50-450 ms) while four clients
#                read and one pushes: every read and push answered 200 has its audit record,
#                and every event of a push answered 200 is in the source's offline log
#                exactly once, after the kill and again after a restart (the CLI test
#                audit_kill, KILL_AUDIT_TRIALS).
#   erase        `tessera erase` of one user killed at a random instant; rerun: `erase
#                --verify` finds no copy left in any tier, and the user reads as erased.
#
# usage: bench/kill_matrix.sh [TRIALS] [CELL...]      TRIALS=3 (default), 100 = the long mode
# env:   TESSERA_BIN  the binary for the materialize and erase cells (default: built, debug)
#        CARGO_TARGET_DIR as for any build.
set -euo pipefail
cd "$(dirname "$0")/.."
TRIALS=${1:-3}
shift || true
CELLS=("$@")
[ ${#CELLS[@]} -eq 0 ] && CELLS=(materialize ingest serve erase)
if [ -z "${TESSERA_BIN:-}" ]; then
  cargo build -q -p tessera-cli --bin tessera
  TESSERA_BIN=${CARGO_TARGET_DIR:-target}/debug/tessera
fi
BIN=$TESSERA_BIN
WORK=$(mktemp -d /tmp/tessera-kill-matrix.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
failures=0

rand_below() { echo $(( ($(od -An -N4 -tu4 /dev/urandom) % $1) )); }

# A media repository, applied, not yet materialised.
"$BIN" init --template media "$WORK/base" > /dev/null
"$BIN" apply --repo "$WORK/base" > /dev/null
USERS=$(seq -s' ' 0 199)
dump() { # every online value of every user and item (aggregations are finished at read
  # time, so their timestamp column is the read's instant: left out)
  local repo=$1 args=()
  for u in $USERS; do args+=(--entity "user_id=$u"); done
  "$BIN" get --repo "$repo" "${args[@]}" --features 'user_activity:plays_1d,user_activity:skips_1d,user_activity:avg_dwell_s_1d,user_activity:top_genre_1d,user_history:*' --purpose training \
    | sed -E '/user_history:/ s/ [0-9-]+T[0-9:.]+Z / /; s/audited in .*//'
  args=()
  for i in $(seq 0 99); do args+=(--entity "item_id=$i"); done
  "$BIN" get --repo "$repo" "${args[@]}" --features 'item_popularity:*' --purpose training \
    | sed -E 's/audited in .*//'
}

cell_materialize() {
  rm -rf "$WORK/clean" && cp -a "$WORK/base" "$WORK/clean"
  local t0 t1
  t0=$(date +%s%N)
  "$BIN" materialize --repo "$WORK/clean" --start 2020-01-01 --end 2030-01-01 --quiet > /dev/null
  t1=$(date +%s%N)
  local span_ms=$(( (t1 - t0) / 1000000 + 1 ))
  dump "$WORK/clean" > "$WORK/clean.txt"
  for trial in $(seq 1 "$TRIALS"); do
    rm -rf "$WORK/t" && cp -a "$WORK/base" "$WORK/t"
    local at=$(rand_below "$span_ms")
    "$BIN" materialize --repo "$WORK/t" --start 2020-01-01 --end 2030-01-01 --quiet > /dev/null 2>&1 &
    local pid=$!
    sleep "$(printf '0.%03d' "$at")" 2>/dev/null || sleep 0
    kill -9 "$pid" 2>/dev/null && killed=killed || killed=finished
    wait "$pid" 2>/dev/null || true
    "$BIN" materialize --repo "$WORK/t" --start 2020-01-01 --end 2030-01-01 --quiet > /dev/null
    dump "$WORK/t" > "$WORK/t.txt"
    if cmp -s "$WORK/clean.txt" "$WORK/t.txt"; then
      echo "materialize trial $trial: $killed at ${at} ms of ${span_ms}: stores equal the clean run"
    else
      echo "materialize trial $trial: $killed at ${at} ms: STORES DIFFER"; diff "$WORK/clean.txt" "$WORK/t.txt" | head -5
      failures=$((failures + 1))
    fi
  done
}

cell_ingest() {
  for trial in $(seq 1 "$TRIALS"); do
    local frac
    frac=$(printf '0.%02d' $(( 5 + $(rand_below 86) )))
    if KILL_FRACTION=$frac cargo test -q -p tessera-cli --test it \
        streaming::kill_9_mid_stream_loses_and_doubles_nothing > "$WORK/ingest.log" 2>&1; then
      echo "ingest trial $trial: killed at $frac of the stream: no event lost or double-counted"
    else
      echo "ingest trial $trial: killed at $frac: FAILED"; grep -E "panicked|assert" -A3 "$WORK/ingest.log" | head -8
      failures=$((failures + 1))
    fi
  done
}

cell_serve() {
  if KILL_AUDIT_TRIALS=$TRIALS cargo test -q -p tessera-cli --test it audit_kill -- --nocapture \
      > "$WORK/serve.log" 2>&1; then
    grep -E "^trial|trials:" "$WORK/serve.log" | sed 's/^/serve /'
  else
    grep -E "^trial|trials:|panicked" -A2 "$WORK/serve.log" | sed 's/^/serve /' | tail -20
    failures=$((failures + 1))
  fi
}

cell_erase() {
  # The clean duration of one erasure, for the kill instants.
  rm -rf "$WORK/e" && cp -a "$WORK/base" "$WORK/e"
  "$BIN" materialize --repo "$WORK/e" --start 2020-01-01 --end 2030-01-01 --quiet > /dev/null
  rm -rf "$WORK/ebase" && cp -a "$WORK/e" "$WORK/ebase"
  local t0 t1
  t0=$(date +%s%N)
  "$BIN" erase --repo "$WORK/e" --entity user_id=7 > /dev/null
  t1=$(date +%s%N)
  local span_ms=$(( (t1 - t0) / 1000000 + 1 ))
  for trial in $(seq 1 "$TRIALS"); do
    rm -rf "$WORK/e" && cp -a "$WORK/ebase" "$WORK/e"
    local at=$(rand_below "$span_ms")
    "$BIN" erase --repo "$WORK/e" --entity user_id=7 > /dev/null 2>&1 &
    local pid=$!
    sleep "$(printf '0.%03d' "$at")" 2>/dev/null || sleep 0
    kill -9 "$pid" 2>/dev/null && killed=killed || killed=finished
    wait "$pid" 2>/dev/null || true
    if "$BIN" erase --repo "$WORK/e" --entity user_id=7 --verify > "$WORK/erase.txt" 2>&1 \
        && ! "$BIN" get --repo "$WORK/e" --entity user_id=7 --features 'user_activity:plays_1d' \
             --purpose training 2>&1 | grep -qE '\| *[0-9]+ *\|?$'; then
      echo "erase trial $trial: $killed at ${at} ms of ${span_ms}: rerun verified, no copy left"
    else
      echo "erase trial $trial: $killed at ${at} ms: FAILED"; tail -5 "$WORK/erase.txt"
      failures=$((failures + 1))
    fi
  done
}

for cell in "${CELLS[@]}"; do
  "cell_$cell"
done
echo "kill matrix: ${CELLS[*]} x $TRIALS trials: $failures failed"
[ "$failures" -eq 0 ]
