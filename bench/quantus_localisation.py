#!/usr/bin/env python3
"""Ground-truth metrics of `xdnn evaluate` beside Quantus's on the same attributions and masks.

Quantus (Hedström et al. 2023) defines its localisation metrics deterministically, so the two must agree
to rounding wherever the definitions coincide:
  pointing-game                          <-> quantus.PointingGame
  relevance-mass --relevance absolute    <-> quantus.RelevanceMassAccuracy on |a|
  relevance-rank                         <-> quantus.RelevanceRankAccuracy on a
except on ties, where the definitions differ: xdnn breaks them by position (the first maximum; a stable
ranking), Quantus's pointing game counts a hit when any of the tied maxima is in the mask and its ranking
is NumPy's unstable argsort. Samples where a tie decides (several maxima; equal values at the top-K cut)
are counted separately and left out of the difference.
Quantus's evaluate_batch is called on arrays prepared here (absolute values where the xdnn option asks for
them), so its own normalise / abs switches play no part.

    /work/venv-eval/bin/python bench/quantus_localisation.py --xdnn build/xdnn --model CKPT [--samples 100]

Input: the first N Fashion-MNIST test images; ground truth: the central 10x10 pixels of every image (any
fixed mask serves for an agreement check). Prints one line per method and metric: the mean of each side, the
largest per-sample difference where no tie decides, and how many samples a tie decides.
"""
import argparse
import gzip
import os
import subprocess
import sys
import tempfile

import numpy as np
import quantus


def fashion_test(n):
    with gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") as f:
        data = np.frombuffer(f.read(), dtype=np.uint8, offset=16)
    return (data[: n * 784].reshape(n, 1, 28, 28).astype(np.float32) / 255.0).astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--xdnn", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--methods", default="saliency,gradient-x-input,integrated-gradients,guided-backprop,lrp,occlusion")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="quantus-loc-")
    x = fashion_test(args.samples)
    np.save(os.path.join(tmp, "x.npy"), x)
    gt = np.zeros_like(x)
    gt[:, :, 9:19, 9:19] = 1.0
    np.save(os.path.join(tmp, "gt.npy"), gt)
    extra = {"occlusion": ["--window", "1,4,4", "--stride", "1,4,4"], "lrp": ["--composite", "epsilon-plus"]}
    worst = 0.0
    print(f"{'method':22s} {'metric':16s} {'xdnn':>9s} {'quantus':>9s} {'max |diff|':>11s} {'tie-decided':>11s}")
    for method in args.methods.split(","):
        a_path = os.path.join(tmp, method + ".npy")
        subprocess.run([args.xdnn, "explain", "--model", args.model, "--input", os.path.join(tmp, "x.npy"),
                        "--method", method, *extra.get(method, []), "--out", a_path], check=True,
                       stdout=subprocess.DEVNULL)
        out = os.path.join(tmp, method)
        subprocess.run([args.xdnn, "evaluate", "--model", args.model, "--input", os.path.join(tmp, "x.npy"),
                        "--attribution", a_path, "--metric", "pointing-game,relevance-mass,relevance-rank",
                        "--relevance", "absolute", "--ground-truth", os.path.join(tmp, "gt.npy"), "--out", out],
                       check=True, stdout=subprocess.DEVNULL)
        a = np.load(a_path).astype(np.float64)
        stem = method
        theirs = {
            "pointing-game": quantus.PointingGame(disable_warnings=True).evaluate_batch(a_batch=a, s_batch=gt),
            "relevance-mass": quantus.RelevanceMassAccuracy(disable_warnings=True).evaluate_batch(
                a_batch=np.abs(a), s_batch=gt),
            "relevance-rank": quantus.RelevanceRankAccuracy(disable_warnings=True).evaluate_batch(
                a_batch=a, s_batch=gt),
        }
        flat = a.reshape(len(a), -1)
        k = int(gt[0].sum())
        top = -np.sort(-flat, axis=1)
        tied = {
            "pointing-game": (flat == flat.max(axis=1, keepdims=True)).sum(axis=1) > 1,
            "relevance-mass": np.zeros(len(a), dtype=bool),
            "relevance-rank": top[:, k - 1] == top[:, k],
        }
        for metric, q in theirs.items():
            ours = np.load(os.path.join(out, f"{stem}.{metric}.npy")).astype(np.float64)
            q = np.asarray(q, dtype=np.float64).reshape(-1)
            keep = ~tied[metric]
            d = float(np.max(np.abs(ours - q)[keep])) if keep.any() else 0.0
            worst = max(worst, d)
            print(f"{method:22s} {metric:16s} {ours.mean():9.5f} {q.mean():9.5f} {d:11.2e} {int(tied[metric].sum()):11d}")
    print(f"largest difference: {worst:.2e}")
    return 0 if worst < 1e-6 else 1


if __name__ == "__main__":
    sys.exit(main())
