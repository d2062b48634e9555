// Data randomisation test (Adebayo et al. 2018, "Sanity Checks for Saliency Maps"): compare the map of a
// model with the map the same method gives for a model of the same architecture trained on randomly
// permuted labels (--random-model, trained by the user; bench/bench_planted_patch shows how). A method
// that explains what the model learned from the labels gives dissimilar maps; one that mostly reflects the
// input or the architecture stays similar. Similarity per sample as in sanity.h (--similarity spearman |
// ssim | hog), explaining the same target classes.
// Output: the similarity per sample (N,); summary: the same (lower is better).
#include "engine/check.h"
#include "engine/error.h"
#include "explain/evaluate/sanity.h"
#include "models/load.h"

namespace xdnn::explain {
namespace {

MetricResult data_randomisation(const MetricRequest& req) {
  if (!req.explain)
    throw Error("data-randomisation re-runs the explanation method on the randomly trained model",
                "name the method with --methods instead of giving an --attribution file");
  const std::string path = req.options.get("random-model", "");
  check(!path.empty(), "data-randomisation needs --random-model M: the model trained on permuted labels");
  map_similarities(req.attribution, req.attribution, req.options, "data-randomisation");  // fail fast
  Model random = load_model(path);
  random.to(req.model->dtype());
  random.to(req.input.device());  // where the trained model and the input live
  MetricResult out;
  out.summary =
      map_similarities(req.attribution, req.explain(random, req.input, req.targets), req.options, "data-randomisation");
  out.values = Tensor::from_vector({static_cast<int64_t>(out.summary.size())}, out.summary);
  out.summary_name = req.options.get("similarity", "spearman");
  return out;
}

std::vector<OptionSpec> data_randomisation_options() {
  std::vector<OptionSpec> o = {
      required_option({"random-model", "", "the model trained on permuted labels (required)", "MODEL"})};
  for (const OptionSpec& s : randomisation_options())
    if (s.name != "seed") o.push_back(s);
  return o;
}

MetricRegistration reg{{"data-randomisation",
                        "similarity of the map to that of a model trained on permuted labels (Adebayo et al. "
                        "2018; lower is better)",
                        data_randomisation_options(), data_randomisation}};

}  // namespace
}  // namespace xdnn::explain
