// Training-data influence (explain/influence): per-example gradients against batch-of-one backward
// passes, TracIn / Grad-Dot / Grad-Cos / self-influence against direct loops and their defining
// properties, projection determinism, and the input checks (Hessians and influence functions:
// test_influence_functions.cpp).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "engine/ops.h"
#include "engine/parallel.h"
#include "explain/influence/cg.h"
#include "explain/influence/hessian.h"
#include "explain/influence/hvp.h"
#include "explain/influence/influence.h"
#include "layers/linear.h"
#include "layers/registry.h"
#include "layers/relu.h"
#include "models/io/npy.h"
#include "models/load.h"
#include "models/zoo.h"
#include "tests/gradcheck.h"
#include "tests/influence_fixtures.h"

using namespace xdnn;
using namespace xdnn::influence;
using namespace xdnn::testing;

TEST_CASE("influence: the seed softmax − onehot is the gradient of logsumexp − f_y") {
  Rng rng(3);
  Tensor z = random_tensor({4, 5}, rng, -3, 3);
  Tensor y = random_labels(4, 5, rng);
  std::vector<double> losses;
  Tensor d = cross_entropy_seed(z, y, &losses);
  for (int64_t n = 0; n < 4; ++n) {
    Tensor zn = z.slice_batch(n, n + 1).clone();
    auto f = [&] {
      std::vector<double> l;
      cross_entropy_seed(zn, y.slice_batch(n, n + 1), &l);
      return l[0];
    };
    CHECK(std::abs(f() - losses[n]) < 1e-12);
    CHECK(max_rel_diff(d.slice_batch(n, n + 1), testing::numeric_gradient(f, zn)) < 1e-8);
  }
}

TEST_CASE("influence: per-example gradients equal batch-of-one gradients (MLP, both routes, both sets)") {
  Model m = make_mlp(5);
  Rng rng(11);
  Tensor x = random_tensor({7, 6}, rng), y = random_labels(7, 3, rng);
  const Tensor ref_all = batch_of_one_gradients(m, x, y);
  const Tensor ref_last = batch_of_one_gradients(m, x, y, {"fc2.weight", "fc2.bias"});
  for (bool factor : {true, false}) {
    INFO("rank-one factoring ", factor);
    GradientComputer all(m, ParamSet::All), last(m, ParamSet::LastLayer);
    all.set_factoring(factor);
    last.set_factoring(factor);
    CHECK(all.selection().size == 6 * 5 + 5 + 5 * 3 + 3);
    CHECK(last.selection().size == 5 * 3 + 3);
    ChunkGrads ga = all.compute(x, y), gl = last.compute(x, y);
    // The factored route really factors the Linear nodes; the other one does not.
    CHECK(ga.blocks[0].rank_one() == factor);
    CHECK(max_rel_diff(dense_gradients(ga), ref_all) < 1e-12);
    CHECK(max_rel_diff(dense_gradients(gl), ref_last) < 1e-12);
  }
  CHECK(max_rel_diff(per_example_gradients(m, x, y, ParamSet::All, nullptr, 3), ref_all) < 1e-12);
}

TEST_CASE("influence: per-example gradients equal batch-of-one gradients (CNN: Conv2d, MaxPool2d, Flatten)") {
  Model m = build_zoo_model("fashion-cnn", 3);
  m.to(DType::F64);
  Rng rng(17);
  Tensor x = random_tensor({3, 1, 28, 28}, rng, 0, 1), y = random_labels(3, 10, rng);
  const Tensor ref = batch_of_one_gradients(m, x, y);
  GradientComputer all(m, ParamSet::All), last(m, ParamSet::LastLayer);
  const ChunkGrads g = all.compute(x, y);
  CHECK(all.selection().size == 8 * 9 + 8 + 16 * 8 * 9 + 16 + 10 * 784 + 10);
  CHECK(!g.blocks[0].rank_one());  // convolutions: per-example pass of the layer
  CHECK(g.blocks[4].rank_one());   // fc weight: factored
  CHECK(max_rel_diff(dense_gradients(g), ref) < 1e-12);
  const Tensor ref_last = batch_of_one_gradients(m, x, y, {"fc.weight", "fc.bias"});
  CHECK(max_rel_diff(dense_gradients(last.compute(x, y)), ref_last) < 1e-12);
}

TEST_CASE(
    "influence: per-example gradients of the golden LSTM equal batch-of-one gradients; the transformer is refused") {
  const std::string golden = XDNN_TESTS_DIR "/golden";  // the golden set copied into the repo
  Model lstm = load_model(golden + "/models/lstm.onnx");
  lstm.to(DType::F64);
  const Tensor tokens = load_npy(golden + "/explain-lstm-saliency/input.npy");  // int64 (3, 12)
  REQUIRE(tokens.dtype() == DType::I64);
  Tensor y = Tensor::from_vector({tokens.dim(0)}, std::vector<int64_t>{0, 3, 1});
  const Tensor ref = batch_of_one_gradients(lstm, tokens, y);
  GradientComputer gc(lstm, ParamSet::All);
  CHECK(gc.selection().size == ref.dim(1));
  CHECK(max_rel_diff(dense_gradients(gc.compute(tokens, y)), ref) < 1e-12);
  // The exported transformer runs attention sequence-first: its per-example pass is refused, not wrong.
  Model tr = load_model(golden + "/models/transformer.onnx");
  GradientComputer gt(tr, ParamSet::All);
  CHECK_THROWS_WITH_AS(gt.compute(tokens, y), doctest::Contains("no per-example gradients"), Error);
}

TEST_CASE("influence: TracIn, Grad-Dot and self-influence against direct loops") {
  Problem p = make_problem();
  const std::vector<double> lr = {0.3, 0.1, 0.05};
  for (ParamSet set : {ParamSet::All, ParamSet::LastLayer}) {
    INFO("params ", param_set_name(set));
    InfluenceOptions opt;
    opt.params = set;
    opt.chunk = 4;  // several train and test chunks
    const Tensor S = tracin(p.ptrs, lr, p.data, opt);
    const Tensor D = grad_dot(p.ptrs, p.data, opt);
    const Tensor self = self_influence(p.ptrs, lr, p.data, opt);
    REQUIRE(S.shape() == Shape{4, 11});
    Tensor S_ref({4, 11}, DType::F64), D_ref({4, 11}, DType::F64), self_ref({11}, DType::F64);
    for (size_t c = 0; c < 3; ++c) {
      std::vector<std::string> names;
      if (set == ParamSet::LastLayer) names = {"fc2.weight", "fc2.bias"};
      const Tensor Gtr = batch_of_one_gradients(p.models[c], p.data.train_x, p.data.train_y, names);
      const Tensor Gte = batch_of_one_gradients(p.models[c], p.data.test_x, p.data.test_y, names);
      for (int64_t j = 0; j < 4; ++j)
        for (int64_t i = 0; i < 11; ++i) {
          S_ref.set_item(j * 11 + i, S_ref.item(j * 11 + i) + lr[c] * dot_rows(Gte, j, Gtr, i));
          if (c == 2) D_ref.set_item(j * 11 + i, dot_rows(Gte, j, Gtr, i));
        }
      for (int64_t i = 0; i < 11; ++i) self_ref.set_item(i, self_ref.item(i) + lr[c] * dot_rows(Gtr, i, Gtr, i));
    }
    CHECK(max_rel_diff(S, S_ref) < 1e-12);
    CHECK(max_rel_diff(D, D_ref) < 1e-12);
    CHECK(max_rel_diff(self, self_ref) < 1e-12);
  }
}

TEST_CASE("influence: Grad-Cos lies in [-1, 1], self-cosine is 1, and it is Grad-Dot normalised") {
  Problem p = make_problem();
  InfluenceData self = p.data;
  self.test_x = p.data.train_x;
  self.test_y = p.data.train_y;
  InfluenceOptions opt;
  const Tensor C = grad_cos(p.ptrs, self, opt), D = grad_dot(p.ptrs, self, opt);
  for (int64_t j = 0; j < 11; ++j)
    for (int64_t i = 0; i < 11; ++i) {
      const double c = C.item(j * 11 + i);
      CHECK(c >= -1 - 1e-12);
      CHECK(c <= 1 + 1e-12);
      const double want = D.item(j * 11 + i) / std::sqrt(D.item(j * 11 + j) * D.item(i * 11 + i));
      CHECK(std::abs(c - want) < 1e-12);
    }
  for (int64_t i = 0; i < 11; ++i) CHECK(std::abs(C.item(i * 11 + i) - 1.0) < 1e-12);
}

TEST_CASE("influence: scores are bit-identical for any thread count and chunk size") {
  Problem p = make_problem(40, 6);
  for (auto& m : p.models) m.to(DType::F32);
  p.data.train_x = p.data.train_x.to(DType::F32);
  p.data.test_x = p.data.test_x.to(DType::F32);
  const std::vector<double> lr = {0.1, 0.1, 0.1};
  InfluenceOptions opt;
  const int saved = num_threads();
  set_num_threads(1);
  const Tensor a = tracin(p.ptrs, lr, p.data, opt);
  const Tensor cos_a = grad_cos(p.ptrs, p.data, opt), self_a = self_influence(p.ptrs, lr, p.data, opt);
  set_num_threads(2);
  opt.chunk = 7;
  const Tensor b = tracin(p.ptrs, lr, p.data, opt);
  const Tensor cos_b = grad_cos(p.ptrs, p.data, opt), self_b = self_influence(p.ptrs, lr, p.data, opt);
  set_num_threads(saved);
  CHECK(a.dtype() == DType::F32);
  CHECK(bitwise_equal(a, b));
  CHECK(bitwise_equal(cos_a, cos_b));  // the gradients' norms: per row, whatever the chunk
  CHECK(bitwise_equal(self_a, self_b));
}

TEST_CASE("influence: random projection is deterministic per seed and preserves inner products") {
  Model m = make_mlp(3, 40);
  Rng rng(8);
  Tensor x = random_tensor({10, 6}, rng), y = random_labels(10, 3, rng);
  GradientComputer gc(m, ParamSet::All);
  const int64_t P = gc.selection().size;
  Projection a(P, 64, 7, DType::F64), b(P, 64, 7, DType::F64), c(P, 64, 8, DType::F64);
  const Tensor Ga = per_example_gradients(m, x, y, ParamSet::All, &a, 10);
  const Tensor Gb = per_example_gradients(m, x, y, ParamSet::All, &b, 3);
  const Tensor Gc = per_example_gradients(m, x, y, ParamSet::All, &c, 10);
  CHECK(Ga.shape() == Shape{10, 64});
  CHECK(bitwise_equal(Ga, Gb));
  CHECK(!bitwise_equal(Ga, Gc));
  // Johnson–Lindenstrauss: with k = 4096 the Gram matrix is kept to a few percent.
  Projection big(P, 4096, 1, DType::F64);
  const Tensor G = per_example_gradients(m, x, y, ParamSet::All);
  const Tensor Gp = per_example_gradients(m, x, y, ParamSet::All, &big);
  const Tensor S = ops::matmul(G, G, false, true), Sp = ops::matmul(Gp, Gp, false, true);
  CHECK(testing::rel_l2(Sp, S) < 0.1);
}

TEST_CASE("influence: TracIn with a projection equals TracIn of the projected gradients") {
  Problem p = make_problem();
  const std::vector<double> lr = {0.3, 0.1, 0.05};
  InfluenceOptions opt;
  opt.projection = 16;
  opt.seed = 5;
  const Tensor S = tracin(p.ptrs, lr, p.data, opt);
  const int64_t P = select_params(p.models[0], ParamSet::All).size;
  Projection R(P, 16, 5, DType::F64);
  Tensor ref({4, 11}, DType::F64);
  for (size_t c = 0; c < 3; ++c) {
    const Tensor a = per_example_gradients(p.models[c], p.data.test_x, p.data.test_y, ParamSet::All, &R);
    const Tensor b = per_example_gradients(p.models[c], p.data.train_x, p.data.train_y, ParamSet::All, &R);
    for (int64_t j = 0; j < 4; ++j)
      for (int64_t i = 0; i < 11; ++i) ref.set_item(j * 11 + i, ref.item(j * 11 + i) + lr[c] * dot_rows(a, j, b, i));
  }
  CHECK(max_rel_diff(S, ref) < 1e-12);
}

TEST_CASE("influence: bad input is rejected before any long computation") {
  Problem p = make_problem();
  InfluenceOptions opt;
  const std::vector<double> lr = {0.1, 0.1, 0.1};
  CHECK_THROWS_AS(tracin(p.ptrs, {0.1, 0.1}, p.data, opt), Error);  // lr count
  Model other = make_mlp(1, 7);                                     // different hidden size
  std::vector<Model*> mixed = {p.ptrs[0], &other};
  CHECK_THROWS_WITH_AS(tracin(mixed, {0.1, 0.1}, p.data, opt),
                       doctest::Contains("differs from checkpoint 1 in architecture"), Error);
  {
    InfluenceData d = p.data;
    d.train_y = d.train_y.clone();
    d.train_y.data<int64_t>()[3] = 3;  // 3 classes
    CHECK_THROWS_WITH_AS(tracin(p.ptrs, lr, d, opt), doctest::Contains("outside [0, 3)"), Error);
    d.train_y = p.data.train_y.to(DType::F64);
    CHECK_THROWS_WITH_AS(tracin(p.ptrs, lr, d, opt), doctest::Contains("int64"), Error);
  }
  {
    InfluenceData d = p.data;
    Rng rng(1);
    d.test_x = random_tensor({4, 7}, rng);
    CHECK_THROWS_WITH_AS(grad_cos(p.ptrs, d, opt), doctest::Contains("train-x examples"), Error);
  }
  CHECK_THROWS_AS(parse_param_set("everything"), Error);
}
