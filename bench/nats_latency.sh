#!/usr/bin/env bash
# Event-to-servable latency through NATS JetStream (nats-server -js on 127.0.0.1:4222):
# `tessera serve` alone (it consumes the source's NATS subject and serves HTTP) over the
# ingest benchmark's repository; crates/stream/examples/nats_latency.rs publishes events
# at a steady RATE (plus a probe event every 20 ms for one probe user) and polls the
# probe user's count over POST /v1/features. One fresh repository, subject, JetStream
# stream and server per rate.
#
# usage: bench/nats_latency.sh
# Knobs: TESSERA_BIN, INGEST_BENCH, NATS_LATENCY (the example binaries), RATES
# ("5000 20000"), DUR (60 s), PORT (6572), WORK (/tmp/tessera-bench/nats_latency),
# EXTRA (more flags for nats_latency, e.g. "--probe-ms 10"), SERVE_LOG (the server's
# RUST_LOG, default warn; "warn,tessera_stream=info" logs each snapshot's timing).
# Appends one JSON line per rate to WORK/results.jsonl (plus the server's peak RSS).
set -euo pipefail
TESSERA_BIN=${TESSERA_BIN:-$HOME/.cache/tessera-release/release/tessera}
INGEST_BENCH=${INGEST_BENCH:-$HOME/.cache/tessera-release/release/examples/ingest_bench}
NATS_LATENCY=${NATS_LATENCY:-$HOME/.cache/tessera-release/release/examples/nats_latency}
RATES=${RATES:-5000 20000}
DUR=${DUR:-60}
PORT=${PORT:-6572}
WORK=${WORK:-/tmp/tessera-bench/nats_latency}
EXTRA=${EXTRA:-}
mkdir -p "$WORK"
RES=$WORK/results.jsonl
export TESSERA_TOKEN_PUSHER
TESSERA_TOKEN_PUSHER=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
echo "nats_latency: $(date -u +%FT%TZ) $(uptime)" >&2
status=0
for rate in $RATES; do
  subject=bench.plays.$$.$rate.$(date +%s)
  stream=$(echo "$subject" | tr 'a-z.' 'A-Z_')
  repo=$WORK/repo_$rate
  rm -rf "$repo"
  "$INGEST_BENCH" --write-repo "$repo" --nats "$subject" --consumer
  "$TESSERA_BIN" apply --repo "$repo" > /dev/null
  RUST_LOG=${SERVE_LOG:-warn} "$TESSERA_BIN" serve --repo "$repo" --addr "127.0.0.1:$PORT" 2> "$WORK/serve_$rate.log" &
  spid=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$PORT/health" > /dev/null && break
    sleep 0.1
  done
  sleep 1   # the durable consumer is created
  # shellcheck disable=SC2086
  line=$("$NATS_LATENCY" --subject "$subject" --http "127.0.0.1:$PORT" --rate "$rate" --duration-s "$DUR" $EXTRA) || status=1
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$spid/status" 2>/dev/null || echo 0)
  kill -TERM "$spid"
  wait "$spid" || true
  "$NATS_LATENCY" --delete-stream "$stream" || true
  echo "${line%\}}, \"server_peak_rss_mb\": $((rss / 1024))}" | tee -a "$RES"
  rm -rf "$repo"
done
echo "nats_latency: end $(date -u +%FT%TZ) $(uptime)" >&2
exit $status
