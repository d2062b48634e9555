#!/usr/bin/python3
"""Lockstep check of xdnn training against PyTorch (tooling only; xdnn never needs Python).

bench/torch_reference.py trains fashion-cnn with PyTorch's own initialisation and shuffling, so its
accuracies differ from xdnn's by seed-to-seed variation. This script removes that variation: PyTorch
starts from xdnn's initial weights and visits the training images in xdnn's order, so the only
difference left is float32 rounding (summation orders inside the kernels). If the two engines compute
the same training step, their test accuracies agree to well within the seed-to-seed spread.

How it gets xdnn's state:
  * initial weights: `xdnn train --lr 0 --epochs 1 --train-limit 64` -- Adam with learning rate 0 leaves
    every parameter as initialised, and the epoch-1 checkpoint holds them (PyTorch state-dict names);
  * shuffle order: models/train/train.cpp's Fisher-Yates shuffle with engine/random.h's xoshiro256**
    (seeded through splitmix64) and epoch_seed(seed, epoch, stream 1), re-implemented below;
  * trained weights and accuracies: a normal `xdnn train --seed S --epochs E` run.

Before the full epochs it trains 10 steps (640 images) both ways and prints the largest relative
difference of the weights, which shows float32 rounding alone (~1e-6) before it compounds over an epoch.

    python3 bench/torch_lockstep.py --xdnn build/xdnn --seeds 0,1,2 --epochs 2 [--threads 2]
"""
import argparse
import os
import re
import subprocess
import tempfile

import numpy as np
import torch
from torch import nn

from torch_reference import FashionCnn, load, read_safetensors

MASK = (1 << 64) - 1


class Xoshiro256ss:
    """engine/random.h: xoshiro256** (Blackman & Vigna 2018) seeded through splitmix64."""

    def __init__(self, seed):
        z = seed & MASK
        self.s = []
        for _ in range(4):
            z = (z + 0x9E3779B97F4A7C15) & MASK
            r = z
            r = ((r ^ (r >> 30)) * 0xBF58476D1CE4E5B9) & MASK
            r = ((r ^ (r >> 27)) * 0x94D049BB133111EB) & MASK
            self.s.append(r ^ (r >> 31))

    @staticmethod
    def rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & MASK

    def next_u64(self):
        s = self.s
        result = (self.rotl((s[1] * 5) & MASK, 7) * 9) & MASK
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = self.rotl(s[3], 45)
        return result

    def below(self, n):
        return self.next_u64() % n if n else 0


def epoch_seed(seed, epoch, stream):
    """models/train/train.cpp epoch_seed()."""
    return ((seed * 0x9E3779B97F4A7C15) & MASK) ^ ((epoch * 0xD1B54A32D192ED03) & MASK) ^ \
        ((stream * 0x8CB92BA72F3D8DD7) & MASK)


def xdnn_order(n, seed, epoch):
    """The order in which models/train/train.cpp visits the n training images in this epoch."""
    order = list(range(n))
    rng = Xoshiro256ss(epoch_seed(seed, epoch, 1))
    for i in range(n - 1, 0, -1):
        j = rng.below(i + 1)
        order[i], order[j] = order[j], order[i]
    return torch.tensor(order, dtype=torch.int64)


def run_xdnn(xdnn, args, out):
    cmd = [xdnn, "train", "--model", "fashion-cnn", "--out", out, "--no-progress"] + args
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    acc = {}
    for line in res.stdout.splitlines():
        m = re.match(r"epoch (\d+)/\d+ .*test accuracy ([0-9.]+)", line)
        if m:
            acc[int(m.group(1))] = float(m.group(2))
    return acc


def train_torch(init, xtr, ytr, seed, epochs, on_epoch):
    """Adam 1e-3, batch 64, from xdnn's initial weights, in xdnn's order; on_epoch(epoch, model)."""
    model = FashionCnn()
    model.load_state_dict(init, strict=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(1, epochs + 1):
        model.train()
        perm = xdnn_order(len(xtr), seed, epoch)
        for b in range(0, len(xtr), 64):
            idx = perm[b:b + 64]
            opt.zero_grad()
            loss_fn(model(xtr[idx]), ytr[idx]).backward()
            opt.step()
        model.eval()
        on_epoch(epoch, model)


def max_rel_diff(model, state):
    worst = 0.0
    for name, p in model.state_dict().items():
        ref = state[name]
        worst = max(worst, ((p - ref).abs().max() / ref.abs().max()).item())
    return worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xdnn", default="build/xdnn")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    xtr, ytr = load("train", 0)
    xte, yte = load("test", 0)
    print(f"torch {torch.__version__}, fashion-cnn, Adam 1e-3, batch 64, {len(xtr)} training images")
    print("seed  epoch  xdnn acc  torch acc (same init + order)  difference  max rel. weight diff")
    for seed in [int(s) for s in a.seeds.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            init_dir, run_dir = os.path.join(tmp, "init"), os.path.join(tmp, "run")
            run_xdnn(a.xdnn, ["--seed", str(seed), "--lr", "0", "--epochs", "1", "--train-limit", "64",
                              "--test-limit", "64"], init_dir)
            init, _ = read_safetensors(os.path.join(init_dir, "epoch-1.safetensors"))
            run_xdnn(a.xdnn, ["--seed", str(seed), "--epochs", "1", "--train-limit", "640", "--test-limit", "64"],
                     os.path.join(tmp, "short"))
            short, _ = read_safetensors(os.path.join(tmp, "short", "epoch-1.safetensors"))
            xdnn_acc = run_xdnn(a.xdnn, ["--seed", str(seed), "--epochs", str(a.epochs)], run_dir)
            trained = {e: read_safetensors(os.path.join(run_dir, f"epoch-{e}.safetensors"))[0]
                       for e in range(1, a.epochs + 1)}

        def report(epoch, model):
            with torch.no_grad():
                acc = (model(xte).argmax(1) == yte).float().mean().item()
            print(f"{seed:4d}  {epoch:5d}  {xdnn_acc[epoch]:.4f}    {acc:.4f}                         "
                  f"{acc - xdnn_acc[epoch]:+.4f}     {max_rel_diff(model, trained[epoch]):.2e}")

        def report_short(_, model):
            print(f"{seed:4d}  10 steps (640 images): max rel. weight diff {max_rel_diff(model, short):.2e}")

        train_torch(init, xtr[:640], ytr[:640], seed, 1, report_short)
        train_torch(init, xtr, ytr, seed, a.epochs, report)


if __name__ == "__main__":
    main()
