// `xdnn project --model M (--input X.npy [--labels Y.npy] | --fashion-test N) --layer L --method pca|tsne
//                [--perplexity P --iterations T ...] --out E.npy [--png S.png]`
//
// Projects a layer's activations over a data set to the plane: PCA (explain/global/pca.h) or t-SNE, exact
// or Barnes–Hut (explain/global/tsne.h). Writes the (N, 2) coordinates, float32, and with --png a scatter
// plot coloured by class (explain/global/scatter.h); prints the explained variance or the final KL.
#include <chrono>
#include <cstdio>
#include <memory>

#include "engine/device.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "explain/cli/commands.h"
#include "explain/cli/view_data.h"
#include "explain/global/exemplars.h"
#include "explain/global/pca.h"
#include "explain/global/scatter.h"
#include "explain/global/tsne.h"
#include "models/io/npy.h"

namespace xdnn::cli {

namespace {

struct ProjectArgs {
  std::string model, layer, method = "tsne", out, png, precision, device = "cpu";
  ViewDataArgs data;
  int64_t batch = 256;
  explain::TsneOptions tsne;
  CommonOptions common;
};

void run_project(const ProjectArgs& a, Device device) {
  check_output_path(a.out, "--out", {a.model, a.data.input, a.data.labels});  // before any work
  check_output_path(a.png, "--png", {a.model, a.data.input, a.data.labels});
  a.common.apply();
  Model model = load_checked_model(a.model, a.common.allow_nonfinite);
  if (!a.precision.empty()) set_precision(model, a.precision);
  model.value_id(a.layer);  // an unknown layer fails before the data are read
  ViewData d = load_view_data(a.data, model, a.model, a.common.allow_nonfinite);
  if (d.x.is_float() && !model.takes_token_ids()) d.x = d.x.to(model.dtype());
  // The forward passes run on `device`; each batch's activations come back to the host, where PCA (an Eigen SVD)
  // and t-SNE (a Barnes-Hut tree) embed them.
  model.to(device);
  d.x = d.x.to(device);
  const int64_t n = d.x.dim(0);
  const auto start = std::chrono::steady_clock::now();
  const Tensor act = explain::layer_activations(model, d.x, a.layer, a.batch);
  const Tensor rows = act.reshape({n, act.numel() / n});
  const std::string what = "--layer " + a.layer;
  Tensor embedding;
  std::string title;
  if (a.method == "pca") {
    const explain::PcaResult r = explain::pca(rows, 2, what);
    embedding = r.projection;
    std::printf("pca: %lld points of %lld features; PC1 %.2f %%, PC2 %.2f %% of the variance\n",
                static_cast<long long>(n), static_cast<long long>(rows.dim(1)), 100 * r.explained[0],
                100 * r.explained[1]);
    title = "PCA of " + a.layer + " (" + std::to_string(n) + " points)";
  } else {
    const explain::TsneResult r = explain::tsne(rows, a.tsne, what);
    embedding = r.embedding;
    std::printf(
        "t-SNE (%s): %lld points of %lld features, perplexity %g, %lld iterations, learning rate %g; "
        "KL %.6f at the last gradient step (before its update; Z as the gradient estimates it), %.6f of the final "
        "embedding with Q summed exactly\n",
        r.barnes_hut ? "Barnes-Hut" : "exact", static_cast<long long>(n), static_cast<long long>(rows.dim(1)),
        a.tsne.perplexity, static_cast<long long>(a.tsne.iterations), r.learning_rate, r.kl.back(), r.final_kl_exact);
    title = "t-SNE of " + a.layer + " (" + std::to_string(n) + " points, perplexity " +
            std::to_string(static_cast<int>(a.tsne.perplexity)) + ")";
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("project: %.2f s (activations and projection)\n", seconds);
  save_npy(a.out, embedding.to(DType::F32));
  print_wrote(a.out, "projection, float32 (" + std::to_string(n) + ", 2)");
  if (!a.png.empty()) {
    std::vector<int64_t> classes;
    for (int64_t i = 0; d.labels.defined() && i < n; ++i) classes.push_back(static_cast<int64_t>(d.labels.item(i)));
    explain::save_png(a.png, explain::scatter_plot(embedding, classes, d.class_names, title));
    print_wrote(a.png, "scatter plot");
  }
}

}  // namespace

void add_project_command(CLI::App& app) {
  auto a = std::make_shared<ProjectArgs>();
  CLI::App* cmd = app.add_subcommand(
      "project", "PCA or t-SNE of a layer's activations over a data set (van der Maaten & Hinton 2008)");
  if (!builds_options(*cmd)) return;  // see commands.h
  cmd->add_option("--model", a->model, "ONNX file, zoo name or checkpoint")->required();
  cmd->add_option("--layer", a->layer, "the value to project (a layer's output name, or the input)")->required();
  add_data_options(cmd, a->data);
  cmd->add_option("--method", a->method, "tsne (default) or pca")->check(CLI::IsMember({"tsne", "pca"}));
  cmd->add_option("--perplexity", a->tsne.perplexity, "t-SNE perplexity")
      ->check(between(1, 1000))
      ->capture_default_str();
  cmd->add_option("--iterations", a->tsne.iterations, "t-SNE iterations in all")
      ->check(between(1, 100000))
      ->capture_default_str();
  cmd->add_option("--exaggeration", a->tsne.early_exaggeration, "early exaggeration α")
      ->check(between(1, 1000))
      ->capture_default_str();
  cmd->add_option("--exaggeration-iterations", a->tsne.exaggeration_iterations, "iterations with exaggeration")
      ->check(between(0, 100000))
      ->capture_default_str();
  cmd->add_option("--learning-rate", a->tsne.learning_rate, "step size; 0: max(N / α / 4, 50)")
      ->check(between(0, 1e6))
      ->capture_default_str();
  cmd->add_option("--theta", a->tsne.theta, "Barnes-Hut accuracy θ in (0, 1]")
      ->check(between(1e-6, 1))
      ->capture_default_str();
  cmd->add_option("--exact-below", a->tsne.exact_below, "exact t-SNE (O(N²) per iteration) below this many points")
      ->check(between(0, 20000))
      ->capture_default_str();
  cmd->add_option("--init", a->tsne.init, "pca (default) or random")->check(CLI::IsMember({"pca", "random"}));
  cmd->add_option("--seed", a->tsne.seed, "for --init random");
  cmd->add_option("--batch", a->batch, "rows per forward pass")->check(between(1, 65536))->capture_default_str();
  cmd->add_option("--out", a->out, "output .npy: the (N, 2) coordinates, float32")->required();
  cmd->add_option("--png", a->png, "scatter plot PNG, coloured by class");
  cmd->add_option("--precision", a->precision, "float32 or float64 activations")
      ->check(CLI::IsMember({"float32", "float64"}));
  add_common_options(cmd, a->common);
  cmd->add_option("--device", a->device,
                  "cpu (default), cuda, or strict (the test device: host reads of its memory fail) for the forward "
                  "passes; the projection runs on the host");
  cmd->callback([a] {
    const Device device = select_device(a->device, "--device");  // before loading anything
    run_project(*a, device);
  });
}

}  // namespace xdnn::cli
