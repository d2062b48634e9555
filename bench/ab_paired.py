#!/usr/bin/env python3
"""Two bench_models binaries (A = before, B = after) compared call by call on a noisy machine.

Each binary runs as one `bench_models --serve` process holding the models; each of --pairs pairs is one call
of A and one of B a moment apart (which goes first alternates), so both see the same host. Prints, per case,
both medians and the quartiles of the per-pair ratio A / B (above 1: B is faster). A case written
"X=Y" runs X on A and Y on B: with one binary as both, the cost of one workload in units of another, such as
LRP against saliency (--a and --b the same file: two processes of it).

    bench/ab_paired.py --models DIR --a /tmp/bench_models_before --b build/bench/bench_models \\
        --threads 1 --pairs 15 --cases resnet18-64/b16/saliency,resnet18-64/b16/lrp
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from xdnn_serve import XdnnServer, quartiles  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", required=True, help="folder of bench/export_models.py's files")
    ap.add_argument("--a", required=True, help="bench_models binary before")
    ap.add_argument("--b", required=True, help="bench_models binary after")
    ap.add_argument("--cases", required=True, help="comma-separated case names (bench_models --benchmark_list_tests, "
                    "without /real_time)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pairs", type=int, default=15)
    ap.add_argument("--gap", type=float, default=0.02, help="idle seconds between calls")
    args = ap.parse_args()
    a = XdnnServer(args.a, args.models, args.threads)
    b = XdnnServer(args.b, args.models, args.threads)
    width = max(len(c) for c in args.cases.split(",")) + 1
    print(f"{'case':{width}s} {'A ms':>9s} {'B ms':>9s}  A/B median (quartiles)")
    for case in args.cases.split(","):
        case_a, _, case_b = case.partition("=")
        case_b = case_b or case_a
        for _ in range(3):  # warm-up: the frozen layers build their kept weights by the third
            a.call(case_a)
            b.call(case_b)
        ta, tb = [], []
        sides = [(a, case_a, ta), (b, case_b, tb)]
        for i in range(args.pairs):
            for server, name, times in sides if i % 2 == 0 else sides[::-1]:
                time.sleep(args.gap)
                times.append(server.call(name))
        lo, med, hi = quartiles([x / y for x, y in zip(ta, tb)])
        print(f"{case:{width}s} {statistics.median(ta) * 1e3:9.2f} {statistics.median(tb) * 1e3:9.2f}  "
              f"{med:.3f}x ({lo:.3f}-{hi:.3f})", flush=True)


if __name__ == "__main__":
    main()
