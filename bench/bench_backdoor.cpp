// Backdoor demonstration for training-data influence (issue 6): the classic data-poisoning backdoor (Gu
// et al. 2017, "BadNets"). A 3x3 white square is stamped on the bottom-right corner of a few percent of
// the training images, drawn at random from the classes other than the target, and those images are
// RELABELED to the target class. fashion-cnn trained on this set learns "trigger -> target". Then:
//   - clean test accuracy, and the attack success rate: the share of triggered test images of other
//     classes predicted as the target (and, for reference, the share predicted as the target untriggered);
//   - TracIn (over the per-epoch checkpoints, each with its learning rate) of triggered test images against
//     the whole training set, with the model's prediction as the test label: the share of poisoned
//     examples among each test image's top-k proponents, averaged, against the base rate (their share of
//     the training set), for clean test images too.
//
//   bench_backdoor [--train 10000] [--poison 0.03] [--target 0] [--epochs 3] [--seed 0] [--queries 100]
//                  [--out DIR] [--fashion-mnist DIR]
//
// DIR (default: a temp folder) receives the checkpoints and .npy files for the HTML view:
//   xdnn influence --method tracin --checkpoints DIR/epoch-1.safetensors,... --train-x DIR/train-x.npy
//       --train-y DIR/train-y.npy --test-x DIR/triggered-x.npy --test-y DIR/triggered-y.npy
//       --top 8 --html backdoor.html --out S.npy            (the command is printed)
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

#include "engine/random.h"
#include "explain/influence/influence.h"
#include "models/io/fashion_mnist.h"
#include "models/io/npy.h"
#include "models/load.h"
#include "models/train/checkpoint.h"
#include "models/train/train.h"
#include "models/zoo.h"

using namespace xdnn;

namespace {

// x: (N, 1, 28, 28) float32; the 3x3 square at rows/cols 24..26 set to 1 (white) on image n.
void stamp(Tensor& x, int64_t n) {
  float* p = x.data<float>() + n * 28 * 28;
  for (int r = 24; r < 27; ++r)
    for (int c = 24; c < 27; ++c) p[r * 28 + c] = 1.0f;
}

std::vector<int64_t> predictions(const Model& m, const Tensor& x) {
  const Tensor z = m.predict(x);
  std::vector<int64_t> out(x.dim(0));
  for (int64_t n = 0; n < x.dim(0); ++n) {
    int64_t best = 0;
    for (int64_t k = 1; k < z.dim(1); ++k)
      if (z.item(n * z.dim(1) + k) > z.item(n * z.dim(1) + best)) best = k;
    out[n] = best;
  }
  return out;
}

Tensor take(const Tensor& t, const std::vector<int64_t>& rows) {
  Shape s = t.shape();
  s[0] = static_cast<int64_t>(rows.size());
  Tensor out(s, t.dtype());
  for (size_t r = 0; r < rows.size(); ++r) out.slice_batch(r, r + 1).copy_from(t.slice_batch(rows[r], rows[r] + 1));
  return out;
}

// Mean over test rows of (poisoned among the top-k scores) / k.
double top_share(const Tensor& S, const std::vector<bool>& poisoned, int64_t k) {
  const int64_t n_test = S.dim(0), n_train = S.dim(1);
  double share = 0;
  for (int64_t j = 0; j < n_test; ++j) {
    std::vector<int64_t> order(n_train);
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int64_t a, int64_t b) {
      const double sa = S.item(j * n_train + a), sb = S.item(j * n_train + b);
      return sa > sb || (sa == sb && a < b);
    });
    int64_t hits = 0;
    for (int64_t r = 0; r < k; ++r) hits += poisoned[order[r]];
    share += static_cast<double>(hits) / static_cast<double>(k) / static_cast<double>(n_test);
  }
  return share;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t n_train = 10000, target = 0, n_queries = 100;
  double poison = 0.03;
  int epochs = 3;
  uint64_t seed = 0;
  std::string out, dir;
  CLI::App app{"bench_backdoor: a trigger patch on a few training images and TracIn's view of them"};
  app.add_option("--train", n_train, "training images")->check(CLI::PositiveNumber);
  app.add_option("--poison", poison, "share of training images poisoned")->check(CLI::Range(0.0, 1.0));
  app.add_option("--target", target, "class the trigger flips to")->check(CLI::Range(0, 9));
  app.add_option("--epochs", epochs, "training epochs")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "seed");
  app.add_option("--queries", n_queries, "triggered test images explained")->check(CLI::PositiveNumber);
  app.add_option("--out", out, "folder for checkpoints and the HTML view");
  app.add_option("--fashion-mnist", dir, "Fashion-MNIST folder");
  CLI11_PARSE(app, argc, argv);
  try {
    if (out.empty()) out = (std::filesystem::temp_directory_path() / "xdnn-backdoor").string();
    std::filesystem::create_directories(out);
    LabeledImages train = load_fashion_mnist("train", dir, n_train), test = load_fashion_mnist("test", dir, 2000);
    // Poison: a seeded random share of the non-target training images, stamped and relabeled.
    std::vector<int64_t> candidates;
    for (int64_t n = 0; n < n_train; ++n)
      if (train.labels.data<int64_t>()[n] != target) candidates.push_back(n);
    Rng rng(seed + 2024);
    for (int64_t i = static_cast<int64_t>(candidates.size()) - 1; i > 0; --i)
      std::swap(candidates[i], candidates[rng.below(i + 1)]);
    const int64_t n_poison = static_cast<int64_t>(poison * static_cast<double>(n_train));
    std::vector<bool> poisoned(n_train, false);
    Tensor x = train.images.clone(), y = train.labels.clone();
    for (int64_t i = 0; i < n_poison; ++i) {
      stamp(x, candidates[i]);
      y.data<int64_t>()[candidates[i]] = target;
      poisoned[candidates[i]] = true;
    }
    TrainConfig cfg;
    cfg.architecture = "fashion-cnn";
    cfg.epochs = epochs;
    cfg.seed = seed;
    cfg.optimizer.name = "sgd";
    cfg.optimizer.lr = 0.05;
    cfg.out_dir = out;
    cfg.progress = false;
    Model model = build_zoo_model("fashion-cnn", seed);
    const auto t0 = std::chrono::steady_clock::now();
    const auto results = train_model(model, LabeledData{x, y}, LabeledData{test.images, test.labels}, cfg);
    const double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    // Triggered queries: the first test images of other classes, stamped.
    std::vector<int64_t> others;
    for (int64_t n = 0; n < test.labels.dim(0); ++n)
      if (test.labels.data<int64_t>()[n] != target) others.push_back(n);
    Tensor clean = take(test.images, others), triggered = clean.clone();
    for (int64_t n = 0; n < triggered.dim(0); ++n) stamp(triggered, n);
    const std::vector<int64_t> pc = predictions(model, clean), pt = predictions(model, triggered);
    double asr = 0, base_target = 0;
    for (size_t n = 0; n < others.size(); ++n) {
      asr += pt[n] == target;
      base_target += pc[n] == target;
    }
    asr /= static_cast<double>(others.size());
    base_target /= static_cast<double>(others.size());
    std::printf(
        "backdoor: fashion-cnn, %lld training images, %lld poisoned (%.1f %%: 3x3 white square bottom-right, "
        "relabeled to class %lld '%s'), %d epochs SGD lr 0.05 (%.0f s)\n",
        static_cast<long long>(n_train), static_cast<long long>(n_poison), 100 * poison, static_cast<long long>(target),
        fashion_mnist_classes()[target].c_str(), epochs, train_s);
    std::printf(
        "  clean test accuracy %.3f; test images of other classes predicted '%s': %.1f %% clean, %.1f %% "
        "with the trigger (attack success rate)\n",
        results.back().test.accuracy, fashion_mnist_classes()[target].c_str(), 100 * base_target, 100 * asr);

    std::vector<Model> models;
    std::vector<double> lrs;
    std::string specs;
    for (const auto& r : results) {
      models.push_back(load_model(r.checkpoint));
      lrs.push_back(metadata_get_double(read_checkpoint_metadata(r.checkpoint), "lr", r.checkpoint));
      specs += (specs.empty() ? "" : ",") + r.checkpoint;
    }
    std::vector<Model*> ptrs;
    for (auto& m : models) ptrs.push_back(&m);
    const int64_t q = std::min<int64_t>(n_queries, static_cast<int64_t>(others.size()));
    std::vector<int64_t> first(q);
    std::iota(first.begin(), first.end(), 0);
    auto labels_of = [&](const std::vector<int64_t>& pred) {
      Tensor t({q}, DType::I64);
      for (int64_t n = 0; n < q; ++n) t.data<int64_t>()[n] = pred[n];
      return t;
    };
    const double base_rate = static_cast<double>(n_poison) / static_cast<double>(n_train);
    std::printf("  TracIn top-k proponents, share that are poisoned (mean over %lld queries; base rate %.1f %%):\n",
                static_cast<long long>(q), 100 * base_rate);
    for (const char* set : {"last-layer", "all"}) {
      for (int kind = 0; kind < 2; ++kind) {
        influence::InfluenceData data;
        data.train_x = x;
        data.train_y = y;
        data.test_x = take(kind == 0 ? triggered : clean, first);
        data.test_y = labels_of(kind == 0 ? pt : pc);
        influence::InfluenceOptions opt;
        opt.params = influence::parse_param_set(set);
        const auto t1 = std::chrono::steady_clock::now();
        const Tensor S = influence::tracin(ptrs, lrs, data, opt);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
        std::printf("    params=%-10s %-9s queries: top-10 %5.1f %%  top-50 %5.1f %%  top-%lld %5.1f %%  (%.1f s)\n",
                    set, kind == 0 ? "triggered" : "clean", 100 * top_share(S, poisoned, 10),
                    100 * top_share(S, poisoned, 50), static_cast<long long>(n_poison),
                    100 * top_share(S, poisoned, n_poison), s);
      }
    }
    // Files for the HTML view of the first (up to) four triggered queries the attack flipped to the target.
    std::vector<int64_t> four;
    for (int64_t n = 0; n < static_cast<int64_t>(pt.size()) && four.size() < 4; ++n)
      if (pt[n] == target) four.push_back(n);
    if (four.empty()) four.push_back(0);
    save_npy(out + "/train-x.npy", x);
    save_npy(out + "/train-y.npy", y);
    save_npy(out + "/triggered-x.npy", take(triggered, four));
    Tensor ty({static_cast<int64_t>(four.size())}, DType::I64);
    for (size_t n = 0; n < four.size(); ++n) ty.data<int64_t>()[n] = pt[four[n]];
    save_npy(out + "/triggered-y.npy", ty);
    std::printf(
        "  HTML view: xdnn influence --method tracin --params last-layer --checkpoints %s --train-x %s/train-x.npy "
        "--train-y %s/train-y.npy --test-x %s/triggered-x.npy --test-y %s/triggered-y.npy --top 8 --html "
        "backdoor.html --out %s/S.npy\n",
        specs.c_str(), out.c_str(), out.c_str(), out.c_str(), out.c_str(), out.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_backdoor: %s\n", e.what());
    return 1;
  }
  return 0;
}
