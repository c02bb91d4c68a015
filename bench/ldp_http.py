#!/usr/bin/env python3
"""POST /v1/ldp/reports throughput: sends binary batches (written by
`cargo run --release -p tessera-ldp --example ldp_bench -- --write-batches DIR`) to a running
`tessera serve`, over keep-alive connections from several threads, and prints reports/s.

    python3 bench/ldp_http.py --url http://127.0.0.1:6566 --token "$TOKEN" --dir /tmp/ldp-batches \
        --rounds 5 --threads 2
"""
import argparse
import glob
import http.client
import struct
import threading
import time
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    batches = [open(p, "rb").read() for p in sorted(glob.glob(a.dir + "/batch-*.bin"))]
    if not batches:
        raise SystemExit("no batch-*.bin in " + a.dir)

    def count(b):
        name_len = struct.unpack(">H", b[6:8])[0]
        return struct.unpack(">I", b[8 + name_len + 16: 8 + name_len + 20])[0]

    per_batch = [count(b) for b in batches]
    u = urllib.parse.urlparse(a.url)
    work = [(i % len(batches)) for i in range(a.rounds * len(batches))]
    lock = threading.Lock()
    sent = [0]
    errors = []

    def worker(items):
        conn = http.client.HTTPConnection(u.hostname, u.port)
        for i in items:
            conn.request("POST", "/v1/ldp/reports", body=batches[i], headers={
                "Authorization": "Bearer " + a.token,
                "Content-Type": "application/x-tessera-ldp"})
            r = conn.getresponse()
            body = r.read()
            if r.status != 200:
                errors.append((r.status, body[:200]))
                return
            with lock:
                sent[0] += per_batch[i]

    chunks = [work[t::a.threads] for t in range(a.threads)]
    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.perf_counter() - started
    if errors:
        raise SystemExit("errors: %r" % errors[:3])
    print("%d reports in %d batches of %d in %.2f s = %.0f reports/s (%d client threads)"
          % (sent[0], len(work), per_batch[0], secs, sent[0] / secs, a.threads))


if __name__ == "__main__":
    main()
