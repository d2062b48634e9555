// `xdnn explain --model M --input X.npy [--target K] --method NAME [method options] --out A.npy [--png F]`
//
// The method options are not listed here: the command declares the union of every registered method's
// options (explain/registry.h), so a new method needs no change to this file. Only the options of the
// chosen method are accepted; defaults come from its OptionSpec list. Output: float32 .npy.
#include <cmath>
#include <map>
#include <memory>
#include <string>

#include "engine/error.h"
#include "explain/cli/commands.h"
#include "explain/common.h"
#include "explain/registry.h"
#include "models/load.h"
#include "models/npy.h"

namespace xdnn::cli {

namespace {

struct ExplainArgs {
  std::string model, input, method, out, png;
  int64_t target = -1;
  std::map<std::string, std::string> values;  // method option values, by name
  std::map<std::string, bool> flags;          // method flag values, by name
  std::map<std::string, CLI::Option*> given;  // the declared method options, by name
};

void check_finite(const Tensor& x, const std::string& path) {
  if (!x.is_float()) return;
  for (int64_t i = 0; i < x.numel(); ++i)
    if (!std::isfinite(x.item(i)))
      throw Error(path + ": element " + std::to_string(i) + " is " + (std::isnan(x.item(i)) ? "NaN" : "infinite"),
                  "inputs must be finite");
}

void run_explain(const ExplainArgs& a) {
  const explain::MethodInfo& method = explain::find_method(a.method);
  std::map<std::string, std::string> given;
  for (const auto& [name, opt] : a.given) {
    if (opt->count() == 0) continue;
    given[name] = a.flags.count(name) ? "true" : a.values.at(name);
  }
  explain::ExplainRequest req;
  req.options = explain::resolve_options(method, given);  // before loading anything: fail fast

  Model model = load_model(a.model);
  req.model = &model;
  req.input = load_npy(a.input);
  check_finite(req.input, a.input);
  if (req.input.dtype() == DType::F64) req.input = req.input.to(DType::F32);
  if (req.input.ndim() < 2) throw Error(a.input + ": expected a batch (N, ...), got " + req.input.describe());
  req.targets = explain::resolve_targets(model, req.input, a.target);

  explain::Attribution attr = method.run(req);
  Tensor out = attr.values.to(DType::F32);
  check_finite(out, "attribution");
  save_npy(a.out, out);
  if (!a.png.empty())
    throw Error("--png: heatmap rendering is not built into this binary yet", "write the .npy and plot it");
}

}  // namespace

void add_explain_command(CLI::App& app) {
  auto args = std::make_shared<ExplainArgs>();
  CLI::App* cmd = app.add_subcommand("explain", "attribute a model's prediction to its input features");
  cmd->add_option("--model", args->model, "ONNX file, zoo name or safetensors checkpoint")->required();
  cmd->add_option("--input", args->input, "input batch .npy: float32 (N, ...) or int64 token ids (N, T)")->required();
  cmd->add_option("--target", args->target, "class to explain for every sample (default: argmax of the logits)");
  cmd->add_option("--method", args->method, "explanation method: " + explain::method_names())->required();
  cmd->add_option("--out", args->out, "output .npy (float32)")->required();
  cmd->add_option("--png", args->png, "also write a heatmap PNG");
  for (const auto& spec : explain::all_method_options()) {
    std::string help = spec.help;
    if (!spec.default_value.empty() && !explain::is_flag(spec)) help += " (default " + spec.default_value + ")";
    if (explain::is_flag(spec)) {
      args->flags[spec.name] = false;
      args->given[spec.name] = cmd->add_flag("--" + spec.name, args->flags[spec.name], help);
    } else {
      args->values[spec.name] = "";
      args->given[spec.name] = cmd->add_option("--" + spec.name, args->values[spec.name], help);
    }
  }
  cmd->callback([args] { run_explain(*args); });
}

}  // namespace xdnn::cli
