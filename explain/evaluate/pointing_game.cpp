// Pointing game (Zhang et al. 2018, "Top-down Neural Attention by Excitation Backprop"): a hit when
// the attribution's maximum (first position on ties; ignored positions excluded) lies in the ground truth.
// Output: 1 (hit) or 0 per sample (N,); summary: the same, so the table shows the hit rate.
#include "explain/evaluate/ground_truth.h"

namespace xdnn::explain {
namespace {

MetricResult pointing_game(const MetricRequest& req) {
  MetricResult out;
  for (const GroundTruthSample& s : ground_truth_samples(req)) out.summary.push_back(s.relevant[ranked(s.a)[0]]);
  out.values = Tensor::from_vector({static_cast<int64_t>(out.summary.size())}, out.summary);
  out.summary_name = "hit";
  return out;
}

MetricRegistration reg{{"pointing-game",
                        "whether the most relevant position lies in the ground truth (hit rate)",
                        {ground_truth_option()},
                        pointing_game}};

}  // namespace
}  // namespace xdnn::explain
