// Seconds per explanation of fashion-cnn (float32, one image unless noted) by the perturbation and
// Shapley family, through the method registry (what `xdnn explain` runs). Issue 19's measures: RISE with
// 4,000 masks < 1 s; KernelSHAP and LIME with 1,000 samples < 0.3 s; exact Shapley values over 10 groups
// (1,024 coalitions) < 0.2 s, on 2 cores. The same workloads with Captum: bench/perturbation_reference.py.
// "CPU" is the process's CPU time (all threads). Results: bench/RESULTS.md.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <map>
#include <string>

#include "bench/explain_timing.h"
#include "engine/random.h"
#include "models/io/npy.h"

using namespace xdnn;

namespace {

std::string temp_file(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("xdnn-bench-perturbation-" + name)).string();
}

// Feature masks and baselines the cases name: 10 and 6 horizontal bands of the 28x28 image; 10 random
// baseline images.
const std::string& bands(int groups) {
  static std::map<int, std::string> paths;
  if (!paths.count(groups)) {
    Tensor m({1, 28, 28}, DType::I64);
    for (int64_t i = 0; i < 784; ++i) m.data<int64_t>()[i] = (i / 28) * groups / 28;
    paths[groups] = temp_file("bands" + std::to_string(groups) + ".npy");
    save_npy(paths[groups], m);
  }
  return paths[groups];
}

const std::string& baselines() {
  static std::string path;
  if (path.empty()) {
    Rng rng(5);
    Tensor b({10, 1, 28, 28}, DType::F32);
    for (int64_t i = 0; i < b.numel(); ++i) b.set_item(i, rng.uniform());
    path = temp_file("baselines.npy");
    save_npy(path, b);
  }
  return path;
}

using Opts = std::map<std::string, std::string>;

void BM_Perturbation(benchmark::State& state, const std::string& method, Opts opts) {
  for (auto& [k, v] : opts) {
    if (v == "@bands10") v = bands(10);
    if (v == "@bands6") v = bands(6);
    if (v == "@baselines") v = baselines();  // also prediction-difference's --background
  }
  bench::time_explanation(state, method, opts);
}

#define XDNN_PERTURBATION_BENCH(name, method, ...)                                 \
  BENCHMARK_CAPTURE(BM_Perturbation, name, std::string(method), Opts{__VA_ARGS__}) \
      ->Arg(1)                                                                     \
      ->MeasureProcessCPUTime()                                                    \
      ->Unit(benchmark::kMillisecond)

XDNN_PERTURBATION_BENCH(feature_ablation_grid4, "feature-ablation", {"feature-mask", "grid:4"});
XDNN_PERTURBATION_BENCH(shapley_values_10_groups, "shapley-values", {"feature-mask", "@bands10"});
XDNN_PERTURBATION_BENCH(shapley_values_6_groups, "shapley-values", {"feature-mask", "@bands6"});
XDNN_PERTURBATION_BENCH(shapley_sampling_25_grid4, "shapley-sampling", {"feature-mask", "grid:4"}, {"samples", "25"});
XDNN_PERTURBATION_BENCH(kernel_shap_1000_grid4, "kernel-shap", {"feature-mask", "grid:4"}, {"samples", "1000"});
XDNN_PERTURBATION_BENCH(lime_1000_grid4, "lime", {"feature-mask", "grid:4"}, {"samples", "1000"});
XDNN_PERTURBATION_BENCH(rise_4000, "rise", {"masks", "4000"}, {"cell", "4"});
XDNN_PERTURBATION_BENCH(gradient_shap_50x10, "gradient-shap", {"baselines", "@baselines"}, {"samples", "50"});
XDNN_PERTURBATION_BENCH(deeplift_shap_10, "deeplift-shap", {"baselines", "@baselines"});
XDNN_PERTURBATION_BENCH(expected_gradients_10x16, "expected-gradients", {"baselines", "@baselines"}, {"steps", "16"});
// Prediction difference at its defaults: 4x4 patches at stride 1 (625 windows), 10 draws each (6,250 forwards).
XDNN_PERTURBATION_BENCH(prediction_difference_conditional, "prediction-difference", {"sampling", "conditional"});
XDNN_PERTURBATION_BENCH(prediction_difference_marginal, "prediction-difference", {"sampling", "marginal"},
                        {"background", "@baselines"});
XDNN_PERTURBATION_BENCH(perceptual_ball_50_steps, "perceptual-ball", {"steps", "50"});

}  // namespace

BENCHMARK_MAIN();
