#!/usr/bin/env python3
"""Start-up time and memory of xdnn commands (issue 15: `xdnn --help` under 10 ms and 30 MB).

Runs each binary with the same arguments, interleaved (round k runs every binary once, the order rotating), so
that binaries compared are timed in the same seconds of a noisy machine. Per binary: the median, quartiles and
minimum of the wall time from fork to exit, as the parent sees it, and the largest resident set
(os.wait4's ru_maxrss). Only the standard library: the machine needs no venv.

    python3 bench/startup.py build/xdnn /tmp/xdnn_before --args=--help --runs 300
"""
import argparse
import os
import subprocess
import sys
import time

from xdnn_serve import quartiles


def run_once(argv):
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: Popen must not wait for it again
    if proc.returncode != 0:
        sys.exit(f"startup.py: {' '.join(argv)} exited with status {proc.returncode}")
    return elapsed * 1000.0, usage.ru_maxrss / 1024.0  # ms, MiB (ru_maxrss is in KiB on Linux)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binaries", nargs="+", help="xdnn binaries to compare")
    ap.add_argument("--args", default="--help", help="arguments, split on spaces (default: --help)")
    ap.add_argument("--runs", type=int, default=200, help="runs of each binary (default 200)")
    ap.add_argument("--warmup", type=int, default=10, help="untimed runs of each first (page cache)")
    a = ap.parse_args()
    extra = a.args.split()
    for b in a.binaries:
        for _ in range(a.warmup):
            run_once([b] + extra)
    times = {b: [] for b in a.binaries}
    rss = {b: 0.0 for b in a.binaries}
    for k in range(a.runs):
        order = a.binaries[k % len(a.binaries):] + a.binaries[:k % len(a.binaries)]
        for b in order:
            ms, mib = run_once([b] + extra)
            times[b].append(ms)
            rss[b] = max(rss[b], mib)
    print(f"{' '.join(extra)}: {a.runs} interleaved runs each, load average {os.getloadavg()[0]:.2f}")
    print(f"{'binary':40s} {'median ms':>10s} {'quartiles':>14s} {'min ms':>8s} {'max RSS MiB':>12s}")
    for b in a.binaries:
        q1, median, q3 = quartiles(times[b])
        print(f"{b:40s} {median:10.2f} {q1:6.2f}-{q3:<7.2f} {min(times[b]):8.2f} {rss[b]:12.1f}")


if __name__ == "__main__":
    main()
