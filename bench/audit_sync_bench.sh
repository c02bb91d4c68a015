#!/usr/bin/env bash
# What waiting for the audit record costs a read: `tessera serve` on the demo repository,
# wrk at a fixed concurrency against POST /get-online-features (1 entity x 4 features), once
# per `audit_log: { sync: none | batch | always }`, in one run. After each run the server is
# stopped with SIGTERM and the audit log must hold at least as many records as wrk counted
# responses.
#
# usage: bench/audit_sync_bench.sh
# env:   TESSERA_BIN (default $CARGO_TARGET_DIR/release/tessera)   CONNS (16)   DUR (10s)
#        MODES ("none batch always")   PORT (6571)   OUT (/tmp/tessera-bench/audit-sync)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${TESSERA_BIN:-${CARGO_TARGET_DIR:-$HERE/../target}/release/tessera}
CONNS=${CONNS:-16}
DUR=${DUR:-10s}
MODES=${MODES:-none batch always}
PORT=${PORT:-6571}
OUT=${OUT:-/tmp/tessera-bench/audit-sync}
[ -x "$BIN" ] || { echo "no tessera binary at $BIN (set TESSERA_BIN)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 2; }
export TESSERA_TOKEN_RANKER=bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
rm -rf "$OUT"; mkdir -p "$OUT"
REPO=$OUT/repo
"$BIN" init "$REPO" >/dev/null
"$BIN" apply --repo "$REPO" >/dev/null
"$BIN" materialize --repo "$REPO" --incremental --quiet >/dev/null
echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), c=$CONNS, $DUR per mode" | tee "$OUT/summary.txt"
SPID=
stop() { [ -n "$SPID" ] && kill -TERM "$SPID" 2>/dev/null && wait "$SPID" || true; SPID=; }
trap stop EXIT
for mode in $MODES; do
  sed -i "s|^audit_log:.*|audit_log: { path: .tessera/audit-$mode, sync: $mode }|" "$REPO/tessera.yaml"
  "$BIN" serve --repo "$REPO" --addr 127.0.0.1:$PORT 2>"$OUT/serve-$mode.log" &
  SPID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
  wrk -t1 -c"$CONNS" -d"$DUR" --latency -s "$HERE/load/audit_get.lua" "http://127.0.0.1:$PORT" >"$OUT/wrk-$mode.txt"
  stop
  reqs=$(awk '/requests in/ {print $1}' "$OUT/wrk-$mode.txt")
  rps=$(awk '/Requests\/sec/ {print $2}' "$OUT/wrk-$mode.txt")
  p50=$(awk '$1=="50%" {print $2}' "$OUT/wrk-$mode.txt")
  p99=$(awk '$1=="99%" {print $2}' "$OUT/wrk-$mode.txt")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$OUT/wrk-$mode.txt")
  audited=$(wc -l < "$REPO/.tessera/audit-$mode/audit.jsonl")
  echo "sync=$mode: ${rps} req/s, p50 $p50, p99 $p99, $reqs responses (${non2xx:-0} non-2xx), $audited audit records" | tee -a "$OUT/summary.txt"
  [ "$audited" -ge "$reqs" ] || { echo "sync=$mode: fewer audit records than responses" | tee -a "$OUT/summary.txt"; exit 1; }
done
