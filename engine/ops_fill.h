// Fills, masks, seeds and path points: the small primitives that layers and explainers used to build with
// host loops (data<T>(), item, set_item), so that they run where their tensors live (issue 17, item 2).
// Part of the ops:: device boundary of engine/ops.h (same conventions), in its own header so that adding
// to it rebuilds only its users. CPU: engine/cpu/fill.cpp; CUDA: the CUDA backend's fill.cu, whose per-element
// bodies (fill_body.h) are tested on the host in tests/test_ops_fill.cpp.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/random.h"
#include "engine/tensor.h"

namespace xdnn::ops {

// ---- constants ------------------------------------------------------------------------------------------
// A tensor of `shape` on `device` with every element `value` rounded to dtype (Tensor::full is the CPU's).
Tensor full(Shape shape, double value, DType dtype, Device device);

// ---- random fills (parameter initialisation) ------------------------------------------------------------
// t[i] = lo + (hi − lo) u_i with u_i = rng.uniform() drawn in flat order, rounded to t's dtype: the same
// numbers on every device and for any thread count (the draws are serial; on a device they are made on
// the host and copied, as dropout_mask's).
void fill_uniform_inplace(Tensor& t, double lo, double hi, Rng& rng);
// t[i] = mean + std · n_i with n_i = rng.normal() drawn in flat order.
void fill_normal_inplace(Tensor& t, double mean, double std, Rng& rng);

// ---- masks ----------------------------------------------------------------------------------------------
// lengths int64 (N) -> (N, T), or (T, N) when time_major: on steps t < lengths[n] the value 1 (or
// 1 / lengths[n] when `mean`, the weights of a mean over the valid steps), 0 after. A length outside
// [min_length, T] throws "<what>: length L of sample n is outside [min_length, T]".
Tensor length_mask(const Tensor& lengths, int64_t T, bool time_major, bool mean, int64_t min_length, DType dtype,
                   const char* what);
// Additive attention mask (N, 1, T, T): −∞ where query i may not see key j (j > i when causal, or
// key_padding (N, T), any dtype, non-zero at j), else 0. key_padding may be undefined; the result lives on
// `device` (key_padding's when it is defined).
Tensor attention_mask(int64_t N, int64_t T, bool causal, const Tensor& key_padding, DType dtype, Device device);
// Sinusoidal positions (Vaswani et al. 2017, §3.5), (T, d): P[t, j] = sin(t ω_j) for even j, cos(t ω_j) for
// odd j, ω_j = 10000^(−(j − j mod 2)/d), evaluated in double and rounded to dtype.
Tensor sinusoid_table(int64_t T, int64_t d, DType dtype, Device device);

// ---- targets ----------------------------------------------------------------------------------------------
// targets int64 (R) -> (R, K) with 1 at (r, targets[r]), 0 elsewhere. A target outside [0, K) throws naming
// it, its row and the range.
Tensor one_hot(const Tensor& targets, int64_t K, DType dtype);
// x (R, K) -> (R, K): x[r, targets[r]] kept, every other element +0 (an LRP seed: the target's logit).
Tensor keep_targets(const Tensor& x, const Tensor& targets);
// x (..., K) -> int64 (...): the index of the largest element of each row, the first one on ties (NaN is
// never the largest).
Tensor argmax_last_axis(const Tensor& x);

// ---- host copies of small results ---------------------------------------------------------------------
// The one sanctioned way for code above the engine to read numbers back: a copy to the host of an int64
// (indices: classes, targets, labels) or float tensor (values a report prints), flat order.
std::vector<int64_t> index_vector(const Tensor& t);
std::vector<double> value_vector(const Tensor& t);

// ---- integration paths ---------------------------------------------------------------------------------
// base, delta (N, ...) -> (k·N, ...) with rows [j·N, (j+1)·N) = base + α_j · delta, α_j rounded to the dtype
// first (the integrated-gradients path points; k = alphas.size()).
Tensor interpolate_rows(const Tensor& base, const Tensor& delta, const std::vector<double>& alphas);
// sum (float64, m elements) += Σ_j weights[j] · g[j·m .. (j+1)·m) for j = 0, 1, ... in this order (g float32 or
// float64, k·m elements with k = weights.size()): a quadrature sum in node order, the same bits whatever
// the chunking of the nodes.
void accumulate_weighted_rows(Tensor& sum, const Tensor& g, const std::vector<double>& weights);

// ---- pooling --------------------------------------------------------------------------------------------
// x (N, C, H, W), argmax int64 (N, C, OH, OW) from maxpool2d_forward -> (N, C, OH, OW): y = x at each
// window's arg-max in its plane (0 where the index is negative): the max-pool's tangent map (R-operator).
Tensor maxpool2d_gather(const Tensor& x, const Tensor& argmax);

}  // namespace xdnn::ops
