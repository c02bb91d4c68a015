#!/usr/bin/env bash
# Online serving benchmark: `tessera serve` on loopback, load from wrk.
#
# For each store (embedded, redis): writes a repo over DATA_DIR with bench/tessera_repo.sh
# (plus a consumer `bench` whose token is in $TESSERA_BENCH_TOKEN), `tessera apply`,
# `tessera materialize` (the latest row of each of the 100k users), starts `tessera serve`,
# records one request/response, then runs wrk against POST /get-online-features (Feast's
# shape, all 15 features) for {1, 100} entities x concurrency {1, 16}, DUR each; stops the
# server with SIGTERM and checks that every request was audited.
#
# usage: bench/online_bench.sh [DATA_DIR]      (default /tmp/tessera-bench/m1e6, from gen_data.py)
# env:
#   TESSERA_BIN  the binary (default ~/.cache/tessera-release/release/tessera; build it with
#                CARGO_TARGET_DIR=$HOME/.cache/tessera-release cargo build --release -p tessera-cli)
#   STORES       "embedded redis" (default)       REDIS_URL  redis://127.0.0.1:6379/0
#   DUR          20s per run                      PORT       6570
#   CONNS        "1 16"                           ENTITIES   "1 100"
#   TTL          unlimited (default). The generated data is from early 2026, so with the repo's
#                7d TTL every value would come back OUTSIDE_MAX_AGE (null); Feast does not apply
#                TTLs on read, so `unlimited` compares like with like. TTL=7d measures that path.
#   PUSH=1       also wrk POST /push (1 row) at each concurrency
#   FIXED=1      latency at a fixed offered rate instead of wrk's closed loop (issue 14, item 14):
#                per entity count, the capacity (crates/server/examples/fixed_rate.rs --rate 0,
#                16 connections), then RATE_PCT (50) % of it, open-loop (latency from each
#                request's intended send time). FIXED_RATE = that example's release binary
#                (default beside TESSERA_BIN: ../release/examples/fixed_rate)
#   OUT          /tmp/tessera-bench/online (repos, logs, wrk outputs, summary.txt)
# Figures are only comparable within one run on one machine: keep the load averages.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=${1:-/tmp/tessera-bench/m1e6}
BIN=${TESSERA_BIN:-$HOME/.cache/tessera-release/release/tessera}
STORES=${STORES:-embedded redis}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
DUR=${DUR:-20s}
PORT=${PORT:-6570}
CONNS=${CONNS:-1 16}
ENTITIES=${ENTITIES:-1 100}
TTL=${TTL:-unlimited}
NUSERS=${NUSERS:-100000}
OUT=${OUT:-/tmp/tessera-bench/online}
URL=http://127.0.0.1:$PORT
export TESSERA_BENCH_TOKEN=${TESSERA_BENCH_TOKEN:-bench-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')}

[ -x "$BIN" ] || { echo "no tessera binary at $BIN (set TESSERA_BIN)" >&2; exit 2; }
[ -f "$DATA/user_stats.parquet" ] || { echo "no $DATA/user_stats.parquet (run bench/gen_data.py)" >&2; exit 2; }
[ "${FIXED:-0}" = 1 ] || command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 2; }
mkdir -p "$OUT"
SUMMARY=$OUT/summary.txt
echo "# $(date -u +%FT%TZ) $(nproc) cores, binary $BIN, data $DATA, ttl $TTL, dur $DUR" | tee -a "$SUMMARY"

SPID=
stop_server() {
  if [ -n "$SPID" ] && kill -0 "$SPID" 2>/dev/null; then
    kill -TERM "$SPID"
    wait "$SPID" || echo "server exited with $?" | tee -a "$SUMMARY"
  fi
  SPID=
}
trap stop_server EXIT

# Deletes tessera:bench_online:* server-side (SCAN + UNLINK in one EVAL): the keys hold binary
# entity-key bytes (newlines included), so `redis-cli --scan | xargs redis-cli del` would
# silently delete nothing.
redis_clear() {
  redis-cli -u "$REDIS_URL" EVAL "local c='0' local n=0 repeat local r=redis.call('SCAN',c,'MATCH',ARGV[1],'COUNT',5000) c=r[1] for _,k in ipairs(r[2]) do redis.call('UNLINK',k) n=n+1 end until c=='0' return n" 0 'tessera:bench_online:*' >/dev/null
}

fr_summary() { python3 - "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ms = lambda k: "%.3fms" % (d[k] / 1000)
print("achieved=%s p50=%s p90=%s p99=%s p99.9=%s max=%s errors=%d" % (d["achieved_rps"], ms("p50_us"), ms("p90_us"), ms("p99_us"), ms("p999_us"), ms("max_us"), d["errors"]))
PY
}

pct() { awk -v p="$1" '/Latency Distribution/{d=1} d&&$1==p{print $2; exit}' "$2"; }

for store in $STORES; do
  REPO=$OUT/repo_$store
  rm -rf "$REPO"
  bash "$HERE/tessera_repo.sh" "$DATA" "$REPO" >/dev/null
  sed -i "s/^    ttl: 7d\$/    ttl: $TTL/" "$REPO/features/users.yaml"
  sed -i "s/^project: bench\$/project: bench_online/" "$REPO/tessera.yaml"
  cat >> "$REPO/features/users.yaml" <<'EOF'
consumers:
  - { name: bench, token_env: TESSERA_BENCH_TOKEN, purposes: [training], default_purpose: training, writes: [user_stats_src] }
EOF
  if [ "$store" = redis ]; then
    sed -i "s|^online_store:.*|online_store: { type: redis, url: $REDIS_URL }|" "$REPO/tessera.yaml"
  fi
  "$BIN" apply --repo "$REPO" >/dev/null
  if [ "$store" = redis ]; then redis_clear; fi   # start from an empty store
  t0=$(date +%s.%N)
  "$BIN" materialize --repo "$REPO" --start 2025-01-01 --end 2027-01-01 --quiet > "$OUT/materialize_$store.txt" 2>&1
  echo "[$store] materialize: $(echo "$(date +%s.%N) - $t0" | bc) s ($(tail -1 "$OUT/materialize_$store.txt"))" | tee -a "$SUMMARY"

  "$BIN" serve --repo "$REPO" --addr "127.0.0.1:$PORT" > "$OUT/server_$store.log" 2>&1 &
  SPID=$!
  for _ in $(seq 1 100); do curl -sf "$URL/health" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -sf "$URL/health" >/dev/null || { cat "$OUT/server_$store.log"; exit 1; }
  FEATS='"user_stats:f0","user_stats:f1","user_stats:f2","user_stats:f3","user_stats:f4","user_stats:f5","user_stats:f6","user_stats:f7","user_stats:f8","user_stats:f9","user_stats:i0","user_stats:i1","user_stats:i2","user_stats:i3","user_stats:i4"'
  curl -s -i "$URL/get-online-features" -H "Authorization: Bearer $TESSERA_BENCH_TOKEN" \
    -H 'Content-Type: application/json' \
    -d "{\"features\":[$FEATS],\"entities\":{\"user_id\":[42,99999999]}}" > "$OUT/sample_$store.txt"
  for n in $ENTITIES; do
    ids=$(seq -s, 1000 $((1000 + n - 1)))
    curl -s -o /dev/null -w "[$store] one request, $n entities: %{size_download} bytes\n" \
      "$URL/get-online-features" -H "Authorization: Bearer $TESSERA_BENCH_TOKEN" \
      -H 'Content-Type: application/json' \
      -d "{\"features\":[$FEATS],\"entities\":{\"user_id\":[$ids]}}" | tee -a "$SUMMARY"
  done
  total=$(( 1 + $(echo $ENTITIES | wc -w) ))
  if [ "${FIXED:-0}" = 1 ]; then
    FR=${FIXED_RATE:-$(dirname "$BIN")/examples/fixed_rate}
    for n in $ENTITIES; do
      python3 - "$n" "$NUSERS" "$FEATS" > "$OUT/bodies_n$n.jsonl" <<'PY'
import json, random, sys
n, users, feats = int(sys.argv[1]), int(sys.argv[2]), json.loads("[" + sys.argv[3] + "]")
rng = random.Random(n)
for _ in range(5000):
    print(json.dumps({"features": feats, "entities": {"user_id": [rng.randrange(users) for _ in range(n)]}}))
PY
      la0=$(cut -d' ' -f1 /proc/loadavg)
      cap=$("$FR" --addr "127.0.0.1:$PORT" --path /get-online-features --bodies-file "$OUT/bodies_n$n.jsonl" \
        --rate 0 --seconds "${DUR%s}" --connections 16 | tee "$OUT/fixed_${store}_n${n}_cap.json" |
        python3 -c 'import json,sys; print(round(json.load(sys.stdin)["achieved_rps"]))')
      rate=$(( cap * ${RATE_PCT:-50} / 100 ))
      "$FR" --addr "127.0.0.1:$PORT" --path /get-online-features --bodies-file "$OUT/bodies_n$n.jsonl" \
        --rate "$rate" --seconds "${DUR%s}" --connections 16 > "$OUT/fixed_${store}_n${n}.json"
      total=$(( total + $(python3 -c 'import json,sys; print(sum(json.load(open(f))["count"] for f in sys.argv[1:]))' "$OUT/fixed_${store}_n${n}_cap.json" "$OUT/fixed_${store}_n${n}.json") ))
      echo "[$store] entities=$n capacity=$cap req/s; at $rate req/s (${RATE_PCT:-50} %): $(fr_summary "$OUT/fixed_${store}_n${n}.json") (loadavg $la0 -> $(cut -d' ' -f1 /proc/loadavg))" | tee -a "$SUMMARY"
    done
  else
  wrk -t1 -c4 -d3s -s "$HERE/load/online_get.lua" "$URL" -- 1 "$NUSERS" 7 > "$OUT/wrk_${store}_warmup.txt"
  total=$(( total + $(awk '/requests in/{print $1}' "$OUT/wrk_${store}_warmup.txt") ))
  for n in $ENTITIES; do
    for c in $CONNS; do
      f=$OUT/wrk_${store}_n${n}_c${c}.txt
      la0=$(cut -d' ' -f1 /proc/loadavg)
      wrk -t1 -c"$c" -d"$DUR" --timeout 10s --latency -s "$HERE/load/online_get.lua" "$URL" -- "$n" "$NUSERS" "$c$n" > "$f"
      la1=$(cut -d' ' -f1 /proc/loadavg)
      reqs=$(awk '/requests in/{print $1}' "$f"); total=$((total + reqs))
      echo "[$store] entities=$n conc=$c  p50=$(pct 50% "$f") p90=$(pct 90% "$f") p99=$(pct 99% "$f") req/s=$(awk '/Requests\/sec/{print $2}' "$f") non2xx=$(awk '/Non-2xx/{n=$NF} END{print n+0}' "$f") $(grep -o 'Socket errors.*' "$f" || true) (loadavg $la0 -> $la1)" | tee -a "$SUMMARY"
    done
  done
  fi
  if [ "${PUSH:-0}" = 1 ]; then
    for c in $CONNS; do
      f=$OUT/wrk_${store}_push_c${c}.txt
      la0=$(cut -d' ' -f1 /proc/loadavg)
      wrk -t1 -c"$c" -d"$DUR" --timeout 10s --latency -s "$HERE/load/online_push.lua" "$URL" -- "$NUSERS" "$c" > "$f"
      echo "[$store] push 1 row conc=$c  p50=$(pct 50% "$f") p99=$(pct 99% "$f") req/s=$(awk '/Requests\/sec/{print $2}' "$f") non2xx=$(awk '/Non-2xx/{n=$NF} END{print n+0}' "$f") (loadavg $la0 -> $(cut -d' ' -f1 /proc/loadavg))" | tee -a "$SUMMARY"
    done
  fi
  curl -s "$URL/metrics" > "$OUT/metrics_$store.txt"
  stop_server
  audited=$(grep -c '"online_read"' "$REPO/.tessera/audit/audit.jsonl" || true)
  echo "[$store] after SIGTERM: $audited reads audited; wrk and curl completed $total (requests still in flight when wrk stopped are audited too)" | tee -a "$SUMMARY"
  if [ "$store" = redis ]; then
    redis_clear
  fi
  rm -f "$REPO/.tessera/audit/audit.jsonl"   # large; the count above is what matters
done
echo "summary: $SUMMARY"
