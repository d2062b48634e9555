"""TCAV on a task where the concept is known to matter, beside Captum's TCAV on the same model and sets.

Two fashion-cnn models are trained in PyTorch (same seed, same batches): `striped`, on Fashion-MNIST whose
training images of one class (Trouser) carry a horizontal stripe pattern, and `clean`, on the plain images.
The concept is the stripe pattern drawn over test images of the other classes; the random sets are plain
test images. TCAV for Trouser at `pool2` should find the concept in `striped` and not in `clean`.

Writes, under --out: the models as safetensors (PyTorch names, loadable as fashion-cnn:FILE by xdnn),
class_inputs.npy, concept.npy, random_0.npy .. random_R.npy; then runs Captum's TCAV (sign-count scores,
scipy's two-sided ttest_ind between the concept's scores and random-vs-random scores, as Kim et al. do) and
`xdnn tcav` on the same files, printing both with their CPU times.

  /work/venv/bin/python bench/tcav_stripes.py --xdnn build/xdnn --out /tmp/tcav-stripes
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(__file__))
from torch_reference import load  # noqa: E402

TROUSER = 1


class FashionCnn(nn.Module):
    """fashion-cnn (models/zoo.cpp) with its ReLUs and poolings as modules, so Captum can hook pool2."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc(x.flatten(1))


def stripes(x):
    """Horizontal stripes, two rows bright every four rows, over the image: max(x, 0.8)."""
    out = x.clone()
    rows = (torch.arange(28) // 2) % 2 == 0
    out[:, :, rows, :] = torch.clamp(out[:, :, rows, :], min=0.8)
    return out


def train(x, y, seed, epochs):
    torch.manual_seed(seed)
    model = FashionCnn()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g)
        for b in range(0, len(x), 64):
            idx = order[b:b + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()
    return model


def write_safetensors(path, state):
    header, blobs, offset = {"__metadata__": {"architecture": "fashion-cnn"}}, [], 0
    for name, t in state.items():
        b = t.detach().contiguous().numpy().astype(np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h + b"".join(blobs))


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def captum_tcav(model, name, inputs, concept, randoms, layer, save_path):
    from captum.concept import TCAV, Concept
    from scipy import stats

    def concept_of(i, name, data):
        return Concept(i, name, torch.utils.data.DataLoader(data, batch_size=len(data)))

    stripes_c = concept_of(0, "stripes", concept)
    rand = [concept_of(i + 1, f"random_{i}", r) for i, r in enumerate(randoms)]
    sets = [[stripes_c, r] for r in rand[1:]] + [[rand[0], r] for r in rand[1:]]
    # Captum caches CAVs under save_path by model id and concept ids: a fresh folder per run.
    tcav = TCAV(model, layers=[layer], model_id=name, save_path=save_path)
    out = tcav.interpret(inputs, experimental_sets=sets, target=TROUSER)
    runs = len(rand) - 1
    keys = ["-".join(str(c.id) for c in s) for s in sets]
    score = [out[k][layer]["sign_count"][0].item() for k in keys]
    concept_scores, random_scores = score[:runs], score[runs:]
    t = stats.ttest_ind(concept_scores, random_scores)
    return concept_scores, random_scores, float(t.statistic), float(t.pvalue)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xdnn", default="build/xdnn", help="empty: Captum only")
    ap.add_argument("--out", default="/tmp/tcav-stripes")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--set-size", type=int, default=50)
    ap.add_argument("--layer", default="pool2")
    args = ap.parse_args()
    torch.set_num_threads(2)
    os.makedirs(args.out, exist_ok=True)
    xtr, ytr = load("train", 0)
    xte, yte = load("test", 0)
    striped_x = xtr.clone()
    striped_x[ytr == TROUSER] = stripes(xtr[ytr == TROUSER])
    models = {"striped": train(striped_x, ytr, 0, args.epochs), "clean": train(xtr, ytr, 0, args.epochs)}
    for name, m in models.items():
        write_safetensors(f"{args.out}/{name}.safetensors", m.state_dict())
        with torch.no_grad():
            acc = (m(xte).argmax(1) == yte).float().mean().item()
            st = (m(stripes(xte[yte != TROUSER])).argmax(1) == TROUSER).float().mean().item()
        print(f"{name}: test accuracy {acc:.4f}; other classes with stripes called Trouser: {st:.3f}")
    rng = np.random.default_rng(0)
    others = np.flatnonzero(yte.numpy() != TROUSER)
    pick = rng.permutation(others)
    n = args.set_size
    concept = stripes(xte[pick[:n]])
    randoms = [xte[rng.permutation(len(xte))[:n]] for _ in range(args.runs + 1)]
    inputs = xte[yte == TROUSER][:200]
    np.save(f"{args.out}/class_inputs.npy", inputs.numpy())
    np.save(f"{args.out}/concept.npy", concept.numpy())
    for i, r in enumerate(randoms):
        np.save(f"{args.out}/random_{i}.npy", r.numpy())
    random_files = ",".join(f"{args.out}/random_{i}.npy" for i in range(args.runs + 1))
    for name, m in models.items():
        save_path = f"{args.out}/cav-{name}-{time.time_ns()}"
        c0 = cpu_seconds()
        w0 = time.perf_counter()
        cs, rs, t, p = captum_tcav(m, name, inputs, concept, randoms, args.layer, save_path)
        cw, cc = time.perf_counter() - w0, cpu_seconds() - c0
        print(f"captum {name}: score {np.mean(cs):.3f} ± {np.std(cs, ddof=1):.3f} vs random {np.mean(rs):.3f} ± "
              f"{np.std(rs, ddof=1):.3f}, t = {t:.3f}, p = {p:.3g}; {cw:.2f} s wall, {cc:.2f} s CPU")
        if not args.xdnn:
            continue
        cmd = ["/usr/bin/time", "-f", "%e s wall, %U+%S s CPU", args.xdnn, "tcav", "--model",
               f"fashion-cnn:{args.out}/{name}.safetensors", "--layer", args.layer, "--class", str(TROUSER),
               "--input", f"{args.out}/class_inputs.npy", "--concept", f"{args.out}/concept.npy", "--random",
               random_files, "--threads", "2", "--out", f"{args.out}/xdnn_{name}.json"]
        res = subprocess.run(cmd, capture_output=True, text=True)
        print(f"xdnn {name}: " + res.stdout.strip().splitlines()[-1] + "; " + res.stderr.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
