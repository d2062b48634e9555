#!/usr/bin/env python3
"""Writes the small model zoo of tests/zoo/ (tooling only: the engine and its tests never run Python).

Every torchvision classification family, built from torchvision's own classes and building blocks at tiny
widths and depths for (1, 3, 32, 32) images, and text models from nn.LSTM, nn.GRU, nn.Conv1d and
nn.TransformerEncoder over (1, 8) int64 token ids. Each model is exported twice with default settings,
exactly as a user would:
    NAME.dynamo.onnx       torch.onnx.export(model, (x,), f)               (today's default, dynamo path)
    NAME.torchscript.onnx  torch.onnx.export(model, (x,), f, dynamo=False) (TorchScript path)
plus NAME.input.npy (float32 images or int64 ids) and NAME.output.npy: PyTorch's logits computed in
float64 (the float32 weights converted to float64, the float32 input likewise). The dynamo exporter keeps
weights in NAME.dynamo.onnx.data only when asked to; with its default it writes them inline for models
this small. tests/test_zoo.cpp reads these files.

    bash bench/make_venv.sh /work/venv && /work/venv/bin/python tests/zoo/make_zoo.py [--only NAME,...]
"""
import argparse
import os
import warnings

import numpy as np
import torch
import torchvision.models as tvm
from torch import nn
from torchvision.models import convnext, efficientnet, mobilenetv3, regnet, resnet, squeezenet, swin_transformer
from torchvision.models import vgg

HERE = os.path.dirname(os.path.abspath(__file__))
CLASSES = 10
VOCAB, TOKENS, TEXT_CLASSES = 20, 8, 3


def small_resnet(block):
    # torchvision's ResNet (its forward, stem and _make_layer), at widths 8-32 instead of 64-512.
    m = tvm.ResNet(block, [1, 1, 1, 1], num_classes=CLASSES)
    m.inplanes = 8
    m.conv1 = nn.Conv2d(3, 8, kernel_size=7, stride=2, padding=3, bias=False)
    m.bn1 = nn.BatchNorm2d(8)
    m.layer1 = m._make_layer(block, 8, 1)
    m.layer2 = m._make_layer(block, 8, 1, stride=2)
    m.layer3 = m._make_layer(block, 16, 1, stride=2)
    m.layer4 = m._make_layer(block, 16, 1)  # stride 1: a 2x2 map before the pooling, so that CAM applies
    m.fc = nn.Linear(16 * block.expansion, CLASSES)
    return m


def small_vgg():
    m = vgg.VGG(vgg.make_layers([8, "M", 16, "M", 16, 16, "M"], batch_norm=True), num_classes=CLASSES)
    m.avgpool = nn.AdaptiveAvgPool2d((2, 2))  # 4x4 -> 2x2 (the stock (7, 7) needs >= 7x7 maps)
    m.classifier = nn.Sequential(nn.Linear(16 * 4, 32), nn.ReLU(True), nn.Dropout(), nn.Linear(32, CLASSES))
    return m


def small_mobilenet_v2():
    setting = [[1, 8, 1, 1], [6, 16, 2, 2], [6, 24, 1, 2]]
    m = tvm.MobileNetV2(num_classes=CLASSES, width_mult=1.0, inverted_residual_setting=setting)
    # The stock head is a 1x1 conv to 1280 channels: swap in a 32-channel one (same block class).
    m.features[-1] = tvm.mobilenetv2.Conv2dNormActivation(24, 32, kernel_size=1, activation_layer=nn.ReLU6)
    m.classifier[-1] = nn.Linear(32, CLASSES)
    return m


def small_mobilenet_v3():
    c = mobilenetv3.InvertedResidualConfig
    setting = [c(8, 3, 8, 8, True, "RE", 2, 1, 1.0), c(8, 3, 24, 16, False, "HS", 2, 1, 1.0),
               c(16, 5, 32, 16, True, "HS", 1, 1, 1.0)]
    return tvm.MobileNetV3(setting, last_channel=32, num_classes=CLASSES)


def small_efficientnet():
    c = efficientnet.MBConvConfig
    setting = [c(1, 3, 1, 8, 8, 1, 1.0, 1.0), c(4, 3, 2, 8, 16, 2, 1.0, 1.0), c(4, 5, 2, 16, 24, 1, 1.0, 1.0)]
    return tvm.EfficientNet(setting, dropout=0.2, num_classes=CLASSES, last_channel=32)


def small_densenet():
    return tvm.DenseNet(growth_rate=4, block_config=(2, 2), num_init_features=8, bn_size=2, num_classes=CLASSES)


def small_squeezenet():
    m = tvm.SqueezeNet(version="1_1", num_classes=CLASSES)
    fire = squeezenet.Fire
    m.features = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2), nn.ReLU(True),
                               nn.MaxPool2d(3, 2, ceil_mode=True), fire(16, 4, 8, 8), fire(16, 4, 8, 8),
                               nn.MaxPool2d(3, 2, ceil_mode=True), fire(16, 8, 16, 16))
    m.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(32, CLASSES, 1), nn.ReLU(True),
                                 nn.AdaptiveAvgPool2d((1, 1)))
    return m


def small_shufflenet():
    return tvm.ShuffleNetV2(stages_repeats=[1, 1, 1], stages_out_channels=[8, 16, 32, 64, 64], num_classes=CLASSES)


def small_mnasnet():
    m = tvm.MNASNet(alpha=0.25, num_classes=CLASSES)
    # The stem and the first three inverted-residual stacks (of six), then the stock head (1x1 conv, BN, ReLU)
    # at 32 instead of 1280 channels: a few thousand parameters instead of 223 thousand.
    stacks_out = m.layers[10][-1].layers[-1].num_features
    m.layers = nn.Sequential(*m.layers[:11], nn.Conv2d(stacks_out, 32, 1, bias=False),
                             nn.BatchNorm2d(32, momentum=1 - 0.9997), nn.ReLU(inplace=True))
    m.classifier[-1] = nn.Linear(32, CLASSES)
    return m


def small_regnet():
    params = regnet.BlockParams.from_init_params(depth=3, w_0=8, w_a=8.0, w_m=2.0, group_width=8)
    return tvm.RegNet(params, num_classes=CLASSES, stem_width=8)


def small_convnext():
    c = convnext.CNBlockConfig
    # layer_scale 0.5 instead of 1e-6, so that the blocks' branches show in the output.
    return tvm.ConvNeXt([c(8, 16, 1), c(16, None, 1)], layer_scale=0.5, num_classes=CLASSES)


def small_vit():
    m = tvm.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32,
                              num_classes=CLASSES)
    nn.init.normal_(m.heads.head.weight, std=0.3)  # torchvision starts the head at zero: logits = bias
    return m


def small_swin():
    return swin_transformer.SwinTransformer(patch_size=[4, 4], embed_dim=8, depths=[2, 2], num_heads=[1, 2],
                                            window_size=[2, 2], num_classes=CLASSES)


class TextLSTM(nn.Module):
    """Embedding -> 2-layer bidirectional nn.LSTM -> last step -> Linear."""

    def __init__(self, cell):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, 8)
        self.rnn = cell(8, 6, num_layers=2, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(12, TEXT_CLASSES)

    def forward(self, ids):
        y, _ = self.rnn(self.embedding(ids))
        return self.fc(y[:, -1])


class TextCNN(nn.Module):
    """Kim (2014)-style 1-D CNN: Embedding -> Conv1d over time (N, C, L) -> ReLU -> mean over time -> Linear."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, 8)
        self.conv = nn.Conv1d(8, 12, kernel_size=3, padding=1)
        self.fc = nn.Linear(12, TEXT_CLASSES)

    def forward(self, ids):
        a = torch.relu(self.conv(self.embedding(ids).transpose(1, 2)))
        return self.fc(a.mean(dim=2))


class TextTransformer(nn.Module):
    """Token + position embeddings (positions from torch.arange) -> 2-layer nn.TransformerEncoder -> mean."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, 16)
        self.position = nn.Embedding(TOKENS, 16)
        layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.fc = nn.Linear(16, TEXT_CLASSES)

    def forward(self, ids):
        positions = torch.arange(ids.shape[1], device=ids.device)
        h = self.encoder(self.embedding(ids) + self.position(positions))
        return self.fc(h.mean(dim=1))


VISION = {
    "resnet-basic": lambda: small_resnet(resnet.BasicBlock),
    "resnet-bottleneck": lambda: small_resnet(resnet.Bottleneck),
    "vgg-bn": small_vgg,
    "mobilenet-v2": small_mobilenet_v2,
    "mobilenet-v3": small_mobilenet_v3,
    "efficientnet": small_efficientnet,
    "densenet": small_densenet,
    "squeezenet": small_squeezenet,
    "shufflenet-v2": small_shufflenet,
    "mnasnet": small_mnasnet,
    "regnet": small_regnet,
    "convnext": small_convnext,
    "vit": small_vit,
    "swin": small_swin,
}
TEXT = {
    "text-lstm": lambda: TextLSTM(nn.LSTM),
    "text-gru": lambda: TextLSTM(nn.GRU),
    "text-cnn": TextCNN,
    "text-transformer": TextTransformer,
}


def randomize_batchnorm(model, gen):
    # Fresh BatchNorm layers are the identity (mean 0, var 1, weight 1, bias 0): give them running statistics
    # and affine parameters so that a converter that ignores one of them fails the comparison.
    for mod in model.modules():
        if isinstance(mod, nn.BatchNorm2d):
            c = mod.num_features
            mod.running_mean.copy_(0.1 * torch.randn(c, generator=gen))
            mod.running_var.copy_(0.5 + torch.rand(c, generator=gen))
            mod.weight.data.copy_(1 + 0.1 * torch.randn(c, generator=gen))
            mod.bias.data.copy_(0.1 * torch.randn(c, generator=gen))


def export(name, model, x, only_torchscript=False):
    model.eval()
    x_np = x.numpy()
    np.save(os.path.join(HERE, name + ".input.npy"), x_np)
    with torch.no_grad():
        y64 = model.double()(x.double() if x.is_floating_point() else x).numpy()
        model.float()
        y32 = model(x).numpy()
    np.save(os.path.join(HERE, name + ".output.npy"), y64)
    gap = np.abs(y32 - y64).max() / max(np.abs(y64).max(), 1e-30)
    sizes = []
    for path_kind, dynamo in (("dynamo", True), ("torchscript", False)):
        path = os.path.join(HERE, f"{name}.{path_kind}.onnx")
        for old in (path, path + ".data"):
            if os.path.exists(old):
                os.remove(old)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(model, (x,), path, dynamo=dynamo)
            sizes.append(f"{path_kind} {os.path.getsize(path) / 1024:.0f} KiB"
                         + (" +data" if os.path.exists(path + ".data") else ""))
        except Exception as e:  # an exporter that cannot handle the model: say so, ship nothing for it
            sizes.append(f"{path_kind} FAILED: {str(e).splitlines()[0][:160]}")
    params = sum(p.numel() for p in model.parameters())
    print(f"{name:18s} {params:7d} params  float32 vs float64 {gap:.1e}  " + ", ".join(sizes), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated model names")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    torch.set_num_threads(2)
    for name, build in list(VISION.items()) + list(TEXT.items()):
        if only and name not in only:
            continue
        torch.manual_seed(0)
        gen = torch.Generator().manual_seed(1)
        model = build()
        randomize_batchnorm(model, gen)
        if name in VISION:
            x = torch.rand(1, 3, 32, 32, generator=gen)
        else:
            x = torch.randint(0, VOCAB, (1, TOKENS), generator=gen)
        export(name, model, x)


if __name__ == "__main__":
    main()
