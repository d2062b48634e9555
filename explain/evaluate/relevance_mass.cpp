// Relevance mass accuracy (Arras et al. 2022, CLEVR-XAI): the share of the relevance that
// falls inside the ground truth, R_within / R_total. Negative relevance is evidence *against* the class,
// not mass: --relevance positive (the default) clips it at 0, --relevance absolute takes |R| instead.
// A sample without any (positive) relevance has no mass inside: 0. Ignored positions count nowhere.
// Output: the accuracy per sample (N,) in [0, 1]; summary: the same.
#include <cmath>

#include "engine/error.h"
#include "explain/evaluate/ground_truth.h"

namespace xdnn::explain {
namespace {

MetricResult relevance_mass(const MetricRequest& req) {
  const std::string mode = req.options.get("relevance", "positive");
  if (mode != "positive" && mode != "absolute")
    throw Error("--relevance '" + mode + "': expected positive or absolute");
  MetricResult out;
  for (const GroundTruthSample& s : ground_truth_samples(req)) {
    double within = 0.0, total = 0.0;
    for (size_t i = 0; i < s.a.size(); ++i) {
      const double r = mode == "positive" ? std::max(s.a[i], 0.0) : std::abs(s.a[i]);
      total += r;
      if (s.relevant[i]) within += r;
    }
    out.summary.push_back(total > 0.0 ? within / total : 0.0);
  }
  out.values = Tensor::from_vector({static_cast<int64_t>(out.summary.size())}, out.summary);
  out.summary_name = "mass";
  return out;
}

MetricRegistration reg{
    {"relevance-mass",
     "share of the relevance inside the ground truth (Arras et al. 2022; higher is better)",
     {ground_truth_option(),
      {"relevance", "positive", "positive (negative relevance clipped at 0) or absolute", "{positive,absolute}"}},
     relevance_mass}};

}  // namespace
}  // namespace xdnn::explain
