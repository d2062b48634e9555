#!/usr/bin/python3
"""PyTorch reference for bench/RESULTS.md (tooling only; xdnn never needs Python).

Trains the zoo's fashion-cnn (or fashion-resnet) architecture with PyTorch on Fashion-MNIST the way
`xdnn train` does (Adam, batch 64, shuffled, drop_last=False) and prints seconds per epoch (training
only, like xdnn's) and test accuracy after each epoch.

    apt-get install python3-torch        # Debian's PyTorch 1.13.1 (CPU)
    python3 bench/torch_reference.py --threads 2 --epochs 2 [--model fashion-cnn] [--train-limit N]
    python3 bench/torch_reference.py --check-checkpoint run/epoch-2.safetensors   # xdnn -> PyTorch
"""
import argparse
import gzip
import time

import numpy as np
import torch
from torch import nn

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(split, limit):
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(f"{DATA}/{prefix}-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    y = read_idx(f"{DATA}/{prefix}-labels-idx1-ubyte.gz").astype(np.int64)
    if limit:
        x, y = x[:limit], y[:limit]
    return torch.from_numpy(x.copy()).unsqueeze(1), torch.from_numpy(y.copy())


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        return torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


# Attribute names = xdnn zoo parameter names, so an xdnn checkpoint loads with strict=True.
class FashionCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))


class FashionResnet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(32)
        self.block = Block(32)
        self.fc1 = nn.Linear(1568, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
        x = torch.max_pool2d(torch.relu(self.bn2(self.conv2(x))), 2)
        x = self.block(x)
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


def build(name):
    if name == "fashion-cnn":
        return FashionCnn()
    if name == "fashion-resnet":
        return FashionResnet()
    raise SystemExit(f"unknown model {name}")


def read_safetensors(path):
    """A minimal safetensors reader (F32/F64/I64), to avoid another dependency."""
    import json
    with open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    dt = {"F32": np.float32, "F64": np.float64, "I64": np.int64}
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        arr = np.frombuffer(raw[8 + n + b:8 + n + end], dtype=dt[e["dtype"]]).reshape(e["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out, meta


def check_checkpoint(path):
    """Loads an xdnn checkpoint into the PyTorch twin (strict) and prints its test accuracy."""
    state, meta = read_safetensors(path)
    model = build(meta["architecture"])
    model.load_state_dict(state, strict=True)
    model.eval()
    xte, yte = load("test", 0)
    with torch.no_grad():
        acc = (model(xte).argmax(1) == yte).float().mean().item()
    print(f"{path}: {meta['architecture']} loaded into PyTorch (strict), test accuracy {acc:.4f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="fashion-cnn")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-limit", type=int, default=0)
    ap.add_argument("--check-checkpoint", help="load an xdnn checkpoint into PyTorch and evaluate it")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.check_checkpoint:
        check_checkpoint(a.check_checkpoint)
        return
    torch.manual_seed(a.seed)
    xtr, ytr = load("train", a.train_limit)
    xte, yte = load("test", 0)
    model = build(a.model)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    loss_fn = nn.CrossEntropyLoss()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {a.model}, {len(xtr)} images")
    for epoch in range(1, a.epochs + 1):
        model.train()
        perm = torch.randperm(len(xtr))
        t0 = time.perf_counter()
        total = 0.0
        for b in range(0, len(xtr), a.batch_size):
            idx = perm[b:b + a.batch_size]
            x, y = xtr[idx], ytr[idx]
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        secs = time.perf_counter() - t0
        model.eval()
        with torch.no_grad():
            acc = (model(xte).argmax(1) == yte).float().mean().item()
        print(f"epoch {epoch}/{a.epochs}  train loss {total / len(xtr):.4f}  test accuracy {acc:.4f}  {secs:.2f} s")


if __name__ == "__main__":
    main()
