// `xdnn svcca --model A --model-b B --layer TA --layer-b TB --input X.npy --keep κ --out rho.npy`
//
// SVCCA between tensor TA of model A and tensor TB of model B (ONNX tensor names; A and B may be the same
// file) on the same inputs (explain/svcca.h). Writes the canonical correlations, float32 (m,) descending,
// and prints k of each layer and the SVCCA similarity (their mean).
//
// `xdnn svcca --checkpoints c1,c2,...,cK --input X.npy [--layers L1,L2] --keep κ --out S.npy [--png F]`
//
// Bottom-up convergence over one training run (Raghu et al. 2017, fig. 4; explain/global/svcca_convergence.h):
// every layer's SVCCA similarity to its state at the final checkpoint cK. Writes S, float32 (layers, K),
// prints the table and, with --png, the plot.
#include <cstdio>
#include <memory>
#include <string>

#include "engine/device.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "explain/cli/commands.h"
#include "explain/global/svcca_convergence.h"
#include "explain/heatmap.h"
#include "explain/svcca.h"
#include "models/io/npy.h"
#include "models/load.h"

namespace xdnn::cli {

namespace {

struct SvccaArgs {
  std::string model_a, model_b, layer_a, layer_b, input, out, precision = "float64", device = "cpu";
  std::string checkpoints, layers, png;
  double keep = 0.99;
  CommonOptions common;
};

Tensor svcca_input_for(const Model& model, const Tensor& x) {
  if (x.is_float() && !model.takes_token_ids()) return x.to(DType::F32).to(model.dtype());
  return x;
}

void run_convergence(const SvccaArgs& a) {
  if (!a.model_a.empty() || !a.model_b.empty() || !a.layer_a.empty() || !a.layer_b.empty())
    throw Error("--checkpoints compares one run's checkpoints: give it without --model, --model-b, --layer, --layer-b",
                "name the tensors with --layers");
  if (a.precision != "float64") throw Error("--checkpoints: --precision float32 is not supported (float64 only)");
  const std::vector<std::string> files = split_commas(a.checkpoints, /*keep_empty=*/false);
  std::vector<std::string> inputs = files;
  inputs.push_back(a.input);
  check_output_path(a.out, "--out", inputs);  // before any work
  if (!a.png.empty()) check_output_path(a.png, "--png", inputs);
  a.common.apply();
  if (files.size() < 2) throw Error("--checkpoints: expected at least 2 checkpoints of one run, oldest first");
  Model final_model = load_checked_model(files.back(), a.common.allow_nonfinite);
  std::vector<std::string> layers = split_commas(a.layers, /*keep_empty=*/false);
  if (layers.empty()) layers = explain::parameter_layer_outputs(final_model);
  const Tensor x = load_model_input(a.input, "--input", final_model, a.common.allow_nonfinite);
  if (x.ndim() < 2) throw Error(a.input + ": expected a batch (N, ...), got " + x.describe());
  // The checkpoints' activations on the device; SVCCA's float64 SVD on the host, from their copies.
  const Device device = select_device(a.device, "--device");
  const explain::SvccaConvergence c = explain::svcca_convergence_of_files(files, x.to(device), layers, a.keep);
  const int64_t L = static_cast<int64_t>(c.layers.size()), K = static_cast<int64_t>(c.checkpoints.size());
  std::vector<double> flat;
  for (const auto& row : c.similarity) flat.insert(flat.end(), row.begin(), row.end());
  save_npy(a.out, Tensor::from_vector({L, K}, flat).to(DType::F32));
  print_wrote(a.out, "SVCCA similarity to the final checkpoint, float32 (" + std::to_string(L) + " layers, " +
                         std::to_string(K) + " checkpoints)");
  if (!a.png.empty()) {
    explain::save_png(a.png, explain::plot_svcca_convergence(c));
    print_wrote(a.png, "convergence plot");
  }
  for (int64_t l = 0; l < L; ++l) {
    std::printf("%-24s", c.layers[l].c_str());
    for (double v : c.similarity[l]) std::printf(" %.4f", v);
    std::printf("\n");
  }
}

void run_svcca(const SvccaArgs& a) {
  if (!(a.keep > 0.0 && a.keep <= 1.0))
    throw Error("--keep " + std::to_string(a.keep) + ": expected a fraction of the variance in (0, 1]");
  if (!a.checkpoints.empty()) return run_convergence(a);
  if (!a.layers.empty() || !a.png.empty()) throw Error("--layers and --png go with --checkpoints");
  if (a.model_a.empty() || a.layer_a.empty() || a.layer_b.empty())
    throw Error("svcca: give --model, --layer and --layer-b (or --checkpoints for the convergence over training)");
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
  // The activations on the device; SVCCA's float64 SVD on the host (explain/svcca.h), from their copies.
  const Device device = select_device(a.device, "--device");
  model_a.to(device);
  model_b.to(device);
  const Tensor act_a =
      explain::layer_activation(model_a, svcca_input_for(model_a, x).to(device), a.layer_a).to(Device::CPU);
  const Tensor act_b =
      explain::layer_activation(model_b, svcca_input_for(model_b, x).to(device), a.layer_b).to(Device::CPU);
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
  if (!builds_options(*cmd)) return;  // see commands.h
  cmd->add_option("--model", args->model_a,
                  "model A: ONNX file, zoo name or checkpoint (required without --checkpoints)");
  cmd->add_option("--model-b", args->model_b, "model B (default: model A)");
  cmd->add_option("--layer", args->layer_a, "tensor name in model A: (N, F) or (N, C, h, w)");
  cmd->add_option("--layer-b", args->layer_b, "tensor name in model B");
  cmd->add_option(
      "--checkpoints", args->checkpoints,
      "convergence over training: comma-separated checkpoints of one run, oldest first (Raghu et al. fig. 4)");
  cmd->add_option(
      "--layers", args->layers,
      "with --checkpoints: comma-separated tensor names (default: the outputs of the layers with parameters)");
  cmd->add_option("--png", args->png, "with --checkpoints: the convergence plot");
  cmd->add_option("--input", args->input, "input batch .npy, run through both models")->required();
  cmd->add_option("--keep", args->keep, "fraction of the variance the SVD reduction keeps, in (0, 1]")
      ->capture_default_str();
  cmd->add_option(
         "--out", args->out,
         "output .npy: the canonical correlations, float32 (m,); with --checkpoints the similarities (layers, K)")
      ->required();
  cmd->add_option("--precision", args->precision, "compute the activations in float64 (default) or float32")
      ->check(CLI::IsMember({"float32", "float64"}));
  add_common_options(cmd, args->common);
  cmd->add_option("--device", args->device,
                  "cpu (default), cuda, or strict (the test device: host reads of its memory fail); the activations "
                  "are computed there, the SVD on the host");
  cmd->callback([args] {
    select_device(args->device, "--device");  // before loading anything
    run_svcca(*args);
  });
}

}  // namespace xdnn::cli
