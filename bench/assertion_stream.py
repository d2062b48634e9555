#!/usr/bin/env python3
"""A Fashion-MNIST "video" for `xdnn run --assert`, and its scoring.

    assertion_stream.py make DIR [--images 200 --frames 5 --sigma 0.15 --seed 0]
        DIR/frames.npy (N*F, 1, 28, 28) float32: each of the first N test images held for F frames, every
        frame with fresh Gaussian pixel noise (sigma, clipped to [0, 1]), as a still camera would see it;
        DIR/labels.npy (N*F,) int64.
    assertion_stream.py score DIR/Y.assertions.json DIR/labels.npy
        accuracy of the model's own predictions and of the corrected ones, and how many frames changed.

Tooling only (numpy); reads Debian's dataset-fashion-mnist.
"""
import argparse
import gzip
import json
from pathlib import Path

import numpy as np

FASHION = Path("/usr/share/datasets/fashion-mnist")


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def make(a):
    images = idx(FASHION / "t10k-images-idx3-ubyte.gz")[: a.images].astype(np.float32) / 255
    labels = idx(FASHION / "t10k-labels-idx1-ubyte.gz")[: a.images].astype(np.int64)
    rng = np.random.default_rng(a.seed)
    frames = np.repeat(images, a.frames, axis=0)
    frames = np.clip(frames + rng.normal(0, a.sigma, frames.shape), 0, 1).astype(np.float32)
    out = Path(a.dir)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "frames.npy", frames[:, None])
    np.save(out / "labels.npy", np.repeat(labels, a.frames))
    print(f"wrote {out}/frames.npy {frames[:, None].shape} and labels.npy")


def score(a):
    report = json.loads(Path(a.report).read_text())
    y = np.load(a.labels)
    pred, final = np.array(report["predicted"]), np.array(report["final"])
    print(f"frames {len(y)}: accuracy predicted {np.mean(pred == y):.4f}, after corrections {np.mean(final == y):.4f}; "
          f"{int(np.sum(pred != final))} frames changed ({int(np.sum((pred != y) & (final == y)))} fixed, "
          f"{int(np.sum((pred == y) & (final != y)))} broken)")
    for s in report["assertions"]:
        print(f"  {s['name']} ({s['kind']}, {s['action']}): {s['flagged']} flagged, {s['corrected']} corrected")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("dir")
    m.add_argument("--images", type=int, default=200)
    m.add_argument("--frames", type=int, default=5)
    m.add_argument("--sigma", type=float, default=0.15)
    m.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("score")
    s.add_argument("report")
    s.add_argument("labels")
    a = p.parse_args()
    make(a) if a.cmd == "make" else score(a)


if __name__ == "__main__":
    main()
