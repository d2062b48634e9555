#!/usr/bin/env python3
"""Writes the ONNX files bench/bench_models.cpp and bench/models_reference.py run: torchvision ResNet-18,
VGG-11 and MobileNetV2 (random init from torch.manual_seed(0), eval mode, 1000 classes), one file per
input size, batch axis dynamic. Tooling only (PyPI torch + torchvision, e.g. the venv of
bench/make_venv.sh); the files are large (ResNet-18 47 MB, VGG-11 531 MB) and are not committed.

Run: /work/venv/bin/python bench/export_models.py --out /work/bench_models
Writes OUT/<name>.onnx and OUT/<name>.pt (the state dict, so models_reference.py runs the same weights).

The TorchScript exporter (dynamo=False) folds each BatchNorm into the convolution before it (eval mode),
as torch.onnx does by default; --keep-bn exports BatchNormalization nodes instead (training=PRESERVE).
"""
import argparse
import os

import onnx
import torch
import torchvision

# name -> (constructor, input height = width)
MODELS = {
    "resnet18-64": (torchvision.models.resnet18, 64),
    "resnet18-224": (torchvision.models.resnet18, 224),
    "vgg11-224": (torchvision.models.vgg11, 224),
    "mobilenet_v2-224": (torchvision.models.mobilenet_v2, 224),
}


def build(name):
    ctor, size = MODELS[name]
    torch.manual_seed(0)
    return ctor(num_classes=1000).eval(), size


def inline_identities(path):
    """The TorchScript exporter shares equal initializers through Identity nodes (the zero biases of the
    folded convolutions); xdnn's importer wants a Conv's weight and bias to be initializers, so each such
    Identity output becomes an initializer of its own."""
    m = onnx.load(path)
    inits = {i.name: i for i in m.graph.initializer}
    keep = []
    for node in m.graph.node:
        if node.op_type == "Identity" and node.input[0] in inits:
            copy = onnx.TensorProto()
            copy.CopyFrom(inits[node.input[0]])
            copy.name = node.output[0]
            m.graph.initializer.append(copy)
        else:
            keep.append(node)
    del m.graph.node[:]
    m.graph.node.extend(keep)
    onnx.save(m, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", default="", help="comma-separated model names (default: all)")
    ap.add_argument("--keep-bn", action="store_true", help="keep BatchNormalization nodes (suffix -bn)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    names = [n for n in MODELS if not args.only or n in args.only.split(",")]
    for name in names:
        model, size = build(name)
        x = torch.randn(1, 3, size, size)
        stem = name + ("-bn" if args.keep_bn else "")
        path = os.path.join(args.out, stem + ".onnx")
        mode = torch.onnx.TrainingMode.PRESERVE if args.keep_bn else torch.onnx.TrainingMode.EVAL
        torch.onnx.export(model, (x,), path, dynamo=False, opset_version=17, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                          training=mode, do_constant_folding=not args.keep_bn)
        inline_identities(path)
        torch.save(model.state_dict(), os.path.join(args.out, name + ".pt"))
        print("wrote", path)


if __name__ == "__main__":
    main()
