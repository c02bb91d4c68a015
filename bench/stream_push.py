#!/usr/bin/env python3
"""HTTP push client for the streaming-ingest benchmark: Feast-shaped `POST /push`
bodies of --batch rows to a `tessera serve` whose repo has the stream source `plays`
(bench/stream_http_bench.sh sets one up).

Events (user_id, item_id, action, dwell_s, ts, event_id) are generated first, in time
order over the last --span-min minutes before now with each time moved by up to
+-60 s (inside the source's allowed_lateness 5m), and every body is serialised before
the clock starts.  Then --conns threads, one keep-alive connection each, send the
bodies (thread i sends bodies i, i+conns, ...).  Prints one JSON line: events/s over
the whole send, per-request latency p50/p99/max (ms), events applied and skipped (from
the answers' x-tessera-rows-written / x-tessera-rows-skipped headers), non-200 answers,
and the 1-minute load before and after.  Standard library only.

usage: stream_push.py --addr 127.0.0.1:6570 --token-env TESSERA_TOKEN_PUSHER
                      [--events 1000000] [--batch 10000] [--users 100000] [--conns 1]
                      [--span-min 60] [--seed 1]
"""
import argparse
import http.client
import json
import os
import random
import sys
import threading
import time
from datetime import datetime, timezone


def load1():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def iso(us):
    return datetime.fromtimestamp(us / 1e6, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--addr", required=True)
    ap.add_argument("--token-env", default="TESSERA_TOKEN_PUSHER")
    ap.add_argument("--events", type=float, default=1_000_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--conns", type=int, default=1)
    ap.add_argument("--span-min", type=float, default=60)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    token = os.environ[a.token_env]
    n = int(a.events)
    rng = random.Random(a.seed)
    now = int(time.time() * 1e6)
    t0 = now - int(a.span_min * 60e6) - 60_000_000
    span = int(a.span_min * 60e6)
    run = f"r{os.getpid()}"
    bodies = []
    g0 = time.perf_counter()
    for start in range(0, n, a.batch):
        m = min(a.batch, n - start)
        ks = range(start, start + m)
        df = {
            "user_id": [rng.randrange(a.users) for _ in ks],
            "item_id": [rng.randrange(10_000) for _ in ks],
            "action": [("play", "play", "play", "play", "play", "play", "play", "skip", "skip", "like")[rng.randrange(10)] for _ in ks],
            "dwell_s": [None if rng.randrange(8) == 0 else rng.randrange(600_000) / 1000 for _ in ks],
            "ts": [iso(t0 + span * k // n + rng.randint(-60_000_000, 60_000_000)) for k in ks],
            "event_id": [f"{run}-{k}" for k in ks],
        }
        bodies.append(json.dumps({"push_source_name": "plays", "to": "online", "df": df}).encode())
    gen_s = time.perf_counter() - g0
    host, port = a.addr.rsplit(":", 1)
    lat = []
    stats = {"applied": 0, "skipped": 0, "non200": 0, "errors": []}
    lock = threading.Lock()

    def worker(i):
        c = http.client.HTTPConnection(host, int(port), timeout=120)
        hdr = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        mine = []
        for j in range(i, len(bodies), a.conns):
            t = time.perf_counter()
            c.request("POST", "/push", body=bodies[j], headers=hdr)
            r = c.getresponse()
            body = r.read()
            mine.append((time.perf_counter() - t) * 1000)
            with lock:
                if r.status != 200:
                    stats["non200"] += 1
                    if len(stats["errors"]) < 3:
                        stats["errors"].append(f"{r.status}: {body[:300]!r}")
                stats["applied"] += int(r.getheader("x-tessera-rows-written", "0"))
                stats["skipped"] += int(r.getheader("x-tessera-rows-skipped", "0"))
        with lock:
            lat.extend(mine)

    lb = load1()
    s0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(a.conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - s0
    la = load1()
    lat.sort()
    pct = lambda q: lat[min(len(lat) - 1, round((len(lat) - 1) * q))]
    print(json.dumps({"bench": "http_push", "events": n, "batch": a.batch, "conns": a.conns, "requests": len(bodies),
                      "body_mb_mean": round(sum(map(len, bodies)) / len(bodies) / 1e6, 3),
                      "wall_s": round(wall, 3), "events_per_s": round(n / wall),
                      "req_ms_p50": round(pct(0.5), 2), "req_ms_p99": round(pct(0.99), 2), "req_ms_max": round(lat[-1], 2),
                      "applied": stats["applied"], "skipped": stats["skipped"], "non200": stats["non200"],
                      "errors": stats["errors"], "gen_s": round(gen_s, 1), "load1_before": lb, "load1_after": la}))
    sys.exit(1 if stats["non200"] else 0)


if __name__ == "__main__":
    main()
