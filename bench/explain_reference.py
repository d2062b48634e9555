#!/usr/bin/env python3
"""Reference timings for bench/bench_explain.cpp: the same explanations of fashion-cnn with Captum 0.7 and
Zennit 0.5.1 on PyTorch CPU (float32). Tooling only, never a test dependency.

Setup (Debian 12): apt-get install python3-torch python3-torchvision python3-matplotlib
                   python3 -m pip install --no-deps --break-system-packages captum==0.7.0 zennit==0.5.1
Run:               /usr/bin/python3 bench/explain_reference.py --threads 2
"""
import torch

from torch_timing import fashion_cnn, median_seconds, parse_args


def main():
    args = parse_args(default_repeats=7)
    from captum.attr import IntegratedGradients, LayerGradCam, Occlusion, Saliency
    from zennit.attribution import Gradient
    from zennit.composites import EpsilonPlus

    model = fashion_cnn()
    for n in (1, 32):
        x = torch.rand(n, 1, 28, 28)
        t = torch.arange(n) % 10
        cases = {
            "saliency": lambda: Saliency(model).attribute(x, target=t, abs=False),
            "integrated-gradients 50 (gauss-legendre)": lambda: IntegratedGradients(model).attribute(
                x, target=t, n_steps=50, method="gausslegendre", internal_batch_size=max(n * 50, 1)),
            "grad-cam (relu2)": lambda: LayerGradCam(model, model[4]).attribute(x, target=t,
                                                                                relu_attributions=True),
            "occlusion 5x5 stride 3": lambda: Occlusion(model).attribute(
                x, target=t, sliding_window_shapes=(1, 5, 5), strides=(1, 3, 3), baselines=0),
        }

        def zennit_lrp():
            with Gradient(model=model, composite=EpsilonPlus()) as attributor:
                attributor(x.clone().requires_grad_(True), torch.eye(10)[t])

        cases["lrp epsilon-plus (zennit)"] = zennit_lrp
        for name, fn in cases.items():
            if args.only and not any(k in name for k in args.only.split(",")):
                continue
            wall, cpu = median_seconds(fn, args.repeats)
            print(f"batch {n:2d}  {name:42s} {wall * 1e3:9.2f} ms wall {cpu * 1e3:9.2f} ms cpu", flush=True)


if __name__ == "__main__":
    main()
