// KernelSHAP (Lundberg & Lee 2017, Theorem 2), exactly as the golden README's §KernelSHAP fixes it: the
// weighted least squares with the Shapley kernel and the two boundary coalitions as exact constraints,
//   φ = argmin_φ Σ_r ω_r (v_n(z_r) − v_n(0) − Σ_g z_rg φ_g)²   subject to   Σ_g φ_g = Δ = v_n(1) − v_n(0).
// Rows z_r and weights ω_r:
//   - exact regime, K ≥ 2^G − 2 (K = --samples): every coalition with 1 ≤ |z| ≤ G − 1 once, with
//     ω(z) = (G − 1) / (C(G, |z|) |z| (G − |z|)); the solution is then the exact Shapley value;
//   - sampled regime, K < 2^G − 2: K rows drawn by kernel_shap_sample (perturbation.h; sizes ∝ the total
//     kernel weight of each size), ω_r = 1, deterministic for a --seed.
// Solving: the constraint is eliminated, φ_{G−1} = Δ − Σ_{g<G−1} φ_g, leaving the unconstrained weighted
// least squares in φ_0..φ_{G−2} with rows √ω_r (z_rg − z_r,G−1) and targets √ω_r (y_r − z_r,G−1 Δ),
// solved by a rank-revealing QR: the unique solution when the rows span the space (always in the exact
// regime), otherwise the minimum-norm one (pseudo-inverse). One decomposition serves every sample.
#include <cmath>

#include "explain/linear_solve.h"
#include "explain/perturbation.h"

namespace xdnn::explain {
namespace {

constexpr int64_t kMaxSamples = 10'000'000;

std::vector<double> kernel_shap_groups(const ExplainRequest& req, const Perturber& p, const FeatureGroups& groups,
                                       Attribution& out) {
  const int64_t N = p.samples(), G = groups.count;
  const int64_t K = req.options.get_int("samples", 1000);
  if (K < 1 || K > kMaxSamples)
    throw Error("--samples " + std::to_string(K) + ": expected 1.." + std::to_string(kMaxSamples) +
                " coalitions for kernel-shap");
  const uint64_t seed = parse_seed(req.options);
  const bool exact = G < 40 && K >= (int64_t{1} << G) - 2;

  // Rows 0 and 1 are the empty and the full coalition; the regression rows follow.
  std::vector<uint8_t> Z(2 * G, 0);
  for (int64_t g = 0; g < G; ++g) Z[G + g] = 1;
  std::vector<double> omega;
  if (exact) {
    std::vector<double> binom(G + 1, 1.0);  // C(G, k)
    for (int64_t k = 1; k <= G; ++k) binom[k] = binom[k - 1] * static_cast<double>(G - k + 1) / static_cast<double>(k);
    for (int64_t s = 1; s + 1 < (int64_t{1} << G); ++s) {
      const int64_t k = __builtin_popcountll(static_cast<unsigned long long>(s));
      for (int64_t g = 0; g < G; ++g) Z.push_back(static_cast<uint8_t>((s >> g) & 1));
      omega.push_back(static_cast<double>(G - 1) / (binom[k] * static_cast<double>(k * (G - k))));
    }
  } else if (G >= 2) {
    const std::vector<uint8_t> rows = kernel_shap_sample(G, K, seed);
    Z.insert(Z.end(), rows.begin(), rows.end());
    omega.assign(K, 1.0);
  }
  const int64_t R = static_cast<int64_t>(omega.size());
  const std::vector<double> v = p.coalition_scores(Z, R + 2, groups);

  std::vector<double> phi(N * G, 0.0);
  if (G == 1) {  // the constraint alone fixes φ_0 = Δ
    for (int64_t n = 0; n < N; ++n) phi[n] = v[N + n] - v[n];
  } else {
    const int64_t M = G - 1;
    std::vector<double> A(R * M), B(R * N);
    for (int64_t r = 0; r < R; ++r) {
      const uint8_t* z = Z.data() + (r + 2) * G;
      const double sw = std::sqrt(omega[r]), last = z[G - 1];
      for (int64_t g = 0; g < M; ++g) A[r * M + g] = sw * (z[g] - last);
      for (int64_t n = 0; n < N; ++n) {
        const double delta = v[N + n] - v[n], y = v[(r + 2) * N + n] - v[n];
        B[r * N + n] = sw * (y - last * delta);
      }
    }
    const std::vector<double> X = least_squares_min_norm(A, R, M, B, N);  // (M, N)
    for (int64_t n = 0; n < N; ++n) {
      double rest = v[N + n] - v[n];
      for (int64_t g = 0; g < M; ++g) {
        phi[n * G + g] = X[g * N + n];
        rest -= X[g * N + n];
      }
      phi[n * G + M] = rest;
    }
  }
  out.seed = seed;
  out.parameters["regime"] = exact ? "exact" : "sampled";
  out.parameters["rows"] = std::to_string(R);
  return phi;
}

Attribution kernel_shap(const ExplainRequest& req) { return group_attribution(req, "kernel-shap", kernel_shap_groups); }

MethodRegistration reg{{"kernel-shap",
                        "KernelSHAP (Lundberg & Lee 2017): Shapley-kernel weighted least squares over coalitions; "
                        "exact when --samples covers all 2^G - 2",
                        {kOptFeatureMask,
                         kOptGroupBaseline,
                         kOptPadId,
                         kOptScore,
                         {"samples", "1000", "number of sampled coalitions (all 2^G - 2 when at least that many)"},
                         kOptSeed},
                        kernel_shap}};

}  // namespace
}  // namespace xdnn::explain
