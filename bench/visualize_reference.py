#!/usr/bin/env python3
"""Peers of `xdnn visualize` (activation maximisation of the 10 class logits of fashion-cnn, 256 steps):

  torch   the same loop as explain/global/activation_max.cpp written in PyTorch: one batch of 10 images
          from 0.5 + 0.01 N(0, 1), a random circular shift in [-1, 1]^2 per image and step, Adam (lr 0.05)
          ascent on the pixels, clipped to [0, 1] after each step; objective logit[n, class n]
  lucent  torch-lucent's render_vis with a 28x28 one-channel pixel parameterisation (no FFT, no colour
          decorrelation, no ImageNet preprocessing), its jitter(2) transform (a random crop of 0 or 1 pixel per side, then resized back to 28x28), Adam lr 0.05, objective
          channel("fc", k) per batch row, 256 thresholds

Both print their wall time (after one warm-up run) and the logits reached, so they sit beside
`xdnn visualize --model M --steps 256` in bench/RESULTS.md.

Usage: python3 bench/visualize_reference.py --weights run/epoch-2.safetensors [--threads 2] [--repeat 3]
"""
import argparse
import time

import numpy as np
import torch

from torch_reference import read_safetensors


class FashionCnn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.relu1 = torch.nn.ReLU()
        self.pool1 = torch.nn.MaxPool2d(2)
        self.conv2 = torch.nn.Conv2d(8, 16, 3, padding=1)
        self.relu2 = torch.nn.ReLU()
        self.pool2 = torch.nn.MaxPool2d(2)
        self.flatten = torch.nn.Flatten()
        self.fc = torch.nn.Linear(784, 10)

    def forward(self, x):
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc(self.flatten(x))


def torch_loop(model, steps, seed):
    g = torch.Generator().manual_seed(seed)
    x = (0.5 + 0.01 * torch.randn(10, 1, 28, 28, generator=g)).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.05)
    rows = torch.arange(10)
    for _ in range(steps):
        shifts = torch.randint(-1, 2, (10, 2), generator=g)
        xs = torch.stack([torch.roll(x[n], (int(shifts[n, 0]), int(shifts[n, 1])), (1, 2)) for n in range(10)])
        objective = model(xs)[rows, rows].sum()
        opt.zero_grad()
        (-objective).backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)
    with torch.no_grad():
        return model(x)[rows, rows]


def lucent_loop(model, steps):
    from lucent.optvis import objectives, param, render, transform

    objective = sum(objectives.channel("fc", k, batch=k) for k in range(10))

    def image_param():
        return param.image(28, batch=10, channels=1, fft=False, decorrelate=False, sd=0.01)

    images = render.render_vis(model, objective, image_param, transforms=[transform.jitter(2)],
                               thresholds=(steps,), preprocess=False, fixed_image_size=28,
                               show_image=False, progress=False)
    x = torch.from_numpy(images[-1]).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        rows = torch.arange(10)
        return model(x)[rows, rows]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--steps", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--peers", default="torch,lucent")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    state, _ = read_safetensors(a.weights)
    model = FashionCnn()
    model.load_state_dict({k: v.float() for k, v in state.items()})
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    for peer in a.peers.split(","):
        run = (lambda: torch_loop(model, a.steps, 0)) if peer == "torch" else (lambda: lucent_loop(model, a.steps))
        run()  # warm-up
        times = []
        for _ in range(a.repeat):
            start = time.perf_counter()
            logits = run()
            times.append(time.perf_counter() - start)
        print(f"{peer:7s} 10 classes x {a.steps} steps: median {np.median(times):.3f} s (of {a.repeat}); "
              f"logits reached {' '.join(f'{v:.1f}' for v in logits.tolist())}")


if __name__ == "__main__":
    main()
