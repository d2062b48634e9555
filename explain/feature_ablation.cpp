// Feature ablation (Captum's FeatureAblation with a feature mask; golden README §Feature ablation): for
// every feature group g, with e_g the coalition that removes g alone,
//   A[n, i] = v_n(1) − v_n(e_g)      for every element i of group g,
// v_n(z) the score of sample n with the groups outside z removed (explain/perturbation.h). The G + 1
// coalitions go through the model as one batched perturbation run.
#include "explain/perturbation.h"

namespace xdnn::explain {
namespace {

std::vector<double> feature_ablation_groups(const ExplainRequest& /*req*/, const Perturber& p,
                                            const FeatureGroups& groups, Attribution& /*out*/) {
  const int64_t N = p.samples(), G = groups.count;
  // Row 0: everything kept; row 1 + g: group g removed.
  std::vector<uint8_t> Z((G + 1) * G, 1);
  for (int64_t g = 0; g < G; ++g) Z[(1 + g) * G + g] = 0;
  const std::vector<double> v = p.coalition_scores(Z, G + 1, groups);
  std::vector<double> a(N * G);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t g = 0; g < G; ++g) a[n * G + g] = v[n] - v[(1 + g) * N + n];
  return a;
}

Attribution feature_ablation(const ExplainRequest& req) {
  return group_attribution(req, "feature-ablation", feature_ablation_groups);
}

MethodRegistration reg{{"feature-ablation",
                        "drop of the score when each feature group alone is removed (Captum FeatureAblation)",
                        {kOptFeatureMask, kOptGroupBaseline, kOptPadId, kOptScore},
                        feature_ablation}};

}  // namespace
}  // namespace xdnn::explain
