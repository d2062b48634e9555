// The factored last-layer routes of TracIn / Grad-Dot / Grad-Cos / self-influence
// (explain/influence/factored_scores.cpp) against the
// generic per-example route, with several checkpoints, several work units and test blocks, and partial
// ones; bit-identical results for 1 and 2 threads; and the cases where the route must step aside.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "engine/parallel.h"
#include "explain/influence/influence.h"
#include "layers/linear.h"
#include "layers/registry.h"
#include "layers/relu.h"
#include "models/zoo.h"
#include "tests/gradcheck.h"
#include "tests/influence_fixtures.h"

using namespace xdnn;
using namespace xdnn::influence;
using testing::max_rel_diff;
using testing::random_labels;

namespace {

// x (6) -> Linear(6,5) -> ReLU -> Linear(5,3) logits, float64; `bias`: whether the output layer has one.
Model small_mlp(uint64_t seed, bool bias) {
  Rng rng(seed);
  return testing::mlp_f64(rng, "input", 6, 5, 3, bias);
}

// Runs f with the pool at `threads` threads, restoring the previous count.
template <class F>
Tensor with_threads(int threads, const F& f) {
  const int saved = num_threads();
  set_num_threads(threads);
  Tensor out = f();
  set_num_threads(saved);
  return out;
}

// Three fashion-cnn checkpoints (seeds 1, 2, 3), 150 train and 20 test random float32 images.
struct FashionCnnCase {
  std::vector<Model> models;
  InfluenceData data;
  explicit FashionCnnCase(uint64_t data_seed) {
    for (uint64_t s = 1; s <= 3; ++s) models.push_back(build_zoo_model("fashion-cnn", s));
    Rng rng(data_seed);
    data.train_x = random_tensor({150, 1, 28, 28}, rng, 0, 1).to(DType::F32);
    data.train_y = random_labels(150, 10, rng);
    data.test_x = random_tensor({20, 1, 28, 28}, rng, 0, 1).to(DType::F32);
    data.test_y = random_labels(20, 10, rng);
  }
  std::vector<Model*> pointers() {
    std::vector<Model*> out;
    for (auto& m : models) out.push_back(&m);
    return out;
  }
};

}  // namespace

TEST_CASE("influence: factored last-layer TracIn equals the generic route (MLP, float64, bias and none)") {
  for (bool bias : {true, false}) {
    INFO("output bias ", bias);
    std::vector<Model> models;
    for (uint64_t s = 1; s <= 3; ++s) models.push_back(small_mlp(s, bias));
    std::vector<Model*> ptrs;
    for (auto& m : models) ptrs.push_back(&m);
    Rng rng(7);
    InfluenceData data;
    // 4200 × 1100: 32 full work units of 128 and a partial one, a full test block of 1024 and a partial one.
    data.train_x = random_tensor({4200, 6}, rng);
    data.train_y = random_labels(4200, 3, rng);
    data.test_x = random_tensor({1100, 6}, rng);
    data.test_y = random_labels(1100, 3, rng);
    const std::vector<double> lr = {0.3, 0.1, 0.05};
    InfluenceOptions opt;
    opt.params = ParamSet::LastLayer;
    Progress quiet("test", 1, false);
    const Tensor fast = factored_scores(ptrs, lr, data, false, quiet);
    REQUIRE(fast.defined());  // the route applies here: the comparison below is not generic vs generic
    opt.factored = false;
    const Tensor generic = tracin(ptrs, lr, data, opt);
    opt.factored = true;
    CHECK(max_rel_diff(fast, generic) < 1e-13);
    CHECK(bitwise_equal(tracin(ptrs, lr, data, opt), fast));  // tracin takes the route
    opt.factored = false;
    const Tensor dot_generic = grad_dot(ptrs, data, opt);
    opt.factored = true;
    CHECK(max_rel_diff(grad_dot(ptrs, data, opt), dot_generic) < 1e-13);
    // Grad-Cos (last checkpoint) and self-influence (every checkpoint), each against its generic route,
    // and bitwise against a direct call of the factored function (so the public method takes the route).
    opt.factored = false;
    const Tensor cos_generic = grad_cos(ptrs, data, opt);
    const Tensor self_generic = self_influence(ptrs, lr, data, opt);
    opt.factored = true;
    const Tensor cos_fast = grad_cos(ptrs, data, opt);
    const Tensor self_fast = self_influence(ptrs, lr, data, opt);
    CHECK(max_rel_diff(cos_fast, cos_generic) < 1e-13);
    CHECK(max_rel_diff(self_fast, self_generic) < 1e-13);
    CHECK(bitwise_equal(cos_fast, factored_scores({ptrs.back()}, {1.0}, data, true, quiet)));
    CHECK(bitwise_equal(self_fast, factored_self_influence(ptrs, lr, data, quiet)));
    double most = 0;  // cosines lie in [−1, 1]
    for (int64_t i = 0; i < cos_fast.numel(); ++i) most = std::max(most, std::abs(cos_fast.item(i)));
    CHECK(most <= 1 + 1e-12);
  }
}

TEST_CASE("influence: factored Grad-Cos scores a zero gradient 0, as the generic route does") {
  // fc1 weights 0.5 and bias -1 with inputs in [0.5, 1]: a row of zeros gives fc1 output -1, ReLU 0, so
  // without an output bias the last layer's input and gradient are 0 for that example.
  std::vector<Model> models;
  models.push_back(small_mlp(3, /*bias=*/false));
  Model& m = models[0];
  Tensor& w = m.find_param("fc1.weight")->value;
  Tensor& b = m.find_param("fc1.bias")->value;
  for (int64_t i = 0; i < w.numel(); ++i) w.set_item(i, 0.5);
  for (int64_t i = 0; i < b.numel(); ++i) b.set_item(i, -1.0);
  std::vector<Model*> ptrs = {&m};
  Rng rng(11);
  InfluenceData data;
  data.train_x = random_tensor({40, 6}, rng, 0.5, 1);
  data.train_y = random_labels(40, 3, rng);
  for (int64_t k = 0; k < 6; ++k) data.train_x.set_item(5 * 6 + k, 0.0);
  data.test_x = random_tensor({7, 6}, rng, 0.5, 1);
  data.test_y = random_labels(7, 3, rng);
  InfluenceOptions opt;
  opt.params = ParamSet::LastLayer;
  const Tensor fast = grad_cos(ptrs, data, opt);
  opt.factored = false;
  const Tensor generic = grad_cos(ptrs, data, opt);
  for (int64_t j = 0; j < 7; ++j) {
    CHECK(fast.item(j * 40 + 5) == 0.0);
    CHECK(generic.item(j * 40 + 5) == 0.0);
    CHECK(std::abs(fast.item(j * 40 + 4)) > 0.0);  // the neighbours are real cosines
  }
  CHECK(max_rel_diff(fast, generic) < 1e-13);
}

TEST_CASE("influence: factored last-layer TracIn on fashion-cnn: generic route to rounding, 1 vs 2 threads bitwise") {
  FashionCnnCase fc(5);
  std::vector<Model>& models = fc.models;
  InfluenceData& data = fc.data;
  const std::vector<Model*> ptrs = fc.pointers();
  const std::vector<double> lr = {0.1, 0.2, 0.05};
  InfluenceOptions opt;
  opt.params = ParamSet::LastLayer;
  Progress quiet("test", 1, false);
  const Tensor one = with_threads(1, [&] { return factored_scores(ptrs, lr, data, false, quiet); });
  const Tensor two = with_threads(2, [&] { return factored_scores(ptrs, lr, data, false, quiet); });
  REQUIRE(one.defined());
  CHECK(one.dtype() == DType::F32);
  CHECK(bitwise_equal(one, two));
  opt.factored = false;
  opt.chunk = 64;
  const Tensor generic = tracin(ptrs, lr, data, opt);
  // float32: the generic route sums δ·δ + (δ·δ)(a·a) where this one forms (δ·δ)(a·a + 1).
  CHECK(max_rel_diff(one, generic) < 1e-6);  // measured 1.3e-7
  // The same models in float64 agree to 1e-13: the two routes differ only in rounding.
  for (auto& m : models) m.to(DType::F64);
  data.train_x = data.train_x.to(DType::F64);
  data.test_x = data.test_x.to(DType::F64);
  const Tensor generic64 = tracin(ptrs, lr, data, opt);
  const Tensor fast64 = factored_scores(ptrs, lr, data, false, quiet);
  CHECK(max_rel_diff(fast64, generic64) < 1e-13);  // measured 2.4e-16
}

TEST_CASE("influence: factored Grad-Cos and self-influence on fashion-cnn: 1 vs 2 threads bitwise, generic route") {
  FashionCnnCase fc(6);
  InfluenceData& data = fc.data;
  const std::vector<Model*> ptrs = fc.pointers();
  const std::vector<double> lr = {0.1, 0.2, 0.05};
  InfluenceOptions opt;
  opt.params = ParamSet::LastLayer;
  const Tensor cos1 = with_threads(1, [&] { return grad_cos(ptrs, data, opt); });
  const Tensor cos2 = with_threads(2, [&] { return grad_cos(ptrs, data, opt); });
  const Tensor self1 = with_threads(1, [&] { return self_influence(ptrs, lr, data, opt); });
  const Tensor self2 = with_threads(2, [&] { return self_influence(ptrs, lr, data, opt); });
  CHECK(bitwise_equal(cos1, cos2));
  CHECK(bitwise_equal(self1, self2));
  opt.factored = false;
  opt.chunk = 64;
  CHECK(max_rel_diff(cos1, grad_cos(ptrs, data, opt)) < 1e-5);
  CHECK(max_rel_diff(self1, self_influence(ptrs, lr, data, opt)) < 1e-5);
}

TEST_CASE("influence: an error inside the factored route's work units surfaces as one Error, 1 and 2 threads") {
  std::vector<Model> models;
  for (uint64_t s = 1; s <= 2; ++s) models.push_back(small_mlp(s, true));
  std::vector<Model*> ptrs = {&models[0], &models[1]};
  Rng rng(9);
  InfluenceData data;
  data.train_x = random_tensor({300, 6}, rng);
  data.train_y = random_labels(300, 3, rng);
  data.test_x = random_tensor({4, 6}, rng);
  data.test_y = random_labels(4, 3, rng);
  // Finite input, non-finite logits in the third work unit: with fc1's weights all 1, six inputs of
  // 1e308 sum past the largest double.
  for (auto& m : models) {
    Tensor& w = m.find_param("fc1.weight")->value;
    for (int64_t i = 0; i < w.numel(); ++i) w.set_item(i, 1.0);
  }
  for (int64_t k = 0; k < 6; ++k) data.train_x.set_item(260 * 6 + k, 1e308);
  InfluenceOptions opt;
  opt.params = ParamSet::LastLayer;
  for (int threads : {1, 2}) {
    INFO("threads ", threads);
    const int saved = num_threads();
    set_num_threads(threads);
    CHECK_THROWS_WITH_AS(tracin(ptrs, {0.1, 0.1}, data, opt), doctest::Contains("not finite"), Error);
    set_num_threads(saved);
  }
}

TEST_CASE("influence: a non-finite input value is rejected, naming its first element (float32 and float64)") {
  std::vector<Model> models;
  models.push_back(small_mlp(1, true));
  std::vector<Model*> ptrs = {&models[0]};
  Rng rng(4);
  InfluenceData data;
  data.train_x = random_tensor({2000, 6}, rng);  // 12,000 values: three blocks of the vectorised check
  data.train_y = random_labels(2000, 3, rng);
  data.test_x = random_tensor({3, 6}, rng);
  data.test_y = random_labels(3, 3, rng);
  InfluenceOptions opt;
  opt.params = ParamSet::LastLayer;
  const double inf = std::numeric_limits<double>::infinity();
  for (DType dtype : {DType::F64, DType::F32}) {
    for (double bad : {std::nan(""), inf, -inf}) {
      INFO(std::string(dtype_name(dtype)), " ", bad);
      InfluenceData d = data;
      d.train_x = data.train_x.to(dtype).clone();  // to() of the same dtype shares storage
      d.train_x.set_item(9000, bad);
      d.train_x.set_item(11999, bad);
      if (dtype == DType::F32) models[0].to(DType::F32);
      CHECK_THROWS_WITH_AS(tracin(ptrs, {0.1}, d, opt), "train-x: element 9000 is not finite", Error);
      d.train_x = data.train_x.to(dtype);
      d.test_x = data.test_x.to(dtype).clone();
      d.test_x.set_item(17, bad);
      CHECK_THROWS_WITH_AS(tracin(ptrs, {0.1}, d, opt), "test-x: element 17 is not finite", Error);
      models[0].to(DType::F64);
    }
  }
  // The largest finite values pass.
  InfluenceData d = data;
  d.train_x = data.train_x.clone();
  d.train_x.set_item(5, std::numeric_limits<double>::max());
  d.train_x.set_item(6, -std::numeric_limits<double>::max());
  CHECK_NOTHROW(validate_inputs(ptrs, nullptr, d, opt, true));
}

TEST_CASE("influence: last-layer factors step aside when the generic route does not factor") {
  Model m = small_mlp(4, true);
  Rng rng(2);
  const Tensor x = random_tensor({5, 6}, rng), y = random_labels(5, 3, rng);
  GradientComputer on(m, ParamSet::LastLayer), off(m, ParamSet::LastLayer), all(m, ParamSet::All);
  CHECK(on.prepare_factors(x, y));
  const LastLayerFactors f = on.factors(x, y);
  const ChunkGrads g = on.compute(x, y);
  CHECK(bitwise_equal(f.delta, g.blocks[0].left));
  CHECK(bitwise_equal(f.act, g.blocks[0].right));
  CHECK(f.bias);
  off.set_factoring(false);
  CHECK(!off.prepare_factors(x, y));  // compute() gives dense blocks: nothing to factor
  CHECK_THROWS_AS(off.factors(x, y), Error);
  CHECK(!all.prepare_factors(x, y));  // fc1's parameters are not the output node's
}
