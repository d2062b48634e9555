// `xdnn attack --method fgsm|pgd --model M --input X.npy --labels Y.npy --epsilon E
//              [--steps S --step-size A] --out ADV.npy`  (explain/attack.h). Output: float32 .npy.
#include <cmath>
#include <memory>
#include <string>

#include "engine/error.h"
#include "explain/attack.h"
#include "explain/cli/commands.h"
#include "models/load.h"
#include "models/npy.h"

namespace xdnn::cli {

namespace {

struct AttackArgs {
  std::string model, input, labels, out, precision = "float64";
  explain::AttackOptions options;
};

void run_attack(const AttackArgs& a) {
  if (a.options.method != "fgsm" && a.options.method != "pgd")
    throw Error("unknown attack method '" + a.options.method + "'", "valid methods: fgsm, pgd");
  Model model = load_model(a.model);
  // --precision: float64 (default) evaluates the float32 weights in double, as the golden references do.
  if (a.precision != "float32" && a.precision != "float64")
    throw Error("--precision '" + a.precision + "': expected float32 or float64");
  model.to(a.precision == "float64" ? DType::F64 : DType::F32);
  Tensor x = load_npy(a.input);
  if (!x.is_float()) throw Error(a.input + ": expected float32 inputs, got " + x.describe());
  for (int64_t i = 0; i < x.numel(); ++i)
    if (!std::isfinite(x.item(i))) throw Error(a.input + ": element " + std::to_string(i) + " is not finite");
  Tensor y = load_npy(a.labels);
  if (y.dtype() != DType::I64) throw Error(a.labels + ": expected int64 labels, got " + y.describe());
  save_npy(a.out, explain::attack(model, x.to(DType::F32), y, a.options));
}

}  // namespace

void add_attack_command(CLI::App& app) {
  auto args = std::make_shared<AttackArgs>();
  CLI::App* cmd = app.add_subcommand("attack", "adversarial examples (untargeted, L-infinity): fgsm or pgd");
  cmd->add_option("--method", args->options.method, "fgsm | pgd")->required();
  cmd->add_option("--model", args->model, "ONNX file, zoo name or safetensors checkpoint")->required();
  cmd->add_option("--input", args->input, "inputs .npy, float32 (N, ...) in [0, 1]")->required();
  cmd->add_option("--labels", args->labels, "true labels .npy, int64 (N)")->required();
  cmd->add_option("--epsilon", args->options.epsilon, "L-infinity radius")->required();
  cmd->add_option("--steps", args->options.steps, "PGD iterations (default 10)");
  cmd->add_option("--step-size", args->options.step_size, "PGD step size (default 0.01)");
  cmd->add_option("--out", args->out, "output .npy (float32, shape of the input)")->required();
  cmd->add_option("--precision", args->precision, "compute in float64 (default) or float32; output is float32");
  cmd->callback([args] { run_attack(*args); });
}

}  // namespace xdnn::cli
