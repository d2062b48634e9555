"""xdnn's Carlini-Wagner L2 (`xdnn attack --method cw-l2`) beside torchattacks' CW on the same model and images.

torchattacks.CW (3.5.1) runs one fixed constant c with Adam (no binary search), which xdnn reproduces with
--search-steps 1 --initial-const c. Two differences in torchattacks are reported, not copied:
  - its f takes the logits through a one-hot mask: `other = max((1 - onehot) * Z)` and `real = max(onehot * Z)`,
    so when every other logit is negative "other" is the masked 0 (and a negative true logit reads as 0):
    f is then not Carlini & Wagner's f6. `CWFixed` below is torchattacks.CW with f6 as the paper writes it;
  - it stops the whole batch when the summed loss rises between checks (xdnn stops per example; with
    --no-abort-early, as here, xdnn runs every step).
Both start from w = atanh(2x - 1) (xdnn: times 0.999999), so pixels at 0 or 1 effectively stay put in both.

    /work/venv/bin/python bench/cw_torchattacks.py --xdnn build/xdnn --checkpoint RUN/epoch-2.safetensors
Prints success rate and mean L2 of the successful examples for xdnn, torchattacks and torchattacks with f6.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torchattacks

sys.path.insert(0, os.path.dirname(__file__))
from torch_reference import FashionCnn, load, read_safetensors  # noqa: E402


class CWFixed(torchattacks.CW):
    """torchattacks.CW with f6 of Carlini & Wagner 2017 (max over the other classes' logits, not a masked max)."""

    def f(self, outputs, labels):
        real = outputs.gather(1, labels[:, None])[:, 0]
        other = outputs.scatter(1, labels[:, None], float("-inf")).max(dim=1)[0]
        if self.targeted:
            return torch.clamp(other - real, min=-self.kappa)
        return torch.clamp(real - other, min=-self.kappa)


def score(model, x, adv, y):
    with torch.no_grad():
        pred = model(adv).argmax(1)
    ok = pred != y
    l2 = (adv - x).flatten(1).norm(dim=1)
    return ok.float().mean().item(), (l2[ok].mean().item() if ok.any() else 0.0)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--xdnn", default="build/xdnn")
    p.add_argument("--checkpoint", required=True, help="a fashion-cnn checkpoint of xdnn train")
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--c", type=float, default=1.0)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--lr", type=float, default=0.01)
    a = p.parse_args()

    model = FashionCnn()
    state, _ = read_safetensors(a.checkpoint)
    model.load_state_dict(state)
    model.eval()
    x, y = load("test", a.n)
    with tempfile.TemporaryDirectory() as tmp:
        np.save(f"{tmp}/x.npy", x.numpy())
        np.save(f"{tmp}/y.npy", y.numpy())
        cmd = [a.xdnn, "attack", "--method", "cw-l2", "--model", a.checkpoint, "--input", f"{tmp}/x.npy",
               "--labels", f"{tmp}/y.npy", "--search-steps", "1", "--initial-const", str(a.c), "--steps",
               str(a.steps), "--lr", str(a.lr), "--no-abort-early", "--precision", "float32", "--out", f"{tmp}/adv.npy"]
        print(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout, end="")
        adv_xdnn = torch.from_numpy(np.load(f"{tmp}/adv.npy"))
    with torch.no_grad():
        clean_wrong = (model(x).argmax(1) != y).float().mean().item()
    print(f"{a.n} test images, c {a.c}, {a.steps} Adam steps of lr {a.lr}; misclassified before: {clean_wrong:.2%}")
    rows = [("xdnn cw-l2", adv_xdnn)]
    for name, cls in (("torchattacks CW", torchattacks.CW), ("torchattacks CW, f6 fixed", CWFixed)):
        rows.append((name, cls(model, c=a.c, kappa=0, steps=a.steps, lr=a.lr)(x, y)))
    for name, adv in rows:
        rate, l2 = score(model, x, adv, y)
        print(f"{name:28s} success {rate:.2%}  mean L2 of the successful {l2:.4f}")


if __name__ == "__main__":
    main()
