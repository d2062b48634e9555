// `xdnn svcca --model A --model-b B --layer TA --layer-b TB --input X.npy --keep κ --out rho.npy`
//
// SVCCA between tensor TA of model A and tensor TB of model B (ONNX tensor names; A and B may be the same
// file) on the same inputs (explain/svcca.h). Writes the canonical correlations, float32 (m,) descending,
// and prints k of each layer and the SVCCA similarity (their mean).
#include <cstdio>
#include <memory>
#include <string>

#include "engine/error.h"
#include "engine/file_io.h"
#include "explain/cli/commands.h"
#include "explain/svcca.h"
#include "kernels/cuda_ops.h"
#include "models/io/npy.h"
#include "models/load.h"

namespace xdnn::cli {

namespace {

struct SvccaArgs {
  std::string model_a, model_b, layer_a, layer_b, input, out, precision = "float64", device = "cpu";
  double keep = 0.99;
  CommonOptions common;
};

Tensor svcca_input_for(const Model& model, const Tensor& x) {
  if (x.is_float() && !model.takes_token_ids()) return x.to(DType::F32).to(model.dtype());
  return x;
}

void run_svcca(const SvccaArgs& a) {
  if (!(a.keep > 0.0 && a.keep <= 1.0))
    throw Error("--keep " + std::to_string(a.keep) + ": expected a fraction of the variance in (0, 1]");
  check_output_path(a.out, "--out", {a.model_a, a.model_b, a.input});  // before any work
  a.common.apply();
  Model model_a = load_checked_model(a.model_a, a.common.allow_nonfinite);
  set_precision(model_a, a.precision);
  Model model_b = load_checked_model(a.model_b.empty() ? a.model_a : a.model_b, a.common.allow_nonfinite);
  set_precision(model_b, a.precision);
  // Unknown tensor names fail here, before any forward pass.
  model_a.value_id(a.layer_a);
  model_b.value_id(a.layer_b);
  const Tensor x = load_model_input(a.input, "--input", model_a, a.common.allow_nonfinite);
  if (x.ndim() < 2) throw Error(a.input + ": expected a batch (N, ...), got " + x.describe());
  const Tensor act_a = explain::layer_activation(model_a, svcca_input_for(model_a, x), a.layer_a);
  const Tensor act_b = explain::layer_activation(model_b, svcca_input_for(model_b, x), a.layer_b);
  const explain::SvccaResult r = explain::svcca(act_a, act_b, a.keep, "--layer " + a.layer_a, "--layer-b " + a.layer_b);
  std::vector<double> rho = r.correlations;
  save_npy(a.out, Tensor::from_vector({static_cast<int64_t>(rho.size())}, rho).to(DType::F32));
  print_wrote(a.out, std::to_string(rho.size()) + " canonical correlations, float32");
  double mean = 0.0;
  for (double v : rho) mean += v / static_cast<double>(rho.size());
  std::printf("svcca: %lld data points, kept k_A = %lld, k_B = %lld directions; %zu correlations, mean %.6f\n",
              static_cast<long long>(r.rows), static_cast<long long>(r.kept_a), static_cast<long long>(r.kept_b),
              rho.size(), mean);
}

}  // namespace

void add_svcca_command(CLI::App& app) {
  auto args = std::make_shared<SvccaArgs>();
  CLI::App* cmd = app.add_subcommand("svcca", "SVCCA similarity of two layers' activations (Raghu et al. 2017)");
  cmd->add_option("--model", args->model_a, "model A: ONNX file, zoo name or checkpoint")->required();
  cmd->add_option("--model-b", args->model_b, "model B (default: model A)");
  cmd->add_option("--layer", args->layer_a, "tensor name in model A: (N, F) or (N, C, h, w)")->required();
  cmd->add_option("--layer-b", args->layer_b, "tensor name in model B")->required();
  cmd->add_option("--input", args->input, "input batch .npy, run through both models")->required();
  cmd->add_option("--keep", args->keep, "fraction of the variance the SVD reduction keeps, in (0, 1]")
      ->capture_default_str();
  cmd->add_option("--out", args->out, "output .npy: the canonical correlations, float32 (m,)")->required();
  cmd->add_option("--precision", args->precision, "compute the activations in float64 (default) or float32")
      ->check(CLI::IsMember({"float32", "float64"}));
  add_common_options(cmd, args->common);
  cmd->add_option("--device", args->device, "cpu (default); cuda is not supported by svcca yet");
  cmd->callback([args] {
    cuda::require_cpu_command(args->device, "xdnn svcca");  // before loading anything
    run_svcca(*args);
  });
}

}  // namespace xdnn::cli
