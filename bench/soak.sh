#!/usr/bin/env bash
# Issue 14, guarantee 13: a soak of `tessera serve` at 80 % of its measured capacity.
#
# One repository (the ingest benchmark's: a stream source `plays` consumed from NATS
# JetStream, a view of 5 aggregations x 3 windows = 15 features, the embedded online store).
# First each kind of load runs alone, closed-loop, for CAP_S seconds to measure its capacity:
#   read1    POST /v1/features, 1 entity x 15 features      (random user per request)
#   read100  POST /v1/features, 100 entities x 15 features
#   push     POST /v1/push, 10 events per request           (unique event ids, current time)
# NATS ingest is not measured here: its capacity is NATS_CAP events/s (default 20 000: the
# rate at which docs/BENCHMARKS.md records `tessera serve` keeping up, only just, with 100 000
# random users on this machine kind when nothing else runs; 40 000 overloaded the first
# soak, see docs/RELIABILITY.md).
# Then all four run together for DUR seconds at 80 % of capacity in all, split by the
# weights W_READ1 W_READ100 W_PUSH W_NATS (0.5 0.2 0.15 0.15 of the 80 %), open-loop
# (crates/server/examples/fixed_rate.rs: latency from each request's intended send time),
# while the server's RSS and the audit log, offline log and online store sizes are sampled
# every 10 s.
#
# The sum of the shares is an estimate of the mixed capacity (each load's capacity was
# measured alone); PCT (80) scales it. Checks (exit 1 if one fails): 0 errors (a request
# not sent by 10 s after the end — the server fell behind for good — is an error); for each read load, p99 of the last minute within
# 20 % of the first minute's (or within 1 ms: a p99 under a millisecond moves by more than
# 20 % from scheduling noise alone); RSS at the end at most 5 % above RSS after the first
# minute; every answered request of the soak's consumer in the audit log (after a clean
# SIGTERM); every NATS probe event servable (crates/stream/examples/nats_latency.rs).
#
# usage: bench/soak.sh                    DUR=600 (10 minutes); DUR=120 for a quick look
# env:   TESSERA_BIN FIXED_RATE INGEST_BENCH NATS_LATENCY   the release binaries (defaults
#        under $CARGO_TARGET_DIR/release, built if missing), PORT (6574), CAP_S (15),
#        NATS_CAP, USERS (100 000), WORK (/tmp/tessera-bench/soak), KEEP=1 keeps WORK.
# Output: WORK/report.txt (the per-minute table and the verdicts), the raw JSON lines beside.
set -euo pipefail
cd "$(dirname "$0")/.."
T=${CARGO_TARGET_DIR:-target}/release
TESSERA_BIN=${TESSERA_BIN:-$T/tessera}
FIXED_RATE=${FIXED_RATE:-$T/examples/fixed_rate}
INGEST_BENCH=${INGEST_BENCH:-$T/examples/ingest_bench}
NATS_LATENCY=${NATS_LATENCY:-$T/examples/nats_latency}
DUR=${DUR:-600}
CAP_S=${CAP_S:-15}
NATS_CAP=${NATS_CAP:-20000}
USERS=${USERS:-100000}
PORT=${PORT:-6574}
WORK=${WORK:-/tmp/tessera-bench/soak}
W_READ1=${W_READ1:-0.5}
W_READ100=${W_READ100:-0.2}
W_PUSH=${W_PUSH:-0.15}
W_NATS=${W_NATS:-0.15}

[ -x "$TESSERA_BIN" ] || cargo build --release -q -p tessera-cli --bin tessera
[ -x "$FIXED_RATE" ] || cargo build --release -q -p tessera-server --example fixed_rate
{ [ -x "$INGEST_BENCH" ] && [ -x "$NATS_LATENCY" ]; } ||
  cargo build --release -q -p tessera-stream --example ingest_bench --example nats_latency

rm -rf "$WORK" && mkdir -p "$WORK"
REPORT=$WORK/report.txt
log() { echo "$*" | tee -a "$REPORT"; }
export TESSERA_TOKEN_PUSHER TESSERA_TOKEN_SOAK
TESSERA_TOKEN_PUSHER=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
TESSERA_TOKEN_SOAK=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
subject=bench.soak.$$.$(date +%s)
stream=$(echo "$subject" | tr 'a-z.' 'A-Z_')
repo=$WORK/repo
"$INGEST_BENCH" --write-repo "$repo" --nats "$subject" --consumer
cat >> "$repo/features/defs.yaml" <<'EOF'
  - { name: soak, token_env: TESSERA_TOKEN_SOAK, purposes: [ranking], default_purpose: ranking, writes: [plays] }
EOF
"$TESSERA_BIN" apply --repo "$repo" > /dev/null

# Request bodies: random users (seeded), 1 and 100 per read; pushes of 10 fresh events.
python3 - "$WORK" "$USERS" <<'EOF'
import json, random, sys
work, users = sys.argv[1], int(sys.argv[2])
rng = random.Random(7)
feats = ["user_windows:*"]
with open(f"{work}/read1.jsonl", "w") as f:
    for _ in range(20000):
        f.write(json.dumps({"features": feats, "entities": {"user_id": [rng.randrange(users)]}}) + "\n")
with open(f"{work}/read100.jsonl", "w") as f:
    for _ in range(2000):
        f.write(json.dumps({"features": feats, "entities": {"user_id": [rng.randrange(users) for _ in range(100)]}}) + "\n")
with open(f"{work}/push.jsonl", "w") as f:
    for j in range(2000):
        events = [{"user_id": rng.randrange(users), "ts": "{now}", "item_id": rng.randrange(1000),
                   "action": "play", "dwell_s": round(rng.uniform(1, 300), 1),
                   "event_id": f"soak-{j}-{k}-{{seq}}"} for k in range(10)]
        f.write(json.dumps({"source": "plays", "events": events}) + "\n")
EOF

RUST_LOG=warn "$TESSERA_BIN" serve --repo "$repo" --addr "127.0.0.1:$PORT" 2> "$WORK/serve.log" &
SPID=$!
cleanup() {
  kill -TERM "$SPID" 2>/dev/null || true
  wait "$SPID" 2>/dev/null || true
  "$NATS_LATENCY" --delete-stream "$stream" > /dev/null 2>&1 || true
  [ -n "${KEEP:-}" ] || rm -rf "$repo"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/health" > /dev/null && break
  sleep 0.1
done
sleep 1

fr() { # name, rate, seconds, extra flags
  local name=$1 rate=$2 secs=$3
  shift 3
  local path=/v1/features
  [ "$name" = push ] && path=/v1/push
  # An open-loop connection sends one request at a time: it keeps to its schedule only
  # while the latency stays under connections / rate, so fast rates get more connections
  # (one per 100 requests/s, at least 8); with too few, the generator, not the server,
  # falls behind.
  local conns=8
  [ "$rate" != 0 ] && conns=$(python3 -c "print(max(8, min(256, round($rate / 100))))")
  "$FIXED_RATE" --addr "127.0.0.1:$PORT" --path "$path" --token "$TESSERA_TOKEN_SOAK" \
    --bodies-file "$WORK/$name.jsonl" --rate "$rate" --seconds "$secs" --connections "$conns" "$@"
}
json_field() { python3 -c 'import json,sys; print(json.loads(sys.stdin.readlines()[-1])[sys.argv[1]])' "$1"; }

log "# soak $(date -u +%FT%TZ), $(nproc) cores, DUR ${DUR}s, load $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A CAP
for kind in read1 read100 push; do
  CAP[$kind]=$(fr "$kind" 0 "$CAP_S" | tee "$WORK/cap_$kind.json" | json_field achieved_rps)
  log "capacity $kind: ${CAP[$kind]} requests/s (closed loop, 8 connections, ${CAP_S}s)"
done
log "capacity nats: $NATS_CAP events/s (NATS_CAP)"
rate() { python3 -c "print(max(1, round(${PCT:-80} / 100 * $1 * $2)))"; }
R1=$(rate "${CAP[read1]}" "$W_READ1")
R100=$(rate "${CAP[read100]}" "$W_READ100")
RP=$(rate "${CAP[push]}" "$W_PUSH")
RN=$(rate "$NATS_CAP" "$W_NATS")
log "offered: read1 $R1/s, read100 $R100/s, push $RP/s (x10 events), nats $RN events/s"

base_audit=$(du -sb "$repo/.tessera/audit" | cut -f1)
( while kill -0 "$SPID" 2>/dev/null; do
    echo "$(date +%s) $(awk '/VmRSS/ {print $2}' "/proc/$SPID/status") $(du -sb "$repo/.tessera/audit" | cut -f1) $(du -sb "$repo/data" 2>/dev/null | cut -f1) $(du -sb "$repo/.tessera/online" | cut -f1) $(cut -d' ' -f1 /proc/loadavg)"
    sleep 10
  done ) > "$WORK/samples.txt" &
MON=$!
t0=$(date +%s)
fr read1 "$R1" "$DUR" --bucket-s 60 > "$WORK/soak_read1.jsonl" &
P1=$!
fr read100 "$R100" "$DUR" --bucket-s 60 > "$WORK/soak_read100.jsonl" &
P2=$!
fr push "$RP" "$DUR" --bucket-s 60 > "$WORK/soak_push.jsonl" &
P3=$!
"$NATS_LATENCY" --subject "$subject" --http "127.0.0.1:$PORT" --rate "$RN" --duration-s "$DUR" \
  --users "$USERS" > "$WORK/soak_nats.json" || true
wait $P1 $P2 $P3 || true
sleep 5
kill $MON 2>/dev/null || true
kill -TERM "$SPID"
wait "$SPID" || log "server exited with $?"
answered=$(cat "$WORK"/soak_read1.jsonl "$WORK"/soak_read100.jsonl "$WORK"/soak_push.jsonl "$WORK"/cap_*.json |
  python3 -c 'import json,sys
n = 0
for l in sys.stdin:
    d = json.loads(l)
    if "offered_rps" in d: n += d["count"] - d["errors"]
print(n)')
audited=$("$TESSERA_BIN" audit query --repo "$repo" --consumer soak --json | wc -l)

python3 - "$WORK" "$t0" "$base_audit" "$answered" "$audited" <<'EOF' | tee -a "$REPORT"
import json, sys
work, t0, base_audit, answered, audited = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
fail = []
def lines(name):
    return [json.loads(l) for l in open(f"{work}/soak_{name}.jsonl")]
print("\nper minute (p99 ms of requests sent in that minute; errors):")
print(f"{'minute':>6} | {'read1 p99':>9} {'n':>7} | {'read100 p99':>11} {'n':>6} | {'push p99':>8} {'n':>6} | errors")
rows = {k: [d for d in lines(k) if "bucket" in d] for k in ("read1", "read100", "push")}
totals = {k: [d for d in lines(k) if "offered_rps" in d][0] for k in rows}
for i in range(len(rows["read1"])):
    r1, r2, rp = rows["read1"][i], rows["read100"][i], rows["push"][i]
    print(f"{i+1:>6} | {r1['p99_us']/1000:>9.2f} {r1['count']:>7} | {r2['p99_us']/1000:>11.2f} {r2['count']:>6} | {rp['p99_us']/1000:>8.2f} {rp['count']:>6} | {r1['errors']+r2['errors']+rp['errors']}")
for k, t in totals.items():
    print(f"{k}: offered {t['offered_rps']}/s achieved {t['achieved_rps']}/s count {t['count']} errors {t['errors']} p50 {t['p50_us']/1000:.2f} ms p99 {t['p99_us']/1000:.2f} ms p99.9 {t['p999_us']/1000:.2f} ms max {t['max_us']/1000:.1f} ms")
    if t["errors"]:
        fail.append(f"{k}: {t['errors']} errors")
for k in ("read1", "read100"):
    full = [d for d in rows[k] if d["count"] > 0]
    if len(full) >= 2:
        first, last = full[0]["p99_us"], full[-1]["p99_us"]
        ok = last <= first * 1.2 or last - first <= 1000
        print(f"{k}: p99 first minute {first/1000:.2f} ms, last {last/1000:.2f} ms -> {'ok' if ok else 'FAIL'} (within 20 % or 1 ms)")
        if not ok:
            fail.append(f"{k}: p99 grew from {first} to {last} us")
try:
    nats = json.load(open(f"{work}/soak_nats.json"))
    print("nats:", json.dumps(nats))
    seen, sent = nats.get("probes_seen"), nats.get("probes")
    if seen != sent or nats.get("ack_errors") or nats.get("poll_errors"):
        fail.append(f"nats: {seen} of {sent} probes servable, {nats.get('ack_errors')} ack errors, {nats.get('poll_errors')} poll errors")
except Exception as e:
    fail.append(f"nats: no result ({e})")
samples = [l.split() for l in open(f"{work}/samples.txt") if len(l.split()) >= 6]
samples = [(int(s[0]) - t0, int(s[1]), int(s[2]), int(s[3] or 0), int(s[4]), s[5]) for s in samples]
print("\nsamples (s since start, RSS MB, audit MB, offline log MB, online store MB, load):")
for s in samples[::6] + samples[-1:]:
    print(f"{s[0]:>6} {s[1]/1024:>8.1f} {s[2]/1e6:>8.1f} {s[3]/1e6:>8.1f} {s[4]/1e6:>8.1f} {s[5]:>6}")
after1 = [s for s in samples if s[0] >= 60]
if after1:
    r0, r1 = after1[0][1], max(s[1] for s in samples if s[0] >= 0)
    growth = (samples[-1][1] - r0) / r0 * 100
    ok = growth <= 5
    print(f"RSS after minute 1 {r0/1024:.1f} MB, at the end {samples[-1][1]/1024:.1f} MB ({growth:+.1f} %), peak {r1/1024:.1f} MB -> {'ok' if ok else 'FAIL'} (<= 5 %)")
    if not ok:
        fail.append(f"RSS grew {growth:.1f} %")
audit_bytes = samples[-1][2] - base_audit if samples else 0
print(f"audit: {audited} records of consumer soak for {answered} answered requests -> {'ok' if audited >= answered else 'FAIL'}; {audit_bytes/1e6:.1f} MB written in the soak")
if audited < answered:
    fail.append(f"audit: {answered - audited} answered requests without a record")
print("\nverdict:", "PASS" if not fail else "FAIL: " + "; ".join(fail))
sys.exit(1 if fail else 0)
EOF
