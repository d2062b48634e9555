// The CUDA kernels of cuda-kernels' files (conv, cuDNN conv, pooling, norms, activations, pointwise, data
// movement, recurrent cells) against their CPU twins on fresh random inputs, through the ops:: entry
// points (so the device guards at the top of the CPU ops are exercised too). Tolerances of issue #7:
// relative L2 <= 1e-5 for float32 element-wise work, <= 1e-4 for reductions and products; float64 runs
// must agree to 1e-12 (1e-10 for products). Each case also runs twice and must repeat bit for bit.
//
// Without a GPU (or in a build without the backend) every case is a doctest skip (tests/cuda_skip.h).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "engine/ops_onnx.h"
#include "engine/random.h"
#include "kernels/cuda_ops.h"
#include "tests/cuda_skip.h"
#include "tests/gradcheck.h"
#include "tests/random_tensors.h"

using namespace xdnn;
using testing::no_gpu;
using testing::rel_l2;

namespace {

Tensor randn(const Shape& s, Rng& rng, DType dt) { return random_normal(s, rng, dt); }

Tensor dev(const Tensor& t) { return t.defined() ? t.to(Device::CUDA) : t; }

double tol(DType dt, bool product) {
  if (dt == DType::F64) return product ? 1e-10 : 1e-12;
  return product ? 1e-4 : 1e-5;
}

// gpu (on the GPU) against cpu: device, shape and relative L2 error.
void agree(const Tensor& gpu, const Tensor& cpu, double tolerance, const char* what) {
  INFO(what);
  REQUIRE(gpu.device() == Device::CUDA);
  const Tensor h = gpu.to(Device::CPU);
  REQUIRE(h.shape() == cpu.shape());
  CHECK(rel_l2(h, cpu) <= tolerance);
}

[[maybe_unused]] void same_bits(const Tensor& a, const Tensor& b, const char* what) {
  INFO(what, " (two runs)");
  CHECK(bitwise_equal(a.to(Device::CPU), b.to(Device::CPU)));
}

[[maybe_unused]] ops::Conv2dGeometry geometry(int64_t s, int64_t pt, int64_t pl, int64_t pb, int64_t pr, int64_t d,
                                              int64_t groups) {
  ops::Conv2dGeometry g;
  g.stride_h = s, g.stride_w = s == 1 ? 1 : s - 1, g.pad_top = pt, g.pad_left = pl, g.pad_bottom = pb;
  g.pad_right = pr, g.dilation_h = d, g.dilation_w = 1, g.groups = groups;
  return g;
}

}  // namespace

TEST_CASE("cuda kernels: convolution (im2col + cuBLAS and cuDNN) vs the CPU op" * doctest::skip(no_gpu())) {
  if constexpr (cuda::kBuilt) {
    Rng rng(901);
    struct Case {
      Shape x, w;
      ops::Conv2dGeometry g;
    };
    const Case cases[] = {{{4, 3, 17, 15}, {8, 3, 3, 3}, geometry(1, 1, 1, 1, 1, 1, 1)},
                          {{3, 4, 13, 12}, {6, 2, 3, 2}, geometry(2, 1, 1, 1, 1, 2, 2)},
                          {{2, 6, 9, 9}, {6, 2, 1, 1}, geometry(1, 0, 0, 0, 0, 1, 3)},
                          {{5, 2, 11, 10}, {4, 2, 3, 3}, geometry(3, 0, 2, 1, 0, 1, 1)},  // asymmetric: im2col only
                          {{64, 16, 8, 8}, {32, 16, 3, 3}, geometry(1, 1, 1, 1, 1, 1, 1)}};
    for (DType dt : {DType::F32, DType::F64})
      for (const auto& c : cases)
        for (cuda::ConvAlgo algo : {cuda::ConvAlgo::Auto, cuda::ConvAlgo::Im2col, cuda::ConvAlgo::Cudnn}) {
          if (algo == cuda::ConvAlgo::Cudnn && !cuda::cudnn_supports(c.g)) continue;
          INFO(dtype_name(dt), " x ", shape_str(c.x), " w ", shape_str(c.w), " algo ", static_cast<int>(algo));
          cuda::set_conv_algo(algo);
          Tensor x = randn(c.x, rng, dt), w = randn(c.w, rng, dt), b = randn({c.w[0]}, rng, dt);
          const Tensor y = ops::conv2d_forward(x, w, b, c.g);
          Tensor gy = randn(y.shape(), rng, dt);
          const Tensor xd = dev(x), wd = dev(w), bd = dev(b), gyd = dev(gy);
          const Tensor yd = ops::conv2d_forward(xd, wd, bd, c.g);
          agree(yd, y, tol(dt, true), "forward");
          same_bits(yd, ops::conv2d_forward(xd, wd, bd, c.g), "forward");
          agree(ops::conv2d_forward(xd, wd, Tensor(), c.g), ops::conv2d_forward(x, w, Tensor(), c.g), tol(dt, true),
                "forward without bias");
          agree(ops::conv2d_backward_input(gyd, wd, c.x, c.g), ops::conv2d_backward_input(gy, w, c.x, c.g),
                tol(dt, true), "input gradient");
          Tensor gw = randn(c.w, rng, dt), gw_cpu = gw.clone(), gwd = dev(gw);
          ops::conv2d_backward_weight(x, gy, gw_cpu, true, c.g);
          ops::conv2d_backward_weight(xd, gyd, gwd, true, c.g);
          agree(gwd, gw_cpu, tol(dt, true), "weight gradient, accumulated");
          ops::conv2d_backward_weight(x, gy, gw_cpu, false, c.g);
          ops::conv2d_backward_weight(xd, gyd, gwd, false, c.g);
          agree(gwd, gw_cpu, tol(dt, true), "weight gradient");
          agree(ops::conv2d_backward_weight_per_example(xd, gyd, c.w, c.g),
                ops::conv2d_backward_weight_per_example(x, gy, c.w, c.g), tol(dt, true),
                "per-example weight gradients");
          for (bool per_example : {false, true})
            agree(ops::conv2d_backward_bias(gyd, per_example), ops::conv2d_backward_bias(gy, per_example),
                  tol(dt, true), "bias gradient");
        }
    cuda::set_conv_algo(cuda::ConvAlgo::Auto);
  }
}

TEST_CASE("cuda kernels: max and average pooling vs the CPU op" * doctest::skip(no_gpu())) {
  Rng rng(902);
  for (DType dt : {DType::F32, DType::F64})
    for (int64_t k : {2, 3}) {
      ops::Pool2dGeometry g;
      g.kernel_h = k, g.kernel_w = 5 - k, g.stride_h = 2, g.stride_w = 1, g.pad_top = 1, g.pad_left = 0;
      g.pad_bottom = 0, g.pad_right = 1, g.dilation_h = k - 1, g.ceil_mode = k == 3;
      INFO(dtype_name(dt), " kernel ", k);
      Tensor x(Shape{3, 5, 14, 13}, dt);
      for (int64_t i = 0; i < x.numel(); ++i) x.set_item(i, static_cast<double>(rng.below(4)));  // ties
      Tensor arg_cpu, arg_gpu;
      const Tensor y = ops::maxpool2d_forward(x, g, arg_cpu);
      const Tensor yd = ops::maxpool2d_forward(dev(x), g, arg_gpu);
      CHECK(bitwise_equal(yd.to(Device::CPU), y));
      CHECK(bitwise_equal(arg_gpu.to(Device::CPU), arg_cpu));  // the first-maximum rule
      Tensor gy = randn(y.shape(), rng, dt);
      agree(ops::maxpool2d_backward(dev(gy), arg_gpu, x.shape()), ops::maxpool2d_backward(gy, arg_cpu, x.shape()),
            tol(dt, false), "maxpool backward");
      Tensor xr = randn(x.shape(), rng, dt);
      for (auto div :
           {ops::PoolDivisor::Sum, ops::PoolDivisor::WindowIncludingPad, ops::PoolDivisor::WindowExcludingPad}) {
        agree(ops::avgpool2d_forward(dev(xr), g, div), ops::avgpool2d_forward(xr, g, div), tol(dt, false), "avgpool");
        agree(ops::avgpool2d_backward(dev(gy), x.shape(), g, div), ops::avgpool2d_backward(gy, x.shape(), g, div),
              tol(dt, false), "avgpool backward");
      }
    }
}

TEST_CASE("cuda kernels: batch norm, layer norm and centring vs the CPU ops" * doctest::skip(no_gpu())) {
  Rng rng(903);
  for (DType dt : {DType::F32, DType::F64}) {
    INFO(dtype_name(dt));
    Tensor x = ops::add_scalar(randn({8, 6, 7, 5}, rng, dt), 2.0), gy = randn(x.shape(), rng, dt);
    Tensor gamma = randn({6}, rng, dt), beta = randn({6}, rng, dt);
    const auto st = ops::batchnorm_stats(x);
    const auto std_ = ops::batchnorm_stats(dev(x));
    agree(std_[0], st[0], tol(dt, true), "batchnorm mean");
    agree(std_[1], st[1], tol(dt, true), "batchnorm var");
    agree(ops::batchnorm_forward(dev(x), dev(st[0]), dev(st[1]), dev(gamma), dev(beta), 1e-5),
          ops::batchnorm_forward(x, st[0], st[1], gamma, beta, 1e-5), tol(dt, false), "batchnorm forward");
    for (bool batch_stats : {true, false})
      for (bool per_example : {false, true}) {
        const auto r = ops::batchnorm_backward(gy, x, st[0], st[1], gamma, 1e-5, batch_stats, per_example);
        const auto d = ops::batchnorm_backward(dev(gy), dev(x), dev(st[0]), dev(st[1]), dev(gamma), 1e-5, batch_stats,
                                               per_example);
        for (int i = 0; i < 3; ++i) agree(d[i], r[i], tol(dt, true), "batchnorm backward");
      }
    Tensor t = randn({4, 9, 33}, rng, dt), g = randn(t.shape(), rng, dt);
    const auto ln = ops::layer_norm_forward(t, 33, 1e-5);
    const auto lnd = ops::layer_norm_forward(dev(t), 33, 1e-5);
    agree(lnd[0], ln[0], tol(dt, true), "layer norm xhat");
    agree(lnd[1], ln[1], tol(dt, true), "layer norm rstd");
    agree(ops::layer_norm_backward(dev(g), lnd[0], lnd[1]), ops::layer_norm_backward(g, ln[0], ln[1]), tol(dt, true),
          "layer norm backward");
    agree(ops::center_last_axis(dev(t)), ops::center_last_axis(t), tol(dt, true), "center_last_axis");
  }
}

TEST_CASE("cuda kernels: activations, GELU / erf, the pointwise family and the dropout mask" *
          doctest::skip(no_gpu())) {
  Rng rng(904);
  for (DType dt : {DType::F32, DType::F64}) {
    INFO(dtype_name(dt));
    Tensor x = randn({5, 301}, rng, dt), g = randn(x.shape(), rng, dt);
    const Tensor xd = dev(x), gd = dev(g);
    const double e = tol(dt, false);
    agree(ops::leaky_relu(xd, 0.01), ops::leaky_relu(x, 0.01), e, "leaky_relu");
    for (bool guided : {false, true})
      agree(ops::leaky_relu_backward(xd, gd, 0.01, guided), ops::leaky_relu_backward(x, g, 0.01, guided), e,
            "leaky_relu backward");
    agree(ops::sigmoid_backward(xd, gd), ops::sigmoid_backward(x, g), e, "sigmoid backward");
    agree(ops::tanh_backward(xd, gd), ops::tanh_backward(x, g), e, "tanh backward");
    for (bool approx : {false, true}) {
      agree(ops::gelu(xd, approx), ops::gelu(x, approx), e, "gelu");
      agree(ops::gelu_derivative(xd, approx), ops::gelu_derivative(x, approx), e, "gelu derivative");
    }
    agree(ops::erf(xd), ops::erf(x), e, "erf");
    agree(ops::erf_derivative(xd), ops::erf_derivative(x), e, "erf derivative");
    const Tensor xp = ops::add_scalar(ops::pointwise(ops::Pointwise::Abs, x), 0.5);
    using P = ops::Pointwise;
    for (P f : {P::Exp, P::Log, P::Sqrt, P::Abs, P::Neg, P::Reciprocal, P::Elu, P::Selu, P::Softplus, P::Softsign,
                P::PowScalar, P::Sigmoid, P::Tanh, P::Scale, P::Clip, P::HardSigmoid, P::HardSwish, P::Mish}) {
      const bool positive = f == P::Log || f == P::Sqrt || f == P::PowScalar || f == P::Reciprocal;
      const Tensor& in = positive ? xp : x;
      const Tensor y = ops::pointwise(f, in, 1.3, 1.05);
      agree(ops::pointwise(f, dev(in), 1.3, 1.05), y, e, "pointwise");
      agree(ops::pointwise_backward(f, dev(in), dev(y), gd, 1.3, 1.05), ops::pointwise_backward(f, in, y, g, 1.3, 1.05),
            e, "pointwise backward");
    }
    if constexpr (cuda::kBuilt) {
      Rng a(77), b(77);
      CHECK(bitwise_equal(cuda::dropout_mask({3, 50}, 0.3, a, dt).to(Device::CPU),
                          ops::dropout_mask({3, 50}, 0.3, b, dt)));
    }
  }
}

TEST_CASE("cuda kernels: Tensor::to(DType) converts on the device with the CPU's bits" * doctest::skip(no_gpu())) {
  Rng rng(906);
  // Past the grid-stride threshold too (several million elements).
  for (int64_t n : {int64_t{1}, int64_t{1001}, int64_t{5} << 20}) {
    const Tensor x = randn({n}, rng, DType::F64);
    const Tensor ids = ops::scale(x, 1e6).to(DType::I64);
    for (const Tensor& t : {x, x.to(DType::F32), ids})
      for (DType d : {DType::F32, DType::F64, DType::I64}) {
        INFO(t.describe(), " -> ", std::string(dtype_name(d)));
        const Tensor got = dev(t).to(d);
        REQUIRE(got.device() == Device::CUDA);
        CHECK(bitwise_equal(got.to(Device::CPU), t.to(d)));
      }
  }
}

TEST_CASE("cuda kernels: data movement and embedding vs the CPU ops (exact)" * doctest::skip(no_gpu())) {
  Rng rng(905);
  for (DType dt : {DType::F32, DType::F64, DType::I64}) {
    INFO(dtype_name(dt));
    Tensor x(Shape{3, 4, 5, 6}, dt);
    for (int64_t i = 0; i < x.numel(); ++i) x.set_item(i, static_cast<double>(rng.below(1000)) - 500);
    const Tensor xd = dev(x);
    auto exact = [](const Tensor& gpu, const Tensor& cpu) { CHECK(bitwise_equal(gpu.to(Device::CPU), cpu)); };
    exact(ops::permute_axes(xd, {3, 1, 0, 2}), ops::permute_axes(x, {3, 1, 0, 2}));
    exact(ops::transpose_axes(xd, {1, 3, 2, 0}), ops::transpose_axes(x, {1, 3, 2, 0}));
    exact(ops::strided_slice(xd, {2, 1, 4, 0}, {-1, 2, -2, 3}, {3, 2, 3, 2}),
          ops::strided_slice(x, {2, 1, 4, 0}, {-1, 2, -2, 3}, {3, 2, 3, 2}));
    Tensor s = ops::strided_slice(x, {2, 1, 4, 0}, {-1, 2, -2, 3}, {3, 2, 3, 2});
    exact(ops::strided_slice_backward(dev(s), {2, 1, 4, 0}, {-1, 2, -2, 3}, x.shape()),
          ops::strided_slice_backward(s, {2, 1, 4, 0}, {-1, 2, -2, 3}, x.shape()));
    exact(ops::slice_last_axis(xd, 1, 4), ops::slice_last_axis(x, 1, 4));
    exact(ops::concat_last_axis({xd, xd}), ops::concat_last_axis({x, x}));
    exact(ops::concat_axis({dev(ops::slice_last_axis(x, 0, 2)), xd}, 3),
          ops::concat_axis({ops::slice_last_axis(x, 0, 2), x}, 3));
    exact(ops::broadcast_to(dev(ops::slice_last_axis(x, 0, 1)), {3, 4, 5, 6}),
          ops::broadcast_to(ops::slice_last_axis(x, 0, 1), {3, 4, 5, 6}));
    for (auto mode : {ops::PadMode::Constant, ops::PadMode::Reflect, ops::PadMode::Edge})
      exact(ops::pad_axes(xd, {1, 0, 2, -1}, {0, 3, 1, 2}, mode, 7.0),
            ops::pad_axes(x, {1, 0, 2, -1}, {0, 3, 1, 2}, mode, 7.0));
    Tensor idx = Tensor::from_vector({2, 2}, std::vector<int64_t>{3, -1, 0, 3});
    exact(ops::gather_axis(xd, dev(idx), 2), ops::gather_axis(x, idx, 2));
    Tensor cond(Shape{4, 1, 6}, DType::I64);
    for (int64_t i = 0; i < cond.numel(); ++i) cond.set_item(i, static_cast<double>(rng.below(2)));
    exact(ops::where(dev(cond), xd, dev(ops::slice_last_axis(x, 2, 3))),
          ops::where(cond, x, ops::slice_last_axis(x, 2, 3)));
  }
  for (DType dt : {DType::F32, DType::F64}) {
    Tensor x = randn({3, 4, 5}, rng, dt), gy = randn({3, 4, 7}, rng, dt);
    for (auto mode : {ops::PadMode::Constant, ops::PadMode::Reflect, ops::PadMode::Edge})
      agree(ops::pad_axes_backward(dev(gy), {0, 0, 2}, {0, 0, 0}, mode, x.shape()),
            ops::pad_axes_backward(gy, {0, 0, 2}, {0, 0, 0}, mode, x.shape()), 0.0, "pad backward");
    Tensor idx = Tensor::from_vector({3}, std::vector<int64_t>{4, 4, -5});
    Tensor g2 = randn({3, 4, 3}, rng, dt);
    agree(ops::gather_axis_backward(dev(g2), dev(idx), 2, x.shape()), ops::gather_axis_backward(g2, idx, 2, x.shape()),
          0.0, "gather backward");
    Tensor table = randn({9, 4}, rng, dt), ids = Tensor::from_vector({2, 3}, std::vector<int64_t>{8, 0, 8, 2, 2, 2});
    agree(ops::gather_rows(dev(table), dev(ids)), ops::gather_rows(table, ids), 0.0, "embedding");
    Tensor ge = randn({2, 3, 4}, rng, dt);
    agree(ops::scatter_add_rows(dev(ge), dev(ids), 9), ops::scatter_add_rows(ge, ids, 9), 0.0, "embedding backward");
    Tensor bad = Tensor::from_vector({2}, std::vector<int64_t>{1, 9});
    CHECK_THROWS_WITH_AS(ops::gather_rows(dev(table), dev(bad)),
                         "embedding ids: id 9 at flat position 1 is outside the valid range [0, 8]", Error);
  }
}

TEST_CASE("cuda kernels: LSTM, GRU and Elman cells vs the CPU ops" * doctest::skip(no_gpu())) {
  Rng rng(906);
  for (DType dt : {DType::F32, DType::F64}) {
    INFO(dtype_name(dt));
    const int64_t N = 6, H = 37;
    Tensor mask(Shape{N}, dt);
    for (int64_t n = 0; n < N; ++n) mask.set_item(n, n % 3 == 1 ? 0.0 : 1.0);
    const double e = tol(dt, false);
    Tensor z = randn({N, 4 * H}, rng, dt), c0 = randn({N, H}, rng, dt), h0 = randn({N, H}, rng, dt);
    Tensor dh = randn({N, H}, rng, dt), dc = randn({N, H}, rng, dt);
    const auto lf = ops::lstm_cell_forward(z, c0, h0, mask);
    const auto lfd = ops::lstm_cell_forward(dev(z), dev(c0), dev(h0), dev(mask));
    for (int i = 0; i < 3; ++i) agree(lfd[i], lf[i], e, "lstm forward");
    const auto lb = ops::lstm_cell_backward(dh, dc, lf[0], c0, lf[1], mask);
    const auto lbd = ops::lstm_cell_backward(dev(dh), dev(dc), lfd[0], dev(c0), lfd[1], dev(mask));
    for (int i = 0; i < 3; ++i) agree(lbd[i], lb[i], e, "lstm backward");
    Tensor xi = randn({N, 3 * H}, rng, dt), hh = randn({N, 3 * H}, rng, dt);
    const auto gf = ops::gru_cell_forward(xi, hh, h0, mask);
    const auto gfd = ops::gru_cell_forward(dev(xi), dev(hh), dev(h0), dev(mask));
    for (int i = 0; i < 2; ++i) agree(gfd[i], gf[i], e, "gru forward");
    const auto gb = ops::gru_cell_backward(dh, gf[0], hh, h0, mask);
    const auto gbd = ops::gru_cell_backward(dev(dh), gfd[0], dev(hh), dev(h0), dev(mask));
    for (int i = 0; i < 3; ++i) agree(gbd[i], gb[i], e, "gru backward");
    for (bool relu : {false, true}) {
      Tensor zr = randn({N, H}, rng, dt);
      const Tensor rf = ops::rnn_cell_forward(zr, h0, Tensor(), relu);
      agree(ops::rnn_cell_forward(dev(zr), dev(h0), Tensor(), relu), rf, e, "rnn forward");
      const auto rb = ops::rnn_cell_backward(dh, rf, mask, relu);
      const auto rbd = ops::rnn_cell_backward(dev(dh), dev(rf), dev(mask), relu);
      for (int i = 0; i < 2; ++i) agree(rbd[i], rb[i], e, "rnn backward");
    }
  }
}

TEST_CASE(
    "cuda kernels: engine/ops_onnx.h (reductions over axes, resize, float mod, arange, first non-finite) give "
    "the CPU's bits" *
    doctest::skip(no_gpu())) {
  Rng rng(907);
  const auto bits = [](const Tensor& gpu, const Tensor& cpu, const char* what) {
    INFO(what);
    REQUIRE(gpu.device() == Device::CUDA);
    CHECK(bitwise_equal(gpu.to(Device::CPU), cpu));
  };
  for (DType dt : {DType::F32, DType::F64}) {
    INFO(dtype_name(dt));
    const Tensor x = randn({3, 4, 5, 6}, rng, dt);
    for (const Shape& kept : {Shape{1, 4, 1, 6}, Shape{3, 1, 5, 1}, Shape{1, 1, 1, 1}})
      for (ops::ReduceOp op : {ops::ReduceOp::Sum, ops::ReduceOp::Max, ops::ReduceOp::Min, ops::ReduceOp::Prod}) {
        const std::vector<Tensor> c = ops::reduce_axes(op, x, kept), g = ops::reduce_axes(op, dev(x), kept);
        bits(g[0], c[0], "reduce_axes");
        bits(g[1], c[1], "reduce_axes arg");
        const Tensor gy = randn(kept, rng, dt);
        bits(ops::reduce_axes_backward(op, dev(x), dev(gy), g[1], kept),
             ops::reduce_axes_backward(op, x, gy, c[1], kept), "reduce_axes_backward");
      }
    ops::ResizeTaps taps(4);
    for (int a = 0; a < 4; ++a)
      for (int64_t j = 0; j < 2 * x.dim(a) + 1; ++j) {
        const double c = (static_cast<double>(j) + 0.5) * 0.5 - 0.5, f = std::floor(c);
        const int64_t i0 = std::max<int64_t>(0, static_cast<int64_t>(f));
        taps[a].i0.push_back(std::min(i0, x.dim(a) - 1)), taps[a].i1.push_back(std::min(i0 + 1, x.dim(a) - 1));
        taps[a].w0.push_back(1 - (c - f)), taps[a].w1.push_back(c - f);
      }
    const Tensor y = ops::resize(x, taps);
    bits(ops::resize(dev(x), taps), y, "resize");
    const Tensor gy = randn(y.shape(), rng, dt);
    bits(ops::resize_backward(dev(gy), taps, x.shape()), ops::resize_backward(gy, taps, x.shape()), "resize_backward");
    const Tensor b = randn({5, 1}, rng, dt);
    for (bool fmod : {false, true}) {
      const std::vector<Tensor> c = ops::mod(x, b, fmod), g = ops::mod(dev(x), dev(b), fmod);
      bits(g[0], c[0], "mod");
      bits(g[1], c[1], "mod quotient");
    }
    const Tensor s = randn({1}, rng, dt), d = randn({1}, rng, dt);
    bits(ops::arange(dev(s), dev(d), 1000), ops::arange(s, d, 1000), "arange");
    Tensor big({5'000'001}, dt);  // past the grid's 65,536 threads
    big.fill(2.0);
    CHECK(ops::first_nonfinite(dev(big)) == -1);
    big.set_item(4'999'999, NAN);
    big.set_item(70'000, INFINITY);
    CHECK(ops::first_nonfinite(dev(big)) == 70'000);
  }
}
