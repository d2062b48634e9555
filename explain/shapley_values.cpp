// Exact Shapley values of G feature groups (Shapley 1953; golden README §Shapley values):
//   φ_g = Σ_{S ⊆ {0..G−1} \ {g}}  |S|! (G − |S| − 1)! / G!  · ( v_n(S ∪ {g}) − v_n(S) ),
// v_n the coalition score of explain/perturbation.h. All 2^G coalitions are evaluated once per sample
// (coalition index = bit mask, bit g = z_g) in one batched perturbation run; averaging marginal
// contributions over all G! orderings (Captum's ShapleyValues) gives the same numbers. Efficiency:
// Σ_g φ_g = v_n(1) − v_n(0). Refuses more than kMaxExactGroups groups: the cost doubles with each one.
#include <algorithm>

#include "explain/perturbation.h"

namespace xdnn::explain {
namespace {

constexpr int64_t kMaxExactGroups = 14;  // 16,384 forwards per sample

Attribution shapley_values(const ExplainRequest& req) {
  if (groups_per_sample(req)) return for_each_sample(req, shapley_values);
  const Perturber p = make_perturber(req, "shapley-values");
  // Images without --feature-mask: a 3 x 3 grid (9 groups, 512 forwards per sample) rather than the
  // grid:4 default of the other methods, which has too many groups for an exact computation.
  Options opts = req.options;
  if (opts.get("feature-mask", "").empty() && p.x.ndim() == 4)
    opts.values["feature-mask"] = "grid:" + std::to_string((std::max(p.x.dim(2), p.x.dim(3)) + 2) / 3);
  const FeatureGroups groups = feature_groups(opts, p.x, p.tokens);
  const int64_t N = p.samples(), G = groups.count;
  if (G > kMaxExactGroups)
    throw Error("shapley-values: --feature-mask " + groups.source + " has " + std::to_string(G) +
                    " groups; exact Shapley values take 2^G forwards per sample and are limited to " +
                    std::to_string(kMaxExactGroups) + " groups",
                "use fewer, larger groups (e.g. --feature-mask grid:7), or kernel-shap / shapley-sampling");
  const int64_t S = int64_t{1} << G;
  std::vector<uint8_t> Z(S * G);
  for (int64_t s = 0; s < S; ++s)
    for (int64_t g = 0; g < G; ++g) Z[s * G + g] = static_cast<uint8_t>((s >> g) & 1);
  const std::vector<double> v = p.coalition_scores(Z, S, groups);
  // weight[k] = k! (G − k − 1)! / G! for a coalition of size k not holding g.
  // Factorials up to 14! = 8.7e10 are exact in double.
  std::vector<double> fact(G + 1, 1.0), weight(G);
  for (int64_t k = 1; k <= G; ++k) fact[k] = fact[k - 1] * static_cast<double>(k);
  for (int64_t k = 0; k < G; ++k) weight[k] = fact[k] * fact[G - k - 1] / fact[G];
  std::vector<double> phi(N * G, 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t g = 0; g < G; ++g) {
      double sum = 0;
      for (int64_t s = 0; s < S; ++s) {
        if ((s >> g) & 1) continue;
        const int64_t k = __builtin_popcountll(static_cast<unsigned long long>(s));
        sum += weight[k] * (v[(s | (int64_t{1} << g)) * N + n] - v[s * N + n]);
      }
      phi[n * G + g] = sum;
    }
  Attribution out{spread_groups(phi, groups, p.x.shape(), req.model->dtype()), "shapley-values", req.options.values, 0};
  describe_groups(groups, out);
  return out;
}

MethodRegistration reg{{"shapley-values",
                        "exact Shapley values of feature groups over all 2^G coalitions (up to 14 groups)",
                        {kOptFeatureMask, kOptGroupBaseline, kOptPadId, kOptScore},
                        shapley_values}};

}  // namespace
}  // namespace xdnn::explain
