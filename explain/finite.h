// Finding NaN and infinite values quickly: the command line's input and weight checks and the influence
// methods' input checks share this one scan.
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace xdnn::explain {

// Index of the first NaN / infinite element of a float tensor (CPU or not), -1 if none (or not float).
// Blocks of 4,096 values are tested branch-free (|v| <= max is false for NaN and ±inf, and vectorises); only
// a failing block is searched element by element. (A float64 copy of the array tested value by value took
// 1.2 s of CPU on the 47 M values of Fashion-MNIST's training set, a fifth of a TracIn run over it; this
// takes ~30 ms.)
int64_t first_nonfinite(const Tensor& t);

}  // namespace xdnn::explain
