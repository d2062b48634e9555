"""Shared pieces of the PyTorch reference timings (bench/explain_reference.py, bench/perturbation_reference.py):
their command line, the fashion-cnn of the model zoo rebuilt in PyTorch, and the timer both report with. Tooling only."""
import argparse
import statistics
import time

import torch
import torch.nn as nn


def parse_args(default_repeats):
    """--threads, --repeats, --only; sets torch's thread count and seeds torch with 0."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=default_repeats)
    ap.add_argument("--only", default="", help="comma-separated substrings of the case names to run")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    return args


def fashion_cnn():
    """The zoo's fashion-cnn with torch's default initialisation, in eval mode, parameters frozen."""
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1),
                          nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(784, 10)).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def median_seconds(fn, repeats):
    """Medians of wall time and of process CPU time (all threads) per call."""
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)
