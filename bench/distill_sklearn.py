"""Distillation peer check: `xdnn distill --targets argmax` against scikit-learn's DecisionTreeClassifier
(CART, Gini) fitted to the same network's argmax on the same Fashion-MNIST pixels.

Both draw their own seeded 70/30 split of the first N test images (the splits differ), five seeds each;
the script prints held-out fidelity (agreement with the network) and accuracy (against the labels), mean
and sd over the seeds, and the CPU time of the fit. Usage:

    /work/venv/bin/python bench/distill_sklearn.py --xdnn build/xdnn --model run/epoch-3.safetensors
"""
import argparse
import gzip
import os
import re
import subprocess
import tempfile
import time

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier


def fashion_test(n):
    d = "/usr/share/datasets/fashion-mnist"
    with gzip.open(os.path.join(d, "t10k-images-idx3-ubyte.gz"), "rb") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:n].astype(np.float32) / 255
    with gzip.open(os.path.join(d, "t10k-labels-idx1-ubyte.gz"), "rb") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)[:n].astype(np.int64)
    return x, y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xdnn", default="build/xdnn")
    ap.add_argument("--model", required=True)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--min-leaf", type=int, default=5)
    a = ap.parse_args()
    x, y = fashion_test(a.n)
    tmp = tempfile.mkdtemp()
    np.save(os.path.join(tmp, "x.npy"), x)
    subprocess.run([a.xdnn, "run", "--model", a.model, "--input", os.path.join(tmp, "x.npy"), "--out",
                    os.path.join(tmp, "logits.npy"), "--threads", "1"], check=True, capture_output=True)
    net = np.load(os.path.join(tmp, "logits.npy")).argmax(1)
    feats = x.reshape(len(x), -1)
    rows = {"xdnn": [], "sklearn": []}
    for seed in range(5):
        t0 = os.times()
        out = subprocess.run([a.xdnn, "distill", "--model", a.model, "--fashion-test", str(a.n), "--targets", "argmax",
                              "--max-depth", str(a.depth), "--min-leaf", str(a.min_leaf), "--seed", str(seed),
                              "--threads", "1"], check=True, capture_output=True, text=True).stdout
        t1 = os.times()
        fid = float(re.search(r"held out\): tree ([0-9.]+)", out).group(1))
        acc = float(re.search(r"labels \(held out\): tree ([0-9.]+)", out).group(1))
        rows["xdnn"].append((fid, acc, (t1.children_user - t0.children_user) + (t1.children_system - t0.children_system)))
        xtr, xte, ntr, nte, _, yte = train_test_split(feats, net, y, test_size=0.3, random_state=seed)
        c0 = time.process_time()
        tree = DecisionTreeClassifier(max_depth=a.depth, min_samples_leaf=a.min_leaf, random_state=seed).fit(xtr, ntr)
        c1 = time.process_time()
        p = tree.predict(xte)
        rows["sklearn"].append(((p == nte).mean(), (p == yte).mean(), c1 - c0))
    print(f"first {a.n} test images, 70/30 split, depth {a.depth}, min leaf {a.min_leaf}, argmax targets, 5 seeds")
    print(f"network accuracy on all {a.n}: {(net == y).mean():.4f}")
    for k, v in rows.items():
        v = np.array(v)
        what = "whole command incl. loading and forward pass" if k == "xdnn" else "fit only"
        print(f"{k:8s} fidelity {v[:, 0].mean():.4f} ± {v[:, 0].std():.4f}   accuracy {v[:, 1].mean():.4f} ± "
              f"{v[:, 1].std():.4f}   CPU {v[:, 2].mean():.2f} s ({what})")


if __name__ == "__main__":
    main()
