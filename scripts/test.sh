#!/usr/bin/env bash
# Runs every test: fetches the real data sets into ~/.cache (never into git), makes sure the
# local services are up, then runs the whole workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/fetch-data.sh
./scripts/services.sh
cargo test --workspace "$@"
