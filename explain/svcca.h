// SVCCA: singular vector canonical correlation analysis (Raghu et al. 2017, "SVCCA: Singular Vector
// Canonical Correlation Analysis for Deep Learning Dynamics and Interpretability"), exactly as the golden
// README's §`xdnn svcca` specifies it:
// 1. activations of a layer as a matrix L: a rank-2 tensor (N, F) is N data points × F neurons; a rank-4
//    tensor (N, C, h, w) gives (N·h·w, C): channels are neurons, every (sample, position) is a data point,
//    L[(n·h + y)·w + x, c] = T[n, c, y, x];
// 2. centre every column;
// 3. SVD reduction (§2, step 1 of the paper): L = U diag(σ) Vᵀ (thin, σ descending); keep the smallest
//    k ≥ 1 with Σ_{i≤k} σ_i² ≥ κ Σ_i σ_i²; reduced data R = U_k diag(σ_1..σ_k);
// 4. CCA (step 2): the canonical correlations of R_A and R_B are the singular values of Q_Aᵀ Q_B with
//    R = Q T thin QR decompositions; m = min(k_A, k_B) of them, sorted descending.
// Everything runs in float64 (Eigen).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "models/model.h"

namespace xdnn::explain {

struct SvccaResult {
  std::vector<double> correlations;  // m = min(k_a, k_b) canonical correlations, descending
  int64_t kept_a = 0, kept_b = 0;    // k of each layer after the SVD reduction
  int64_t rows = 0;                  // data points
};

// activations_a, activations_b: (N, F) or (N, C, h, w) float tensors with the same number of data points
// (rows of L). `keep` = κ in (0, 1]. `name_a` / `name_b` name the tensors in error messages.
SvccaResult svcca(const Tensor& activations_a, const Tensor& activations_b, double keep,
                  const std::string& name_a = "layer A", const std::string& name_b = "layer B");

// The value of tensor `name` when `model` runs on `input` (inference mode); throws naming the tensor
// when the model has no such value or does not compute it.
Tensor layer_activation(const Model& model, const Tensor& input, const std::string& name);

}  // namespace xdnn::explain
