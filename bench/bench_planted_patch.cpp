// Explanations scored against planted ground truth on images (issue 20, ground truth): fashion-cnn is
// trained on the planted-patch task (explain/evaluate/planted_patch.h: the class is decided by a 6×6
// pattern pasted at a random place in noise), then every image method of the registry explains the
// held-out images and the ground-truth metrics of `xdnn evaluate` score the maps against the patch:
// pointing game, relevance mass accuracy (positive relevance), relevance rank accuracy. A second model is
// trained on the same images with randomly permuted labels, for the data randomisation test (Adebayo et
// al. 2018), next to cascading parameter randomisation (both scored by Spearman rank correlation of the
// absolute maps). Two tables for RESULTS.md.
//
//   bench_planted_patch [--train N] [--test N] [--epochs E] [--seed S] [--methods m1,m2,...]
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "engine/random.h"
#include "explain/evaluate/planted_patch.h"
#include "explain/evaluate/table.h"
#include "explain/registry.h"
#include "models/load.h"
#include "models/train/train.h"
#include "models/zoo.h"

using namespace xdnn;

int main(int argc, char** argv) {
  CLI::App app{"explanations vs planted ground truth (planted-patch images, fashion-cnn)"};
  int64_t n_train = 8000, n_test = 200;
  int epochs = 2;
  uint64_t seed = 0;
  std::string methods =
      "saliency,gradient-x-input,integrated-gradients,smoothgrad,guided-backprop,deconvnet,deeplift,lrp,grad-cam,"
      "occlusion";
  app.add_option("--train", n_train, "training images")->check(CLI::PositiveNumber);
  app.add_option("--test", n_test, "held-out images scored")->check(CLI::PositiveNumber);
  app.add_option("--epochs", epochs, "training epochs")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "seed of the data and the model");
  app.add_option("--methods", methods, "comma-separated image methods");
  CLI11_PARSE(app, argc, argv);
  try {
    const explain::PlantedPatchTask train = explain::make_planted_patch_task(n_train, seed);
    const explain::PlantedPatchTask test = explain::make_planted_patch_task(n_test, seed + 1);
    Model model = build_zoo_model("fashion-cnn", seed);
    TrainConfig cfg;
    cfg.architecture = "fashion-cnn";
    cfg.epochs = epochs;
    cfg.seed = seed;
    cfg.progress = false;
    cfg.out_dir = (std::filesystem::temp_directory_path() / "bench_planted_patch_trained").string();
    const auto t0 = std::chrono::steady_clock::now();
    const auto results = train_model(model, {train.images, train.labels}, {test.images, test.labels}, cfg);
    const double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("fashion-cnn on planted patches: %lld training images, %d epochs (%.1f s), test accuracy %.4f\n",
                static_cast<long long>(n_train), epochs, train_s, results.back().test.accuracy);
    model.to(DType::F64);
    const Tensor x = test.images.to(DType::F64);
    std::vector<int64_t> targets(test.labels.data<int64_t>(), test.labels.data<int64_t>() + n_test);
    std::map<std::string, std::string> options{{"upsample", "true"}, {"window", "1,4,4"}, {"stride", "1,2,2"}};
    std::vector<explain::AttributionSource> sources;
    std::stringstream ss(methods);
    for (std::string m; std::getline(ss, m, ',');)
      sources.push_back(explain::method_source(model, x, targets, m, options));
    explain::MetricRequest context;
    context.model = &model;
    context.input = x;
    context.targets = targets;  // the true classes
    context.ground_truth = test.ground_truth;
    const auto metrics = explain::resolve_metrics({"pointing-game", "relevance-mass", "relevance-rank"}, {});
    std::printf("%s", explain::evaluate_table(context, sources, metrics, false).format().c_str());

    // The same architecture trained on the same images with permuted labels (a checkpoint, for the metric).
    explain::PlantedPatchTask shuffled = explain::make_planted_patch_task(n_train, seed);
    Rng rng(seed + 7);
    int64_t* y = shuffled.labels.data<int64_t>();
    for (int64_t i = n_train - 1; i > 0; --i) std::swap(y[i], y[static_cast<int64_t>(rng.below(i + 1))]);
    const std::string dir = (std::filesystem::temp_directory_path() / "bench_planted_patch_random").string();
    Model random_model = build_zoo_model("fashion-cnn", seed);
    TrainConfig rcfg = cfg;
    rcfg.out_dir = dir;
    const auto rres = train_model(random_model, {shuffled.images, shuffled.labels}, {test.images, test.labels}, rcfg);
    std::printf("\nthe same on permuted labels: test accuracy %.4f (chance 0.25)\n", rres.back().test.accuracy);
    context.fresh_model = [&] {
      Model m = load_model(results.back().checkpoint);
      m.to(DType::F64);
      return m;
    };
    const auto sanity = explain::resolve_metrics({"cascading-randomisation", "data-randomisation"},
                                                 {{"random-model", rres.back().checkpoint}});
    std::printf("%s", explain::evaluate_table(context, sources, sanity, false).format().c_str());
    std::filesystem::remove_all(dir);
    std::filesystem::remove_all(cfg.out_dir);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_planted_patch: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
