// LiSSA (Agarwal, Bullins & Hazan 2017, "Second-Order Stochastic Optimization for Machine Learning in
// Linear Time", Alg. 1; the inverse-HVP estimator Koh & Liang 2017 §3 use for influence functions).
// For A = H + λI with the eigenvalues of A / scale in (0, 1], the Neumann series gives
//   A⁻¹ v = (1/scale) Σ_{j≥0} (I − A/scale)^j v,
// computed by the recursion   h_0 = v,   h_j = v + (I − (H_j + λI)/scale) h_{j−1},   A⁻¹v ≈ h_J / scale,
// where H_j is the Hessian of the mean loss over a fresh random mini-batch (an unbiased estimate of H).
// `repeats` independent recursions are averaged. The recursion diverges when scale is below the largest
// eigenvalue of H_j + λI; that is detected (non-finite or growing iterates) and reported.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "engine/tensor.h"

namespace xdnn::influence {

struct LissaOptions {
  int depth = 1000;     // J, recursion steps per repeat
  int repeats = 1;      // independent recursions averaged
  double scale = 10.0;  // must exceed the largest eigenvalue of H + λI
  int64_t batch = 64;   // examples per mini-batch Hessian (≥ n: the full Hessian at every step)
  uint64_t seed = 0;    // mini-batch sampling
};

// hvp(V, rows): (k, P) float64 -> (k, P) float64, the Hessian of the mean loss over the examples `rows`
// times each row of V. B: (k, P) float64 right-hand sides, n: number of training examples.
// Returns (k, P) float64 estimates of (H + λI)⁻¹ b_j.
Tensor lissa(const std::function<Tensor(const Tensor&, const std::vector<int64_t>&)>& hvp, int64_t n, const Tensor& B,
             double damping, const LissaOptions& opt);

}  // namespace xdnn::influence
