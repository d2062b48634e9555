#!/usr/bin/python3
"""Captum's TracInCP on PyTorch CPU for issue 6's workload, to compare with bench/bench_influence.

Workload: fashion-cnn (Conv(1,8,3,p1) ReLU MaxPool2 Conv(8,16,3,p1) ReLU MaxPool2 Flatten Linear(784,10)),
3 checkpoints (seeds 1, 2, 3, learning rate 0.1 each), Fashion-MNIST test images against training images,
cross-entropy summed per example (the golden README's loss).
  - last layer:     captum.influence.TracInCPFast(final_fc_layer=fc)   (the (δ·δ')(a·a' + 1) identity)
  - all parameters: captum.influence.TracInCP(sample_wise_grads_per_batch=True)  (per-example grads by hooks)

The full run (60,000 x 1,000) takes long on PyTorch; by default a reduced training set is timed and the
time is extrapolated linearly in the number of training images (both methods stream the training set
batch by batch against a fixed test batch, so their cost is linear in it). Say so when quoting.

    /usr/bin/python3 bench/tracin_reference.py [--train 6000] [--test 1000] [--threads 1] [--params both]
Needs captum 0.7, torch (installed for /usr/bin/python3) and /usr/share/datasets/fashion-mnist.
"""
import argparse
import gzip
import os
import struct
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
from captum.influence import TracInCP, TracInCPFast


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(split, limit, root):
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(os.path.join(root, prefix + "-images-idx3-ubyte.gz"))[:limit]
    y = read_idx(os.path.join(root, prefix + "-labels-idx1-ubyte.gz"))[:limit]
    return torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1), torch.from_numpy(y.astype(np.int64))


class FashionCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc(self.flatten(x))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, default=6000)
    ap.add_argument("--full-train", type=int, default=60000)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--params", default="both", choices=["both", "last-layer", "all"])
    ap.add_argument("--fashion-mnist", default="/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    tx, ty = load("train", a.train, a.fashion_mnist)
    qx, qy = load("test", a.test, a.fashion_mnist)
    train = torch.utils.data.TensorDataset(tx, ty)
    tmp = tempfile.mkdtemp(prefix="tracin-ref-")
    paths = []
    for seed in (1, 2, 3):
        torch.manual_seed(seed)
        path = os.path.join(tmp, "ckpt%d.pt" % seed)
        torch.save(FashionCnn().state_dict(), path)
        paths.append(path)

    def load_ckpt(model, path):
        model.load_state_dict(torch.load(path))
        return 0.1  # the learning rate of this checkpoint (TracIn's eta_c)

    model = FashionCnn().eval()
    loss = nn.CrossEntropyLoss(reduction="sum")
    runs = []
    if a.params in ("both", "last-layer"):
        runs.append(("last-layer", lambda: TracInCPFast(model, model.fc, train, paths, load_ckpt, loss_fn=loss,
                                                         batch_size=a.batch)))
    if a.params in ("both", "all"):
        runs.append(("all", lambda: TracInCP(model, train, paths, load_ckpt, loss_fn=loss, batch_size=a.batch,
                                             sample_wise_grads_per_batch=True)))
    for name, make in runs:
        t0, c0 = time.perf_counter(), time.process_time()
        tracin = make()
        scores = tracin.influence((qx, qy), show_progress=False)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        factor = a.full_train / a.train
        print("captum %s params=%-10s train=%d test=%d threads=%d: wall %.2f s, CPU %.2f s; extrapolated to %d "
              "training images: wall %.1f s, CPU %.1f s  (scores %s, S[0,0]=%.6g)"
              % (type(tracin).__name__, name, a.train, a.test, a.threads, wall, cpu, a.full_train, wall * factor,
                 cpu * factor, tuple(scores.shape), float(scores[0, 0])), flush=True)


if __name__ == "__main__":
    main()
