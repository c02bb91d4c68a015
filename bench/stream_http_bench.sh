#!/usr/bin/env bash
# Streaming ingest over HTTP: `tessera serve` with the ingest benchmark's repository
# (stream source `plays`, view `user_windows`: 5 aggregations x 3 windows; consumer
# `pusher` with `writes: [plays]`), pushed Feast-shaped `POST /push` bodies by
# bench/stream_push.py. One fresh repository and server per (batch, connections).
#
# usage: bench/stream_http_bench.sh
# Knobs: TESSERA_BIN, INGEST_BENCH (the ingest_bench example binary, used to write the
# repository), PY (python3 is enough), EVENTS (1000000), BATCHES ("1000 10000"),
# CONNS ("1 2"), PORT (6571), WORK (/tmp/tessera-bench/stream_http).
# Appends one JSON line per run to WORK/results.jsonl (the client's line plus the
# server's peak RSS from /proc and the offline-log file count).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TESSERA_BIN=${TESSERA_BIN:-$HOME/.cache/tessera-release/release/tessera}
INGEST_BENCH=${INGEST_BENCH:-$HOME/.cache/tessera-release/release/examples/ingest_bench}
PY=${PY:-python3}
EVENTS=${EVENTS:-1000000}
BATCHES=${BATCHES:-1000 10000}
CONNS=${CONNS:-1 2}
PORT=${PORT:-6571}
WORK=${WORK:-/tmp/tessera-bench/stream_http}
mkdir -p "$WORK"
RES=$WORK/results.jsonl
export TESSERA_TOKEN_PUSHER
TESSERA_TOKEN_PUSHER=$("$PY" -c 'import secrets; print(secrets.token_hex(32))')
echo "stream_http_bench: $(date -u +%FT%TZ) $(uptime)" >&2
status=0
for batch in $BATCHES; do
  for conns in $CONNS; do
    repo=$WORK/repo_b${batch}_c${conns}
    rm -rf "$repo"
    "$INGEST_BENCH" --write-repo "$repo" --consumer
    "$TESSERA_BIN" apply --repo "$repo" > /dev/null
    RUST_LOG=warn "$TESSERA_BIN" serve --repo "$repo" --addr "127.0.0.1:$PORT" --no-nats \
      2> "$WORK/serve_b${batch}_c${conns}.log" &
    spid=$!
    for _ in $(seq 1 100); do
      curl -sf "http://127.0.0.1:$PORT/health" > /dev/null && break
      sleep 0.1
    done
    line=$("$PY" "$HERE/stream_push.py" --addr "127.0.0.1:$PORT" --events "$EVENTS" \
             --batch "$batch" --conns "$conns") || status=1
    rss=$(awk '/VmHWM/ {print $2}' "/proc/$spid/status" 2>/dev/null || echo 0)
    kill -TERM "$spid"
    wait "$spid" || true
    files=$(find "$repo/data/plays" -name '*.parquet' | wc -l)
    echo "${line%\}}, \"server_peak_rss_mb\": $((rss / 1024)), \"log_files\": $files}" | tee -a "$RES"
    rm -rf "$repo"
  done
done
echo "stream_http_bench: end $(date -u +%FT%TZ) $(uptime)" >&2
exit $status
