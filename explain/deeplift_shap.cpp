// DeepLIFT-SHAP (Lundberg & Lee 2017, §4.2 "Deep SHAP"; golden README §DeepLIFT-SHAP): DeepLIFT's rescale
// rule (deeplift.cpp, unchanged) with each of J baselines b_j as the reference, averaged:
//   DLS(x) = (1/J) Σ_j DL_{b_j}(x).
// Summation to delta: Σ DLS(x) = f_K(x) − (1/J) Σ_j f_K(b_j). The (sample, baseline) pairs go through
// the network stacked along the batch axis (copy j of the batch against b_j); the rules are batch
// independent, so stacking does not mix samples (unlike the reference library, see the README).
// --score logit only: DeepLIFT's summation property is stated for the logit. --rule reveal-cancel uses
// DeepLIFT's RevealCancel rule (deeplift_reveal_cancel.cpp) instead of rescale.
#include <algorithm>

#include "engine/ops.h"
#include "explain/copies.h"
#include "explain/deeplift.h"
#include "explain/perturbation.h"
#include "explain/point.h"
#include "explain/targets.h"

namespace xdnn::explain {
namespace {

Attribution deeplift_shap(const ExplainRequest& req) {
  check_request(req);
  if (req.options.get("score", "logit") != "logit")
    throw Error("--score " + req.options.get("score", "") + ": deeplift-shap explains the logit only (--score logit)");
  if (!req.input.is_float())
    throw Error("deeplift-shap: expected a float input, got " + req.input.describe(),
                "for token models use deeplift (embedding-output reference) or shapley-values");
  const DeepLiftRule rule = parse_deeplift_rule(req.options.get("rule", ""));
  const Tensor x = model_input(req);
  const Tensor B = baseline_set(req.options, x, "deeplift-shap");
  const int64_t N = x.dim(0), J = B.dim(0);
  const int64_t per_call =
      req.model->exported_batch > 0 ? 1 : std::max<int64_t>(1, kRowsPerCall / N);  // Model::exported_batch
  Tensor sum;
  for (int64_t j0 = 0; j0 < J; j0 += per_call) {
    const int64_t k = std::min(per_call, J - j0);
    const Tensor xs = repeat_rows(x, k);  // (k·N, ...): copy j against baseline j0 + j
    Tensor bs = Tensor::empty(xs.shape(), x.dtype(), x.device());
    for (int64_t j = 0; j < k; ++j)
      bs.slice_batch(j * N, (j + 1) * N).copy_from(repeat_rows(B.slice_batch(j0 + j, j0 + j + 1), N));
    const Tensor a = deeplift_attribution(*req.model, xs, bs, repeat_targets(req.targets, k), rule).to(DType::F64);
    for (int64_t j = 0; j < k; ++j) {
      const Tensor part = a.slice_batch(j * N, (j + 1) * N);
      sum = sum.defined() ? ops::add(sum, part) : part.clone();
    }
  }
  Attribution out{ops::scale(sum, 1.0 / static_cast<double>(J)).to(req.model->dtype()), "deeplift-shap",
                  req.options.values, 0};
  out.parameters["baselines"] = std::to_string(J);
  return out;
}

MethodRegistration reg{{"deeplift-shap",
                        "DeepLIFT-SHAP: DeepLIFT (rescale) averaged over a set of baselines (Lundberg & Lee 2017)",
                        {{"baselines", "", "float32 .npy (J, ...) of baseline samples (default: one all-zero baseline)",
                          "FILE", any_value_names_file},
                         {"score", "logit", "explained score: logit only", "{logit,prob,log-prob}"},
                         {"rule", "", "rescale (default) or reveal-cancel", "NAME"}},
                        deeplift_shap}};

}  // namespace
}  // namespace xdnn::explain
