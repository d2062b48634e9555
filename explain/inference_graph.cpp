#include "explain/inference_graph.h"

#include <set>

#include "models/fuse_epilogues.h"

namespace xdnn::explain {
namespace {

// Methods that call the model only through forward outputs and gradients with respect to its input
// (perturbations, integrals and samples of input gradients), never through a named tensor or a
// per-layer rule.
const std::set<std::string> kFunctionOnlyMethods = {
    "saliency",
    "gradient-x-input",
    "smoothgrad",
    "integrated-gradients",
    "expected-gradients",
    "gradient-shap",
    "occlusion",
    "feature-ablation",
    "shapley-values",
    "shapley-sampling",
    "kernel-shap",
    "lime",
    "rise",
    "meaningful-perturbation",
    "extremal-perturbation",
    "perceptual-ball",
    "anchors",
    "prediction-difference",
};

// Of those, the methods that never differentiate the model (forward calls only, on the input): they may
// also run convolutions fused with their bias, residual and activation (models/fuse_epilogues.h), whose
// nodes have no backward pass.
const std::set<std::string> kForwardOnlyMethods = {
    "occlusion", "feature-ablation", "shapley-values",        "shapley-sampling", "kernel-shap", "lime",
    "rise",      "anchors",          "prediction-difference",
};

// Options whose value names a tensor of the graph (prediction difference's hidden `layer`, LRP's `at`).
const std::set<std::string> kTensorOptions = {"layer", "at"};

}  // namespace

bool may_fold_batchnorm(const std::string& consumer, const Options& options) {
  if (consumer == "run") return true;
  if (!kFunctionOnlyMethods.count(consumer)) return false;
  for (const std::string& name : kTensorOptions)
    if (!options.get(name, "").empty()) return false;
  return true;
}

bool may_fuse_epilogues(const std::string& consumer, const Options& options) {
  return may_fold_batchnorm(consumer, options) && (consumer == "run" || kForwardOnlyMethods.count(consumer) > 0);
}

Model inference_graph(Model model, const std::string& consumer, const Options& options, BatchNormFoldReport* report) {
  if (!may_fold_batchnorm(consumer, options)) return model;
  Model folded = fold_batchnorm_for_inference(model, report);
  if (!may_fuse_epilogues(consumer, options)) return folded;
  return fuse_conv_epilogues_for_inference(folded);
}

}  // namespace xdnn::explain
