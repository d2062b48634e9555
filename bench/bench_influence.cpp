// Timing of TracInCP at Fashion-MNIST scale (issue 6's measure): n_train training images against n_test
// test images with 3 checkpoints of fashion-cnn, over all parameters and over the last layer.
//
//   bench_influence [--train N] [--test M] [--params all|last-layer|both] [--threads T]
//                   [--checkpoints c1,c2,c3]   (model specs; default: fashion-cnn with seeds 1, 2, 3)
//                   [--fashion-mnist DIR]
//
// Prints one line per parameter set: wall time and the size of the problem. Weights barely matter for
// the cost (ReLU sparsity aside); trained checkpoints from `xdnn train` can be given to time those.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "engine/parallel.h"
#include "explain/influence/influence.h"
#include "models/fashion_mnist.h"
#include "models/load.h"
#include "models/zoo.h"

using namespace xdnn;

int main(int argc, char** argv) {
  int64_t n_train = 60000, n_test = 1000;
  std::string params = "both", checkpoints, dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--train")
      n_train = std::atoll(v.c_str());
    else if (k == "--test")
      n_test = std::atoll(v.c_str());
    else if (k == "--params")
      params = v;
    else if (k == "--threads")
      set_num_threads(std::atoi(v.c_str()));
    else if (k == "--checkpoints")
      checkpoints = v;
    else if (k == "--fashion-mnist")
      dir = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  try {
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
      const auto t0 = std::chrono::steady_clock::now();
      const Tensor S = influence::tracin(ptrs, lrs, data, opt);
      const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf(
          "tracin fashion-cnn params=%-10s  n_train=%lld n_test=%lld checkpoints=%zu threads=%d  %.2f s  "
          "(S[0,0]=%.6g)\n",
          set, static_cast<long long>(data.train_x.dim(0)), static_cast<long long>(data.test_x.dim(0)), models.size(),
          num_threads(), sec, S.item(0));
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_influence: %s\n", e.what());
    return 1;
  }
  return 0;
}
