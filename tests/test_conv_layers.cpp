// Conv2d tests beyond the registry harness (tests/test_layers.cpp covers gradients, per-example
// gradients and LRP conservation): forward against a direct convolution, 1-D input, errors, bit-identity
// of identical receptive fields, thread-count determinism, the inherited linear LRP rules.
#include <doctest/doctest.h>

#include <string>

#include "engine/ops.h"
#include "engine/parallel.h"
#include "layers/conv2d.h"
#include "layers/registry.h"
#include "tests/gradcheck.h"

using namespace xdnn;
using testing::max_rel_diff;

namespace {

// Direct convolution, straight from the definition (float64).
Tensor naive_conv(const Tensor& x, const Tensor& w, const Tensor& b, const ops::Conv2dGeometry& g) {
  const Shape ys = ops::conv2d_output_shape(x.shape(), w.shape(), g);
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const int64_t O = w.dim(0), Cg = w.dim(1), KH = w.dim(2), KW = w.dim(3), Og = O / g.groups;
  Tensor y(ys, DType::F64);
  const double* px = x.data<double>();
  const double* pw = w.data<double>();
  double* py = y.data<double>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oh = 0; oh < ys[2]; ++oh)
        for (int64_t ow = 0; ow < ys[3]; ++ow) {
          double s = b.defined() ? b.data<double>()[o] : 0.0;
          const int64_t grp = o / Og;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t i = 0; i < KH; ++i)
              for (int64_t j = 0; j < KW; ++j) {
                const int64_t ih = oh * g.stride_h - g.pad_top + i * g.dilation_h;
                const int64_t iw = ow * g.stride_w - g.pad_left + j * g.dilation_w;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                s += pw[((o * Cg + c) * KH + i) * KW + j] * px[((n * C + grp * Cg + c) * H + ih) * W + iw];
              }
          py[((n * O + o) * ys[2] + oh) * ys[3] + ow] = s;
        }
  return y;
}

Tensor random_f32(const Shape& s, Rng& rng) { return random_tensor(s, rng).to(DType::F32); }

}  // namespace

TEST_CASE("conv2d forward matches a direct convolution (stride, padding, dilation, groups)") {
  struct Case {
    int64_t C, O, KH, KW;
    ops::Conv2dGeometry g;
  };
  const Case cases[] = {
      {3, 4, 3, 3, {1, 1, 1, 1, 1, 1, 1, 1, 1}},  {4, 6, 3, 2, {2, 1, 1, 0, 2, 1, 1, 2, 2}},
      {6, 6, 3, 3, {1, 2, 0, 2, 0, 2, 2, 1, 3}},  {2, 8, 1, 1, {3, 3, 0, 0, 0, 0, 1, 1, 1}},
      {8, 16, 3, 3, {1, 1, 1, 1, 1, 1, 1, 1, 1}},  // fashion-cnn conv2 geometry
      {6, 4, 1, 1, {1, 1, 0, 0, 0, 0, 1, 1, 2}},   // pointwise: no im2col
  };
  Rng rng(3);
  for (const auto& c : cases) {
    Tensor x = random_tensor({3, c.C, 9, 11}, rng);
    Tensor w = random_tensor({c.O, c.C / c.g.groups, c.KH, c.KW}, rng);
    Tensor b = random_tensor({c.O}, rng);
    Tensor y = ops::conv2d_forward(x, w, b, c.g);
    CHECK(max_rel_diff(y, naive_conv(x, w, b, c.g)) < 1e-12);
    Tensor y_nob = ops::conv2d_forward(x, w, Tensor(), c.g);
    CHECK(max_rel_diff(y_nob, naive_conv(x, w, Tensor(), c.g)) < 1e-12);
  }
}

TEST_CASE("Conv2d layer: 1-D input equals the 2-D convolution with H = 1") {
  Rng rng(5);
  Conv2d conv("c", 3, 4, 1, 3, Conv2dOptions::same(1, 0), DType::F64);
  conv.init(rng);
  Tensor x = random_tensor({2, 3, 10}, rng);
  Saved s;
  Tensor y = conv.forward({x}, s, {}).at(0);
  REQUIRE(y.shape() == Shape{2, 4, 8});
  Tensor ref = naive_conv(x.reshape({2, 3, 1, 10}), conv.weight(), conv.bias(), conv.geometry());
  CHECK(max_rel_diff(y, ref.reshape({2, 4, 8})) < 1e-12);
}

TEST_CASE("Conv2d layer: shape and dtype errors name the layer and the expected input") {
  Conv2d conv("conv1", 8, 16, 3, 3, Conv2dOptions::same(1, 1));
  Saved s;
  try {
    conv.forward({Tensor({2, 3, 28, 28})}, s, {});
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "Conv2d conv1: expected input (N, 8, H, W), got float32 (2, 3, 28, 28)");
  }
  CHECK_THROWS_AS(conv.forward({Tensor({2, 8, 5, 5}, DType::F64)}, s, {}), Error);
  CHECK_THROWS_AS(conv.forward({Tensor({2, 8, 5})}, s, {}), Error);                    // 3x3 kernel: no 1-D input
  CHECK_THROWS_AS(Conv2d("bad", 3, 4, 3, 3, Conv2dOptions::same(1, 0, 1, 2)), Error);  // 3 % 2 groups
  Conv2d big("c", 1, 1, 5, 5);
  CHECK_THROWS_AS(big.forward({Tensor({1, 1, 3, 3})}, s, {}), Error);  // kernel larger than input
}

TEST_CASE("Conv2d: identical receptive fields give bit-identical outputs, border or not") {
  // A constant image: every interior window is identical, and so is every window with the same
  // overlap with the padding (e.g. all positions along the top edge, excluding the corners).
  Rng rng(11);
  for (int64_t C : {1, 8}) {
    Conv2d conv("c", C, 16, 3, 3, Conv2dOptions::same(1, 1));
    conv.init(rng);
    Tensor x = Tensor::full({2, C, 28, 28}, 0.3712);
    Saved s;
    Tensor y = conv.forward({x}, s, {}).at(0);
    const float* p = y.data<float>();
    const int64_t HW = 28 * 28;
    int mismatches = 0;
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t o = 0; o < 16; ++o) {
        const float* plane = p + (n * 16 + o) * HW;
        const float interior = plane[5 * 28 + 7], top = plane[0 * 28 + 9], left = plane[13 * 28 + 0];
        for (int64_t h = 1; h < 27; ++h)
          for (int64_t w = 1; w < 27; ++w) mismatches += plane[h * 28 + w] != interior;
        for (int64_t w = 1; w < 27; ++w) mismatches += plane[w] != top;
        for (int64_t h = 1; h < 27; ++h) mismatches += plane[h * 28] != left;
        // and across samples
        mismatches += plane[3 * 28 + 3] != p[o * HW + 20 * 28 + 11];
      }
    CHECK(mismatches == 0);
  }
  // Zero regions of a random image: outputs there equal the bias exactly, wherever they are.
  Conv2d conv("c", 1, 8, 3, 3, Conv2dOptions::same(1, 1));
  conv.init(rng);
  Tensor x = Tensor::zeros({1, 1, 28, 28});
  float* px = x.data<float>();
  for (int64_t h = 10; h < 18; ++h)
    for (int64_t w = 10; w < 18; ++w) px[h * 28 + w] = static_cast<float>(rng.uniform());
  Saved s;
  Tensor y = conv.forward({x}, s, {}).at(0);
  int mismatches = 0;
  for (int64_t o = 0; o < 8; ++o) {
    const float ref = y.data<float>()[o * 784];  // corner: a window touching the padding
    for (int64_t h = 0; h < 28; ++h)
      for (int64_t w = 0; w < 28; ++w)
        if (h < 8 || h > 19 || w < 8 || w > 19) mismatches += y.data<float>()[o * 784 + h * 28 + w] != ref;
  }
  CHECK(mismatches == 0);
}

TEST_CASE("Conv2d: forward, input, weight and per-example gradients are bit-identical for 1 and 2 threads") {
  const int saved_threads = num_threads();
  Rng rng(13);
  Conv2d conv("c", 8, 16, 3, 3, Conv2dOptions::same(1, 1));
  conv.init(rng);
  Tensor x = random_f32({9, 8, 14, 14}, rng);  // 9 samples: uneven split, several weight-grad chunks
  Tensor gy = random_f32({9, 16, 14, 14}, rng);
  Tensor x1 = random_f32({1, 8, 14, 14}, rng);  // batch of one: the GEMM itself is parallel
  std::vector<std::vector<Tensor>> results;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    std::vector<Tensor> r;
    Saved s;
    r.push_back(conv.forward({x}, s, {}).at(0));
    conv.weight_param().grad = Tensor();
    conv.bias_param().grad = Tensor();
    BackwardOptions acc;
    acc.param_grad = ParamGrad::Accumulate;
    r.push_back(conv.backward({gy}, s, acc).at(0));
    r.push_back(conv.weight_param().grad);
    r.push_back(conv.bias_param().grad);
    BackwardOptions per;
    per.param_grad = ParamGrad::PerExample;
    conv.backward({gy}, s, per);
    r.push_back(conv.weight_param().grad);
    Saved s1;
    r.push_back(conv.forward({x1}, s1, {}).at(0));
    results.push_back(r);
  }
  set_num_threads(saved_threads);
  for (size_t i = 0; i < results[0].size(); ++i) {
    INFO("result ", i);
    CHECK(bitwise_equal(results[0][i], results[1][i]));
  }
}

TEST_CASE("Conv2d inherits the linear LRP rules") {
  Rng rng(6);
  Conv2d conv("c", 2, 3, 3, 3, Conv2dOptions::same(1, 1), DType::F64);
  conv.init(rng);
  Tensor x = random_tensor({2, 2, 5, 5}, rng, 0.0, 1.0);
  Saved s;
  Tensor y = conv.forward({x}, s, {}).at(0);
  Tensor R = random_tensor(y.shape(), rng, 0.0, 1.0);
  for (const char* name : {"epsilon", "zplus", "gamma", "alpha-beta", "box", "w2", "flat"}) {
    Rule r;
    r.name = name;
    r.bias_in_denominator = false;
    INFO(name);
    Tensor Rin = conv.relevance({R}, s, r).at(0);
    CHECK(Rin.shape() == x.shape());
    if (std::string(name) == "zplus" || std::string(name) == "w2" || std::string(name) == "flat")
      CHECK(ops::sum_all(Rin) == doctest::Approx(ops::sum_all(R)).epsilon(1e-4));  // δ absorbs a little
  }
}
