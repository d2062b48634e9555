// How many perturbed copies of a batch go through one model call (explain/copies.h), and that the number
// changes no bit: integrated gradients, SmoothGrad and occlusion on a CNN whose rows are 1x64x64 (the 64-row
// calls of copies_per_call) against the same model forced to one copy per call (Model::exported_batch).
#include <doctest/doctest.h>

#include <memory>

#include "engine/random.h"
#include "explain/copies.h"
#include "layers/conv2d.h"
#include "layers/flatten.h"
#include "layers/global_avg_pool.h"
#include "layers/linear.h"
#include "layers/maxpool2d.h"
#include "layers/registry.h"
#include "layers/relu.h"
#include "models/model.h"
#include "tests/explain_run.h"

using namespace xdnn;

namespace {

// x (N, 1, 64, 64) -> Conv(1->4, 3x3, pad 1, stride 2) -> ReLU -> MaxPool 2 -> Conv(4->6, 3x3, pad 1) -> ReLU
// -> GlobalAvgPool -> Flatten -> Linear(6, 3)
Model image_cnn(Rng& rng) {
  Model m;
  m.add_input("x");
  Conv2dOptions strided = Conv2dOptions::same(2, 1);
  auto c1 = std::make_shared<Conv2d>("conv1", 1, 4, 3, 3, strided, DType::F32);
  c1->init(rng);
  auto c2 = std::make_shared<Conv2d>("conv2", 4, 6, 3, 3, Conv2dOptions::same(1, 1), DType::F32);
  c2->init(rng);
  auto fc = std::make_shared<Linear>("fc", 6, 3, true, DType::F32);
  fc->init(rng);
  m.append("conv1", c1);
  m.append("relu1", std::make_shared<ReLU>());
  m.append("pool1", std::make_shared<MaxPool2d>(2));
  m.append("conv2", c2);
  m.append("relu2", std::make_shared<ReLU>());
  m.append("gap", std::make_shared<GlobalAvgPool>());
  m.append("flat", std::make_shared<Flatten>());
  m.append("fc", fc);
  return m;
}

}  // namespace

TEST_CASE("copies_per_call: about 32 rows a call, 64 for rows of 4,096 to 65,535 elements, within [1, copies]") {
  Model m;
  CHECK(explain::copies_per_call(m, Tensor({16, 784}), 50) == 2);          // fashion-cnn rows: 32 rows
  CHECK(explain::copies_per_call(m, Tensor({16, 3, 64, 64}), 50) == 4);    // 64 rows
  CHECK(explain::copies_per_call(m, Tensor({16, 3, 64, 64}), 3) == 3);     // no more than asked
  CHECK(explain::copies_per_call(m, Tensor({1, 3, 224, 224}), 16) == 16);  // 32 rows, clamped
  CHECK(explain::copies_per_call(m, Tensor({2, 3, 224, 224}), 16) == 16);
  CHECK(explain::copies_per_call(m, Tensor({100, 6}), 50) == 1);  // a batch over 32 rows: one copy
  m.exported_batch = 4;                                           // a fixed-batch export: one copy per call
  CHECK(explain::copies_per_call(m, Tensor({4, 3, 64, 64}), 50) == 1);
}

TEST_CASE("copies per call change no bit: IG, SmoothGrad and occlusion, 64-row calls against one copy a call") {
  Rng rng(3);
  Model m = image_cnn(rng);
  const Tensor x = random_tensor({3, 1, 64, 64}, rng, -1.0, 1.0).to(DType::F32);
  const std::vector<int64_t> targets{0, 2, 1};
  REQUIRE(explain::copies_per_call(m, x, 16) == 16);  // 48 rows: every copy in one call
  const std::vector<std::pair<std::string, std::map<std::string, std::string>>> cases{
      {"integrated-gradients", {{"steps", "16"}}},
      {"smoothgrad", {{"samples", "12"}, {"noise-level", "0.2"}, {"seed", "4"}}},
      {"occlusion", {{"window", "1,16,16"}, {"stride", "1,16,16"}}}};
  for (const auto& [method, options] : cases) {
    m.exported_batch = 0;
    const Tensor stacked = testing::run(method, m, x, targets, options).values;
    m.exported_batch = 3;
    const Tensor one_by_one = testing::run(method, m, x, targets, options).values;
    INFO(method);
    CHECK(bitwise_equal(stacked, one_by_one));
  }
}
