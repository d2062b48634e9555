"""t-SNE of Fashion-MNIST pixels: xdnn (`xdnn project`) beside scikit-learn's TSNE in the same run.

Both get the same 5,000 x 784 points (the first test images, pixels / 255), perplexity 30, 1,000 iterations
(250 exaggerated by 12), Barnes-Hut with theta 0.5, PCA initialisation, learning rate max(N / 12 / 4, 50).
Runs alternate (xdnn, sklearn, xdnn, sklearn, ...) so both see the same machine load; each run's wall time
and CPU time (user + sys, all threads) are printed. Quality: each tool's own final KL (sklearn's
kl_divergence_ and xdnn's, both with Barnes-Hut's estimate of Z), and the exact KL(P || Q) of both final
embeddings under one P (scikit-learn's sparse P) with Q summed over all pairs, so the two are compared on
the same objective; and the fraction of each point's 10 nearest neighbours in the embedding sharing its label.

Usage: OMP_NUM_THREADS=2 /work/venv/bin/python bench/tsne_reference.py --bin build/xdnn [--n 5000 --runs 2]
"""
import argparse
import gzip
import os

# Both tools on the same thread count (set before NumPy and scikit-learn start their OpenMP / BLAS pools).
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", os.environ["OMP_NUM_THREADS"])
import resource
import subprocess
import tempfile
import time

import numpy as np
from sklearn.manifold import TSNE
from sklearn.manifold._t_sne import _joint_probabilities_nn
from sklearn.neighbors import NearestNeighbors


def read_idx(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def exact_kl(P, Y):
    """KL(P || Q) with Q_ij = (1 + |y_i - y_j|^2)^-1 / Z summed over all pairs i != j."""
    Y = Y.astype(np.float64)
    n = Y.shape[0]
    z = 0.0
    for b in range(0, n, 500):
        d2 = ((Y[b:b + 500, None, :] - Y[None, :, :]) ** 2).sum(-1)
        q = 1.0 / (1.0 + d2)
        q[np.arange(min(500, n - b)), np.arange(b, min(b + 500, n))] = 0.0
        z += q.sum()
    P = P.tocoo()
    d2 = ((Y[P.row] - Y[P.col]) ** 2).sum(-1)
    return float(np.sum(P.data * (np.log(P.data) + np.log1p(d2))) + np.log(z))


def knn_same_label(Y, labels, k=10):
    nn = NearestNeighbors(n_neighbors=k + 1).fit(Y)
    idx = nn.kneighbors(Y, return_distance=False)[:, 1:]
    return float((labels[idx] == labels[:, None]).mean())


def cpu_children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/xdnn")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=int(os.environ["OMP_NUM_THREADS"]))
    a = ap.parse_args()
    n = a.n
    x = read_idx(os.path.join(a.data, "t10k-images-idx3-ubyte.gz"), 16)[: n * 784].reshape(n, 784)
    x = (x.astype(np.float32) / 255.0)
    labels = read_idx(os.path.join(a.data, "t10k-labels-idx1-ubyte.gz"), 8)[:n].astype(np.int64)
    tmp = tempfile.mkdtemp(prefix="tsne-ref-")
    np.save(os.path.join(tmp, "x.npy"), x.reshape(n, 1, 28, 28))
    # scikit-learn's P (the k = 3 perplexity + 1 nearest neighbours, squared distances), shared by both.
    knn = NearestNeighbors(n_neighbors=min(n - 1, int(3.0 * 30 + 1))).fit(x)
    D = knn.kneighbors_graph(mode="distance")
    D.data **= 2
    P = _joint_probabilities_nn(D, 30.0, 0)
    for run in range(a.runs):
        out = os.path.join(tmp, "xdnn.npy")
        c0, t0 = cpu_children(), time.perf_counter()
        log = subprocess.run([a.bin, "project", "--model", "fashion-mlp", "--input", os.path.join(tmp, "x.npy"),
                              "--layer", "input", "--out", out, "--threads", str(a.threads)],
                             check=True, capture_output=True, text=True).stdout
        wall, cpu = time.perf_counter() - t0, cpu_children() - c0
        Y = np.load(out)
        own = [l for l in log.splitlines() if l.startswith("t-SNE")][0].split("KL ")[1].split(" ")[0]
        print(f"run {run} xdnn    wall {wall:6.2f} s  cpu {cpu:6.2f} s  own KL {float(own):.4f}  "
              f"exact KL {exact_kl(P, Y):.4f}  10-NN same label {knn_same_label(Y, labels):.3f}", flush=True)
        t = os.times()
        c0, t0 = t.user + t.system, time.perf_counter()
        tsne = TSNE(n_components=2, perplexity=30.0, early_exaggeration=12.0, learning_rate="auto", max_iter=1000,
                    method="barnes_hut", angle=0.5, init="pca", random_state=0)
        Y = tsne.fit_transform(x)
        t = os.times()
        wall, cpu = time.perf_counter() - t0, t.user + t.system - c0
        print(f"run {run} sklearn wall {wall:6.2f} s  cpu {cpu:6.2f} s  own KL {tsne.kl_divergence_:.4f}  "
              f"exact KL {exact_kl(P, Y):.4f}  10-NN same label {knn_same_label(Y, labels):.3f}", flush=True)


if __name__ == "__main__":
    main()
