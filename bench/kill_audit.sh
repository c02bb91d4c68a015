#!/usr/bin/env bash
# kill -9 of `tessera serve` during reads and pushes: every read and push answered 200 must
# have its audit record.
#
# Runs the CLI integration test `audit_kill` (crates/cli/tests/it/audit_kill.rs): per trial it
# starts `tessera serve` on a fresh audit log, reads with four clients and pushes with one
# (each read asks for an entity count, each push carries an event count, no other request of
# the trial does, so its record can be found by `rows`), SIGKILLs the server at a
# pseudo-random instant 50-450 ms in, then checks with `tessera audit query` that every
# answered request was audited. Prints one line per trial and a
# total; exits non-zero on the first answered read without a record.
#
# usage: bench/kill_audit.sh            TRIALS=3 (CI)
#        TRIALS=100 bench/kill_audit.sh (the long mode of issue 14's kill matrix)
# env:   CARGO_TARGET_DIR as for any build; PROFILE=release to test the release binary.
set -euo pipefail
cd "$(dirname "$0")/.."
TRIALS=${TRIALS:-3}
PROFILE_ARGS=()
[ "${PROFILE:-debug}" = release ] && PROFILE_ARGS=(--release)
KILL_AUDIT_TRIALS=$TRIALS cargo test "${PROFILE_ARGS[@]}" -p tessera-cli --test it \
  audit_kill -- --nocapture 2>&1 | grep -E "^(trial|[0-9]+ trials|test |thread|  )|panicked|FAILED|ok$"
