// `xdnn probe --model M (--fashion-test N | --input X.npy --labels Y.npy | --trigger-test N) [--layers a,b]
//              --out probes.csv [--png probes.png]`
//
// Linear probes per layer with Hewitt & Liang's control task (explain/global/linear_probe.h). Images: the
// class labels, each image its own type. Trigger-task checkpoints (--trigger-test N): every position of the
// first N test sequences is a row, labelled 1 when the trigger is at or before it ("has the network seen
// the trigger yet?"); a position's type is its token. Writes the table as CSV and prints it.
#include <cstdio>
#include <memory>
#include <string>

#include "engine/device.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "explain/cli/commands.h"
#include "explain/evaluate/ground_truth.h"
#include "explain/global/linear_probe.h"
#include "models/io/fashion_mnist.h"
#include "models/io/npy.h"
#include "models/load.h"

namespace xdnn::cli {

namespace {

struct ProbeArgs {
  std::string model, input, labels, layers, out, png, device = "cpu";
  int64_t fashion_test = 0, trigger_test = 0;
  explain::ProbeOptions probe;
  CommonOptions common;
};

std::vector<int64_t> class_labels(const Tensor& y, int64_t rows, const std::string& path) {
  if (y.dtype() != DType::I64) throw Error(path + ": expected int64 or int32 labels (N,), got " + y.describe());
  if (y.ndim() != 1 || y.dim(0) != rows)
    throw Error(path + ": expected one label per sample (" + std::to_string(rows) + ",), got " + y.describe());
  std::vector<int64_t> out;
  for (int64_t i = 0; i < rows; ++i) out.push_back(static_cast<int64_t>(y.item(i)));
  return out;
}

void run_probe(const ProbeArgs& a) {
  const int sources = (a.fashion_test > 0) + (a.trigger_test > 0) + !a.input.empty();
  if (sources != 1)
    throw Error("give exactly one of --fashion-test N, --trigger-test N or --input X.npy --labels Y.npy");
  if (!a.input.empty() && a.labels.empty())
    throw Error("--input needs --labels Y.npy (int64 (N,), one class per sample)");
  check_output_path(a.out, "--out", {a.model, a.input, a.labels});  // before any work
  check_output_path(a.png, "--png", {a.model, a.input, a.labels});
  a.common.apply();
  Model model = load_checked_model(a.model, a.common.allow_nonfinite);
  // The forward passes and the probes' training on the device (linear_probe.h); the accuracies come back.
  const Device device = select_device(a.device, "--device");
  model.to(device);
  const std::vector<std::string> layers = split_commas(a.layers, false);
  std::vector<explain::ProbeScore> scores;
  if (a.trigger_test > 0) {
    const explain::GroundTruthData d = explain::trigger_test_set(a.model, a.trigger_test);
    const int64_t N = d.input.dim(0), T = d.input.dim(1);
    std::vector<int64_t> lengths, labels;
    for (int64_t n = 0; n < N; ++n) {
      int64_t length = 0, seen = 0;
      for (int64_t t = 0; t < T; ++t) {
        const double g = d.ground_truth.item(n * T + t);  // 1 trigger, 0 other token, −1 padding
        if (g < 0) break;
        seen = seen || g > 0;
        labels.push_back(seen);
        ++length;
      }
      lengths.push_back(length);
    }
    scores = explain::probe_token_layers(model, d.input.to(device), lengths, labels, layers, a.probe);
  } else {
    Tensor x, y;
    std::string label_file = a.labels;
    if (a.fashion_test > 0) {
      LabeledImages test = load_fashion_mnist("test", "", a.fashion_test);
      x = test.images;
      y = test.labels;
      label_file = "Fashion-MNIST labels";
    } else {
      x = load_model_input(a.input, "--input", model, a.common.allow_nonfinite);
      y = load_npy(a.labels);
    }
    if (x.ndim() < 2) throw Error(a.input + ": expected a batch (N, ...), got " + x.describe());
    if (x.is_float()) x = x.to(DType::F32).to(model.dtype());
    scores = explain::probe_layers(model, x.to(device), class_labels(y, x.dim(0), label_file), layers, a.probe);
  }
  std::string csv = "layer,features,train_accuracy,accuracy,control_accuracy,selectivity,majority\n";
  for (const auto& row : explain::probe_table_rows(scores)) {
    for (size_t i = 0; i < row.size(); ++i) csv += (i ? "," : "") + row[i];
    csv += "\n";
  }
  write_file_atomic(a.out, {csv});
  print_wrote(a.out, std::to_string(scores.size()) + " layers' probe accuracies, CSV");
  if (!a.png.empty()) {
    if (scores.size() < 2)
      throw Error("--png: the plot needs at least two layers, got " + std::to_string(scores.size()));
    explain::save_png(a.png, explain::plot_probe_scores(scores));
    print_wrote(a.png, "probe accuracy by layer");
  }
  std::printf("%-24s %9s %9s %9s %9s %9s\n", "layer", "features", "accuracy", "control", "select.", "majority");
  for (const auto& s : scores)
    std::printf("%-24s %9lld %9.4f %9.4f %9.4f %9.4f\n", s.layer.c_str(), static_cast<long long>(s.features),
                s.accuracy, s.control_accuracy, s.selectivity, s.majority);
}

}  // namespace

void add_probe_command(CLI::App& app) {
  auto args = std::make_shared<ProbeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "probe", "linear probes per layer with control tasks (Alain & Bengio 2016; Hewitt & Liang 2019)");
  if (!builds_options(*cmd)) return;  // see commands.h
  cmd->add_option("--model", args->model, "ONNX file, zoo name or checkpoint")->required();
  cmd->add_option("--fashion-test", args->fashion_test, "probe for the class on the first N Fashion-MNIST test images")
      ->check(between(1, 10000));
  cmd->add_option("--trigger-test", args->trigger_test,
                  "trigger-task checkpoint: probe every position of the first N test sequences for 'trigger seen'")
      ->check(between(1, 100000));
  cmd->add_option("--input", args->input, "inputs .npy (N, ...)");
  cmd->add_option("--labels", args->labels, "class per input .npy, int64 or int32 (N,)");
  cmd->add_option("--layers", args->layers, "comma-separated layers (default: every layer with a row per sample)");
  cmd->add_option("--epochs", args->probe.epochs, "probe training epochs")
      ->check(between(1, 1000))
      ->capture_default_str();
  cmd->add_option("--min-steps", args->probe.min_steps, "more epochs until at least this many mini-batches")
      ->check(between(0, 1e7))
      ->capture_default_str();
  cmd->add_option("--batch-size", args->probe.batch_size, "probe mini-batch")
      ->check(between(1, 1e6))
      ->capture_default_str();
  cmd->add_option("--lr", args->probe.learning_rate, "Adam step size")->check(greater_than(0))->capture_default_str();
  cmd->add_option("--weight-decay", args->probe.weight_decay, "L2 penalty on the weights")
      ->check(at_least(0))
      ->capture_default_str();
  cmd->add_option("--holdout", args->probe.holdout, "fraction of the samples held out")
      ->check(CLI::Range(1e-9, 1.0 - 1e-9))
      ->capture_default_str();
  cmd->add_option("--seed", args->probe.seed, "split, training order and control labels")->capture_default_str();
  cmd->add_option("--out", args->out, "output table .csv")->required();
  cmd->add_option("--png", args->png, "plot of the accuracies over the layers");
  add_common_options(cmd, args->common);
  cmd->add_option("--device", args->device,
                  "cpu (default), cuda, or strict (the test device: host reads of its memory fail)");
  cmd->callback([args] {
    select_device(args->device, "--device");  // before loading anything
    run_probe(*args);
  });
}

}  // namespace xdnn::cli
