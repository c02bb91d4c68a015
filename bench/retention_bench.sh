#!/usr/bin/env bash
# Retention pass vs a plain read of the same offline log (issue 15, item 7).
# Usage: bench/retention_bench.sh [EVENTS] [FILES]   (defaults 10000000 100)
# Builds in release (CARGO_TARGET_DIR, default target/), writes the log under
# /tmp/retention-bench (removed at the end), prints one JSON line per layout.
set -euo pipefail
EVENTS=${1:-10000000}
FILES=${2:-100}
cd "$(dirname "$0")/.."
cargo build --release -q -p tessera-stream --example retention_bench
"${CARGO_TARGET_DIR:-target}/release/examples/retention_bench" \
    --events "$EVENTS" --files "$FILES" --days 120 --retention-days 90 --dir /tmp/retention-bench
