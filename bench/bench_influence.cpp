// Timing of TracInCP at Fashion-MNIST scale (issue 6's measure): n_train training images against n_test
// test images with 3 checkpoints of fashion-cnn, over all parameters and over the last layer.
//
//   bench_influence [--train N] [--test M] [--params all|last-layer|both] [--threads T] [--chunk C]
//                   [--checkpoints c1,c2,c3]   (model specs; default: fashion-cnn with seeds 1, 2, 3)
//                   [--fashion-mnist DIR]
//
// Prints one line per parameter set: wall time, CPU time (all threads) and the size of the problem.
// Weights barely matter for the cost (ReLU sparsity aside); trained checkpoints from `xdnn train` can be
// given to time those.
//
//   bench_influence --mislabel 1 [--train N] [--model fashion-mlp] [--epochs E] [--flip 0.1] [--seed S]
//
// Mislabel detection (Pruthi et al. 2020, §4.1): flip a fraction of the first N training labels to a
// random other class (seeded), train the model with SGD (a checkpoint per epoch, learning rate in its
// metadata), rank the training examples by TracIn self-influence over those checkpoints, and report the
// share of flipped examples among the top 20 % (random ranking: 20 %).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "engine/parallel.h"
#include "explain/influence/influence.h"
#include "models/io/fashion_mnist.h"
#include "models/load.h"
#include "models/train/checkpoint.h"
#include "models/train/train.h"
#include "models/zoo.h"

using namespace xdnn;

namespace {

// CPU time of the whole process (all threads): comparable across runs on a shared machine, where wall
// time is not.
double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

int mislabel_detection(int64_t n_train, const std::string& model_name, int epochs, double flip, uint64_t seed,
                       const std::string& dir) {
  LabeledImages train = load_fashion_mnist("train", dir, n_train), test = load_fashion_mnist("test", dir, 2000);
  Tensor noisy = train.labels.clone();
  std::vector<bool> flipped(n_train, false);
  Rng rng(seed + 1000);
  std::vector<int64_t> idx(n_train);
  std::iota(idx.begin(), idx.end(), 0);
  for (int64_t i = n_train - 1; i > 0; --i) std::swap(idx[i], idx[rng.below(i + 1)]);
  const int64_t n_flip = static_cast<int64_t>(flip * n_train);
  for (int64_t k = 0; k < n_flip; ++k) {
    int64_t* y = noisy.data<int64_t>() + idx[k];
    *y = (*y + 1 + static_cast<int64_t>(rng.below(9))) % 10;
    flipped[idx[k]] = true;
  }
  const std::string out = (std::filesystem::temp_directory_path() / "xdnn-mislabel").string();
  std::filesystem::create_directories(out);
  TrainConfig cfg;
  cfg.architecture = model_name;
  cfg.epochs = epochs;
  cfg.seed = seed;
  cfg.optimizer.name = "sgd";
  cfg.optimizer.lr = 0.05;
  cfg.out_dir = out;
  cfg.progress = false;
  Model model = build_zoo_model(model_name, seed);
  const auto results = train_model(model, LabeledData{train.images, noisy}, LabeledData{test.images, test.labels}, cfg);
  std::vector<Model> models;
  std::vector<double> lrs;
  for (const auto& r : results) {
    models.push_back(load_model(r.checkpoint));
    lrs.push_back(metadata_get_double(read_checkpoint_metadata(r.checkpoint), "lr", r.checkpoint));
  }
  std::vector<Model*> ptrs;
  for (auto& m : models) ptrs.push_back(&m);
  influence::InfluenceData data;
  data.train_x = train.images;
  data.train_y = noisy;
  std::printf(
      "mislabel detection: %s, %lld training images, %lld flipped (%.0f %%), %d epochs SGD lr 0.05, test "
      "accuracy %.3f\n",
      model_name.c_str(), static_cast<long long>(n_train), static_cast<long long>(n_flip), 100 * flip, epochs,
      results.back().test.accuracy);
  for (const char* set : {"all", "last-layer"}) {
    influence::InfluenceOptions opt;
    opt.params = influence::parse_param_set(set);
    const auto t0 = std::chrono::steady_clock::now();
    const Tensor s = influence::self_influence(ptrs, lrs, data, opt);
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::vector<int64_t> order(n_train);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return s.item(a) > s.item(b); });
    int64_t found = 0;
    for (int64_t r = 0; r < n_train / 5; ++r) found += flipped[order[r]];
    std::printf("  self-influence params=%-10s  flipped labels in the top 20 %%: %lld / %lld = %.1f %%  (%.2f s)\n",
                set, static_cast<long long>(found), static_cast<long long>(n_flip),
                100.0 * found / std::max<int64_t>(1, n_flip), sec);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t n_train = 60000, n_test = 1000;
  std::string params = "both", checkpoints, dir, model_name = "fashion-mlp";
  bool mislabel = false;
  int64_t chunk = 256;
  int epochs = 3;
  double flip = 0.1;
  uint64_t seed = 0;
  int threads = num_threads();
  CLI::App app{"bench_influence: TracIn timing on Fashion-MNIST, and mislabel detection by self-influence"};
  app.add_option("--train", n_train, "training images")->check(CLI::PositiveNumber);
  app.add_option("--test", n_test, "test images")->check(CLI::PositiveNumber);
  app.add_option("--params", params, "parameter set")->check(CLI::IsMember({"all", "last-layer", "both"}));
  app.add_option("--threads", threads, "threads")->check(CLI::PositiveNumber);
  app.add_option("--checkpoints", checkpoints, "comma-separated checkpoints (default: train three)");
  app.add_option("--fashion-mnist", dir, "Fashion-MNIST folder");
  app.add_option("--chunk", chunk, "training examples per chunk")->check(CLI::PositiveNumber);
  app.add_option("--mislabel", mislabel, "run the mislabel-detection experiment instead (0 or 1)");
  app.add_option("--model", model_name, "zoo model of the mislabel experiment");
  app.add_option("--epochs", epochs, "epochs of the mislabel experiment")->check(CLI::PositiveNumber);
  app.add_option("--flip", flip, "share of labels flipped")->check(CLI::Range(0.0, 1.0));
  app.add_option("--seed", seed, "seed");
  CLI11_PARSE(app, argc, argv);
  set_num_threads(threads);
  try {
    if (mislabel) return mislabel_detection(n_train == 60000 ? 5000 : n_train, model_name, epochs, flip, seed, dir);
    influence::InfluenceData data;
    LabeledImages train = load_fashion_mnist("train", dir, n_train), test = load_fashion_mnist("test", dir, n_test);
    data.train_x = train.images;
    data.train_y = train.labels;
    data.test_x = test.images;
    data.test_y = test.labels;
    std::vector<Model> models;
    if (checkpoints.empty()) {
      for (uint64_t s = 1; s <= 3; ++s) models.push_back(build_zoo_model("fashion-cnn", s));
    } else {
      std::stringstream ss(checkpoints);
      std::string spec;
      while (std::getline(ss, spec, ',')) models.push_back(load_model(spec));
    }
    std::vector<Model*> ptrs;
    for (auto& m : models) ptrs.push_back(&m);
    const std::vector<double> lrs(models.size(), 0.1);
    for (const char* set : {"last-layer", "all"}) {
      if (params != "both" && params != set) continue;
      influence::InfluenceOptions opt;
      opt.params = influence::parse_param_set(set);
      opt.chunk = chunk;
      const auto t0 = std::chrono::steady_clock::now();
      const double cpu0 = cpu_seconds();
      const Tensor S = influence::tracin(ptrs, lrs, data, opt);
      const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double cpu = cpu_seconds() - cpu0;
      std::printf(
          "tracin fashion-cnn params=%-10s  n_train=%lld n_test=%lld checkpoints=%zu threads=%d  %.2f s  (CPU %.2f s; "
          "S[0,0]=%.6g)\n",
          set, static_cast<long long>(data.train_x.dim(0)), static_cast<long long>(data.test_x.dim(0)), models.size(),
          num_threads(), sec, cpu, S.item(0));
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_influence: %s\n", e.what());
    return 1;
  }
  return 0;
}
