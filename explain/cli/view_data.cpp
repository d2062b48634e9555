// Loading the data set of the global views (see view_data.h).
#include "explain/cli/view_data.h"

#include "engine/error.h"
#include "models/io/fashion_mnist.h"
#include "models/io/npy.h"

namespace xdnn::cli {

void add_data_options(CLI::App* cmd, ViewDataArgs& d) {
  cmd->add_option("--input", d.input, "the data set: .npy (N, ...) model inputs, an image file or folder");
  cmd->add_option("--labels", d.labels, "int64 or int32 (N,) class of each --input row (colours, class means)");
  cmd->add_option("--fashion-train", d.fashion_train, "the first N Fashion-MNIST training images, with labels")
      ->check(between(1, 60000));
  cmd->add_option("--fashion-test", d.fashion_test, "the first N Fashion-MNIST test images, with labels")
      ->check(between(1, 10000));
  add_input_options(cmd, d.input_options);
}

ViewData load_view_data(const ViewDataArgs& d, const Model& model, const std::string& model_spec,
                        bool allow_nonfinite) {
  const int sources = (!d.input.empty()) + (d.fashion_train > 0) + (d.fashion_test > 0);
  if (sources != 1) throw Error("give exactly one of --input, --fashion-train N and --fashion-test N");
  if (!d.labels.empty() && d.input.empty()) throw Error("--labels goes with --input (Fashion-MNIST has its own)");
  ViewData out;
  if (d.input.empty()) {
    const bool train = d.fashion_train > 0;
    LabeledImages set = load_fashion_mnist(train ? "train" : "test", "", train ? d.fashion_train : d.fashion_test);
    out.x = set.images;
    out.labels = set.labels;
    const auto& names = fashion_mnist_classes();
    out.class_names.assign(names.begin(), names.end());
    out.what =
        "the first " + std::to_string(out.x.dim(0)) + " Fashion-MNIST " + (train ? "training" : "test") + " images";
    return out;
  }
  out.x = load_input(d.input, "--input", model, model_spec, allow_nonfinite, d.input_options).x;
  out.what = "--input '" + d.input + "'";
  if (out.x.ndim() < 2 || out.x.dim(0) < 1)
    throw Error("--input '" + d.input + "': expected a batch (N, ...), got " + out.x.describe());
  if (!d.labels.empty()) {
    std::string file_dtype;
    const Tensor y = load_npy(d.labels, &file_dtype);
    if (y.is_float() || y.ndim() != 1 || y.dim(0) != out.x.dim(0))
      throw Error("--labels '" + d.labels + "': expected int64 or int32 (" + std::to_string(out.x.dim(0)) +
                  ",), one class per --input row, got " + file_dtype + " " + y.describe());
    for (int64_t i = 0; i < y.numel(); ++i)
      if (y.item(i) < 0 || y.item(i) > 1e6)
        throw Error("--labels '" + d.labels + "': element " + std::to_string(i) + " is " +
                    std::to_string(static_cast<long long>(y.item(i))) + ", expected a class index from 0");
    out.labels = y.to(DType::I64);
  }
  out.class_names = model.class_names;
  return out;
}

}  // namespace xdnn::cli
