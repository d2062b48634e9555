// The CUDA twins of engine/ops_fill.h (kernels/fill.cu) and engine/ops_optim.h (kernels/optim.cu): same signatures and
// semantics, operands on Device::CUDA, results on Device::CUDA. The ops:: functions (engine/cpu/fill.cpp) check the
// arguments (lengths and targets on a host copy) before they hand them over, so these only compute. Random fills have
// no twin: their draws are serial on the host (engine/cpu/fill.cpp copies them to the device).
#pragma once
#include <cstdint>
#include <vector>

#include "engine/ops_optim.h"
#include "engine/tensor.h"
#include "kernels/cuda_ops.h"

namespace xdnn::cuda {

Tensor length_mask(const Tensor& lengths, int64_t T, bool time_major, bool mean, DType dtype);
Tensor attention_mask(int64_t N, int64_t T, bool causal, const Tensor& key_padding, DType dtype);
Tensor sinusoid_table(int64_t T, int64_t d, DType dtype);
Tensor one_hot(const Tensor& targets, int64_t K, DType dtype);
Tensor keep_targets(const Tensor& x, const Tensor& targets);
Tensor argmax_last_axis(const Tensor& x);
Tensor interpolate_rows(const Tensor& base, const Tensor& delta, const std::vector<double>& alphas);
void accumulate_weighted_rows(Tensor& sum, const Tensor& g, const std::vector<double>& weights);
Tensor maxpool2d_gather(const Tensor& x, const Tensor& argmax);
// engine/ops_optim.h's twins (kernels/optim.cu).
void sgd_step_inplace(Tensor& theta, const Tensor& grad, Tensor& buf, const ops::SgdStep& s);
void adam_step_inplace(Tensor& theta, const Tensor& grad, Tensor& m, Tensor& v, const ops::AdamStep& s);

}  // namespace xdnn::cuda
