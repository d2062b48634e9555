// Finding NaN and infinite values quickly: the command line's input and weight checks and the influence
// methods' input checks share this one scan.
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace xdnn::explain {

// Index of the first NaN / infinite element of a float tensor (CPU or not), -1 if none (or not float).
// The scan is ops::first_nonfinite (engine/ops_onnx.h), on the tensor's device; the CPU's tests blocks of
// 4,096 values branch-free (~30 ms on the 47 M values of Fashion-MNIST's training set).
int64_t first_nonfinite(const Tensor& t);

}  // namespace xdnn::explain
