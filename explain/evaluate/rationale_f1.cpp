// Token-level rationale F1 (DeYoung et al. 2020, "ERASER: A Benchmark to Evaluate Rationalized NLP
// Models"): the predicted rationale is the k positions with the largest attribution (ties by lower
// position; ignored positions such as padding excluded), k = --top-k or, by default, the size K of the
// ground-truth rationale. precision = hits / k, recall = hits / K, F1 = 2PR / (P + R) (0 without hits).
// With the default k = K, F1 equals the relevance rank accuracy.
// Output: F1 per sample (N,); summary: the same.
#include <algorithm>

#include "engine/check.h"
#include "engine/error.h"
#include "explain/evaluate/ground_truth.h"

namespace xdnn::explain {
namespace {

MetricResult rationale_f1(const MetricRequest& req) {
  const int64_t top_k = req.options.get_int("top-k", 0);
  check(top_k >= 0, "--top-k " + std::to_string(top_k) + ": expected 0 (the rationale's size) or more");
  MetricResult out;
  for (const GroundTruthSample& s : ground_truth_samples(req)) {
    const std::vector<int64_t> order = ranked(s.a);
    const int64_t k = std::min<int64_t>(top_k > 0 ? top_k : s.num_relevant, static_cast<int64_t>(order.size()));
    int64_t hits = 0;
    for (int64_t j = 0; j < k; ++j) hits += s.relevant[order[j]];
    const double p = static_cast<double>(hits) / static_cast<double>(k);
    const double r = static_cast<double>(hits) / static_cast<double>(s.num_relevant);
    out.summary.push_back(hits > 0 ? 2.0 * p * r / (p + r) : 0.0);
  }
  out.values = Tensor::from_vector({static_cast<int64_t>(out.summary.size())}, out.summary);
  out.summary_name = "F1";
  return out;
}

MetricRegistration reg{
    {"rationale-f1",
     "token-level F1 of the top-k positions against the ground-truth rationale (DeYoung et al. "
     "2020)",
     {ground_truth_option(), {"top-k", "0", "size of the predicted rationale (0: that of the truth)"}},
     rationale_f1}};

}  // namespace
}  // namespace xdnn::explain
