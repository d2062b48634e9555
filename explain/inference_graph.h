// Which consumers may run on the BatchNorm-folded inference graph (models/fold_batchnorm.h): the one place
// that decides it, used by `xdnn run`, `xdnn explain`, the evaluation table of `xdnn evaluate` and `xdnn
// report` (explain/evaluate/table.h: each method's runs, and "run" for the metrics' perturbed rows) and
// bench/bench_models.
//
// Folding changes no model output (to rounding: tests/test_fold_batchnorm.cpp) and so no gradient of an
// output with respect to the input. It does change what the convolution's value holds and removes the
// BatchNorm's own computation. So the folded graph is used by
//   - `run` (the forward pass), and
//   - the methods that see the model only as the function input -> outputs and its input gradient
//     (kFunctionOnlyMethods in inference_graph.cpp), unless an option names a tensor of the graph;
// and never by methods that read intermediate values or treat layers one by one: Grad-CAM and CAM (a named
// or default activation, maybe a BatchNorm's), LRP (its canonizer folds BatchNorm itself and chooses
// rules per layer, explain/lrp/canonizer.h), DeepLIFT and its SHAP variant, guided backprop and deconvnet
// (per-layer backward rules: unchanged by folding in exact arithmetic, left unfolded until a test shows
// it), attention methods, prediction difference at a hidden layer.
#pragma once
#include <string>

#include "explain/method.h"
#include "models/fold_batchnorm.h"

namespace xdnn::explain {

// "run" or a registered method name, with the method's options.
bool may_fold_batchnorm(const std::string& consumer, const Options& options = {});

// Whether `consumer` may also run the fused convolution epilogues (implies may_fold_batchnorm).
bool may_fuse_epilogues(const std::string& consumer, const Options& options = {});

// The model `consumer` should run on: folded when may_fold_batchnorm says so (and fused when
// may_fuse_epilogues does), else `model` as it is.
Model inference_graph(Model model, const std::string& consumer, const Options& options = {},
                      BatchNormFoldReport* report = nullptr);

}  // namespace xdnn::explain
