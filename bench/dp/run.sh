#!/usr/bin/env bash
# The exact samplers' throughput, Tessera's and OpenDP's, in one run (docs/BENCHMARKS.md).
# Needs a Python with `pip install opendp` as $PYTHON (default python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
uptime
cargo run -q --release -p tessera-dp --no-default-features --example sampler_throughput -- "${1:-10000000}"
"${PYTHON:-python3}" bench/dp/opendp_sampler.py "${2:-200000}"
uptime
