// Principal component analysis (Pearson 1901; Hotelling 1933) of a layer's activations, for `xdnn project
// --method pca`, the report's `projection` section and t-SNE's initialisation: the data are centred, the
// components are the eigenvectors of the sample covariance C = XᵀX / (N − 1) with the largest eigenvalues
// (the variances along them), and each point's projection is its centred row times the components.
// When F > N the eigenvectors u of the Gram matrix XXᵀ / (N − 1) give the same components, v = Xᵀu / ‖Xᵀu‖.
// Signs are fixed (the entry of largest magnitude of every component is positive), so results do not
// depend on the eigensolver's choice. Float64 throughout (Eigen's self-adjoint eigensolver).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace xdnn::explain {

struct PcaResult {
  Tensor projection;              // float64 (N, k): the centred data in the components' coordinates
  Tensor components;              // float64 (k, F): unit rows, by decreasing variance
  Tensor mean;                    // float64 (F,)
  std::vector<double> variance;   // k eigenvalues of C, descending
  std::vector<double> explained;  // variance / total variance (the trace of C)
};

// x: (N, ...) float, N ≥ 2, read as N rows of F = numel / N features; 1 ≤ k ≤ min(N, F).
// `what` names x in errors (e.g. "--layer fc1").
PcaResult pca(const Tensor& x, int64_t components, const std::string& what = "data");

}  // namespace xdnn::explain
