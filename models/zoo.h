// The model zoo: named architectures built with seeded, PyTorch-default initialisation.
//
//   fashion-mlp     Flatten, Linear(784,64) "fc1", ReLU, Linear(64,10) "fc2"             (golden "mlp")
//   fashion-cnn     Conv2d(1,8,3,p1) "conv1", ReLU, MaxPool2d(2), Conv2d(8,16,3,p1) "conv2", ReLU,
//                   MaxPool2d(2), Flatten, Linear(784,10) "fc"                           (golden "cnn")
//   fashion-resnet  conv-BN-ReLU-pool x2 (16, 32 channels), a residual basic block, MLP head (zoo.cpp)
//
// Parameter names and layouts are PyTorch's state-dict names for the equivalent nn.Module
// (conv1.weight OIHW, fc.weight (out, in)), so checkpoints load into PyTorch and golden .safetensors
// files load here. All models take (N, 1, 28, 28) float32 in [0, 1] and return logits (N, 10).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "models/model.h"

namespace xdnn {

std::vector<std::string> zoo_names();
bool is_zoo_name(const std::string& name);
// Builds `name` with parameters initialised from Rng(seed), layer by layer in construction order
// (weight then bias, as PyTorch's reset_parameters). Unknown name -> Error listing the valid names.
Model build_zoo_model(const std::string& name, uint64_t seed = 0);

}  // namespace xdnn
