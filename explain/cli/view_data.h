// The data set of the global views (`xdnn project`, `xdnn exemplars`): --input X.npy (or images) with
// optional --labels Y.npy, or the first N Fashion-MNIST training or test images with their labels.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "explain/cli/commands.h"
#include "models/model.h"

namespace xdnn::cli {

struct ViewDataArgs {
  std::string input, labels;
  int64_t fashion_train = 0, fashion_test = 0;
  InputOptions input_options;
};
void add_data_options(CLI::App* cmd, ViewDataArgs& d);

struct ViewData {
  Tensor x;                              // the model's input (N, ...)
  Tensor labels;                         // int64 (N,), or undefined
  std::vector<std::string> class_names;  // by label; may be empty
  std::string what;                      // "--input 'x.npy'", "the first 5000 Fashion-MNIST training images"
};
// Exactly one source must be given; labels are checked (integers, one per row, ≥ 0) naming the file.
ViewData load_view_data(const ViewDataArgs& d, const Model& model, const std::string& model_spec, bool allow_nonfinite);

}  // namespace xdnn::cli
