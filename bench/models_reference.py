#!/usr/bin/env python3
"""bench/bench_models.cpp beside PyTorch + Captum / Zennit, interleaved in the same minutes.

For each case (model, batch, method) and each of --rounds rounds: time the PyTorch side --repeats times,
then run build/bench/bench_models for the same case (--benchmark_repetitions=--repeats); print the medians
over all rounds and the ratio. The PyTorch models are the torchvision ones with the state dicts that
bench/export_models.py saved next to the ONNX files, in float32 on the CPU, torch.set_num_threads(T);
xdnn runs with XDNN_NUM_THREADS=T. Tooling only, never a test dependency.

PyTorch side of each method:
  forward   model(x) under torch.no_grad()
  saliency  captum Saliency(abs=False)
  ig16      captum IntegratedGradients, n_steps=16, method="gausslegendre", one internal batch, zero baseline
  grad-cam  captum LayerGradCam on the last 4-D activation xdnn picks (ResNet layer4, VGG avgpool,
            MobileNetV2 features), relu_attributions=True, upsampled by captum LayerAttribution.interpolate
  lrp       zennit Gradient attributor, EpsilonPlus composite with the model's canonizers (ResNet /
            SequentialMergeBatchNorm)

Run: /work/venv/bin/python bench/models_reference.py --models /work/bench_models --xdnn build/bench/bench_models

--paired N times the two sides in alternation instead: one bench_models process (--serve) holds every model,
and each of N pairs is one PyTorch call and one xdnn call, a second apart (which goes first alternates; a
short idle gap lets each side's spinning workers go to sleep before the other starts). It prints the medians
and the quartiles of the N per-pair ratios: on a host whose speed drifts from minute to minute, the ratio of
two calls made in the same second is the steadier estimate.
"""
import argparse
import json
import os
import statistics
import subprocess
import time

import torch
import torchvision

from xdnn_serve import XdnnServer, quartiles

MODELS = {  # file stem -> (constructor, input size, batches); matches bench_models.cpp
    "resnet18-64": (torchvision.models.resnet18, 64, (1, 16)),
    "resnet18-224": (torchvision.models.resnet18, 224, (1, 16)),
    "vgg11-224": (torchvision.models.vgg11, 224, (1,)),
    "mobilenet_v2-224": (torchvision.models.mobilenet_v2, 224, (1,)),
}
METHODS = ("forward", "saliency", "ig16", "grad-cam", "lrp")


def load(stem, models_dir):
    ctor, size, batches = MODELS[stem]
    model = ctor(num_classes=1000).eval()
    model.load_state_dict(torch.load(os.path.join(models_dir, stem + ".pt")))
    for p in model.parameters():
        p.requires_grad_(False)
    return model, size, batches


def cam_layer(stem, model):
    if stem.startswith("resnet"):
        return model.layer4
    if stem.startswith("vgg"):
        return model.avgpool
    return model.features


def case_fn(stem, model, method, x, t):
    from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, Saliency
    from zennit.attribution import Gradient
    from zennit.composites import EpsilonPlus
    from zennit.torchvision import ResNetCanonizer
    from zennit.canonizers import SequentialMergeBatchNorm

    n = x.shape[0]
    if method == "forward":
        def fwd():
            with torch.no_grad():
                model(x)
        return fwd
    if method == "saliency":
        return lambda: Saliency(model).attribute(x, target=t, abs=False)
    if method == "ig16":
        return lambda: IntegratedGradients(model).attribute(x, target=t, n_steps=16, method="gausslegendre",
                                                            internal_batch_size=n * 16)
    if method == "grad-cam":
        def gc():
            a = LayerGradCam(model, cam_layer(stem, model)).attribute(x, target=t, relu_attributions=True)
            return LayerAttribution.interpolate(a, x.shape[2:], interpolate_mode="bilinear")
        return gc
    canon = [ResNetCanonizer()] if stem.startswith("resnet") else [SequentialMergeBatchNorm()]
    onehot = torch.eye(1000)[t]

    def lrp():
        with Gradient(model=model, composite=EpsilonPlus(canonizers=canon)) as attributor:
            attributor(x.clone().requires_grad_(True), onehot)
    return lrp


def time_torch(fn, repeats):
    """(wall, process CPU) seconds per call."""
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        out.append((time.perf_counter() - t0, time.process_time() - c0))
    return out


def time_xdnn(binary, models_dir, case, repeats, threads):
    env = dict(os.environ, XDNN_NUM_THREADS=str(threads))
    cmd = [binary, "--models", models_dir, f"--benchmark_filter=^{case}/", f"--benchmark_repetitions={repeats}",
           "--benchmark_min_time=0.05", "--benchmark_min_warmup_time=0.05", "--benchmark_format=json"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    runs = [b for b in json.loads(res.stdout)["benchmarks"] if b.get("run_type") == "iteration"]
    if not runs:
        raise SystemExit(f"bench_models ran no case named {case}")
    # (wall, CPU of the calling thread) per call, ms -> s; with 1 thread the CPU time is all of it
    return [(b["real_time"] / 1e3, b["cpu_time"] / 1e3) for b in runs]


def timed(fn):
    """Wall seconds of one call of fn."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def paired(fn, server, case, pairs, gap):
    """(PyTorch seconds, xdnn seconds) of `pairs` pairs of calls, after two warm-up calls of each."""
    for _ in range(2):
        fn()
        server.call(case)
    out = []
    for i in range(pairs):
        time.sleep(gap)
        if i % 2 == 0:
            a = timed(fn)
            time.sleep(gap)
            b = server.call(case)
        else:
            b = server.call(case)
            time.sleep(gap)
            a = timed(fn)
        out.append((a, b))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", required=True, help="folder written by bench/export_models.py")
    ap.add_argument("--xdnn", default="build/bench/bench_models", help="bench_models binary ('' = PyTorch only)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--only", default="", help="comma-separated substrings of case names (e.g. resnet18-64/b16)")
    ap.add_argument("--paired", type=int, default=0, help="N: N alternating pairs of calls per case (see the top)")
    ap.add_argument("--gap", type=float, default=0.02, help="--paired: idle seconds between two calls")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    server = XdnnServer(args.xdnn, args.models, args.threads) if args.paired and args.xdnn else None
    if server:
        print(f"torch {torch.__version__}, {args.threads} threads, {args.paired} alternating pairs per case; "
              "ratio = PyTorch / xdnn (> 1: xdnn faster): its quartiles over the pairs (q1 median q3)", flush=True)
    else:
        print(f"torch {torch.__version__}, {args.threads} threads, {args.rounds} rounds x {args.repeats} repeats, "
              "medians (and minima after |); ratio = PyTorch / xdnn (> 1: xdnn faster); "
              "cpu: process CPU time (PyTorch) and the calling thread's (xdnn: all of it with 1 thread)", flush=True)
    for stem in MODELS:
        if not os.path.exists(os.path.join(args.models, stem + ".pt")):
            print(f"{stem}: not exported, skipped")
            continue
        model, size, batches = load(stem, args.models)
        for n in batches:
            torch.manual_seed(3)
            x = torch.rand(n, 3, size, size)
            t = torch.arange(n) % 1000
            for method in METHODS:
                if method == "ig16" and size == 224 and n > 1:
                    continue
                case = f"{stem}/b{n}/{method}"
                if args.only and not any(k in case for k in args.only.split(",")):
                    continue
                fn = case_fn(stem, model, method, x, t)
                if server:
                    p = paired(fn, server, case, args.paired, args.gap)
                    mt = statistics.median(a for a, _ in p) * 1e3
                    mx = statistics.median(b for _, b in p) * 1e3
                    q1, q2, q3 = quartiles([a / b for a, b in p])
                    print(f"{case:28s} torch {mt:9.2f} ms  xdnn {mx:9.2f} ms  ratio {q1:5.2f} {q2:5.2f} {q3:5.2f}",
                          flush=True)
                    continue
                tt, tx = [], []
                for _ in range(args.rounds):
                    tt += time_torch(fn, args.repeats)
                    if args.xdnn:
                        tx += time_xdnn(args.xdnn, args.models, case, args.repeats, args.threads)
                mt = statistics.median(w for w, _ in tt) * 1e3
                ct = statistics.median(c for _, c in tt) * 1e3
                line = f"{case:28s} torch {mt:9.2f} ms (cpu {ct:9.2f})"
                if tx:
                    mx = statistics.median(w for w, _ in tx) * 1e3
                    cx = statistics.median(c for _, c in tx) * 1e3
                    line += f"  xdnn {mx:9.2f} ms (cpu {cx:9.2f})  ratio {mt / mx:5.2f}x (cpu {ct / cx:5.2f}x)"
                    # Minima too: on a shared host (a VM whose cores' siblings run other tenants) one FMA loop
                    # ran at 77 and at 102 GFLOP/s a second apart; the fastest repeat is the least disturbed.
                    nt = min(w for w, _ in tt) * 1e3
                    nx = min(w for w, _ in tx) * 1e3
                    line += f"  | min torch {nt:9.2f} xdnn {nx:9.2f} ratio {nt / nx:5.2f}x"
                print(line, flush=True)


if __name__ == "__main__":
    main()
