// `xdnn tcav --model M --layer L --class K (--fashion-test N | --input X) --concept C --random R
//             [--runs 10 --seed S] --out tcav.json`   (--random POOL, or --random R0,R1,...,Rk: the sets)
//
// TCAV (Kim et al. 2018; explain/global/tcav.h): the concept's TCAV score for class K at layer L over `runs`
// CAVs, each against a random set drawn from --random, beside random-vs-random CAVs (the null), and the
// two-sided t-test between them. Concept and random examples are .npy batches or image files / folders,
// read as --input is. Class inputs: --input (every row), or the first N Fashion-MNIST test images of
// class K. Writes the scores as JSON and prints one line.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/device.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "explain/cli/commands.h"
#include "explain/global/tcav.h"
#include "models/io/fashion_mnist.h"
#include "models/load.h"

namespace xdnn::cli {

namespace {

struct TcavArgs {
  std::string model, input, concept_set, random, layer, out, device = "cpu";
  int64_t fashion_test = 0, target = -1;
  explain::TcavOptions tcav;
  InputOptions input_options;
  CommonOptions common;
};

Tensor examples_from(const TcavArgs& a, const Model& model, const std::string& path, const std::string& option) {
  Tensor x = load_input(path, option, model, a.model, a.common.allow_nonfinite, a.input_options).x;
  if (x.ndim() < 2) throw Error(option + " '" + path + "': expected a batch (N, ...), got " + x.describe());
  return x.is_float() ? x.to(DType::F32).to(model.dtype()) : x;
}

std::vector<Tensor> on_device(std::vector<Tensor> xs, Device device) {
  for (Tensor& x : xs) x = x.to(device);
  return xs;
}

void run_tcav(const TcavArgs& a) {
  if ((a.fashion_test > 0) == !a.input.empty())
    throw Error("give exactly one of --fashion-test N or --input X (the inputs of --class)");
  check_output_path(a.out, "--out", {a.model, a.input, a.concept_set, a.random});  // before any work
  a.common.apply();
  Model model = load_checked_model(a.model, a.common.allow_nonfinite);
  model.value_id(a.layer);  // an unknown layer fails before any file is read
  // Everything on the device: the forward and backward passes, the CAVs' linear classifiers and the scores
  // (explain/global/tcav.h); the scores and accuracies come back as numbers.
  const Device device = select_device(a.device, "--device");
  model.to(device);
  model.freeze();  // its weights stay as loaded: layers build their derived forms once (Layer::freeze)
  Tensor inputs;
  if (a.fashion_test > 0) {
    const LabeledImages test = load_fashion_mnist("test", "", a.fashion_test);
    std::vector<int64_t> rows;
    for (int64_t i = 0; i < test.labels.numel(); ++i)
      if (static_cast<int64_t>(test.labels.item(i)) == a.target) rows.push_back(i);
    if (rows.empty())
      throw Error("--class " + std::to_string(a.target) + ": none of the first " + std::to_string(a.fashion_test) +
                  " Fashion-MNIST test images is of that class");
    inputs = Tensor::empty({static_cast<int64_t>(rows.size()), 1, 28, 28}, DType::F32);
    for (size_t i = 0; i < rows.size(); ++i)
      inputs.slice_batch(static_cast<int64_t>(i), static_cast<int64_t>(i) + 1)
          .copy_from(test.images.slice_batch(rows[i], rows[i] + 1));
    inputs = inputs.to(model.dtype());
  } else {
    inputs = examples_from(a, model, a.input, "--input");
  }
  const Tensor concept_x = examples_from(a, model, a.concept_set, "--concept");
  // One --random file is a pool to draw the sets from; several are the sets themselves.
  const std::vector<std::string> random_files = split_commas(a.random, false);
  std::vector<Tensor> random_sets;
  for (const auto& f : random_files) random_sets.push_back(examples_from(a, model, f, "--random"));
  const explain::TcavResult r =
      random_files.size() == 1 ? explain::tcav(model, inputs.to(device), a.target, a.layer, concept_x.to(device),
                                               random_sets[0].to(device), a.tcav)
                               : explain::tcav_with_sets(model, inputs.to(device), a.target, a.layer,
                                                         concept_x.to(device), on_device(random_sets, device), a.tcav);
  const int64_t runs = static_cast<int64_t>(r.concept_scores.size());
  nlohmann::json j = {{"layer", r.layer},
                      {"class", r.target},
                      {"class_inputs", r.inputs},
                      {"concept", a.concept_set},
                      {"concept_examples", r.concept_examples},
                      {"runs", runs},
                      {"seed", a.tcav.seed},
                      {"tcav_scores", r.concept_scores},
                      {"random_scores", r.random_scores},
                      {"cav_accuracy", r.cav_accuracy},
                      {"mean", r.mean},
                      {"sd", r.sd},
                      {"random_mean", r.random_mean},
                      {"random_sd", r.random_sd},
                      {"t", r.test.t},
                      {"dof", r.test.dof},
                      {"p", r.test.p},
                      {"alpha", a.tcav.alpha},
                      {"significant", r.significant}};
  write_file_atomic(a.out, {j.dump(2) + "\n"});
  print_wrote(a.out, "TCAV scores, t-test");
  double acc = 0.0;
  for (double v : r.cav_accuracy) acc += v / static_cast<double>(r.cav_accuracy.size());
  std::printf(
      "tcav: class %lld at %s: score %.3f ± %.3f vs random %.3f ± %.3f (%lld runs), t = %.3f, p = %.3g%s; "
      "CAV accuracy %.3f\n",
      static_cast<long long>(r.target), r.layer.c_str(), r.mean, r.sd, r.random_mean, r.random_sd,
      static_cast<long long>(runs), r.test.t, r.test.p, r.significant ? " (significant)" : "", acc);
}

}  // namespace

void add_tcav_command(CLI::App& app) {
  auto args = std::make_shared<TcavArgs>();
  CLI::App* cmd = app.add_subcommand("tcav", "TCAV: testing with concept activation vectors (Kim et al. 2018)");
  if (!builds_options(*cmd)) return;  // see commands.h
  cmd->add_option("--model", args->model, "ONNX file, zoo name or checkpoint")->required();
  cmd->add_option("--layer", args->layer, "layer (value name) where the CAVs live")->required();
  cmd->add_option("--class", args->target, "class whose logit is tested")->required()->check(at_least(0));
  cmd->add_option("--fashion-test", args->fashion_test,
                  "class inputs: the first N Fashion-MNIST test images of --class")
      ->check(between(1, 10000));
  cmd->add_option("--input", args->input, "class inputs: .npy, an image or a folder of images");
  cmd->add_option("--concept", args->concept_set, "the concept's examples: .npy, image folder")->required();
  cmd->add_option("--random", args->random,
                  "random examples (.npy, image folder): one pool to draw --runs + 1 sets from, at least as large as "
                  "the concept set, or several comma-separated sets (the first is the null's concept)")
      ->required();
  cmd->add_option("--runs", args->tcav.runs, "CAVs per concept, each against its own random set (with a pool)")
      ->check(between(2, 1000))
      ->capture_default_str();
  cmd->add_option("--min-examples", args->tcav.min_examples, "fewest concept examples accepted")
      ->check(between(2, 1e6))
      ->capture_default_str();
  cmd->add_option("--alpha", args->tcav.alpha, "significance level of the t-test")
      ->check(CLI::Range(1e-12, 0.5))
      ->capture_default_str();
  cmd->add_option("--seed", args->tcav.seed, "random sets and CAV classifiers")->capture_default_str();
  cmd->add_option("--out", args->out, "output .json: scores per run, t-test")->required();
  add_input_options(cmd, args->input_options);
  add_common_options(cmd, args->common);
  cmd->add_option("--device", args->device,
                  "cpu (default), cuda, or strict (the test device: host reads of its memory fail)");
  cmd->callback([args] {
    select_device(args->device, "--device");  // before loading anything
    run_tcav(*args);
  });
}

}  // namespace xdnn::cli
