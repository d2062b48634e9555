#!/usr/bin/env python3
"""The evaluation table of `xdnn evaluate` beside Quantus's values for the same attributions.

Run `xdnn evaluate --fashion-test N --metric deletion,faithfulness-correlation,... --score prob --steps S
--methods ... --save-attributions --out DIR` first; DIR then holds <method>.attribution.npy (float64 at the
default --precision, exactly what the metrics read) and <method>.<metric>.npy. This script feeds those
attributions and a PyTorch float64 copy of the same checkpoint to Quantus 0.6 (Hedström et al. 2023):

  deletion                 <-> quantus.PixelFlipping, features_in_step = D / S, perturb_baseline 0,
                               probabilities: deterministic, so the S curve points after point 0 must agree
                               to float32 output rounding, except where a tie decides (xdnn orders equal
                               attributions by position, a stable sort; Quantus uses NumPy's unstable
                               argsort): a sample counts as tie-decided when a run of equal attributions
                               over pixels of different values straddles a step boundary.
  faithfulness-correlation <-> quantus.FaithfulnessCorrelation (nr_runs 100, subset_size 224, baseline 0):
                               the same definition (Bhatt et al. 2020), but Quantus draws its own subsets
                               (np.random.choice per sample, seeded here with 0), so only means are compared
                               (run in float32, PyTorch's float64 convolution being ~4x slower).
  insertion, max-sensitivity, infidelity: no deterministic Quantus counterpart (Quantus has no insertion
  curve; its max-sensitivity and infidelity draw their own noise and re-run the explainer through its own
  explain_func, and its infidelity perturbs by patch replacement, not Gaussian noise).

    /work/venv/bin/python bench/quantus_table.py --dir DIR --model run/epoch-2.safetensors [--samples 100 --steps 28]

Prints one line per method: xdnn's deletion AUC, the same AUC of Quantus's curve (xdnn's trapezoid rule,
point 0 = s(x) of the PyTorch copy), the largest curve-point difference where no tie decides, the number of
tie-decided samples, and the two faithfulness-correlation means. Exit 1 when a difference exceeds 1e-6.
"""
import argparse
import gzip
import json
import os
import struct
import sys

import numpy as np
import quantus
import torch


def fashion_test(n):
    with gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") as f:
        data = np.frombuffer(f.read(), dtype=np.uint8, offset=16)
    return (data[: n * 784].reshape(n, 1, 28, 28).astype(np.float32) / 255.0).astype(np.float64)


def read_safetensors(path):
    """The tensors of a safetensors file (8-byte header size, JSON header, raw little-endian data)."""
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(size))
        blob = f.read()
    dtypes = {"F32": np.float32, "F64": np.float64}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(blob[b:e], dtype=dtypes[info["dtype"]]).reshape(info["shape"]).copy())
    return out


def fashion_cnn(path):
    """models/zoo.h's fashion-cnn as torch modules, float64, weights from the xdnn checkpoint."""
    m = torch.nn.Sequential()
    m.add_module("conv1", torch.nn.Conv2d(1, 8, 3, padding=1))
    m.add_module("relu1", torch.nn.ReLU())
    m.add_module("pool1", torch.nn.MaxPool2d(2))
    m.add_module("conv2", torch.nn.Conv2d(8, 16, 3, padding=1))
    m.add_module("relu2", torch.nn.ReLU())
    m.add_module("pool2", torch.nn.MaxPool2d(2))
    m.add_module("flatten", torch.nn.Flatten())
    m.add_module("fc", torch.nn.Linear(784, 10))
    m.load_state_dict(read_safetensors(path))
    return m.double().eval()


class ProbModel:
    """The two calls Quantus's evaluate_batch makes of a model: softmax probabilities in the net's dtype."""

    def __init__(self, net, dtype):
        self.net, self.dtype = net, dtype

    def shape_input(self, x, shape, channel_first=True, batched=True):
        return np.asarray(x, dtype=self.dtype).reshape(shape)

    def predict(self, x):
        with torch.no_grad():
            return torch.softmax(self.net(torch.from_numpy(np.ascontiguousarray(x, dtype=self.dtype))), dim=1).numpy()


def tie_decided(a, x, steps):
    """Whether equal attributions over pixels of different values straddle a step boundary k_i = i·D/steps."""
    D = a.size
    order = np.argsort(-a, kind="stable")
    v = a[order]
    for i in range(1, steps):
        k = i * D // steps
        if v[k - 1] == v[k]:
            group = a == v[k]
            if len(np.unique(x[group])) > 1:
                return True
    return False


def auc(c):
    return float(np.mean(0.5 * (c[:-1] + c[1:])))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--steps", type=int, default=28)
    args = ap.parse_args()
    x = fashion_test(args.samples)
    net = fashion_cnn(args.model)
    model = ProbModel(net, np.float64)  # deletion: compared number for number, in xdnn's precision
    # Faithfulness correlation draws other subsets anyway: float32 (PyTorch's float64 convolution is ~4x slower).
    model32 = ProbModel(fashion_cnn(args.model).float(), np.float32)
    p0 = model.predict(x)
    y = p0.argmax(axis=1)  # xdnn evaluate's default target: the argmax of the logits
    D = x[0].size
    methods = sorted(f[: -len(".attribution.npy")] for f in os.listdir(args.dir) if f.endswith(".attribution.npy"))
    worst = 0.0
    print(f"{'method':24s} {'del AUC xdnn':>12s} {'del AUC quantus':>15s} {'max |diff|':>10s} {'ties':>5s}"
          f" {'FC xdnn':>8s} {'FC quantus':>10s}")
    for method in methods:
        a = np.load(os.path.join(args.dir, method + ".attribution.npy")).astype(np.float64)
        a_full = np.broadcast_to(a, x.shape)  # a per-pixel map covers every channel (one here)
        pf = quantus.PixelFlipping(features_in_step=D // args.steps, perturb_baseline=0.0, normalise=False, abs=False,
                                   disable_warnings=True)
        q = np.asarray(pf.evaluate_batch(model=model, x_batch=x, y_batch=y, a_batch=np.array(a_full)))
        ours = np.load(os.path.join(args.dir, method + ".deletion.npy")).astype(np.float64)
        ties = np.array([tie_decided(a_full[n].reshape(-1), x[n].reshape(-1), args.steps) for n in range(len(x))])
        diff = np.abs(ours[:, 1:] - q).max(axis=1)
        d = float(diff[~ties].max()) if (~ties).any() else 0.0
        worst = max(worst, d)
        q_auc = np.mean([auc(np.concatenate([[p0[n, y[n]]], q[n]])) for n in range(len(x))])
        our_auc = np.mean([auc(c) for c in ours])
        np.random.seed(0)
        fc = quantus.FaithfulnessCorrelation(nr_runs=100, subset_size=224, perturb_baseline=0.0, normalise=False,
                                             abs=False, return_aggregate=False, disable_warnings=True)
        fq = np.asarray(fc.evaluate_batch(model=model32, x_batch=x.astype(np.float32), y_batch=y,
                                           a_batch=np.array(a_full, dtype=np.float32)), dtype=np.float64)
        fo = np.load(os.path.join(args.dir, method + ".faithfulness-correlation.npy")).astype(np.float64)
        print(f"{method:24s} {our_auc:12.5f} {q_auc:15.5f} {d:10.2e} {int(ties.sum()):5d} {fo.mean():8.4f}"
              f" {np.nanmean(fq):10.4f}")
    print(f"largest deletion-curve difference where no tie decides: {worst:.2e}")
    return 0 if worst < 1e-6 else 1


if __name__ == "__main__":
    sys.exit(main())
