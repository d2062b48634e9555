// CNN layer tests beyond the registry harness (tests/test_layers.cpp covers gradients, per-example
// gradients and LRP conservation): max-pool tie routing and geometry, batch-norm formulas, losses,
// softmax, average pooling, the norm rule, dropout, leaky ReLU. Conv2d: tests/test_conv_layers.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "engine/ops.h"
#include "layers/add.h"
#include "layers/avgpool2d.h"
#include "layers/batchnorm2d.h"
#include "layers/cross_entropy.h"
#include "layers/dropout.h"
#include "layers/flatten.h"
#include "layers/global_avg_pool.h"
#include "layers/leaky_relu.h"
#include "layers/log_softmax.h"
#include "layers/maxpool2d.h"
#include "layers/registry.h"
#include "layers/softmax.h"
#include "tests/gradcheck.h"

using namespace xdnn;
using testing::max_rel_diff;

TEST_CASE("MaxPool2d: ties route the gradient to the first maximum in row-major window order") {
  MaxPool2d pool(2);
  // Plane (1, 1, 4, 4): window (0,0) all equal; window (0,1) ties at positions 1 and 2 of the window;
  // window (1,0) single max at the last position; window (1,1) -0.0 vs 0.0 (equal as floats).
  Tensor x = Tensor::from_vector({1, 1, 4, 4}, std::vector<float>{5, 5, 1, 7,      //
                                                                  5, 5, 7, 2,      //
                                                                  0, 1, -0.0f, 0,  //
                                                                  2, 3, 0, -1});
  Saved s;
  Tensor y = pool.forward({x}, s, {}).at(0);
  CHECK(y.shape() == Shape{1, 1, 2, 2});
  CHECK(y.item(0) == 5);
  CHECK(y.item(1) == 7);
  CHECK(y.item(2) == 3);
  Tensor gy = Tensor::from_vector({1, 1, 2, 2}, std::vector<float>{1, 2, 3, 4});
  Tensor gx = pool.backward({gy}, s, {}).at(0);
  const std::vector<float> expected{1, 0, 0, 2,  //
                                    0, 0, 0, 0,  //
                                    0, 0, 4, 0,  //
                                    0, 3, 0, 0};
  for (int64_t i = 0; i < 16; ++i) {
    INFO("element ", i);
    CHECK(gx.item(i) == expected[i]);
  }
  // LRP winner-take-all routes the same way.
  Rule wta;
  wta.name = "wta";
  Tensor r = pool.relevance({gy}, s, wta).at(0);
  CHECK(bitwise_equal(r, gx));
}

TEST_CASE("MaxPool2d: padding is -inf, ceil_mode and dilation give PyTorch's output sizes") {
  ops::Pool2dGeometry g;
  g.kernel_h = g.kernel_w = 3;
  g.stride_h = g.stride_w = 2;
  g.pad_top = g.pad_left = g.pad_bottom = g.pad_right = 1;
  CHECK(ops::pool2d_output_shape({1, 1, 5, 5}, g) == Shape{1, 1, 3, 3});
  g.ceil_mode = true;
  CHECK(ops::pool2d_output_shape({1, 1, 6, 6}, g) == Shape{1, 1, 4, 4});
  ops::Pool2dGeometry g2;
  g2.kernel_h = g2.kernel_w = g2.stride_h = g2.stride_w = 2;
  g2.pad_top = g2.pad_left = g2.pad_bottom = g2.pad_right = 1;
  g2.ceil_mode = true;  // a last window starting in the right/bottom padding is dropped (PyTorch)
  CHECK(ops::pool2d_output_shape({1, 1, 5, 5}, g2) == Shape{1, 1, 3, 3});
  g.pad_top = g.pad_left = g.pad_bottom = g.pad_right = 0;
  CHECK(ops::pool2d_output_shape({1, 1, 6, 6}, g) == Shape{1, 1, 3, 3});
  g.ceil_mode = false;
  CHECK(ops::pool2d_output_shape({1, 1, 6, 6}, g) == Shape{1, 1, 2, 2});
  g.dilation_h = g.dilation_w = 2;
  CHECK(ops::pool2d_output_shape({1, 1, 9, 9}, g) == Shape{1, 1, 3, 3});

  // All-negative input with padding: the maximum is a real element, never the padding.
  MaxPool2d pool(3, 1, 1);
  Tensor x = Tensor::full({1, 1, 3, 3}, -2.0);
  x.set_item(4, -1.0);
  Saved s;
  Tensor y = pool.forward({x}, s, {}).at(0);
  for (int64_t i = 0; i < 9; ++i) CHECK(y.item(i) == -1.0);
}

TEST_CASE("MaxPool2d: proportional LRP splits by positive inputs and conserves relevance") {
  MaxPool2d pool(2);
  Tensor x = Tensor::from_vector({1, 1, 2, 2}, std::vector<double>{1, 3, -2, 0});
  Saved s;
  pool.forward({x}, s, {});
  Rule r;
  r.name = "proportional";
  r.stabilizer = 0.0;
  Tensor R = Tensor::from_vector({1, 1, 1, 1}, std::vector<double>{2.0});
  Tensor Rin = pool.relevance({R}, s, r).at(0);
  CHECK(Rin.item(0) == doctest::Approx(0.5));
  CHECK(Rin.item(1) == doctest::Approx(1.5));
  CHECK(Rin.item(2) == 0.0);
  CHECK(Rin.item(3) == 0.0);
  Rule bad;
  bad.name = "nonsense";
  CHECK_THROWS_AS(pool.relevance({R}, s, bad), Error);
}

TEST_CASE("Flatten: shapes and axis errors") {
  Flatten f;
  CHECK(f.output_shape({2, 3, 4, 5}) == Shape{2, 60});
  CHECK(Flatten(0).output_shape({2, 3}) == Shape{6});
  CHECK(Flatten(1, 2).output_shape({2, 3, 4, 5}) == Shape{2, 12, 5});
  CHECK_THROWS_AS(Flatten(3).output_shape({2, 3}), Error);
}

TEST_CASE("CNN layer examples are registered (the harness gradient-checks each of them)") {
  const char* expected[] = {"Conv2d/3x3-pad1",
                            "Conv2d/stride-dilation-groups2-asym-pad-no-bias",
                            "Conv2d/1d-input",
                            "Conv2d/1x1-pointwise-groups2",
                            "MaxPool2d/2x2",
                            "MaxPool2d/1d-input",
                            "Flatten/start1",
                            "AvgPool2d/2x2",
                            "AvgPool2d/3x3-stride2-pad1-ceil-exclude-pad",
                            "AvgPool2d/1d-input",
                            "GlobalAvgPool/2d",
                            "BatchNorm2d/training",
                            "BatchNorm2d/eval",
                            "LeakyReLU/slope0.2",
                            "Sigmoid",
                            "Tanh",
                            "Add/broadcast",
                            "Dropout/training-p0.4",
                            "Softmax/axis1-of-3d",
                            "LogSoftmax/last-axis"};
  for (const char* name : expected) {
    bool found = false;
    for (const auto& spec : layer_examples()) found = found || spec.name == name;
    INFO(name);
    CHECK(found);
  }
}

TEST_CASE("BatchNorm2d: evaluation matches the formula; training normalises and updates running stats") {
  Rng rng(21);
  BatchNorm2d bn("bn", 3, 1e-5, 0.1, DType::F64);
  bn.weight_param().value = random_tensor({3}, rng, 0.5, 1.5);
  bn.bias_param().value = random_tensor({3}, rng);
  bn.running_mean_param().value = random_tensor({3}, rng);
  bn.running_var_param().value = random_tensor({3}, rng, 0.5, 2.0);
  CHECK(bn.buffers().size() == 2);
  CHECK(bn.buffers()[0]->name == "bn.running_mean");
  CHECK(bn.buffers()[1]->name == "bn.running_var");
  CHECK(bn.params()[0]->name == "bn.weight");
  Tensor x = random_tensor({4, 3, 2, 5}, rng, -2.0, 3.0);
  Saved s;
  Tensor y = bn.forward({x}, s, {}).at(0);
  double worst = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t c = (i / 10) % 3;
    const double ref =
        bn.gamma().item(c) * (x.item(i) - bn.running_mean().item(c)) / std::sqrt(bn.running_var().item(c) + 1e-5) +
        bn.beta().item(c);
    worst = std::max(worst, std::abs(y.item(i) - ref));
  }
  CHECK(worst < 1e-12);

  // Training: batch statistics (biased variance) normalise; running stats move by momentum 0.1 towards
  // the batch mean and the UNBIASED batch variance.
  const Tensor rm0 = bn.running_mean().clone(), rv0 = bn.running_var().clone();
  ForwardOptions train;
  train.training = true;
  Saved st;
  Tensor yt = bn.forward({x}, st, train).at(0);
  for (int64_t c = 0; c < 3; ++c) {
    double sum = 0, sq = 0;
    const int64_t M = 4 * 10;
    for (int64_t n = 0; n < 4; ++n)
      for (int64_t k = 0; k < 10; ++k) sum += x.item((n * 3 + c) * 10 + k);
    const double mu = sum / M;
    for (int64_t n = 0; n < 4; ++n)
      for (int64_t k = 0; k < 10; ++k) sq += std::pow(x.item((n * 3 + c) * 10 + k) - mu, 2);
    const double var = sq / M;
    CHECK(bn.running_mean().item(c) == doctest::Approx(0.9 * rm0.item(c) + 0.1 * mu).epsilon(1e-12));
    CHECK(bn.running_var().item(c) == doctest::Approx(0.9 * rv0.item(c) + 0.1 * sq / (M - 1)).epsilon(1e-12));
    const double k0 = yt.item((0 * 3 + c) * 10 + 0);
    const double ref = bn.gamma().item(c) * (x.item(c * 10) - mu) / std::sqrt(var + 1e-5) + bn.beta().item(c);
    CHECK(k0 == doctest::Approx(ref).epsilon(1e-12));
  }
  CHECK(bn.num_batches_tracked() == 1);
  // The eval output saved before the training call is unaffected by the running-stat update.
  BackwardOptions b;
  Tensor gx = bn.backward({Tensor::full(x.shape(), 1.0, DType::F64)}, s, b).at(0);
  CHECK(gx.item(0) == doctest::Approx(bn.gamma().item(0) / std::sqrt(rv0.item(0) + 1e-5)).epsilon(1e-12));
  Saved bad;
  CHECK_THROWS_AS(bn.forward({Tensor({2, 4, 3, 3}, DType::F64)}, bad, {}), Error);
  CHECK_THROWS_AS(bn.forward({Tensor({1, 3, 1, 1}, DType::F64)}, bad, train), Error);  // one value per channel
}

TEST_CASE("cross-entropy: value, finite-difference gradient (mean and sum), stability, label errors") {
  Rng rng(17);
  Tensor z = random_tensor({4, 5}, rng, -3.0, 3.0);
  Tensor y = Tensor::from_vector({4}, std::vector<int64_t>{0, 4, 2, 2});
  Tensor per = cross_entropy_per_example(z, y);
  for (int64_t n = 0; n < 4; ++n) {
    double s = 0;
    for (int64_t c = 0; c < 5; ++c) s += std::exp(z.item(n * 5 + c));
    CHECK(per.item(n) == doctest::Approx(std::log(s) - z.item(n * 5 + y.item(n))).epsilon(1e-12));
  }
  for (LossReduction r : {LossReduction::Mean, LossReduction::Sum}) {
    Tensor g = cross_entropy_backward(z, y, r);
    Tensor num = testing::numeric_gradient([&] { return cross_entropy(z, y, r); }, z);
    CHECK(max_rel_diff(g, num) < 1e-7);
  }
  CHECK(cross_entropy(z, y, LossReduction::Sum) == doctest::Approx(4 * cross_entropy(z, y)).epsilon(1e-12));
  // Large logits: no overflow.
  Tensor big = Tensor::from_vector({1, 3}, std::vector<float>{1000.f, 999.f, -1000.f});
  Tensor l = Tensor::from_vector({1}, std::vector<int64_t>{1});
  CHECK(cross_entropy(big, l) == doctest::Approx(1.0 + std::log(1.0 + std::exp(-1.0))).epsilon(1e-5));
  CHECK(std::isfinite(cross_entropy_backward(big, l).item(0)));
  try {
    cross_entropy(z, Tensor::from_vector({4}, std::vector<int64_t>{0, 5, 1, 1}));
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "cross_entropy: label 5 of sample 1 is outside the valid range [0, 4]");
  }
  CHECK_THROWS_AS(cross_entropy(z, Tensor::from_vector({4}, std::vector<int64_t>{0, -1, 1, 1})), Error);
  CHECK_THROWS_AS(cross_entropy(z, Tensor::from_vector({3}, std::vector<int64_t>{0, 1, 1})), Error);
  CHECK_THROWS_AS(cross_entropy(z, Tensor({4}, DType::F64)), Error);
}

TEST_CASE("Softmax and LogSoftmax: normalised, stable for large inputs, any axis") {
  Tensor x = Tensor::from_vector({2, 3}, std::vector<float>{1000.f, 1001.f, 1002.f, -5.f, 0.f, 5.f});
  Saved s;
  Tensor p = Softmax().forward({x}, s, {}).at(0);
  Tensor lp = LogSoftmax().forward({x}, s, {}).at(0);
  for (int64_t n = 0; n < 2; ++n) {
    double sum = 0;
    for (int64_t c = 0; c < 3; ++c) {
      sum += p.item(n * 3 + c);
      CHECK(std::isfinite(lp.item(n * 3 + c)));
      CHECK(std::log(p.item(n * 3 + c)) == doctest::Approx(lp.item(n * 3 + c)).epsilon(1e-5));
    }
    CHECK(sum == doctest::Approx(1.0).epsilon(1e-6));
  }
  Rng rng(2);
  Tensor x3 = random_tensor({2, 4, 3}, rng);
  Tensor p1 = Softmax(1).forward({x3}, s, {}).at(0);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t k = 0; k < 3; ++k) {
      double sum = 0;
      for (int64_t c = 0; c < 4; ++c) sum += p1.item((n * 4 + c) * 3 + k);
      CHECK(sum == doctest::Approx(1.0).epsilon(1e-12));
    }
  CHECK_THROWS_AS(Softmax(3).forward({x3}, s, {}), Error);
}

TEST_CASE("AvgPool2d: PyTorch divisors with padding, ceil_mode and count_include_pad") {
  Tensor x = Tensor::full({1, 1, 5, 5}, 1.0, DType::F64);
  Saved s;
  Tensor inc = AvgPool2d(3, 2, 1, false, true).forward({x}, s, {}).at(0);
  Tensor exc = AvgPool2d(3, 2, 1, false, false).forward({x}, s, {}).at(0);
  REQUIRE(inc.shape() == Shape{1, 1, 3, 3});
  CHECK(inc.item(0) == doctest::Approx(4.0 / 9.0));  // corner: 4 real elements, 9 with padding
  CHECK(inc.item(1) == doctest::Approx(6.0 / 9.0));
  CHECK(inc.item(4) == doctest::Approx(1.0));
  for (int64_t i = 0; i < 9; ++i) CHECK(exc.item(i) == doctest::Approx(1.0));
  // ceil_mode: 6x6, k2 s2 p1 -> the last window covers one real row/column plus one padded one; PyTorch
  // clips it to the padded extent: divisor 2·2 = 4 at the edge (window [5, 7) clipped to H + pad = 7).
  Tensor x6 = Tensor::full({1, 1, 6, 6}, 1.0, DType::F64);
  Tensor c = AvgPool2d(2, 2, 1, true, true).forward({x6}, s, {}).at(0);
  REQUIRE(c.shape() == Shape{1, 1, 4, 4});
  CHECK(c.item(0) == doctest::Approx(0.25));   // one real element of a 2x2 window
  CHECK(c.item(5) == doctest::Approx(1.0));    // interior
  CHECK(c.item(15) == doctest::Approx(0.25));  // bottom-right corner: 1 real of 4
  CHECK_THROWS_AS(AvgPool2d(2).forward({Tensor({2, 3})}, s, {}), Error);
}

TEST_CASE("pooling and Add: the norm rule conserves relevance for positive inputs") {
  Rng rng(4);
  Rule norm;
  norm.name = "norm";
  norm.stabilizer = 1e-12;
  Tensor x = random_tensor({2, 3, 6, 6}, rng, 0.1, 1.0);
  std::vector<std::shared_ptr<Layer>> pools{std::make_shared<AvgPool2d>(2), std::make_shared<AvgPool2d>(3, 1, 0),
                                            std::make_shared<GlobalAvgPool>()};
  for (auto& layer : pools) {
    Saved s;
    Tensor y = layer->forward({x}, s, {}).at(0);
    Tensor R = random_tensor(y.shape(), rng, 0.0, 1.0);
    Tensor Rin = layer->relevance({R}, s, norm).at(0);
    CHECK(ops::sum_all(Rin) == doctest::Approx(ops::sum_all(R)).epsilon(1e-9));
  }
  // GlobalAvgPool: R_in = x ⊙ R / Σx (per channel).
  {
    Tensor xs = Tensor::from_vector({1, 1, 1, 2}, std::vector<double>{1.0, 3.0});
    GlobalAvgPool gap;
    Saved s;
    gap.forward({xs}, s, {});
    Tensor Rin = gap.relevance({Tensor::from_vector({1, 1, 1, 1}, std::vector<double>{2.0})}, s, norm).at(0);
    CHECK(Rin.item(0) == doctest::Approx(0.5));
    CHECK(Rin.item(1) == doctest::Approx(1.5));
  }
  Add add;
  Tensor a = random_tensor({2, 3}, rng, 0.1, 1.0), b = random_tensor({2, 3}, rng, 0.1, 1.0);
  Saved s;
  add.forward({a, b}, s, {});
  Tensor R = random_tensor({2, 3}, rng);
  std::vector<Tensor> r = add.relevance({R}, s, norm);
  for (int64_t i = 0; i < 6; ++i) {
    CHECK(r[0].item(i) + r[1].item(i) == doctest::Approx(R.item(i)).epsilon(1e-9));
    CHECK(r[0].item(i) == doctest::Approx(a.item(i) * R.item(i) / (a.item(i) + b.item(i))).epsilon(1e-9));
  }
  Rule bad;
  bad.name = "wta";
  CHECK_THROWS_AS(add.relevance({R}, s, bad), Error);
}

TEST_CASE("Dropout: identity in evaluation, inverted scaling in training, needs an rng") {
  Dropout d(0.25);
  Tensor x = Tensor::full({100, 100}, 2.0);
  Saved s;
  CHECK(bitwise_equal(d.forward({x}, s, {}).at(0), x));
  ForwardOptions train;
  train.training = true;
  CHECK_THROWS_AS(d.forward({x}, s, train), Error);
  Rng rng(8);
  train.rng = &rng;
  Tensor y = d.forward({x}, s, train).at(0);
  int64_t zeros = 0;
  for (int64_t i = 0; i < y.numel(); ++i) {
    const double v = y.item(i);
    CHECK((v == 0.0 || v == doctest::Approx(2.0 / 0.75)));
    zeros += v == 0.0;
  }
  CHECK(zeros > 2200);  // 2500 expected
  CHECK(zeros < 2800);
  Tensor g = d.backward({Tensor::full({100, 100}, 1.0)}, s, {}).at(0);
  for (int64_t i = 0; i < 50; ++i) CHECK((g.item(i) == 0.0) == (y.item(i) == 0.0));
  Rng again(8);
  train.rng = &again;
  Saved s2;
  CHECK(bitwise_equal(d.forward({x}, s2, train).at(0), y));  // same seed, same mask
}

TEST_CASE("LeakyReLU: gradient, guided backprop and deconvnet modes") {
  LeakyReLU l(0.1);
  Tensor x = Tensor::from_vector({4}, std::vector<double>{-2.0, -1.0, 1.0, 2.0});
  Tensor g = Tensor::from_vector({4}, std::vector<double>{1.0, -1.0, 1.0, -1.0});
  Saved s;
  Tensor y = l.forward({x}, s, {}).at(0);
  CHECK(y.item(0) == doctest::Approx(-0.2));
  CHECK(y.item(3) == 2.0);
  BackwardOptions o;
  Tensor gr = l.backward({g}, s, o).at(0);
  o.mode = BackwardMode::GuidedBackprop;
  Tensor gb = l.backward({g}, s, o).at(0);
  o.mode = BackwardMode::DeconvNet;
  Tensor dc = l.backward({g}, s, o).at(0);
  const double grad[] = {0.1, -0.1, 1.0, -1.0}, guided[] = {0.1, 0.0, 1.0, 0.0}, deconv[] = {1.0, 0.0, 1.0, 0.0};
  for (int64_t i = 0; i < 4; ++i) {
    CHECK(gr.item(i) == doctest::Approx(grad[i]));
    CHECK(gb.item(i) == doctest::Approx(guided[i]));
    CHECK(dc.item(i) == doctest::Approx(deconv[i]));
  }
}
