// Small dense least-squares solves for the surrogate fits of the perturbation explainers (KernelSHAP's
// constrained weighted least squares, LIME's weighted ridge), in float64 through Eigen's complete
// orthogonal decomposition (rank-revealing QR), so a rank-deficient system gets the minimum-norm
// solution (the Moore–Penrose pseudo-inverse) instead of a failure.
#pragma once
#include <cstdint>
#include <vector>

namespace xdnn::explain {

// X (n, k) = argmin ‖A X − B‖_F of minimum norm; A (m, n) and B (m, k) row-major. Also returns the
// numerical rank of A.
std::vector<double> least_squares_min_norm(const std::vector<double>& A, int64_t m, int64_t n,
                                           const std::vector<double>& B, int64_t k, int64_t* rank = nullptr);

}  // namespace xdnn::explain
