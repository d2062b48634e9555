#!/usr/bin/env python3
"""Reference timings for bench/bench_perturbation.cpp: the same perturbation / Shapley explanations of
fashion-cnn (float32, one image) with Captum on PyTorch CPU. Tooling only, never a test dependency.

Captum evaluates one perturbation per forward by default; here every method gets perturbations_per_eval=64
(xdnn batches 64 rows per forward too), so the comparison is batched against batched. The 10-group exact
Shapley values are not run: Captum's ShapleyValues walks all 10! = 3.6 M orderings; the 6-group case
(720 orderings) is.

Run: /work/venv/bin/python bench/perturbation_reference.py --threads 2
"""
import torch

from torch_timing import fashion_cnn, median_seconds, parse_args


def main():
    args = parse_args(default_repeats=3)
    from captum.attr import (DeepLiftShap, FeatureAblation, GradientShap, KernelShap, Lime, ShapleyValues,
                             ShapleyValueSampling)

    model = fashion_cnn()
    x = torch.rand(1, 1, 28, 28)
    t = torch.tensor([0])
    rows = torch.arange(28).view(1, 1, 28, 1).expand(1, 1, 28, 28)
    grid4 = (rows // 4) * 7 + torch.arange(28).view(1, 1, 1, 28) // 4  # 49 groups, as xdnn's grid:4
    bands6 = rows * 6 // 28
    base = torch.rand(10, 1, 28, 28)
    ppe = 64
    cases = {
        "feature-ablation grid:4": lambda: FeatureAblation(model).attribute(
            x, target=t, feature_mask=grid4, baselines=0.0, perturbations_per_eval=ppe),
        "shapley-values 6 groups": lambda: ShapleyValues(model).attribute(
            x, target=t, feature_mask=bands6, baselines=0.0, perturbations_per_eval=ppe),
        "shapley-sampling 25 grid:4": lambda: ShapleyValueSampling(model).attribute(
            x, target=t, feature_mask=grid4, baselines=0.0, n_samples=25, perturbations_per_eval=ppe),
        "kernel-shap 1000 grid:4": lambda: KernelShap(model).attribute(
            x, target=t, feature_mask=grid4, baselines=0.0, n_samples=1000, perturbations_per_eval=ppe),
        "lime 1000 grid:4": lambda: Lime(model).attribute(
            x, target=t, feature_mask=grid4, baselines=0.0, n_samples=1000, perturbations_per_eval=ppe),
        "gradient-shap 50 x 10 baselines": lambda: GradientShap(model).attribute(
            x, baselines=base, target=t, n_samples=50),
        "deeplift-shap 10 baselines": lambda: DeepLiftShap(model).attribute(x, baselines=base, target=t),
    }
    only = [s for s in args.only.split(",") if s]
    print(f"torch {torch.__version__}, threads {args.threads}, median of {args.repeats}")
    for name, fn in cases.items():
        if only and not any(s in name for s in only):
            continue
        wall, cpu = median_seconds(fn, args.repeats)
        print(f"{name:36s} wall {wall * 1e3:9.1f} ms   cpu {cpu * 1e3:9.1f} ms")


if __name__ == "__main__":
    main()
