// `xdnn attack --method fgsm|pgd --model M --input X.npy --labels Y.npy --radius E
//              [--steps S --step-size A] --out ADV.npy`
// `xdnn attack --method cw-l2 --model M --input X.npy --labels Y.npy [--targets T.npy] [--confidence K
//              --steps S --search-steps B --initial-const C --lr A --box-min LO --box-max HI] --out ADV.npy`
// (explain/attack.h). Output: float32 .npy. Prints the success rate and the mean L2 / L∞ distortion of the
// successful examples (CW's success: margin > κ, explain::attack_succeeded; FGSM / PGD: misclassified).
// --radius was called --epsilon (still accepted: the golden cases use it); renamed because --epsilon is the
// LRP stabiliser in `xdnn explain`.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "explain/attack.h"
#include "explain/cli/commands.h"
#include "models/io/npy.h"
#include "models/load.h"

namespace xdnn::cli {

namespace {

struct AttackArgs {
  std::string model, input, labels, targets, out, precision = "float64", device = "cpu";
  explain::AttackOptions options;
  bool no_abort_early = false;
  CommonOptions common;
  InputOptions input_options;
};

std::vector<int64_t> label_vector(const Tensor& y) {
  return std::vector<int64_t>(y.data<int64_t>(), y.data<int64_t>() + y.numel());
}

// Which examples count as adversarial: CW's own test (margin > κ, targeted or not), else misclassified.
std::vector<bool> successes(const Model& model, const Tensor& x, const std::vector<int64_t>& labels,
                            const explain::AttackOptions& o) {
  const Tensor logits = model.predict(x.to(model.dtype())).to(Device::CPU);  // read on the host
  const bool cw = explain::attacks().find(o.method).minimal_l2;
  return explain::attack_succeeded(logits, labels, o.targeted, cw ? o.confidence : 0.0);
}

void run_attack(AttackArgs a, const CLI::App* cmd) {
  // CW needs many more iterations than PGD's default (the paper runs up to 10000).
  if (explain::attacks().find(a.options.method).minimal_l2 && cmd->count("--steps") == 0) a.options.steps = 1000;
  a.options.targeted = !a.targets.empty();
  explain::check_attack_options(a.options);  // an unknown name or a bad option fails before any work
  check_output_path(a.out, "--out", {a.model, a.input, a.labels, a.targets});  // before any work
  a.common.apply();
  const Device device = select_device(a.device, "--device");
  Model model = load_checked_model(a.model, a.common.allow_nonfinite);
  // --precision: float64 (default) evaluates the float32 weights in double, as the golden references do.
  if (a.precision != "float32" && a.precision != "float64")
    throw Error("--precision '" + a.precision + "': expected float32 or float64");
  model.to(a.precision == "float64" ? DType::F64 : DType::F32);
  model.freeze();  // its weights stay as loaded: layers build their derived forms once (Layer::freeze)
  Tensor x = load_input(a.input, "--input", model, a.model, a.common.allow_nonfinite, a.input_options).x;
  if (!x.is_float()) throw Error(a.input + ": expected float32 inputs, got " + x.describe());
  Tensor y = load_npy(a.labels);
  if (y.dtype() != DType::I64) throw Error(a.labels + ": expected int64 labels, got " + y.describe());
  Tensor goal = y;  // the classes the attack aims at (targeted) or away from
  if (a.options.targeted) {
    goal = load_npy(a.targets);
    if (goal.dtype() != DType::I64 || goal.ndim() != 1 || goal.dim(0) != x.dim(0))
      throw Error(a.targets + ": expected int64 target classes (" + std::to_string(x.dim(0)) + "), got " +
                  goal.describe());
  }
  model.to(device);
  // The attack runs on the device; its result and the inputs are read on the host for the statistics.
  const Tensor adv = explain::attack(model, x.to(DType::F32).to(device), goal.to(device), a.options).to(Device::CPU);
  save_npy(a.out, adv);
  print_wrote(a.out, a.options.method + " adversarial examples, " + adv.describe());
  const int64_t N = x.dim(0), D = x.numel() / std::max<int64_t>(N, 1);
  const std::vector<bool> before = successes(model, x.to(device), label_vector(goal), a.options),
                          after = successes(model, adv.to(device), label_vector(goal), a.options);
  int64_t hit = 0, hit_before = 0;
  double l2_sum = 0, linf_sum = 0;
  for (int64_t n = 0; n < N; ++n) {
    hit_before += before[n];
    if (!after[n]) continue;
    ++hit;
    double l2 = 0, linf = 0;
    for (int64_t i = n * D; i < (n + 1) * D; ++i) {
      const double d = adv.item(i) - x.item(i);
      l2 += d * d;
      linf = std::max(linf, std::abs(d));
    }
    l2_sum += std::sqrt(l2);
    linf_sum += linf;
  }
  const char* what = a.options.targeted ? "classified as their target" : "misclassified";
  std::printf("attack success: %lld of %lld examples %s after the attack (%.1f%%; %lld before)\n",
              static_cast<long long>(hit), static_cast<long long>(N), what, N ? 100.0 * hit / N : 0.0,
              static_cast<long long>(hit_before));
  std::printf("distortion of the successful examples: mean L2 %.6g, mean L-infinity %.6g\n", hit ? l2_sum / hit : 0.0,
              hit ? linf_sum / hit : 0.0);
}

}  // namespace

void add_attack_command(CLI::App& app) {
  auto args = std::make_shared<AttackArgs>();
  CLI::App* cmd = app.add_subcommand("attack",
                                     "adversarial examples (FGSM / PGD: untargeted, L-infinity; CW: L2, targeted with "
                                     "--targets): " +
                                         explain::attacks().names(", "));
  if (!builds_options(*cmd)) return;  // see commands.h
  cmd->add_option("--method", args->options.method, explain::attacks().names(" | "))->required();
  cmd->add_option("--model", args->model, "ONNX file, zoo name or safetensors checkpoint")->required();
  cmd->add_option("--input", args->input, "inputs .npy, float32 (N, ...) in [0, 1], or a PNG / JPEG image or folder")
      ->required();
  cmd->add_option("--labels", args->labels, "true labels .npy, int64 (N)")->required();
  cmd->add_option("--targets", args->targets, "cw-l2: target classes .npy, int64 (N): a targeted attack");
  cmd->add_option("--radius,--epsilon", args->options.epsilon,
                  "fgsm, pgd: L-infinity radius, required (--epsilon: an older name)")
      ->check(at_least(0));
  cmd->add_option("--steps", args->options.steps,
                  "PGD iterations (default 10); cw-l2: Adam steps per search step "
                  "(default 1000)")
      ->check(between(1, 100000));
  cmd->add_option("--step-size", args->options.step_size, "PGD step size")->capture_default_str()->check(at_least(0));
  cmd->add_option("--confidence", args->options.confidence, "cw-l2: kappa, the logit margin a success needs")
      ->capture_default_str()
      ->check(at_least(0));
  cmd->add_option("--search-steps", args->options.search_steps, "cw-l2: binary-search steps over c")
      ->capture_default_str()
      ->check(between(1, 1000));
  cmd->add_option("--initial-const", args->options.initial_const, "cw-l2: c of the first search step")
      ->capture_default_str()
      ->check(greater_than(0));
  cmd->add_option("--lr", args->options.lr, "cw-l2: Adam learning rate")->capture_default_str()->check(greater_than(0));
  cmd->add_flag("--no-abort-early", args->no_abort_early, "cw-l2: run every step (no early stop of stalled examples)");
  cmd->add_option("--box-min", args->options.box_lo, "lower end of the input box")->capture_default_str();
  cmd->add_option("--box-max", args->options.box_hi, "upper end of the input box")->capture_default_str();
  cmd->add_option("--out", args->out, "output .npy (float32, shape of the input)")->required();
  cmd->add_option("--precision", args->precision, "compute in float64 (default) or float32; output is float32")
      ->check(CLI::IsMember({"float32", "float64"}));
  add_common_options(cmd, args->common);
  add_input_options(cmd, args->input_options);
  cmd->add_option("--device", args->device,
                  "cpu (default), cuda, or strict (the test device: host reads of its memory fail)");
  cmd->callback([args, cmd] {
    select_device(args->device, "--device");  // before loading anything
    args->options.abort_early = !args->no_abort_early;
    const bool cw = explain::attacks().find(args->options.method).minimal_l2;
    if (!cw && cmd->count("--radius") == 0) throw Error("attack " + args->options.method + ": --radius is required");
    // An option the method does not read is an error, not silently ignored.
    const std::vector<std::string> l_inf = {"--radius", "--step-size"},
                                   l2 = {"--targets",       "--confidence", "--search-steps",
                                         "--initial-const", "--lr",         "--no-abort-early"};
    for (const std::string& name : cw ? l_inf : l2)
      if (cmd->count(name))
        throw Error("attack " + args->options.method + ": " + name + " is for " + (cw ? "fgsm and pgd" : "cw-l2"));
    run_attack(*args, cmd);
  });
}

}  // namespace xdnn::cli
