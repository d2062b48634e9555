// Adversarial training (models/train/train.h with explain::pgd_adversary, Madry et al. 2018) on a data
// set built so that robustness has a price (after Tsipras et al. 2019, "Robustness may be at odds with
// accuracy", §2.1): feature 0 is robust but only 90 % right (0.25 / 0.75 ± 0.05 for the class, the
// other one for 10 % of the examples), features 1..19 each predict the class weakly (0.5 ∓ 0.08, noise
// 0.1) and together almost perfectly, but an L∞ perturbation of 0.1 moves every one of them past the
// other class's mean at once. A standard model leans on the weak features (they beat 90 %) and loses to
// PGD; the adversarially trained one reads feature 0 and keeps about 90 % under attack.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "engine/parallel.h"
#include "engine/random.h"
#include "explain/attack.h"
#include "layers/linear.h"
#include "layers/relu.h"
#include "models/train/checkpoint.h"
#include "models/train/train.h"

using namespace xdnn;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kD = 20;

LabeledData robust_feature_task(int64_t n, uint64_t seed) {
  Rng rng(seed);
  Tensor x(Shape{n, kD}, DType::F32), y(Shape{n}, DType::I64);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t label = static_cast<int64_t>(rng.below(2));
    const double sign = label ? 1.0 : -1.0;
    y.data<int64_t>()[i] = label;
    const double robust_sign = rng.uniform() < 0.1 ? -sign : sign;
    x.set_item(i * kD, 0.5 + 0.25 * robust_sign + rng.uniform(-0.05, 0.05));
    for (int64_t d = 1; d < kD; ++d)
      x.set_item(i * kD + d, std::min(1.0, std::max(0.0, 0.5 + 0.08 * sign + 0.1 * rng.normal())));
  }
  return {x, y};
}

Model mlp(uint64_t seed) {
  Rng rng(seed);
  Model m;
  m.add_input("x");
  auto fc1 = std::make_shared<Linear>("fc1", kD, 32, true, DType::F32);
  fc1->init(rng);
  auto fc2 = std::make_shared<Linear>("fc2", 32, 2, true, DType::F32);
  fc2->init(rng);
  m.append("fc1", fc1);
  m.append("relu", std::make_shared<ReLU>());
  m.append("fc2", fc2);
  return m;
}

TrainConfig config(int epochs) {
  TrainConfig cfg;
  cfg.architecture = "test-mlp";
  cfg.epochs = epochs;
  cfg.seed = 5;
  cfg.batch_size = 32;
  cfg.optimizer.lr = 0.01;
  cfg.progress = false;
  return cfg;
}

bool same_params(Model& a, Model& b) {
  const auto pa = a.params(), pb = b.params();
  if (pa.size() != pb.size()) return false;
  for (size_t i = 0; i < pa.size(); ++i)
    for (int64_t j = 0; j < pa[i]->value.numel(); ++j)
      if (pa[i]->value.item(j) != pb[i]->value.item(j)) return false;
  return true;
}

}  // namespace

TEST_CASE("adversarial training raises robust accuracy over standard training") {
  const LabeledData train = robust_feature_task(512, 1), test = robust_feature_task(256, 2);
  const AdversarialConfig pgd = explain::pgd_adversary(0.1, 5, 0.05);
  TrainConfig cfg = config(8);
  Model standard = mlp(3);
  const auto rs = train_model(standard, train, test, cfg);
  cfg.adversarial = pgd;
  Model robust = mlp(3);
  const auto rr = train_model(robust, train, test, cfg);
  const double standard_robust = evaluate_adversarial(standard, test, pgd, 99).accuracy;
  const double robust_robust = evaluate_adversarial(robust, test, pgd, 99).accuracy;
  MESSAGE("clean: standard ", rs.back().test.accuracy, ", adversarial ", rr.back().test.accuracy,
          "; robust (PGD 0.1): standard ", standard_robust, ", adversarial ", robust_robust);
  CHECK(rs.back().robust.count == 0);  // standard training reports no robust accuracy
  REQUIRE(rr.back().robust.count == 256);
  CHECK(rs.back().test.accuracy > 0.95);  // the weak features together beat the robust one
  CHECK(rr.back().test.accuracy > 0.8);   // robustness costs clean accuracy (about 90 %)
  CHECK(standard_robust < 0.6);           // PGD breaks the standard model (measured 0.52)
  CHECK(robust_robust > 0.85);            // and not the adversarially trained one (measured 0.88)
  CHECK(robust_robust > standard_robust + 0.3);
}

TEST_CASE("adversarial training: bit-identical for 1 and 2 threads and when resumed; metadata; bad options") {
  const LabeledData train = robust_feature_task(96, 7), test = robust_feature_task(64, 8);
  const fs::path dir = fs::temp_directory_path() / ("xdnn_test_adv_" + std::to_string(::getpid()));
  TrainConfig cfg = config(2);
  cfg.adversarial = explain::pgd_adversary(0.1, 3, 0.05);
  const int saved_threads = num_threads();
  set_num_threads(1);
  Model one = mlp(3);
  const auto r1 = train_model(one, train, test, cfg);
  set_num_threads(2);
  cfg.out_dir = (dir / "full").string();
  Model two = mlp(3);
  const auto r2 = train_model(two, train, test, cfg);
  set_num_threads(saved_threads);
  CHECK(same_params(one, two));
  CHECK(r1.back().robust.accuracy == r2.back().robust.accuracy);
  // Interrupted after epoch 1, resumed to 2.
  cfg.epochs = 1;
  cfg.out_dir = (dir / "part").string();
  Model part = mlp(3);
  train_model(part, train, test, cfg);
  cfg.epochs = 2;
  cfg.resume = (dir / "part" / "epoch-1.safetensors").string();
  Model resumed = mlp(3);
  const auto rr = train_model(resumed, train, test, cfg);
  CHECK(same_params(resumed, two));
  CHECK(rr.back().robust.accuracy == r2.back().robust.accuracy);
  const Metadata m = read_checkpoint_metadata((dir / "full" / "epoch-2.safetensors").string());
  CHECK(m.at("adversarial") == "pgd radius 0.1 steps 3 step 0.05");
  CHECK(std::stod(m.at("robust_accuracy")) == r2.back().robust.accuracy);
  CHECK(std::stod(m.at("test_accuracy")) == r2.back().test.accuracy);
  // Resuming an adversarial run as a standard one is refused, naming the setting.
  TrainConfig plain = cfg;
  plain.adversarial = {};
  Model other = mlp(3);
  try {
    train_model(other, train, test, plain);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("checkpoint has adversarial pgd radius 0.1") != std::string::npos);
  }
  // Bad settings fail before any training.
  TrainConfig bad = config(1);
  bad.adversarial = explain::pgd_adversary(-0.1, 3, 0.05);
  CHECK_THROWS_WITH_AS(train_model(other, train, test, bad), doctest::Contains("--radius"), Error);
  bad.adversarial = explain::pgd_adversary(0.1, 0, 0.05);
  CHECK_THROWS_WITH_AS(train_model(other, train, test, bad), doctest::Contains("--pgd-steps"), Error);
  fs::remove_all(dir);
}
