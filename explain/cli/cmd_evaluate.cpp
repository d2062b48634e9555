// `xdnn evaluate --metric NAME --model M --input X.npy --attribution A.npy [--target K] [metric options]
//                --out V.npy`
//
// Scores an attribution with one registered metric (explain/evaluate/metric.h), e.g. the deletion and
// insertion curves of the golden README's §`xdnn evaluate`. Like `explain`, the command declares the union
// of every registered metric's options; only the chosen metric's are accepted. Writes the metric's array
// (float32 .npy) and prints one line per sample with its summary (e.g. the AUC) and their mean.
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "engine/error.h"
#include "explain/cli/commands.h"
#include "explain/common.h"
#include "explain/evaluate/metric.h"
#include "explain/registry.h"
#include "models/load.h"
#include "models/npy.h"

namespace xdnn::cli {

namespace {

struct EvaluateArgs {
  std::string metric, model, input, attribution, out, precision = "float64";
  int64_t target = -1;
  bool target_given = false;
  std::map<std::string, std::string> values;  // metric option values, by name
  std::map<std::string, CLI::Option*> given;  // the declared metric options, by name
};

void run_evaluate(const EvaluateArgs& a) {
  // Everything that can be checked without loading anything first: fail fast.
  const explain::MetricInfo& metric = explain::find_metric(a.metric);
  std::map<std::string, std::string> given;
  for (const auto& [name, opt] : a.given)
    if (opt->count() > 0) given[name] = a.values.at(name);
  explain::MetricRequest req;
  req.options = explain::resolve_metric_options(metric, given);
  if (a.target_given && a.target < 0)
    throw Error("--target " + std::to_string(a.target) + " is out of range: classes are numbered from 0");

  Model model = load_model(a.model);
  set_precision(model, a.precision);
  req.model = &model;
  req.input = load_npy(a.input);
  check_finite(req.input, a.input);
  if (!req.input.is_float() || req.input.ndim() < 2)
    throw Error(a.input + ": expected a float batch (N, C, H, W) or (N, D), got " + req.input.describe(),
                "token inputs are not supported by xdnn evaluate");
  req.input = req.input.to(DType::F32).to(model.dtype());
  req.attribution = load_npy(a.attribution);
  check_finite(req.attribution, a.attribution);
  // Its shape is checked by the metric (explain/evaluate/curve.h) before any perturbed forward pass.
  req.targets = explain::resolve_targets(model, req.input, a.target_given ? a.target : -1);

  const explain::MetricResult r = metric.run(req);
  Tensor out = r.values.to(DType::F32);
  check_finite(out, "metric " + metric.name);
  save_npy(a.out, out);
  double mean = 0.0;
  for (size_t n = 0; n < r.summary.size(); ++n) {
    std::printf("sample %zu (target %lld): %s %.6g\n", n, static_cast<long long>(req.targets[n]),
                r.summary_name.c_str(), r.summary[n]);
    mean += r.summary[n] / static_cast<double>(r.summary.size());
  }
  if (!r.summary.empty())
    std::printf("%s: mean %s %.6g over %zu samples\n", metric.name.c_str(), r.summary_name.c_str(), mean,
                r.summary.size());
}

}  // namespace

void add_evaluate_command(CLI::App& app) {
  auto args = std::make_shared<EvaluateArgs>();
  CLI::App* cmd = app.add_subcommand("evaluate", "score an attribution with a faithfulness metric (deletion, ...)");
  cmd->add_option("--metric", args->metric, "metric: " + explain::metric_names())->required();
  cmd->add_option("--model", args->model, "ONNX file, zoo name or safetensors checkpoint")->required();
  cmd->add_option("--input", args->input, "input batch .npy: float32 (N, C, H, W) or (N, D)")->required();
  cmd->add_option("--attribution", args->attribution, "attribution .npy: the input's shape, or (N, 1, H, W)")
      ->required();
  CLI::Option* target_option =
      cmd->add_option("--target", args->target, "class for every sample (default: argmax of the logits)");
  cmd->add_option("--out", args->out, "output .npy (float32), e.g. the curves (N, steps + 1)")->required();
  cmd->add_option("--precision", args->precision, "compute in float64 (default) or float32");
  for (const auto& spec : explain::all_metric_options()) {
    std::string help = spec.help;
    if (!spec.default_value.empty()) help += " (default " + spec.default_value + ")";
    args->values[spec.name] = "";
    args->given[spec.name] = cmd->add_option("--" + spec.name, args->values[spec.name], help);
  }
  cmd->callback([args, target_option] {
    args->target_given = target_option->count() > 0;
    run_evaluate(*args);
  });
}

}  // namespace xdnn::cli
