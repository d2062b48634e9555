// The CUDA twin of engine/ops_sort.h (kernels/sort.cu): same signature and semantics, operand and result on
// Device::CUDA; ops:: (engine/cpu/sort.cpp) has checked the operand. In its own header, as the op has its
// own ops header, so that adding it rebuilds only kernels/cuda_table.cpp and kernels/sort.cu.
#pragma once
#include "engine/tensor.h"

namespace xdnn::cuda {

Tensor stable_rank_last_axis(const Tensor& x);

}  // namespace xdnn::cuda
