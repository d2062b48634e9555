// Example 2: train a small model on Fashion-MNIST (one checkpoint per epoch), then ask which training
// images most supported each test prediction with TracInCP (Pruthi et al. 2020, eq. 3): the sum over
// checkpoints of lr_c · ∇ℓ(test) · ∇ℓ(train), here over the last layer.
//
//   train_tracin OUT_DIR [TRAIN_COUNT]
// Build: c++ train_tracin.cpp $(pkg-config --cflags --libs xdnn)
#include <xdnn/xdnn.h>

#include <cmath>
#include <cstdio>
#include <string>

namespace api = xdnn::api;

int main(int argc, char** argv) try {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR [TRAIN_COUNT]\n", argv[0]);
    return 2;
  }
  const int64_t n_train = argc > 2 ? std::stoll(argv[2]) : 512;
  const api::LabeledArrays train = api::fashion_mnist("train", n_train);
  const api::LabeledArrays test = api::fashion_mnist("test", 200);   // evaluated after each epoch
  const api::LabeledArrays queries = api::fashion_mnist("test", 4);  // explained by TracIn

  api::TrainOptions options;
  options.model = "fashion-mlp";
  options.epochs = 2;
  options.out_dir = argv[1];
  std::vector<std::string> checkpoints;
  for (const api::EpochResult& r : api::train(options, train.x, train.y, test.x, test.y)) {
    std::printf("epoch %d: train loss %.4f, test accuracy %.3f -> %s\n", r.epoch, r.train_loss, r.test_accuracy,
                r.checkpoint.c_str());
    checkpoints.push_back(r.checkpoint);
  }

  // Scores (4, n_train); each checkpoint's learning rate comes from its metadata.
  const api::Array scores =
      api::influence("tracin", checkpoints, train.x, train.y, queries.x, queries.y, {{"params", "last-layer"}});
  for (int64_t j = 0; j < 4; ++j) {
    int64_t best = 0;
    for (int64_t i = 0; i < n_train; ++i) {
      if (!std::isfinite(scores.get(j * n_train + i))) throw api::Error("TracIn score is not finite");
      if (scores.get(j * n_train + i) > scores.get(j * n_train + best)) best = i;
    }
    std::printf("test %lld (label %lld): strongest proponent train #%lld (label %lld, score %.4g)\n",
                static_cast<long long>(j), static_cast<long long>(queries.y.get(j)), static_cast<long long>(best),
                static_cast<long long>(train.y.get(best)), scores.get(j * n_train + best));
  }
  return 0;
} catch (const api::Error& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
