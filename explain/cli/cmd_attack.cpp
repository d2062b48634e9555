// `xdnn attack --method fgsm|pgd --model M --input X.npy --labels Y.npy --radius E
//              [--steps S --step-size A] --out ADV.npy`  (explain/attack.h). Output: float32 .npy.
// --radius was called --epsilon (still accepted: the golden cases use it); renamed because --epsilon is the
// LRP stabiliser in `xdnn explain`.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "engine/error.h"
#include "engine/file_io.h"
#include "explain/attack.h"
#include "explain/cli/commands.h"
#include "kernels/cuda_ops.h"
#include "models/io/npy.h"
#include "models/load.h"

namespace xdnn::cli {

namespace {

struct AttackArgs {
  std::string model, input, labels, out, precision = "float64", device = "cpu";
  explain::AttackOptions options;
  CommonOptions common;
};

// Examples whose arg-max class differs from the label.
int64_t misclassified(const Model& model, const Tensor& x, const Tensor& labels) {
  const Tensor logits = model.predict(x.to(model.dtype()));
  const int64_t N = logits.dim(0), C = logits.numel() / std::max<int64_t>(1, N);
  int64_t wrong = 0;
  for (int64_t n = 0; n < N; ++n) {
    int64_t best = 0;
    for (int64_t c = 1; c < C; ++c)
      if (logits.item(n * C + c) > logits.item(n * C + best)) best = c;
    wrong += best != labels.data<int64_t>()[n];
  }
  return wrong;
}

void run_attack(const AttackArgs& a) {
  explain::attacks().find(a.options.method);                        // an unknown name fails before any work
  check_output_path(a.out, "--out", {a.model, a.input, a.labels});  // before any work
  a.common.apply();
  Model model = load_checked_model(a.model, a.common.allow_nonfinite);
  // --precision: float64 (default) evaluates the float32 weights in double, as the golden references do.
  if (a.precision != "float32" && a.precision != "float64")
    throw Error("--precision '" + a.precision + "': expected float32 or float64");
  model.to(a.precision == "float64" ? DType::F64 : DType::F32);
  Tensor x = load_model_input(a.input, "--input", model, a.common.allow_nonfinite);
  if (!x.is_float()) throw Error(a.input + ": expected float32 inputs, got " + x.describe());
  Tensor y = load_npy(a.labels);
  if (y.dtype() != DType::I64) throw Error(a.labels + ": expected int64 labels, got " + y.describe());
  const Tensor adv = explain::attack(model, x.to(DType::F32), y, a.options);
  save_npy(a.out, adv);
  print_wrote(a.out, a.options.method + " adversarial examples, " + adv.describe());
  const int64_t N = x.dim(0), before = misclassified(model, x, y), after = misclassified(model, adv, y);
  std::printf("attack success: %lld of %lld examples misclassified after the attack (%.1f%%; %lld before)\n",
              static_cast<long long>(after), static_cast<long long>(N), N ? 100.0 * after / N : 0.0,
              static_cast<long long>(before));
}

}  // namespace

void add_attack_command(CLI::App& app) {
  auto args = std::make_shared<AttackArgs>();
  CLI::App* cmd =
      app.add_subcommand("attack", "adversarial examples (untargeted, L-infinity): " + explain::attacks().names(", "));
  cmd->add_option("--method", args->options.method, explain::attacks().names(" | "))->required();
  cmd->add_option("--model", args->model, "ONNX file, zoo name or safetensors checkpoint")->required();
  cmd->add_option("--input", args->input, "inputs .npy, float32 (N, ...) in [0, 1]")->required();
  cmd->add_option("--labels", args->labels, "true labels .npy, int64 (N)")->required();
  cmd->add_option("--radius,--epsilon", args->options.epsilon, "L-infinity radius (--epsilon: an older name)")
      ->required()
      ->check(at_least(0));
  cmd->add_option("--steps", args->options.steps, "PGD iterations")->capture_default_str()->check(between(1, 100000));
  cmd->add_option("--step-size", args->options.step_size, "PGD step size")->capture_default_str()->check(at_least(0));
  cmd->add_option("--out", args->out, "output .npy (float32, shape of the input)")->required();
  cmd->add_option("--precision", args->precision, "compute in float64 (default) or float32; output is float32")
      ->check(CLI::IsMember({"float32", "float64"}));
  add_common_options(cmd, args->common);
  cmd->add_option("--device", args->device, "cpu (default); cuda is not supported by attack yet");
  cmd->callback([args] {
    cuda::require_cpu_command(args->device, "xdnn attack");  // before loading anything
    run_attack(*args);
  });
}

}  // namespace xdnn::cli
