#!/usr/bin/env python3
"""Anchors on a tabular MLP: `xdnn explain --method anchors` against the authors' own package, anchor-exp
0.0.2 (Ribeiro et al.'s AnchorTabularExplainer), on the same model, background, instances and settings, in
the same minutes. Tooling only, never a test dependency.

The task: 6 columns uniform on [0, 1); class 1 iff x2 > 0.5 and x4 <= 0.6 (so the ideal anchors are known).
An MLP 6-32-2 is trained on 4,000 rows with PyTorch and exported to ONNX; both sides explain its predictions
on the same 50 held-out rows, with the 1,000-row background (the quartile bins and D(.|A)), tau 0.95,
delta 0.1, epsilon 0.1 (anchor-exp's `tau`), batch 100, and beam width 1 (anchor-exp's explain_instance does not
pass its beam_size on, so its search runs with anchor_beam's default of 1). Reported: seconds per
explanation (wall and CPU; xdnn's include its process start and model load, one call for all rows), the share
of rows whose two anchors constrain the same columns, and each side's mean precision and coverage (each
side's own estimate: xdnn's coverage is exact over the background, anchor-exp's from 10,000 samples).

anchor-exp is not in the venv (alibi 0.9.6 would downgrade its numpy to 1.x); put it beside it without
dependencies (its tabular explainer needs only numpy, scikit-learn and lime's discretizer):
  /work/venv/bin/pip install --no-deps --target /tmp/anchor-exp anchor-exp==0.0.2.0 lime==0.2.0.1
  PYTHONPATH=/tmp/anchor-exp /work/venv/bin/python bench/anchors_reference.py --xdnn build/xdnn
"""
import argparse
import json
import os
import resource
import subprocess
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn


def task(n, rng):
    x = rng.random((n, 6)).astype(np.float32)
    y = ((x[:, 2] > 0.5) & (x[:, 4] <= 0.6)).astype(np.int64)
    return x, y


def train_mlp(x, y):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 2))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(1500):
        opt.zero_grad()
        nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    return model.eval()


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xdnn", default="build/xdnn")
    ap.add_argument("--rows", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from anchor import anchor_tabular

    rng = np.random.default_rng(0)
    x_train, y_train = task(4000, rng)
    background = x_train[:1000]
    x_test, y_test = task(args.rows, rng)
    model = train_mlp(x_train, y_train)
    with torch.no_grad():
        pred = model(torch.from_numpy(x_test)).argmax(1).numpy()
    print(f"MLP test accuracy on the {args.rows} rows: {(pred == y_test).mean():.3f}")

    tmp = tempfile.mkdtemp(prefix="anchors-ref-")
    onnx_path, bg_path, x_path, rules_path = (os.path.join(tmp, n) for n in ("mlp.onnx", "bg.npy", "x.npy", "r.json"))
    torch.onnx.export(model, torch.from_numpy(x_test[:1]), onnx_path, input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "n"}}, dynamo=False)
    np.save(bg_path, background)
    np.save(x_path, x_test)

    settings = ["--threshold", "0.95", "--delta", "0.1", "--lucb-epsilon", "0.1", "--batch-size", "100",
                "--beam-width", "1"]
    t0, c0 = time.perf_counter(), children_cpu()
    subprocess.run([args.xdnn, "explain", "--model", onnx_path, "--input", x_path, "--method", "anchors",
                    "--background", bg_path, "--out", rules_path, "--threads", str(args.threads)] + settings,
                   check=True, stdout=subprocess.DEVNULL)
    xdnn_wall, xdnn_cpu = time.perf_counter() - t0, children_cpu() - c0
    rules = json.load(open(rules_path))

    def predict(rows):
        with torch.no_grad():
            return model(torch.from_numpy(np.asarray(rows, dtype=np.float32))).argmax(1).numpy()

    names = [f"feature {d}" for d in range(6)]
    explainer = anchor_tabular.AnchorTabularExplainer(["0", "1"], names, background)
    np.random.seed(0)
    t0, c0 = time.perf_counter(), time.process_time()
    theirs = [explainer.explain_instance(x_test[i], predict, threshold=0.95, delta=0.1, tau=0.1, batch_size=100)
              for i in range(args.rows)]
    ref_wall, ref_cpu = time.perf_counter() - t0, time.process_time() - c0

    same = sum(sorted({p["feature"] for p in r["predicates"]}) == sorted(set(e.features())) for r, e in
               zip(rules, theirs))
    n = args.rows
    print(f"{n} rows, threads {args.threads}")
    print("| side | s per explanation (wall / CPU) | mean precision | mean coverage | mean predicates |")
    print("|---|---|---|---|---|")
    print(f"| xdnn | {xdnn_wall / n:.4f} / {xdnn_cpu / n:.4f} | {np.mean([r['precision'] for r in rules]):.3f} | "
          f"{np.mean([r['coverage'] for r in rules]):.3f} | {np.mean([len(r['predicates']) for r in rules]):.2f} |")
    print(f"| anchor-exp 0.0.2 | {ref_wall / n:.4f} / {ref_cpu / n:.4f} | {np.mean([e.precision() for e in theirs]):.3f} | "
          f"{np.mean([e.coverage() for e in theirs]):.3f} | {np.mean([len(e.features()) for e in theirs]):.2f} |")
    print(f"same constrained columns: {same} of {n}")
    for i in range(3):
        print(f"row {i}: xdnn: {rules[i]['rule']}  |  anchor-exp: IF {' AND '.join(theirs[i].names())}")


if __name__ == "__main__":
    main()
