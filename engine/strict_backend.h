// Device::Strict's table: the CPU implementations, run on strict tensors seen as CPU tensors (same
// memory, no copy), with their results handed back as strict tensors. Host code above engine/ cannot
// read a strict tensor (Tensor::data<T>() and item throw naming the caller), so whatever runs on Strict
// computes only through ops:: and the same dispatch that reaches the CUDA table: the proof, on a machine
// without a GPU, that it would run on one (issue 17, item 3).
#pragma once
#include "engine/backend.h"

namespace xdnn {
const Backend& strict_backend_table();
}  // namespace xdnn
