#!/usr/bin/env bash
# What minimisation adds to an online read, in instructions (issue 15, item 7): runs
# crates/access/examples/minimise_bench.rs under `valgrind --tool=callgrind` for one purpose
# at a time (`ranking` reads the 8 features raw, `analytics` minimises 7 of them), at two
# iteration counts, and divides the difference by the extra reads — setup, warm-up and the
# store's writes cancel out. Instruction counts do not depend on what else the machine is
# doing, so this is the side-by-side comparison a loaded machine can still make.
#
# usage: bench/minimise_callgrind.sh            ENTITIES="1 100" N1=200 N2=1200
# env:   BIN the example's release binary (default: built under $CARGO_TARGET_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/examples/minimise_bench}
[ -x "$BIN" ] || cargo build --release -q -p tessera-access --no-default-features --example minimise_bench
N1=${N1:-200}
N2=${N2:-1200}
WORK=$(mktemp -d /tmp/minimise-callgrind.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
count() { # purpose entities iterations -> instructions
  valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.$1.$2.$3" "$BIN" "$3" "$1" "$2" > /dev/null 2> "$WORK/log.$1.$2.$3"
  awk '/^summary:/ {print $2}' "$WORK/cg.$1.$2.$3"
}
for n in ${ENTITIES:-1 100}; do
  declare -A per
  for p in ranking analytics; do
    a=$(count "$p" "$n" "$N1")
    b=$(count "$p" "$n" "$N2")
    per[$p]=$(( (b - a) / (N2 - N1) ))
  done
  python3 -c "import sys; r, m = int(sys.argv[2]), int(sys.argv[3]); print(f'{sys.argv[1]:>3} entities: raw {r:,} instructions per read, minimised {m:,} ({(m / r - 1) * 100:+.1f} %)')" "$n" "${per[ranking]}" "${per[analytics]}"
done
