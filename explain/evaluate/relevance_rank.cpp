// Relevance rank accuracy (Arras et al. 2022, CLEVR-XAI): with K the size of the ground
// truth, the share of the K highest-ranked positions (largest attribution first, ties by lower position;
// ignored positions excluded) that lie in the ground truth.
// Output: the accuracy per sample (N,) in [0, 1]; summary: the same.
#include "explain/evaluate/ground_truth.h"

namespace xdnn::explain {
namespace {

MetricResult relevance_rank(const MetricRequest& req) {
  MetricResult out;
  for (const GroundTruthSample& s : ground_truth_samples(req)) {
    const std::vector<int64_t> order = ranked(s.a);
    int64_t hits = 0;
    for (int64_t k = 0; k < s.num_relevant; ++k) hits += s.relevant[order[k]];
    out.summary.push_back(static_cast<double>(hits) / static_cast<double>(s.num_relevant));
  }
  out.values = Tensor::from_vector({static_cast<int64_t>(out.summary.size())}, out.summary);
  out.summary_name = "rank-acc";
  return out;
}

MetricRegistration reg{{"relevance-rank",
                        "share of the top-K positions inside a K-position ground truth (Arras et al. 2022)",
                        {ground_truth_option()},
                        relevance_rank}};

}  // namespace
}  // namespace xdnn::explain
