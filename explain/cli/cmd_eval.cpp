// `xdnn eval`: test accuracy and mean cross-entropy of a model on Fashion-MNIST.
#include <cstdio>
#include <memory>
#include <string>

#include "engine/check.h"
#include "engine/device.h"
#include "engine/parallel.h"
#include "explain/cli/commands.h"
#include "models/io/fashion_mnist.h"
#include "models/load.h"
#include "models/train/train.h"

namespace xdnn::cli {
namespace {

struct EvalOptions {
  std::string model;
  std::string weights;
  std::string split = "test";
  int64_t limit = -1;
  int64_t batch_size = 1000;
  std::string data_dir;
  std::string precision, device = "cpu";  // precision empty: the model's own dtype
  CommonOptions common;
};

void eval_command(const EvalOptions& o) {
  o.common.apply();
  Model model =
      o.weights.empty() ? load_checked_model(o.model, o.common.allow_nonfinite) : load_zoo_weights(o.model, o.weights);
  if (!o.weights.empty()) check_finite_model(model, o.weights, o.common.allow_nonfinite);
  if (!o.precision.empty()) set_precision(model, o.precision);
  const Device device = select_device(o.device, "--device");
  model.to(device);  // each batch is copied there; the sums come back as host numbers (evaluate_batch)
  // Streamed one batch at a time: memory stays flat whatever the split's size (the 60,000 training
  // images held at once took 307 MiB), and the batches are evaluate()'s, so the result has its bits.
  FashionMnistStream data(o.split, o.data_dir, o.limit);
  check(data.size() > 0, "Fashion-MNIST " + o.split + " split has no images");
  EvalSums sums;
  for (LabeledImages b = data.next(o.batch_size); b.labels.numel() > 0; b = data.next(o.batch_size))
    evaluate_batch(model, b.images.to(device), b.labels.to(device), sums);
  const EvalResult r = sums.result();
  std::printf("%s accuracy %.4f (%lld/%lld)  loss %.4f\n", o.split.c_str(), r.accuracy,
              static_cast<long long>(r.accuracy * static_cast<double>(r.count) + 0.5), static_cast<long long>(r.count),
              r.loss);
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* cmd = app.add_subcommand("eval", "accuracy and cross-entropy of a model on Fashion-MNIST");
  if (!builds_options(*cmd)) return;  // see commands.h
  cmd->add_option("--model", o->model,
                  "zoo name (with --weights), NAME:weights.safetensors, an xdnn checkpoint, or an .onnx file")
      ->required();
  cmd->add_option("--weights", o->weights, "safetensors state dict for the zoo architecture --model");
  cmd->add_option("--split", o->split, "test or train")->capture_default_str()->check(CLI::IsMember({"test", "train"}));
  cmd->add_option("--limit", o->limit, "use only the first N images")->check(between(1, 1e7));
  cmd->add_option("--batch-size", o->batch_size, "evaluation batch size")
      ->capture_default_str()
      ->check(between(1, 1 << 16));
  add_common_options(cmd, o->common);
  cmd->add_option("--data-dir", o->data_dir, "Fashion-MNIST directory (default /usr/share/datasets/fashion-mnist)");
  cmd->add_option("--precision", o->precision, "compute in float32 or float64 (default: the model's own dtype)")
      ->check(CLI::IsMember({"float32", "float64"}));
  cmd->add_option("--device", o->device,
                  "cpu (default), cuda, or strict (the test device: host reads of its memory fail)");
  cmd->callback([o] {
    select_device(o->device, "--device");  // before loading anything
    eval_command(*o);
  });
}

}  // namespace xdnn::cli
