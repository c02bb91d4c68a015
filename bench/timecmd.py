#!/usr/bin/env python3
"""Run a command REPS times, each as a fresh child, and print one JSON line with its
wall times, CPU seconds (user+sys) and peak RSS (ru_maxrss of the child, from wait4).

usage: timecmd.py --name NAME [--reps 3] [--data LABEL] [--rm PATH] [--timeout S] -- CMD [ARGS...]

--rm PATH     delete PATH before every run (e.g. the output file), outside the timing
--timeout S   kill the child's process group after S seconds (that run counts as failed)
The child's stdout and stderr both go to this script's stderr, so stdout carries only
the JSON line.  Exit status: 0 if every run exited 0, else 1 (the JSON has "error").
Only the Python standard library is needed.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def run_once(cmd, timeout):
    t0 = time.perf_counter()
    try:
        p = subprocess.Popen(cmd, stdout=sys.stderr.fileno(), stderr=sys.stderr.fileno(),
                             start_new_session=True)
    except OSError as e:
        return {"error": f"cannot start {cmd[0]!r}: {e}"}
    timed_out = threading.Event()

    def kill():
        timed_out.set()
        try:
            os.killpg(p.pid, signal.SIGKILL)   # only the group this script started
        except ProcessLookupError:
            pass

    timer = threading.Timer(timeout, kill) if timeout else None
    if timer:
        timer.start()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if timer:
        timer.cancel()
    p.returncode = os.waitstatus_to_exitcode(status)   # tell Popen it has been reaped
    r = {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "maxrss_mb": ru.ru_maxrss / 1024,
         "rc": p.returncode}
    if timed_out.is_set():
        r["error"] = f"timed out after {timeout}s"
    elif p.returncode != 0:
        r["error"] = f"exit status {p.returncode}"
    return r


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--data", default="")
    ap.add_argument("--rm")
    ap.add_argument("--timeout", type=float, default=0)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        ap.error("no command given (put it after --)")
    runs, loads = [], []
    for _ in range(a.reps):
        if a.rm and os.path.lexists(a.rm):
            os.remove(a.rm)
        loads.append(os.getloadavg()[0])
        r = run_once(cmd, a.timeout)
        runs.append(r)
        if "error" in r:
            break
    ok = [r for r in runs if "error" not in r]
    rec = {"engine": a.name, "data": a.data, "reps": a.reps, "cmd": cmd,
           "times_s": [round(r["wall_s"], 3) for r in ok],
           "median_s": round(median([r["wall_s"] for r in ok]), 3) if ok else None,
           "cpu_s": [round(r["cpu_s"], 2) for r in ok],
           "median_cpu_s": round(median([r["cpu_s"] for r in ok]), 2) if ok else None,
           "peak_rss_mb": round(max(r.get("maxrss_mb", 0) for r in runs), 1) if runs else None,
           "load1_before": [round(x, 2) for x in loads]}
    errs = [r["error"] for r in runs if "error" in r]
    if errs:
        rec["error"] = errs[0]
    print(json.dumps(rec), flush=True)
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
