// The CUDA entries of engine/ops_influence.h (kernels/influence.cu), declared apart from kernels/cuda_ops.h so
// that this family rebuilds only its own files (cuda_table.cpp and influence.cu).
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace xdnn::cuda {

void factored_gram_accumulate_into(Tensor& S, int64_t col0, const Tensor& test_delta, const Tensor& test_act,
                                   const Tensor& train_delta, const Tensor& train_act, double one, double w, bool add,
                                   const Tensor& test_norm, const Tensor& train_norm);
Tensor factor_norms(const Tensor& delta, const Tensor& act, double one, bool squared);
void axpy_columns_into(Tensor& y, int64_t col0, double a, const Tensor& x, bool accumulate);

}  // namespace xdnn::cuda
