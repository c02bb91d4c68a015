#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ for SECONDS each (default 10), one after the other, one job.
#
# usage: scripts/fuzz.sh [SECONDS] [TARGET...]
# needs: a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`).
# env:   FUZZ_TARGET_DIR (default ~/.cache/tgt-fuzz): the fuzz build's own target dir;
#        FUZZ_CORPUS (default ~/.cache/tessera-fuzz-corpus): where each target's corpus grows
#        (the committed seeds in fuzz/seeds/<target> are read, never written).
# Prints per target: seconds, executions, corpus size, and exits non-zero on the first crash
# (the crashing input is in fuzz/artifacts/<target>/).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-10}
shift || true
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$HOME/.cache/tgt-fuzz}
CORPUS=${FUZZ_CORPUS:-$HOME/.cache/tessera-fuzz-corpus}
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  mapfile -t TARGETS < <(cd fuzz && cargo +nightly fuzz list)
fi
# Overflow checks and debug assertions on (-a): an overflow is a finding too.
cargo +nightly fuzz build -a --fuzz-dir fuzz > /dev/null
status=0
for t in "${TARGETS[@]}"; do
  mkdir -p "$CORPUS/$t"
  log=$(mktemp)
  start=$(date +%s)
  if cargo +nightly fuzz run -a --fuzz-dir fuzz "$t" "$CORPUS/$t" "fuzz/seeds/$t" -- \
      -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 > "$log" 2>&1; then
    result=ok
  else
    result=CRASH
    status=1
  fi
  took=$(( $(date +%s) - start ))
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
  printf '%-18s %-5s %5ss %12s execs  corpus %s files\n' "$t" "$result" "$took" "$execs" \
    "$(find "$CORPUS/$t" -type f | wc -l)"
  if [ "$result" = CRASH ]; then
    grep -E "panicked|ERROR|SUMMARY|artifact" "$log" | head -20
  fi
  rm -f "$log"
done
exit $status
