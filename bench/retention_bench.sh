#!/usr/bin/env bash
# Retention pass vs a plain read of the same offline log (issue 15, item 7).
# Usage: bench/retention_bench.sh [EVENTS] [FILES]   (defaults 10000000 100)
# Builds bench/retention_bench (a standalone crate: tessera-stream, arrow, parquet; no
# DataFusion) in release into CARGO_TARGET_DIR (default /tmp/retention-bench-target),
# writes the log under /tmp/retention-bench (removed at the end), prints one JSON line per
# layout (ordered, shuffled).
set -euo pipefail
EVENTS=${1:-10000000}
FILES=${2:-100}
cd "$(dirname "$0")/retention_bench"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/retention-bench-target}
cargo build --release -q --offline
"$CARGO_TARGET_DIR/release/retention-bench" \
    --events "$EVENTS" --files "$FILES" --days 120 --retention-days 90 --dir /tmp/retention-bench
