"""The Python module `xdnn` (explain/api/python_module.cpp) against the `xdnn` command line: the same
calls give the same bits. Run by `meson test` (test 'python') when the module is built and NumPy and
pytest are importable; XDNN_BIN names the command-line binary, XDNN_GOLDEN the golden cases' folder."""
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import xdnn

BIN = os.environ["XDNN_BIN"]
GOLDEN = Path(os.environ["XDNN_GOLDEN"])
CNN = str(GOLDEN / "models" / "cnn.onnx")
X = np.load(GOLDEN / "explain-cnn-saliency" / "input.npy")


def cli(tmp_path, *args):
    """Runs `xdnn ARGS --out OUT.npy` and returns the array it wrote."""
    out = tmp_path / "out.npy"
    subprocess.run([BIN, *args, "--out", str(out)], check=True, capture_output=True)
    return np.load(out)


def same_bits(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_run_equals_cli(tmp_path):
    np.save(tmp_path / "x.npy", X)
    assert same_bits(xdnn.load(CNN)(X), cli(tmp_path, "run", "--model", CNN, "--input", str(tmp_path / "x.npy")))


@pytest.mark.parametrize("method, target, options", [
    ("saliency", None, {}),
    ("integrated-gradients", 3, {"steps": 16, "integration": "riemann-trapezoid"}),
    ("lrp", None, {"composite": "epsilon-plus"}),
    ("grad-cam", 1, {"layer": "/relu2/Relu_output_0", "upsample": True}),
    ("smoothgrad", None, {"samples": 4, "seed": 7}),
])
def test_explain_equals_cli(tmp_path, method, target, options):
    np.save(tmp_path / "x.npy", X)
    args = ["explain", "--model", CNN, "--input", str(tmp_path / "x.npy"), "--method", method]
    if target is not None:
        args += ["--target", str(target)]
    for name, value in options.items():
        args += [f"--{name}"] if value is True else [f"--{name}", str(value)]
    got = xdnn.explain(xdnn.load(CNN), X, method, target=target, **options)
    assert same_bits(got, cli(tmp_path, *args))


def test_explain_token_model_equals_cli(tmp_path):
    case = GOLDEN / "explain-lstm-saliency"
    model = str(GOLDEN / "models" / "lstm.onnx")
    ids = np.load(case / "input.npy")
    got = xdnn.explain(xdnn.load(model), ids, "saliency")
    assert same_bits(got, cli(tmp_path, "explain", "--model", model, "--input", str(case / "input.npy"),
                              "--method", "saliency"))


def test_influence_equals_cli(tmp_path):
    case = GOLDEN / "influence-mlp-tracin"
    ckpts = [str(GOLDEN / "models" / f"mlp-tracin-ckpt{i}.onnx") for i in (1, 2, 3)]
    data = {k: np.load(GOLDEN / "data" / f"tracin-train-{k}.npy") for k in ("x", "y")}
    got = xdnn.influence("tracin", ckpts, data["x"], data["y"], np.load(case / "input.npy"),
                         np.load(case / "labels.npy"), lr=[0.1, 0.1, 0.1])
    want = cli(tmp_path, "influence", "--method", "tracin", "--checkpoints", ",".join(ckpts), "--lr", "0.1,0.1,0.1",
               "--train-x", str(GOLDEN / "data" / "tracin-train-x.npy"),
               "--train-y", str(GOLDEN / "data" / "tracin-train-y.npy"),
               "--test-x", str(case / "input.npy"), "--test-y", str(case / "labels.npy"))
    assert same_bits(got, want)


def test_train_equals_cli(tmp_path):
    x, y = xdnn.fashion_mnist("train", 256)
    tx, ty = xdnn.fashion_mnist("test", 64)
    results = xdnn.train(x, y, tx, ty, model="fashion-mlp", epochs=1, out_dir=str(tmp_path / "py"))
    subprocess.run([BIN, "train", "--model", "fashion-mlp", "--epochs", "1", "--train-limit", "256", "--test-limit",
                    "64", "--no-progress", "--out", str(tmp_path / "cli")], check=True, capture_output=True)
    a = xdnn.load(results[0]["checkpoint"])(tx)
    b = xdnn.load(str(tmp_path / "cli" / "epoch-1.safetensors"))(tx)
    assert same_bits(a, b)


def test_bad_input_raises_the_right_type():
    m = xdnn.load(CNN)
    with pytest.raises(TypeError, match="int32"):
        m(X.astype(np.int32))
    with pytest.raises(TypeError, match="C-contiguous"):
        m(np.asfortranarray(X.reshape(4, 28, 28)).reshape(4, 1, 28, 28, order="F"))
    with pytest.raises(TypeError, match="NumPy array"):
        m(X.tolist())
    with pytest.raises(xdnn.Error, match="no-such-method"):
        xdnn.explain(m, X, "no-such-method")
    with pytest.raises(xdnn.Error, match="stepz"):
        xdnn.explain(m, X, "integrated-gradients", stepz=5)
    with pytest.raises(xdnn.Error, match="nonexistent.onnx"):
        xdnn.load("/nonexistent.onnx")
    with pytest.raises(xdnn.Error, match="NaN"):
        m(np.full_like(X, np.nan))
    assert issubclass(xdnn.Error, ValueError)
    assert any(info["name"] == "lrp" for info in xdnn.methods())
