// The training speed paths (issue #2) against the definitions they compute:
//   - the conv bias gradient (several per-sample sums side by side) against one chain per sample, bit for bit;
//   - the direct convolution kernels (engine/cpu/conv_direct.h): the forward bit for bit against the GEMM
//     route's arithmetic, the weight gradient against the definition, thread-count independent;
//   - the row-wise col2im and the fused weight + bias gradient; the 2x2 max-pool on rows of 4..7 outputs;
//   - the ReLU bit mask and the max-pool tap codes of a training forward, bit for bit against the passes
//     from x and the flat arg-max indices.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "engine/cpu/gemm.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "layers/maxpool2d.h"
#include "layers/registry.h"
#include "layers/relu.h"
#include "tests/gradcheck.h"

using namespace xdnn;

TEST_CASE("conv2d bias gradient: each per-sample sum in position order, samples added in order") {
  Rng rng(24);
  for (int64_t N : {1, 7, 8, 21}) {
    CAPTURE(N);
    for (DType dt : {DType::F32, DType::F64}) {
      const Tensor gy = random_tensor({N, 5, 3, 7}, rng).to(dt);
      const int64_t O = 5, P = 21;
      Tensor per_ref({N, O}, DType::F64), total_ref({O}, DType::F64);
      for (int64_t o = 0; o < O; ++o) {
        // The definition, in the tensor's own precision: one chain per (sample, channel).
        double total_d = 0;
        float total_f = 0;
        for (int64_t n = 0; n < N; ++n) {
          double sd = 0;
          float sf = 0;
          for (int64_t p = 0; p < P; ++p) {
            sd += gy.item((n * O + o) * P + p);
            sf += static_cast<float>(gy.item((n * O + o) * P + p));
          }
          per_ref.set_item(n * O + o, dt == DType::F64 ? sd : sf);
          total_d += sd;
          total_f += sf;
        }
        total_ref.set_item(o, dt == DType::F64 ? total_d : total_f);
      }
      const int saved_threads = num_threads();
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        CHECK(bitwise_equal(ops::conv2d_backward_bias(gy, true), per_ref.to(dt)));
        CHECK(bitwise_equal(ops::conv2d_backward_bias(gy, false), total_ref.to(dt)));
      }
      set_num_threads(saved_threads);
    }
  }
}

namespace {

struct DirectCase {
  const char* name;
  Shape x, w;
  int64_t pad;
};

// Convolutions the direct kernels take (engine/cpu/conv_direct.h): few taps, stride 1, rows of at least
// one vector; O > 8 needs two channel blocks, OW % 8 != 0 the overlapping / masked row tail.
std::vector<DirectCase> direct_cases() {
  return {{"fashion-cnn conv1, batch 5", {5, 1, 28, 28}, {8, 1, 3, 3}, 1},
          {"11 channels, 2x2, odd width", {3, 1, 9, 13}, {11, 1, 2, 2}, 0},
          {"3 input channels, 1x3, pad 1", {4, 3, 5, 10}, {5, 3, 1, 3}, 1},
          {"1x1, 16 wide", {2, 1, 3, 16}, {3, 1, 1, 1}, 0},
          {"20 wide: a 512-bit row tail overlaps", {2, 1, 4, 20}, {9, 1, 3, 3}, 1}};
}

ops::Conv2dGeometry padding(int64_t p) {
  ops::Conv2dGeometry g;
  g.pad_top = g.pad_left = g.pad_bottom = g.pad_right = p;
  return g;
}

// y from the definition in the GEMM route's arithmetic: one fused multiply-add per tap (c, i, j) in order,
// starting from zero, padded taps included as zeros, then + b.
template <class T>
Tensor forward_reference(const Tensor& x, const Tensor& w, const Tensor& b, int64_t pad) {
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), O = w.dim(0), KH = w.dim(2), KW = w.dim(3);
  const int64_t OH = H + 2 * pad - KH + 1, OW = W + 2 * pad - KW + 1;
  Tensor y({N, O, OH, OW}, x.dtype());
  const T *px = x.data<T>(), *pw = w.data<T>(), *pb = b.data<T>();
  T* py = y.data<T>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          T acc = T(0);
          for (int64_t c = 0; c < C; ++c)
            for (int64_t i = 0; i < KH; ++i)
              for (int64_t j = 0; j < KW; ++j) {
                const int64_t h = oh + i - pad, v = ow + j - pad;
                const T xv = h >= 0 && h < H && v >= 0 && v < W ? px[((n * C + c) * H + h) * W + v] : T(0);
                acc = std::fma(pw[((o * C + c) * KH + i) * KW + j], xv, acc);
              }
          py[((n * O + o) * OH + oh) * OW + ow] = acc + pb[o];
        }
  return y;
}

}  // namespace

TEST_CASE("conv2d direct kernels: forward bits are the GEMM route's (fma per tap from zero, then + b)") {
  Rng rng(25);
  auto cases = direct_cases();
  // And a shape the GEMM route takes (rows shorter than a vector), to show it computes the same.
  cases.push_back({"GEMM route: 5 wide", {3, 1, 6, 5}, {4, 1, 3, 3}, 1});
  for (const auto& c : cases) {
    CAPTURE(c.name);
    for (DType dt : {DType::F32, DType::F64}) {
      const Tensor x = random_tensor(c.x, rng).to(dt), w = random_tensor(c.w, rng).to(dt);
      const Tensor b = random_tensor({c.w[0]}, rng).to(dt);
      const Tensor ref =
          dt == DType::F32 ? forward_reference<float>(x, w, b, c.pad) : forward_reference<double>(x, w, b, c.pad);
      const int saved_threads = num_threads();
      const cpu::GemmKernel saved_kernel = cpu::gemm_kernel();
      // The 512-bit direct forward runs with the 512-bit GEMM kernel (conv_direct_avx512.h); both widths.
      for (cpu::GemmKernel kernel : {cpu::GemmKernel::Vec256, cpu::GemmKernel::Vec512}) {
        if (!cpu::gemm_kernel_available(kernel)) {
          MESSAGE("no AVX-512F on this CPU: the 512-bit direct forward is not checked here");
          continue;
        }
        cpu::set_gemm_kernel(kernel);
        for (int threads : {1, 2}) {
          set_num_threads(threads);
          CHECK(bitwise_equal(ops::conv2d_forward(x, w, b, padding(c.pad)), ref));
        }
      }
      cpu::set_gemm_kernel(saved_kernel);
      set_num_threads(saved_threads);
    }
  }
}

TEST_CASE("conv2d direct kernels: weight gradient matches the definition; 1 vs 2 threads bits; accumulate") {
  Rng rng(26);
  for (const auto& c : direct_cases()) {
    CAPTURE(c.name);
    const Tensor x = random_tensor(c.x, rng), w(c.w, DType::F64);
    const ops::Conv2dGeometry g = padding(c.pad);
    const Tensor gy = random_tensor(ops::conv2d_output_shape(c.x, c.w, g), rng);
    // Σ_n gy_n ⋆ x_n from the definition, in long double.
    const int64_t N = c.x[0], C = c.x[1], H = c.x[2], W = c.x[3], O = c.w[0], KH = c.w[2], KW = c.w[3];
    const int64_t OH = gy.dim(2), OW = gy.dim(3);
    Tensor ref(c.w, DType::F64);
    for (int64_t o = 0; o < O; ++o)
      for (int64_t ci = 0; ci < C; ++ci)
        for (int64_t i = 0; i < KH; ++i)
          for (int64_t j = 0; j < KW; ++j) {
            long double s = 0;
            for (int64_t n = 0; n < N; ++n)
              for (int64_t oh = 0; oh < OH; ++oh)
                for (int64_t ow = 0; ow < OW; ++ow) {
                  const int64_t h = oh + i - c.pad, v = ow + j - c.pad;
                  if (h >= 0 && h < H && v >= 0 && v < W)
                    s += static_cast<long double>(gy.item(((n * O + o) * OH + oh) * OW + ow)) *
                         x.item(((n * C + ci) * H + h) * W + v);
                }
            ref.set_item(((o * C + ci) * KH + i) * KW + j, static_cast<double>(s));
          }
    Tensor gw(c.w, DType::F64);
    ops::conv2d_backward_weight(x, gy, gw, false, g);
    CHECK(testing::max_rel_diff(gw, ref) < 1e-12);
    Tensor acc = gw.clone();
    ops::conv2d_backward_weight(x, gy, acc, true, g);
    CHECK(bitwise_equal(acc, ops::add(gw, gw)));

    const Tensor xf = x.to(DType::F32), gyf = gy.to(DType::F32);
    const int saved_threads = num_threads();
    Tensor gwf[2];
    for (int t = 0; t < 2; ++t) {
      set_num_threads(t + 1);
      gwf[t] = Tensor(c.w, DType::F32);
      ops::conv2d_backward_weight(xf, gyf, gwf[t], false, g);
    }
    set_num_threads(saved_threads);
    CHECK(bitwise_equal(gwf[0], gwf[1]));
    CHECK(testing::max_rel_diff(gwf[0].to(DType::F64), ref) < 1e-5);
  }
}

TEST_CASE("conv2d input gradient (row-wise col2im for short rows): bits of the definition in the GEMM's order") {
  // gx[c, h, w] = Σ over taps (i, j) in order, from zero, of dcol = Σ_o w[o, c, i, j] · gy[o, oh, ow] (one fma
  // per o from zero, the GEMM's order): the order of the padded-plane col2im and of the row-wise one.
  struct Case {
    const char* name;
    Shape x, w;
    int64_t pt, pl, pb, pr;
  };
  const Case cases[] = {{"fashion-cnn conv2 (rows of 14)", {3, 8, 14, 14}, {16, 8, 3, 3}, 1, 1, 1, 1},
                        {"asymmetric padding, 2x3, rows of 10", {2, 3, 7, 10}, {4, 3, 2, 3}, 1, 2, 0, 1},
                        {"rows of 6 (float64 row-wise, float32 plane)", {2, 2, 5, 6}, {3, 2, 3, 3}, 1, 1, 1, 1},
                        {"rows of 28 (plane col2im)", {2, 1, 6, 28}, {3, 1, 3, 3}, 1, 1, 1, 1}};
  Rng rng(27);
  for (const auto& c : cases) {
    CAPTURE(c.name);
    ops::Conv2dGeometry g;
    g.pad_top = c.pt, g.pad_left = c.pl, g.pad_bottom = c.pb, g.pad_right = c.pr;
    for (DType dt : {DType::F32, DType::F64}) {
      const Tensor w = random_tensor(c.w, rng).to(dt);
      const Tensor gy = random_tensor(ops::conv2d_output_shape(c.x, c.w, g), rng).to(dt);
      const Tensor gx = ops::conv2d_backward_input(gy, w, c.x, g);
      const int64_t N = c.x[0], C = c.x[1], H = c.x[2], W = c.x[3], O = c.w[0], KH = c.w[2], KW = c.w[3];
      const int64_t OH = gy.dim(2), OW = gy.dim(3);
      auto reference = [&](auto zero) {
        using T = decltype(zero);
        Tensor ref(c.x, dt);
        const T *pw = w.data<T>(), *pg = gy.data<T>();
        T* pr = ref.data<T>();
        for (int64_t n = 0; n < N; ++n)
          for (int64_t ci = 0; ci < C; ++ci)
            for (int64_t h = 0; h < H; ++h)
              for (int64_t v = 0; v < W; ++v) {
                T s = T(0);
                for (int64_t i = 0; i < KH; ++i)
                  for (int64_t j = 0; j < KW; ++j) {
                    const int64_t oh = h + c.pt - i, ow = v + c.pl - j;
                    if (oh < 0 || oh >= OH || ow < 0 || ow >= OW) continue;
                    T t = T(0);
                    for (int64_t o = 0; o < O; ++o)
                      t = std::fma(pw[((o * C + ci) * KH + i) * KW + j], pg[((n * O + o) * OH + oh) * OW + ow], t);
                    s = s + t;
                  }
                pr[((n * C + ci) * H + h) * W + v] = s;
              }
        return ref;
      };
      const Tensor ref = dt == DType::F32 ? reference(0.0f) : reference(0.0);
      CHECK(bitwise_equal(gx, ref));
    }
  }
}

TEST_CASE("conv2d_backward_weight_bias: gw bits of conv2d_backward_weight, gb += the bias gradient; 1 vs 2 threads") {
  Rng rng(28);
  struct Case {
    const char* name;
    Shape x, w;
    int64_t pad;
  };
  const Case cases[] = {{"direct route (fashion-cnn conv1), batch 5", {5, 1, 28, 28}, {8, 1, 3, 3}, 1},
                        {"direct route, masked row tails", {3, 1, 9, 13}, {11, 1, 2, 2}, 0},
                        {"GEMM route, several chunks and a short one", {37, 8, 14, 14}, {16, 8, 3, 3}, 1},
                        {"GEMM route, one sample", {1, 3, 5, 6}, {4, 3, 3, 3}, 0}};
  for (const auto& c : cases) {
    CAPTURE(c.name);
    const ops::Conv2dGeometry g = padding(c.pad);
    const Tensor x = random_tensor(c.x, rng), gy = random_tensor(ops::conv2d_output_shape(c.x, c.w, g), rng);
    const Tensor start = random_tensor({c.w[0]}, rng);
    for (DType dt : {DType::F64, DType::F32}) {
      const Tensor xd = x.to(dt), gyd = gy.to(dt);
      Tensor gw_ref(c.w, dt);
      ops::conv2d_backward_weight(xd, gyd, gw_ref, false, g);
      const Tensor gb_ref = ops::add(start.to(dt), ops::conv2d_backward_bias(gyd, false));
      const int saved_threads = num_threads();
      Tensor gb[2];
      for (int t = 0; t < 2; ++t) {
        set_num_threads(t + 1);
        Tensor gw(c.w, dt);
        gb[t] = start.to(dt).clone();
        ops::conv2d_backward_weight_bias(xd, gyd, gw, false, gb[t], g);
        CHECK(bitwise_equal(gw, gw_ref));
        Tensor acc = gw_ref.clone(), acc_ref = gw_ref.clone();
        Tensor gb_scratch = start.to(dt).clone();
        ops::conv2d_backward_weight_bias(xd, gyd, acc, true, gb_scratch, g);
        ops::conv2d_backward_weight(xd, gyd, acc_ref, true, g);
        CHECK(bitwise_equal(acc, acc_ref));
      }
      set_num_threads(saved_threads);
      CHECK(bitwise_equal(gb[0], gb[1]));
      CHECK(testing::max_rel_diff(gb[0].to(DType::F64), gb_ref.to(DType::F64)) < (dt == DType::F64 ? 1e-12 : 1e-5));
    }
  }
  Tensor gw({8, 1, 3, 3}), wrong({7});
  CHECK_THROWS_AS(ops::conv2d_backward_weight_bias(Tensor({2, 1, 5, 5}), Tensor({2, 8, 3, 3}), gw, false, wrong,
                                                   ops::Conv2dGeometry{}),
                  Error);
}

TEST_CASE("maxpool2d 2x2 forward, rows of 4..7 outputs (one 8-lane vector spilling into the next row)") {
  Rng rng(29);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const Shape& s : std::vector<Shape>{{3, 2, 14, 14}, {2, 2, 9, 11}, {1, 3, 8, 8}, {2, 1, 13, 15}}) {
    CAPTURE(shape_str(s));
    Tensor x(s, DType::F64);
    for (int64_t i = 0; i < x.numel(); ++i) {
      const uint64_t r = rng.below(10);  // few distinct values: ties, -0 against +0, NaNs
      x.set_item(i, r == 0 ? nan : r == 1 ? -0.0 : r == 2 ? 0.0 : static_cast<double>(r % 3));
    }
    x = x.to(DType::F32);
    ops::Pool2dGeometry g;
    g.kernel_h = g.kernel_w = g.stride_h = g.stride_w = 2;
    Tensor arg;
    const Tensor y = ops::maxpool2d_forward(x, g, arg);
    // The definition: the first NaN, else the first element equal to the maximum, in row-major order.
    const int64_t planes = s[0] * s[1], OH = s[2] / 2, OW = s[3] / 2;
    REQUIRE(y.shape() == Shape{s[0], s[1], OH, OW});
    Tensor ref, ref_arg;
    testing::naive_pool2x2(x, ref, ref_arg);
    bool same = true;
    for (int64_t o = 0; o < planes * OH * OW; ++o) {
      const double got = y.item(o), bv = ref.item(o);
      same = same && arg.item(o) == ref_arg.item(o) &&
             (std::isnan(bv) ? std::isnan(got) : std::signbit(got) == std::signbit(bv) && got == bv);
    }
    CHECK(same);
  }
}

TEST_CASE("relu_with_mask / relu_backward_mask: the bits of unary Relu and leaky_relu_backward (NaN, ±0, ±inf)") {
  Rng rng(30);
  const double special[] = {std::numeric_limits<double>::quiet_NaN(), -0.0, 0.0,
                            std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()};
  for (int64_t n : {1, 63, 64, 65, 1000, 70001}) {
    CAPTURE(n);
    Tensor x({n}, DType::F64), g({n}, DType::F64);
    for (int64_t i = 0; i < n; ++i) {
      x.set_item(i, rng.below(6) == 0 ? special[rng.below(5)] : rng.uniform(-1, 1));
      g.set_item(i, rng.below(6) == 0 ? special[rng.below(5)] : rng.uniform(-1, 1));
    }
    for (DType dt : {DType::F32, DType::F64}) {
      const Tensor xd = x.to(dt), gd = g.to(dt);
      const int saved_threads = num_threads();
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        Tensor mask;
        const Tensor y = ops::relu_with_mask(xd, mask);
        CHECK(bitwise_equal(y, ops::unary(ops::Unary::Relu, xd)));
        REQUIRE(mask.numel() == (n + 63) / 64);
        for (bool guided : {false, true})
          CHECK(
              bitwise_equal(ops::relu_backward_mask(mask, gd, guided), ops::leaky_relu_backward(xd, gd, 0.0, guided)));
      }
      set_num_threads(saved_threads);
    }
  }
  Tensor mask;
  ops::relu_with_mask(Tensor({65}), mask);
  CHECK_THROWS_WITH_AS(ops::relu_backward_mask(mask, Tensor({129}), false), doctest::Contains("does not fit"), Error);
}

TEST_CASE("ReLU layer: a training forward's backward passes equal an inference forward's, every mode") {
  Rng rng(31);
  ReLU relu;
  Tensor x = random_tensor({3, 5, 7, 9}, rng);
  x.set_item(4, 0.0);
  x.set_item(5, -0.0);
  for (DType dt : {DType::F32, DType::F64}) {
    const Tensor xd = x.to(dt), g = random_tensor(x.shape(), rng).to(dt);
    ForwardOptions train_mode;
    train_mode.training = true;
    Saved s_inf, s_train;
    CHECK(bitwise_equal(relu.forward({xd}, s_inf, {})[0], relu.forward({xd}, s_train, train_mode)[0]));
    CHECK(s_train.tensor("mask").defined());
    CHECK_FALSE(s_inf.tensor("mask").defined());
    for (BackwardMode mode : {BackwardMode::Gradient, BackwardMode::GuidedBackprop, BackwardMode::DeconvNet}) {
      BackwardOptions bo;
      bo.mode = mode;
      CHECK(bitwise_equal(relu.backward({g}, s_inf, bo)[0], relu.backward({g}, s_train, bo)[0]));
    }
  }
}

TEST_CASE("maxpool2d tap codes: y and gradient bits of maxpool2d_forward / _backward (ties, NaNs, -0, odd sizes)") {
  Rng rng(32);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  ops::Pool2dGeometry g;
  g.kernel_h = g.kernel_w = g.stride_h = g.stride_w = 2;
  // Rows of 8, 17, 3, 14, 7, 5 and 32 outputs (vectors, overlapping tails, 4-lane and scalar rows).
  for (const Shape& s : std::vector<Shape>{
           {2, 3, 8, 16}, {1, 2, 9, 35}, {3, 1, 7, 7}, {2, 2, 28, 28}, {3, 2, 14, 14}, {2, 2, 9, 11}, {1, 2, 4, 64}}) {
    CAPTURE(shape_str(s));
    Tensor x(s, DType::F64);
    for (int64_t i = 0; i < x.numel(); ++i) {
      const uint64_t r = rng.below(10);
      x.set_item(i, r == 0 ? nan : r == 1 ? -0.0 : r == 2 ? 0.0 : static_cast<double>(r % 3));
    }
    x = x.to(DType::F32);
    REQUIRE(ops::maxpool2d_tap_codes_apply(x, g));
    Tensor arg;
    const Tensor y_ref = ops::maxpool2d_forward(x, g, arg);
    Tensor gy(y_ref.shape(), DType::F32);
    for (int64_t i = 0; i < gy.numel(); ++i) gy.set_item(i, i % 5 == 0 ? -0.0 : static_cast<double>(i + 1));
    const Tensor gx_ref = ops::maxpool2d_backward(gy, arg, s);
    const int saved_threads = num_threads();
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      Tensor codes;
      const Tensor y = ops::maxpool2d_forward_tap_codes(x, g, codes);
      CHECK(bitwise_equal(y, y_ref));
      CHECK(bitwise_equal(ops::maxpool2d_backward_tap_codes(gy, codes, s), gx_ref));
    }
    set_num_threads(saved_threads);
  }
  CHECK_FALSE(ops::maxpool2d_tap_codes_apply(Tensor({1, 1, 4, 66}), g));  // 33 outputs per row
  CHECK_FALSE(ops::maxpool2d_tap_codes_apply(Tensor({1, 1, 4, 8}, DType::F64), g));
  ops::Pool2dGeometry g3 = g;
  g3.kernel_h = g3.kernel_w = 3;
  CHECK_FALSE(ops::maxpool2d_tap_codes_apply(Tensor({1, 1, 6, 6}), g3));
  Tensor codes;
  ops::maxpool2d_forward_tap_codes(Tensor({1, 2, 6, 6}), g, codes);
  CHECK_THROWS_WITH_AS(ops::maxpool2d_backward_tap_codes(Tensor({1, 2, 2, 3}), codes, {1, 2, 4, 6}),
                       doctest::Contains("do not fit"), Error);
}

TEST_CASE("MaxPool2d layer: a training forward (tap codes) gives an inference forward's backward, R-op and LRP") {
  Rng rng(33);
  MaxPool2d pool(2);
  const Tensor x = random_tensor({3, 4, 14, 14}, rng).to(DType::F32);
  ForwardOptions train_mode;
  train_mode.training = true;
  Saved s_inf, s_train;
  CHECK(bitwise_equal(pool.forward({x}, s_inf, {})[0], pool.forward({x}, s_train, train_mode)[0]));
  REQUIRE(s_train.tensor("tap_codes").defined());
  CHECK_FALSE(s_train.tensor("argmax").defined());
  const Tensor g = random_tensor({3, 4, 7, 7}, rng).to(DType::F32);
  CHECK(bitwise_equal(pool.backward({g}, s_inf, {})[0], pool.backward({g}, s_train, {})[0]));
  Rule wta;
  wta.name = "wta";
  CHECK(bitwise_equal(pool.relevance({g}, s_inf, wta)[0], pool.relevance({g}, s_train, wta)[0]));
  const Tensor rx = random_tensor(x.shape(), rng).to(DType::F32);
  CHECK(bitwise_equal(pool.r_forward({rx}, {}, s_inf)[0], pool.r_forward({rx}, {}, s_train)[0]));
  // float64 (gradient checks) keeps the flat arg-max indices.
  Saved s64;
  pool.forward({x.to(DType::F64)}, s64, train_mode);
  CHECK(s64.tensor("argmax").defined());
  CHECK_FALSE(s64.tensor("tap_codes").defined());
}
