// Shapley value sampling (Štrumbelj & Kononenko 2010, "An efficient explanation of individual
// classifications using game theory", §3, Algorithm 1; Castro et al. 2009): the Shapley value is the mean,
// over orderings π of the G feature groups, of each group's marginal contribution
// v_n(Pre_π(g) ∪ {g}) − v_n(Pre_π(g)), Pre_π(g) the groups before g in π. M = --samples orderings are drawn
// uniformly, as antithetic pairs (π, reversed π) (Mitchell et al. 2022, §4.1: the reversed ordering's
// errors are negatively correlated with π's), the last one alone when M is odd; SplitMix64 from --seed,
// each π a full Fisher–Yates shuffle of [0..G−1]. One ordering costs G − 1 forwards: its prefixes of sizes
// 1..G−1 (the empty and the full coalition are shared by all). Efficiency holds exactly for every draw:
// Σ_g φ_g = v_n(1) − v_n(0); the estimate converges to the exact Shapley values (shapley-values) as M grows.
#include <algorithm>

#include "explain/perturbation.h"

namespace xdnn::explain {
namespace {

std::vector<double> shapley_sampling_groups(const ExplainRequest& req, const Perturber& p, const FeatureGroups& groups,
                                            Attribution& out) {
  const int64_t N = p.samples(), G = groups.count;
  const int64_t M = req.options.get_int("samples", 25);
  if (M < 1 || M > 1'000'000)
    throw Error("--samples " + std::to_string(M) + ": expected 1..1000000 permutations for shapley-sampling");
  const uint64_t seed = parse_seed(req.options);
  // The orderings.
  std::vector<std::vector<int64_t>> orders;
  SplitMix64 rng(seed);
  while (static_cast<int64_t>(orders.size()) < M) {
    std::vector<int64_t> pi(G);
    for (int64_t g = 0; g < G; ++g) pi[g] = g;
    for (int64_t j = 0; j + 1 < G; ++j) std::swap(pi[j], pi[j + static_cast<int64_t>(rng.uniform() * (G - j))]);
    orders.push_back(pi);
    if (static_cast<int64_t>(orders.size()) < M) orders.emplace_back(pi.rbegin(), pi.rend());
  }
  // Rows: 0 = empty, 1 = full, then for ordering m the prefixes of sizes 1..G−1.
  const int64_t P = G - 1, S = 2 + M * P;
  std::vector<uint8_t> Z(S * G, 0);
  for (int64_t g = 0; g < G; ++g) Z[G + g] = 1;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 1; k <= P; ++k) {
      uint8_t* z = Z.data() + (2 + m * P + (k - 1)) * G;
      for (int64_t j = 0; j < k; ++j) z[orders[m][j]] = 1;
    }
  const std::vector<double> v = p.coalition_scores(Z, S, groups);
  std::vector<double> phi(N * G, 0.0);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t m = 0; m < M; ++m) {
      // The value of prefix k (k = 0: empty, k = G: full).
      auto prefix = [&](int64_t k) { return k == 0 ? v[n] : k == G ? v[N + n] : v[(2 + m * P + k - 1) * N + n]; };
      for (int64_t k = 0; k < G; ++k) phi[n * G + orders[m][k]] += prefix(k + 1) - prefix(k);
    }
    for (int64_t g = 0; g < G; ++g) phi[n * G + g] /= static_cast<double>(M);
  }
  out.seed = seed;
  out.parameters["permutations"] = std::to_string(M);
  return phi;
}

Attribution shapley_sampling(const ExplainRequest& req) {
  return group_attribution(req, "shapley-sampling", shapley_sampling_groups);
}

MethodRegistration reg{{"shapley-sampling",
                        "Shapley value sampling (Strumbelj & Kononenko 2010): mean marginal contributions over "
                        "random orderings, in antithetic pairs",
                        {kOptFeatureMask,
                         kOptGroupBaseline,
                         kOptPadId,
                         kOptScore,
                         {"samples", "25", "number of sampled orderings (permutations) of the groups"},
                         kOptSeed},
                        shapley_sampling}};

}  // namespace
}  // namespace xdnn::explain
