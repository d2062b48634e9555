// Conjugate gradients (Hestenes & Stiefel 1952) for A x = b with A symmetric positive definite, given
// only as a product. Solves k systems with the same A at once (the rows of B), so each iteration costs
// one batched product; every row keeps its own step sizes and stops when its residual is small.
#pragma once
#include <functional>

#include "engine/tensor.h"

namespace xdnn::influence {

struct CgResult {
  Tensor x;                          // (k, P)
  int iterations = 0;                // iterations run
  double max_relative_residual = 0;  // max_j ‖b_j − A x_j‖ / ‖b_j‖ (recomputed at the end)
  bool converged = false;
};

// apply: (k, P) -> (k, P) float64; B: (k, P) float64. Stops when every row has ‖r_j‖ ≤ tol ‖b_j‖ or
// after max_iterations; callers decide what to do with a non-converged result.
CgResult conjugate_gradient(const std::function<Tensor(const Tensor&)>& apply, const Tensor& B, int max_iterations,
                            double tolerance);

}  // namespace xdnn::influence
