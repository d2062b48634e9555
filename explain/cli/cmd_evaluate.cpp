// `xdnn evaluate --metric M1[,M2...] --model M --input X.npy (--attribution A.npy | --methods a,b,c)
//                [--option NAME=VALUE ...] [--target K] [metric options] --out PATH`
//
// Scores attributions with registered metrics (explain/evaluate/metric.h), e.g. the deletion and insertion
// curves of the golden README's §`xdnn evaluate`. The attributions are read from a file or computed by
// registered methods (--methods, with --option passed to every method that takes it). Like `explain`, the
// command declares the union of every registered metric's options; each given option must apply to at
// least one chosen metric. One metric and one attribution: --out is the metric's .npy (float32). Several:
// --out is a folder that receives <attribution>.<metric>.npy for each pair. Prints the table (mean ± sd of
// each metric's per-sample summary, e.g. the AUC), and per-sample values for a single pair.
// Ground-truth metrics read --ground-truth G.npy, or, with --trigger-test N, score the trigger positions
// of a checkpoint trained on the trigger task (`xdnn train --data trigger`).
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "engine/device.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "explain/cli/commands.h"
#include "explain/evaluate/ground_truth.h"
#include "explain/evaluate/plot.h"
#include "explain/evaluate/table.h"
#include "explain/influence/influence.h"
#include "explain/targets.h"
#include "models/io/fashion_mnist.h"
#include "models/io/npy.h"
#include "models/load.h"

namespace xdnn::cli {

namespace {

struct EvaluateArgs {
  std::string metric, model, input, attribution, methods, out, precision = "float64", device = "cpu";
  int64_t trigger_test = 0;        // > 0: the first N test sequences of a trigger-task checkpoint, with ground truth
  int64_t fashion_test = 0;        // > 0: the first N Fashion-MNIST test images
  std::string png;                 // curve plot
  bool save_attributions = false;  // also write each method's attribution into the --out folder
  std::vector<std::string> method_options;  // NAME=VALUE
  std::string target;                       // empty: each sample's argmax; a class index; or a labels .npy
  InputOptions input_options;
  std::map<std::string, std::string> values;  // metric option values, by name
  std::map<std::string, CLI::Option*> given;  // the declared metric options, by name
  CommonOptions common;
};

void run_evaluate(const EvaluateArgs& a) {
  // Everything that can be checked without loading anything first: fail fast.
  std::map<std::string, std::string> given;
  for (const auto& [name, opt] : a.given)
    if (opt->count() > 0) given[name] = a.values.at(name);
  const auto metrics = explain::resolve_metrics(split_commas(a.metric, false), given);
  const std::map<std::string, std::string> method_options = parse_name_values(a.method_options, "--option", "steps=32");
  const std::vector<std::string> methods = split_commas(a.methods, false);
  if (a.attribution.empty() == methods.empty())
    throw Error("give either --attribution A.npy or --methods a,b,c (one of them)");
  for (const auto& m : methods) explain::find_method(m);  // unknown names fail before any work

  const std::vector<std::string> inputs = {a.model, a.input, a.attribution};
  if ((a.attribution.empty() ? 0 : 1) + methods.size() == 1 && metrics.size() == 1) {  // --out is one .npy
    if (a.save_attributions)
      throw Error(
          "--save-attributions: --out is one metric's .npy here; it needs a folder (several methods or metrics)");
    check_output_path(a.out, "--out", inputs);
  }
  check_output_path(a.png, "--png", inputs);
  a.common.apply();
  const Device device = select_device(a.device, "--device");
  Model model = load_checked_model(a.model, a.common.allow_nonfinite);
  set_precision(model, a.precision);
  model.freeze();  // its weights stay as loaded: layers build their derived forms once (Layer::freeze)
  Tensor input, ground_truth;
  if (a.trigger_test > 0) {
    if (!a.input.empty()) throw Error("give either --input or --trigger-test, not both");
    const explain::GroundTruthData d = explain::trigger_test_set(a.model, a.trigger_test);
    input = d.input;
    ground_truth = d.ground_truth;
  } else if (a.fashion_test > 0) {
    if (!a.input.empty()) throw Error("give either --input or --fashion-test, not both");
    input = load_fashion_mnist("test", "", a.fashion_test).images;
  } else {
    if (a.input.empty() && a.input_options.text.empty())
      throw Error("no input: give --input X.npy, --fashion-test N or --trigger-test N");
    input = load_input(a.input, "--input", model, a.model, a.common.allow_nonfinite, a.input_options).x;
  }
  if (input.ndim() < 2) throw Error(a.input + ": expected a batch (N, ...), got " + input.describe());
  // Token ids stay int64 (only the ground-truth metrics take them; the perturbation metrics refuse them).
  if (input.is_float()) input = input.to(DType::F32).to(model.dtype());
  const std::vector<int64_t> targets = resolve_target_option(a.target, model, input);
  // On a device the model, the input, the methods and every metric's perturbed rows live there; the metrics'
  // statistics (orders, correlations, norms) are host numbers read back through ops::value_vector.
  model.to(device);
  input = input.to(device);

  std::vector<explain::AttributionSource> sources;
  if (!a.attribution.empty()) {
    Tensor attr = load_npy(a.attribution);
    check_finite(attr, a.attribution);  // its shape is checked by each metric before any perturbed pass
    sources.push_back({std::filesystem::path(a.attribution).stem().string(), attr, {}});
  }
  const bool tty = isatty(fileno(stderr)) != 0;
  for (auto& src : explain::method_sources(model, input, targets, methods, method_options, tty))
    sources.push_back(std::move(src));

  explain::MetricRequest context;
  context.model = &model;
  context.input = input;
  context.targets = targets;
  context.ground_truth = ground_truth;
  context.fresh_model = [&a, device] {  // the sanity checks randomise a copy of their own
    Model m = load_model(a.model);
    set_precision(m, a.precision);
    m.to(device);
    return m;
  };
  const explain::EvaluationTable t = explain::evaluate_table(context, sources, metrics, tty);
  const bool single = sources.size() == 1 && metrics.size() == 1;
  if (!single) std::filesystem::create_directories(a.out);
  for (size_t i = 0; i < sources.size() && a.save_attributions; ++i) {
    if (!sources[i].explain) continue;  // read from a file: already saved
    const std::string path = (std::filesystem::path(a.out) / (sources[i].name + ".attribution.npy")).string();
    const Tensor values = sources[i].values.to(Device::CPU);  // in the dtype the metrics read (float64 by default)
    save_npy(path, values);
    print_wrote(path, "attribution of " + sources[i].name + ", " + values.describe());
  }
  for (size_t i = 0; i < t.rows.size(); ++i)
    for (size_t j = 0; j < t.columns.size(); ++j) {
      Tensor out = t.cells[i][j].values.to(DType::F32);
      check_finite(out, "metric " + t.columns[j] + " of " + t.rows[i]);
      const std::string path =
          single ? a.out : (std::filesystem::path(a.out) / (t.rows[i] + "." + t.columns[j] + ".npy")).string();
      save_npy(path, out);
      print_wrote(path, t.columns[j] + " of " + t.rows[i] + ", " + out.describe());
    }
  if (single) {
    const explain::MetricResult& r = t.cells[0][0];
    for (size_t n = 0; n < r.summary.size(); ++n)
      std::printf("sample %zu (target %lld): %s %.6g\n", n, static_cast<long long>(targets[n]), r.summary_name.c_str(),
                  r.summary[n]);
  }
  std::printf("%s", t.format().c_str());
  if (!a.png.empty()) {
    const std::vector<explain::CurvePanel> panels = explain::mean_curve_panels(t);
    if (panels.empty()) throw Error("--png: none of the metrics " + a.metric + " gives curves to plot");
    explain::save_png(a.png, explain::plot_curves(panels));
    print_wrote(a.png, "mean curves, " + std::to_string(panels.size()) + " panel(s)");
  }
}

}  // namespace

void add_evaluate_command(CLI::App& app) {
  auto args = std::make_shared<EvaluateArgs>();
  CLI::App* cmd = app.add_subcommand("evaluate", "score attributions with faithfulness metrics (deletion, ...)");
  if (!builds_options(*cmd)) return;  // see commands.h
  cmd->add_option("--metric", args->metric, "comma-separated metrics: " + explain::metric_names())->required();
  cmd->add_option("--model", args->model, "ONNX file, zoo name or safetensors checkpoint")->required();
  cmd->add_option("--input", args->input,
                  "input batch .npy (float32 (N, C, H, W) or (N, D), or int64 tokens (N, T)), a PNG / JPEG image or "
                  "folder, or a .txt file of texts");
  cmd->add_option("--fashion-test", args->fashion_test, "instead of --input: the first N Fashion-MNIST test images")
      ->check(between(1, 10000));
  cmd->add_option("--png", args->png, "also plot the mean curves (deletion, insertion, aopc, randomisation) as a PNG");
  cmd->add_option("--trigger-test", args->trigger_test,
                  "instead of --input: the first N test sequences of the trigger-task checkpoint --model, with their "
                  "trigger positions as ground truth")
      ->check(between(1, 1e6));
  cmd->add_option("--attribution", args->attribution, "attribution .npy: the input's shape, or (N, 1, H, W)");
  cmd->add_option("--methods", args->methods, "comma-separated explanation methods to compute and evaluate");
  cmd->add_flag(
      "--save-attributions", args->save_attributions,
      "also write each method's attribution, as the metrics read it (--precision), as <method>.attribution.npy "
      "into the --out folder");
  cmd->add_option("--option", args->method_options,
                  "NAME=VALUE passed to every method that takes NAME, METHOD.NAME=VALUE to METHOD alone (repeatable)");
  cmd->add_option("--target", args->target,
                  "class for every sample, or a labels .npy (int64 or int32 (N,)) with one per sample (default: "
                  "argmax of the logits)")
      ->type_name("K|FILE");
  cmd->add_option("--out", args->out, "output .npy (one metric, one attribution) or folder")->required();
  cmd->add_option("--precision", args->precision, "compute in float64 (default) or float32")
      ->check(CLI::IsMember({"float32", "float64"}));
  add_common_options(cmd, args->common);
  add_input_options(cmd, args->input_options);
  for (const auto& spec : explain::all_metric_options()) {
    std::string help = spec.help;
    if (!spec.default_value.empty()) help += " (default " + spec.default_value + ")";
    args->values[spec.name] = "";
    args->given[spec.name] =
        cmd->add_option("--" + spec.name, args->values[spec.name], help)->type_name(option_type_name(spec));
  }
  cmd->add_option("--device", args->device,
                  "cpu (default), cuda, or strict (the test device: host reads of its memory fail)");
  cmd->callback([args] {
    select_device(args->device, "--device");  // before loading anything
    run_evaluate(*args);
  });
}

}  // namespace xdnn::cli
