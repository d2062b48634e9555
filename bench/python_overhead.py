#!/usr/bin/env python3
"""Python call overhead (issue 22): xdnn.explain(m, x, "saliency") on fashion-cnn, one image, against the
same call in C++ (bench/api_call.cpp, built as build/bench/api_call) and against Captum's Saliency on the
same network in PyTorch. Rounds alternate between the three so machine load hits them alike.

    PYTHONPATH=build/explain/api python3 bench/python_overhead.py build/bench/api_call [ROUNDS]

Captum needs torch + captum (e.g. /work/venv); without them that column is skipped. Run with a Python that
can import both xdnn and torch, or run twice.
"""
import statistics
import subprocess
import sys
import time

import numpy as np

import xdnn


def median_us(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e6)
    return statistics.median(times)


def main():
    api_call = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    repeats = 500
    m = xdnn.load("fashion-cnn")
    x, _ = xdnn.fashion_mnist("test", 1)
    try:
        import torch
        from captum.attr import Saliency
        torch.set_num_threads(2)
        net = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                  torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                  torch.nn.Flatten(), torch.nn.Linear(784, 10)).double().eval()
        tx = torch.from_numpy(x.astype(np.float64))
        target = int(net(tx).argmax())
        saliency = Saliency(net)
        captum = lambda: saliency.attribute(tx.clone().requires_grad_(True), target=target, abs=False)
    except ImportError:
        captum = None
    rows = []
    for r in range(rounds):
        cpp = float(subprocess.run([api_call, str(repeats)], check=True, capture_output=True, text=True)
                    .stdout.split()[1])
        py = median_us(lambda: xdnn.explain(m, x, "saliency"), repeats)
        cap = median_us(captum, repeats) if captum else float("nan")
        rows.append((cpp, py, cap))
        print(f"round {r}: C++ {cpp:.1f} us, Python {py:.1f} us ({py / cpp - 1:+.1%}), Captum {cap:.1f} us", flush=True)
    cpp, py, cap = (statistics.median(c) for c in zip(*rows))
    print(f"median of rounds: C++ {cpp:.1f} us, Python {py:.1f} us ({py / cpp - 1:+.1%}), Captum {cap:.1f} us")


if __name__ == "__main__":
    main()
