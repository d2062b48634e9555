#!/usr/bin/env python3
"""Checks an ONNX file written by `xdnn export` outside xdnn (tooling, not a test):
the `onnx` checker (full_check, with shape inference), and, when onnxruntime is importable, its output on
INPUT.npy against the output `xdnn run` wrote (XDNN_OUT.npy).

    python3 bench/onnx_export_check.py MODEL.onnx [INPUT.npy XDNN_OUT.npy]

onnx and onnxruntime may live in different virtual environments: run it once with each.
"""
import sys

import numpy as np


def main():
    path = sys.argv[1]
    try:
        import onnx
    except ImportError:
        onnx = None
    if onnx is not None:
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        ops = sorted({n.op_type for n in model.graph.node})
        print(f"{path}: onnx {onnx.__version__} checker ok; opset {model.opset_import[0].version}; ops {', '.join(ops)}")
    if len(sys.argv) < 4:
        return
    try:
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime not importable here: no runtime comparison")
        return
    x = np.load(sys.argv[2])
    want = np.load(sys.argv[3])
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    scale = np.abs(want).max()
    same_argmax = (got.argmax(1) == want.argmax(1)).mean() if got.ndim == 2 else float("nan")
    print(f"onnxruntime {ort.__version__}: output {got.shape}, max |ort - xdnn| {diff.max():.3g} "
          f"(max |xdnn| {scale:.3g}), bit-identical {np.array_equal(got, want)}, same argmax {same_argmax:.3f}")


if __name__ == "__main__":
    main()
