#!/usr/bin/env python3
"""Markdown table from the JSON lines written by pit_bench.sh (timecmd.py, pit_peers.py,
feast_offline.py, pit_check.py).

usage: pit_report.py RESULTS.jsonl [--baseline duckdb_asof]

An engine may have several result lines (pit_bench.sh runs one line per round): their
times are pooled.  Columns: engine, runs, median wall s, median CPU s (user+sys, all
threads: less sensitive to other load than wall time), peak RSS MB (max over runs),
ratio of median wall time vs the baseline engine and vs the fastest peer (lower is
faster; "peer" = any engine whose name does not start with "tessera"), and the
pit_check verdict where one ran.  Standard library only.
"""
import argparse
import json
import os
import sys


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--baseline", default="duckdb_asof")
    a = ap.parse_args()
    runs, checks = {}, {}
    with open(a.results) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            if r.get("kind") == "check":
                checks[r["engine"]] = r
                continue
            if "engine" not in r:
                continue
            e = runs.setdefault(r["engine"], {"times": [], "cpus": [], "rss": [], "loads": [],
                                              "error": None, "skipped": None})
            e["times"] += r.get("times_s") or []
            e["cpus"] += r.get("cpu_s") or []
            if r.get("peak_rss_mb") is not None:
                e["rss"].append(r["peak_rss_mb"])
            e["loads"] += r.get("load1_before") or []
            e["error"] = e["error"] or r.get("error")
            e["skipped"] = e["skipped"] or r.get("skipped")

    def med_wall(e):
        return median(e["times"]) if e["times"] and not e["error"] else None

    base = med_wall(runs[a.baseline]) if a.baseline in runs else None
    peers = {n: med_wall(e) for n, e in runs.items() if not n.startswith("tessera") and med_wall(e)}
    best = min(peers, key=peers.get) if peers else None
    print(f"| engine | runs | median wall s | median CPU s | peak RSS MB | ratio vs {a.baseline} "
          f"| ratio vs fastest peer ({best or 'n/a'}) | PIT check |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for name, e in runs.items():
        if e["skipped"]:
            print(f"| {name} | 0 | skipped: {e['skipped']} | | | | | |")
            continue
        med = med_wall(e)
        if med is None:
            print(f"| {name} | {len(e['times'])} | failed: {e['error'] or 'no time'} | | | | | |")
            continue
        c = checks.get(name)
        if c is None:
            verdict = "not run"
        elif c.get("ok"):
            verdict = "ok" + (" (any order)" if c.get("any_order") else " (spine order)")
        else:
            verdict = "MISMATCH: " + (c.get("error") or f"{c.get('mismatched_rows')} rows differ")
        cpu = f"{median(e['cpus']):.2f}" if e["cpus"] else ""
        rss = f"{max(e['rss']):.0f}" if e["rss"] else ""
        ratio = f"{med / base:.2f}" if base else "n/a"
        ratio_best = f"{med / peers[best]:.2f}" if best else "n/a"
        print(f"| {name} | {len(e['times'])} | {med:.2f} | {cpu} | {rss} | {ratio} | {ratio_best} "
              f"| {verdict} |")
    loads = [x for e in runs.values() for x in e["loads"]]
    if loads:
        print(f"\n1-min load average before the timed runs: min {min(loads):.2f}, "
              f"median {median(loads):.2f}, max {max(loads):.2f} on {os.cpu_count()} cores "
              "(load above the core count: the runs competed for CPU with other work)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
