// The ops of the influence methods: the factored last-layer route (TracInCP-fast, Pruthi et al. 2020, §3.2;
// explain/influence/factored_scores.cpp): Gram blocks of per-example gradients of an output layer
// z = W a + b built from forward-pass factors alone. With g_n = [δ_n ⊗ a_n, δ_n] (δ_n (K) the loss's seed at
// z, a_n (in) the layer's input; the trailing δ_n only with a bias, `one` = 1, else 0):
//   ⟨g_j, g'_i⟩ = (δ_j · δ'_i)(a_j · a'_i + one),   ‖g_n‖² = ‖δ_n‖² (‖a_n‖² + one).
// Part of the ops:: device boundary of engine/ops.h (checked once here, then the entry of the operands'
// device), in its own header so that adding to it rebuilds only its users. CPU: engine/cpu/influence.cpp;
// CUDA: kernels/influence.cu (two GEMMs and a fused element-wise pass, kernels/influence_body.h, whose
// bodies are tested on the host against the CPU).
//
// Rounding, the same on every device: fma(x, y, z) is one fused multiply-add (one rounding); every other
// product, sum and quotient is rounded on its own. The Gram products themselves are the device's GEMM (the
// CPU and Strict: engine/cpu/gemm.h, the same bits; CUDA: cuBLAS).
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace xdnn::ops {

// Folds one checkpoint's Gram block into columns [col0, col0 + ni) of S:
//   S (nj, cols) float, contiguous; test_delta (nj, K), test_act (nj, in), train_delta (ni, K),
//   train_act (ni, in), all of S's dtype and device; col0 + ni ≤ cols.
//   d[j, i] = δ_j · δ'_i,  a[j, i] = a_j · a'_i   (the two GEMMs, test rows against training rows)
//   v[j, i] = d (a + one), rounded as (d · (a + one)); with norms (Grad-Cos: test_norm (nj), train_norm (ni),
//             both given or both undefined) v = d (a + one) / (test_norm[j] · train_norm[i]), and 0 where
//             that product is not > 0 (a zero gradient scores 0, not NaN)
//   add = false: S[j, col0 + i] = w · v           without norms: (w · d) · (a + one)
//   add = true:  S[j, col0 + i] = fma(w, v, S)    without norms: fma(w · d, a + one, S)
// Elements of S outside those columns are not touched. S = Σ_c w_c (Δ_c Δ'_cᵀ) ⊙ (A_c A'_cᵀ + one) is this
// call once per checkpoint c in order, the first with add = false.
void factored_gram_accumulate_into(Tensor& S, int64_t col0, const Tensor& test_delta, const Tensor& test_act,
                                   const Tensor& train_delta, const Tensor& train_act, double one, double w, bool add,
                                   const Tensor& test_norm = Tensor(), const Tensor& train_norm = Tensor());

// delta (n, K), act (n, in) float, one dtype -> (n): ‖g_r‖² = dd · (aa + one), or its square root when
// !squared, where dd = Σ_k δ_rk², aa = Σ_k a_rk², each summed in k order from 0 as s = s + x_k · x_k (the
// square rounded, then the sum).
Tensor factor_norms(const Tensor& delta, const Tensor& act, double one, bool squared);

// Writes or adds a block into columns [col0, col0 + n) of a preallocated result, so that a score matrix built
// from column blocks (one per training chunk) is never held twice, as a side-by-side concatenation at the end
// would: y (rows, cols) float, contiguous; x (rows, n) of y's dtype and device; col0 + n ≤ cols.
//   accumulate = false: y[r, col0 + i] = a · x[r, i]
//   accumulate = true:  y[r, col0 + i] = fma(a, x[r, i], y[r, col0 + i])   (ops::axpy_inplace's element)
// Other columns are not touched.
void axpy_columns_into(Tensor& y, int64_t col0, double a, const Tensor& x, bool accumulate);

}  // namespace xdnn::ops
