// The CUDA kernel bodies of kernels/{conv,pooling,batchnorm,layer_norm,activations,pointwise,rnn_cells}_body.h
// run on the CPU (g++, no GPU needed): every body struct is called for every index with run_on_host(),
// exactly as launch_map() calls it on the device, and the result is compared with the engine's CPU op
// on fresh random inputs (odd sizes, asymmetric padding, dilation, groups, strides). The matrix products
// that cuBLAS does between im2col and col2im are naive loops here.
//
// Tolerances: where the body adds in the CPU op's order the results must be bit-identical; elsewhere
// (different grouping of a sum, GEMM order) relative L2 <= 1e-12 in float64.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "engine/ops.h"
#include "engine/random.h"
#include "kernels/activations_body.h"
#include "kernels/batchnorm_body.h"
#include "kernels/conv_body.h"
#include "kernels/data_movement_body.h"
#include "kernels/layer_norm_body.h"
#include "kernels/pointwise_body.h"
#include "kernels/pooling_body.h"
#include "kernels/rnn_cells_body.h"
#include "tests/gradcheck.h"
#include "tests/random_tensors.h"

using namespace xdnn;
using cuda::run_on_host;
using testing::rel_l2;

namespace {

Tensor randn(const Shape& s, Rng& rng, DType dt = DType::F64) { return random_normal(s, rng, dt); }

template <class T>
T* ptr(Tensor& t) {
  return t.data<T>();
}

struct ConvCase {
  Shape x, w;
  ops::Conv2dGeometry g;
};

ops::Conv2dGeometry conv_geometry(int64_t sh, int64_t sw, int64_t pt, int64_t pl, int64_t pb, int64_t pr, int64_t dh,
                                  int64_t dw, int64_t groups) {
  ops::Conv2dGeometry g;
  g.stride_h = sh, g.stride_w = sw, g.pad_top = pt, g.pad_left = pl, g.pad_bottom = pb, g.pad_right = pr;
  g.dilation_h = dh, g.dilation_w = dw, g.groups = groups;
  return g;
}

cuda::ConvDims conv_dims(const Shape& xs, const Shape& ws, const ops::Conv2dGeometry& g) {
  const Shape ys = ops::conv2d_output_shape(xs, ws, g);
  cuda::ConvDims d{};
  d.N = xs[0], d.C = xs[1], d.H = xs[2], d.W = xs[3], d.O = ws[0], d.KH = ws[2], d.KW = ws[3];
  d.OH = ys[2], d.OW = ys[3], d.G = g.groups, d.Cg = d.C / d.G, d.Og = d.O / d.G;
  d.K = d.Cg * d.KH * d.KW, d.P = d.OH * d.OW, d.R = d.C * d.KH * d.KW;
  return d;
}

}  // namespace

TEST_CASE("cuda kernel bodies on the host: convolution via im2col / col2im matches the CPU op") {
  Rng rng(701);
  const ConvCase cases[] = {
      {{2, 3, 7, 6}, {4, 3, 3, 3}, conv_geometry(1, 1, 1, 1, 1, 1, 1, 1, 1)},
      {{3, 4, 9, 8}, {6, 2, 3, 2}, conv_geometry(2, 1, 1, 0, 2, 1, 2, 1, 2)},
      {{1, 6, 5, 5}, {6, 2, 1, 1}, conv_geometry(1, 1, 0, 0, 0, 0, 1, 1, 3)},
      {{2, 2, 8, 7}, {3, 2, 2, 3}, conv_geometry(3, 2, 0, 2, 1, 0, 1, 2, 1)},
      {{5, 3, 6, 6}, {2, 3, 3, 3}, conv_geometry(2, 2, 1, 1, 1, 1, 1, 1, 1)},
  };
  for (const auto& c : cases) {
    INFO("x ", shape_str(c.x), " w ", shape_str(c.w), " groups ", c.g.groups);
    const cuda::ConvDims d = conv_dims(c.x, c.w, c.g);
    Tensor x = randn(c.x, rng), w = randn(c.w, rng), b = randn({d.O}, rng);
    Tensor gy = randn({d.N, d.O, d.OH, d.OW}, rng);
    const double *pw = w.data<double>(), *pgy = gy.data<double>();

    // Forward: bias fill, then per sample and group y_n[g] += W[g] (Og, K) · col_n[g] (K, P).
    Tensor col({d.N, d.R, d.P}, DType::F64);
    run_on_host(col.numel(), cuda::Im2colBody<double>{x.data<double>(), ptr<double>(col), d, c.g, 0, d.N, true});
    Tensor y({d.N, d.O, d.OH, d.OW}, DType::F64);
    run_on_host(y.numel(), cuda::BiasFillBody<double>{b.data<double>(), ptr<double>(y), d.O, d.P});
    double* py = y.data<double>();
    const double* pc = col.data<double>();
    for (int64_t n = 0; n < d.N; ++n)
      for (int64_t o = 0; o < d.O; ++o)
        for (int64_t p = 0; p < d.P; ++p) {
          const int64_t gi = o / d.Og;
          double s = 0;
          for (int64_t k = 0; k < d.K; ++k) s += pw[o * d.K + k] * pc[(n * d.R + gi * d.K + k) * d.P + p];
          py[(n * d.O + o) * d.P + p] += s;
        }
    CHECK(rel_l2(y, ops::conv2d_forward(x, w, b, c.g)) < 1e-12);

    // Input gradient: dcol_n[g] = W[g]ᵀ gy_n[g], then the col2im gather.
    Tensor dcol({d.N, d.R, d.P}, DType::F64);
    double* pd = dcol.data<double>();
    for (int64_t n = 0; n < d.N; ++n)
      for (int64_t r = 0; r < d.R; ++r)
        for (int64_t p = 0; p < d.P; ++p) {
          const int64_t gi = r / d.K, k = r % d.K;
          double s = 0;
          for (int64_t og = 0; og < d.Og; ++og)
            s += pw[(gi * d.Og + og) * d.K + k] * pgy[(n * d.O + gi * d.Og + og) * d.P + p];
          pd[(n * d.R + r) * d.P + p] = s;
        }
    Tensor gx(c.x, DType::F64);
    run_on_host(gx.numel(), cuda::Col2imBody<double>{dcol.data<double>(), ptr<double>(gx), d, c.g});
    CHECK(rel_l2(gx, ops::conv2d_backward_input(gy, w, c.x, c.g)) < 1e-12);

    // Summed weight gradient: col (R, N, P) and gy permuted to (O, N, P) by the permute map, then one
    // product per group over the N·P axis.
    Tensor colT({d.R, d.N, d.P}, DType::F64), gyT({d.O, d.N, d.P}, DType::F64);
    run_on_host(colT.numel(), cuda::Im2colBody<double>{x.data<double>(), ptr<double>(colT), d, c.g, 0, d.N, false});
    const cuda::StridedMap pm = cuda::strided_map({d.O, d.N, d.P}, {d.P, d.O * d.P, 1}, 0, "test");
    run_on_host(gyT.numel(), cuda::StridedCopyBody<uint64_t>{reinterpret_cast<const uint64_t*>(gy.data<double>()),
                                                             reinterpret_cast<uint64_t*>(gyT.data<double>()), pm});
    Tensor gw(c.w, DType::F64);
    for (int64_t o = 0; o < d.O; ++o)
      for (int64_t k = 0; k < d.K; ++k) {
        const int64_t gi = o / d.Og, L = d.N * d.P;
        double s = 0;
        for (int64_t l = 0; l < L; ++l)
          s += gyT.data<double>()[o * L + l] * colT.data<double>()[(gi * d.K + k) * L + l];
        gw.data<double>()[o * d.K + k] = s;
      }
    Tensor gw_cpu(c.w, DType::F64);
    ops::conv2d_backward_weight(x, gy, gw_cpu, false, c.g);
    CHECK(rel_l2(gw, gw_cpu) < 1e-12);

    // Per-example weight gradients: gw_n[g] = gy_n[g] (Og, P) · col_n[g]ᵀ (P, K).
    Tensor gwn({d.N, d.O, d.Cg, d.KH, d.KW}, DType::F64);
    for (int64_t n = 0; n < d.N; ++n)
      for (int64_t o = 0; o < d.O; ++o)
        for (int64_t k = 0; k < d.K; ++k) {
          const int64_t gi = o / d.Og;
          double s = 0;
          for (int64_t p = 0; p < d.P; ++p) s += pgy[(n * d.O + o) * d.P + p] * pc[(n * d.R + gi * d.K + k) * d.P + p];
          gwn.data<double>()[(n * d.O + o) * d.K + k] = s;
        }
    CHECK(rel_l2(gwn, ops::conv2d_backward_weight_per_example(x, gy, c.w, c.g)) < 1e-12);

    // Bias gradient: same order as the CPU op, so the same bits.
    Tensor part({d.N, d.O}, DType::F64), gb({d.O}, DType::F64);
    run_on_host(part.numel(), cuda::BiasGradSampleBody<double>{gy.data<double>(), ptr<double>(part), d.P});
    run_on_host(d.O, cuda::BiasGradTotalBody<double>{part.data<double>(), ptr<double>(gb), d.N, d.O});
    CHECK(bitwise_equal(part, ops::conv2d_backward_bias(gy, true)));
    CHECK(bitwise_equal(gb, ops::conv2d_backward_bias(gy, false)));
  }
}

TEST_CASE("cuda kernel bodies on the host: max and average pooling, forward and gather backward") {
  Rng rng(702);
  struct Case {
    int64_t kh, kw, sh, sw, pt, pl, pb, pr, dh, dw;
    bool ceil;
  };
  const Case cases[] = {{2, 2, 2, 2, 0, 0, 0, 0, 1, 1, false}, {3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false},
                        {3, 3, 2, 2, 1, 1, 1, 1, 1, 1, true},  {2, 3, 1, 2, 1, 0, 0, 1, 2, 1, false},
                        {3, 2, 2, 3, 0, 1, 1, 0, 1, 2, true},  {1, 1, 2, 2, 0, 0, 0, 0, 1, 1, false}};
  for (const auto& c : cases) {
    ops::Pool2dGeometry g;
    g.kernel_h = c.kh, g.kernel_w = c.kw, g.stride_h = c.sh, g.stride_w = c.sw;
    g.pad_top = c.pt, g.pad_left = c.pl, g.pad_bottom = c.pb, g.pad_right = c.pr;
    g.dilation_h = c.dh, g.dilation_w = c.dw, g.ceil_mode = c.ceil;
    INFO("kernel ", c.kh, "x", c.kw, " stride ", c.sh, ",", c.sw, " dilation ", c.dh, ",", c.dw, " ceil ", c.ceil);
    const Shape xs = {2, 3, 9, 10};
    Tensor x(xs, DType::F64);  // values in {0, 1, 2}: many ties for the first-maximum rule, and one NaN
    for (int64_t i = 0; i < x.numel(); ++i) x.set_item(i, static_cast<double>(rng.below(3)));
    x.set_item(17, NAN);
    const Shape ys = ops::pool2d_output_shape(xs, g);
    const cuda::PoolDims d{xs[2], xs[3], ys[2], ys[3]};
    Tensor y(ys, DType::F64), arg(ys, DType::I64), arg_cpu;
    run_on_host(y.numel(), cuda::MaxPoolBody<double>{x.data<double>(), ptr<double>(y), ptr<int64_t>(arg), d, g});
    Tensor y_cpu = ops::maxpool2d_forward(x, g, arg_cpu);
    CHECK(bitwise_equal(y, y_cpu));
    CHECK(bitwise_equal(arg, arg_cpu));
    Tensor gy = randn(ys, rng), gx(xs, DType::F64);
    run_on_host(xs[0] * xs[1], cuda::MaxPoolBackwardBody<double>{gy.data<double>(), arg.data<int64_t>(),
                                                                 ptr<double>(gx), d.H * d.W, d.OH * d.OW});
    CHECK(bitwise_equal(gx, ops::maxpool2d_backward(gy, arg_cpu, xs)));

    Tensor xr = randn(xs, rng);
    for (auto div :
         {ops::PoolDivisor::Sum, ops::PoolDivisor::WindowIncludingPad, ops::PoolDivisor::WindowExcludingPad}) {
      INFO("divisor ", static_cast<int>(div));
      Tensor ya(ys, DType::F64), ga(xs, DType::F64);
      run_on_host(ya.numel(), cuda::AvgPoolBody<double>{xr.data<double>(), ptr<double>(ya), d, g, div});
      CHECK(bitwise_equal(ya, ops::avgpool2d_forward(xr, g, div)));
      run_on_host(ga.numel(), cuda::AvgPoolBackwardBody<double>{gy.data<double>(), ptr<double>(ga), d, g, div});
      CHECK(bitwise_equal(ga, ops::avgpool2d_backward(gy, xs, g, div)));
    }
  }
}

TEST_CASE("cuda kernel bodies on the host: batch norm statistics, forward and backward") {
  Rng rng(703);
  for (const Shape& xs : {Shape{4, 3, 5, 7}, Shape{3, 5}, Shape{1, 2, 9}}) {
    INFO("x ", shape_str(xs));
    const int64_t N = xs[0], C = xs[1], S = shape_numel(xs) / (N * C);
    Tensor x = randn(xs, rng), gy = randn(xs, rng), gamma = randn({C}, rng), beta = randn({C}, rng);
    x = ops::add_scalar(x, 3.0);  // a non-zero mean
    std::vector<double> part(N * C), mean_d(C), var_d(C);
    Tensor mean({C}, DType::F64), var({C}, DType::F64);
    run_on_host(N * C, cuda::BnRowSumBody<double>{x.data<double>(), nullptr, part.data(), C, S});
    run_on_host(C, cuda::BnChannelMeanBody<double>{part.data(), mean_d.data(), ptr<double>(mean), N, C,
                                                   static_cast<double>(N * S)});
    run_on_host(N * C, cuda::BnRowSumBody<double>{x.data<double>(), mean_d.data(), part.data(), C, S});
    run_on_host(C, cuda::BnChannelMeanBody<double>{part.data(), var_d.data(), ptr<double>(var), N, C,
                                                   static_cast<double>(N * S)});
    const auto stats = ops::batchnorm_stats(x);
    CHECK(rel_l2(mean, stats[0]) < 1e-14);
    CHECK(rel_l2(var, stats[1]) < 1e-14);

    Tensor y(xs, DType::F64);
    run_on_host(y.numel(),
                cuda::BnForwardBody<double>{x.data<double>(), stats[0].data<double>(), stats[1].data<double>(),
                                            gamma.data<double>(), beta.data<double>(), ptr<double>(y), 1e-5, C, S});
    CHECK(bitwise_equal(y, ops::batchnorm_forward(x, stats[0], stats[1], gamma, beta, 1e-5)));

    for (bool batch_stats : {true, false})
      for (bool per_example : {false, true}) {
        INFO("batch_stats ", batch_stats, " per_example ", per_example);
        std::vector<double> sg(N * C), sgx(N * C), tg(C), tgx(C);
        Tensor dx(xs, DType::F64), dg = per_example ? Tensor({N, C}, DType::F64) : Tensor({C}, DType::F64);
        Tensor db(dg.shape(), DType::F64);
        const double *pm = stats[0].data<double>(), *pv = stats[1].data<double>();
        run_on_host(N * C, cuda::BnBackwardRowBody<double>{
                               gy.data<double>(), x.data<double>(), pm, pv, 1e-5, C, S, sg.data(), sgx.data(),
                               per_example ? ptr<double>(db) : nullptr, per_example ? ptr<double>(dg) : nullptr});
        run_on_host(C, cuda::BnBackwardChannelBody<double>{sg.data(), sgx.data(), tg.data(), tgx.data(),
                                                           per_example ? nullptr : ptr<double>(db),
                                                           per_example ? nullptr : ptr<double>(dg), N, C});
        run_on_host(dx.numel(),
                    cuda::BnBackwardDxBody<double>{gy.data<double>(), x.data<double>(), pm, pv, gamma.data<double>(),
                                                   tg.data(), tgx.data(), ptr<double>(dx), 1e-5, batch_stats, N, C, S});
        const auto ref = ops::batchnorm_backward(gy, x, stats[0], stats[1], gamma, 1e-5, batch_stats, per_example);
        CHECK(bitwise_equal(dx, ref[0]));
        CHECK(bitwise_equal(dg, ref[1]));
        CHECK(bitwise_equal(db, ref[2]));
      }
  }
}

TEST_CASE("cuda kernel bodies on the host: layer norm forward / backward and row centring") {
  Rng rng(704);
  for (int64_t d : {1, 7, 64}) {
    const Shape xs = {3, 5, d};
    const int64_t rows = 15;
    Tensor x = randn(xs, rng), g = randn(xs, rng);
    Tensor mean({rows}, DType::F64), rstd({rows}, DType::F64), xhat(xs, DType::F64);
    run_on_host(rows, cuda::LnRowStatsBody<double>{x.data<double>(), ptr<double>(mean), ptr<double>(rstd), d, 1e-5});
    run_on_host(x.numel(), cuda::LnXhatBody<double>{x.data<double>(), mean.data<double>(), rstd.data<double>(),
                                                    ptr<double>(xhat), d});
    const auto ref = ops::layer_norm_forward(x, d, 1e-5);
    CHECK(bitwise_equal(xhat, ref[0]));
    CHECK(bitwise_equal(rstd, ref[1]));
    Tensor mg({rows}, DType::F64), mgh({rows}, DType::F64), dx(xs, DType::F64);
    run_on_host(rows, cuda::LnBackwardRowBody<double>{g.data<double>(), xhat.data<double>(), ptr<double>(mg),
                                                      ptr<double>(mgh), d});
    run_on_host(dx.numel(), cuda::LnBackwardBody<double>{g.data<double>(), xhat.data<double>(), rstd.data<double>(),
                                                         mg.data<double>(), mgh.data<double>(), ptr<double>(dx), d});
    CHECK(bitwise_equal(dx, ops::layer_norm_backward(g, ref[0], ref[1])));
    Tensor cy(xs, DType::F64);
    run_on_host(rows, cuda::RowMeanBody<double>{x.data<double>(), ptr<double>(mean), d});
    run_on_host(x.numel(), cuda::CenterBody<double>{x.data<double>(), mean.data<double>(), ptr<double>(cy), d});
    CHECK(bitwise_equal(cy, ops::center_last_axis(x)));
  }
}

TEST_CASE("cuda kernel bodies on the host: activations, GELU / erf and the pointwise family") {
  Rng rng(705);
  for (DType dt : {DType::F32, DType::F64}) {
    INFO(dtype_name(dt));
    Tensor x = randn({3, 37}, rng, dt), g = randn({3, 37}, rng, dt);
    x.set_item(0, 0.0), g.set_item(1, 0.0);  // the kinks
    const int64_t n = x.numel();
    auto check_float = [&](auto zero) {
      using T = decltype(zero);
      const T *px = x.data<T>(), *pg = g.data<T>();
      Tensor y(x.shape(), dt);
      run_on_host(n, cuda::LeakyReluBody<T>{px, ptr<T>(y), T(0.1)});
      CHECK(bitwise_equal(y, ops::leaky_relu(x, 0.1)));
      for (bool guided : {false, true}) {
        run_on_host(n, cuda::LeakyReluBackwardBody<T>{px, pg, ptr<T>(y), T(0.1), guided});
        CHECK(bitwise_equal(y, ops::leaky_relu_backward(x, g, 0.1, guided)));
      }
      Tensor s = ops::pointwise(ops::Pointwise::Sigmoid, x), t = ops::pointwise(ops::Pointwise::Tanh, x);
      run_on_host(n, cuda::SigmoidTanhBackwardBody<T>{s.data<T>(), pg, ptr<T>(y), false});
      CHECK(bitwise_equal(y, ops::sigmoid_backward(s, g)));
      run_on_host(n, cuda::SigmoidTanhBackwardBody<T>{t.data<T>(), pg, ptr<T>(y), true});
      CHECK(bitwise_equal(y, ops::tanh_backward(t, g)));
      using F = cuda::GeluFn;
      const std::pair<F, Tensor> gelus[] = {{F::Gelu, ops::gelu(x, false)},
                                            {F::GeluTanh, ops::gelu(x, true)},
                                            {F::GeluDerivative, ops::gelu_derivative(x, false)},
                                            {F::GeluTanhDerivative, ops::gelu_derivative(x, true)},
                                            {F::Erf, ops::erf(x)},
                                            {F::ErfDerivative, ops::erf_derivative(x)}};
      for (const auto& [f, ref] : gelus) {
        run_on_host(n, cuda::GeluFamilyBody<T>{px, ptr<T>(y), f});
        CHECK(bitwise_equal(y, ref));
      }
      // Pointwise family: on |x| + 0.5 for the functions that need a positive argument.
      Tensor xp = ops::add_scalar(ops::pointwise(ops::Pointwise::Abs, x), 0.5);
      using P = ops::Pointwise;
      for (P f : {P::Exp, P::Log, P::Sqrt, P::Abs, P::Neg, P::Reciprocal, P::Elu, P::Selu, P::Softplus, P::Softsign,
                  P::PowScalar, P::Sigmoid, P::Tanh, P::Scale}) {
        const bool positive = f == P::Log || f == P::Sqrt || f == P::PowScalar || f == P::Reciprocal;
        const Tensor& in = positive ? xp : x;
        const double a = f == P::PowScalar ? 1.7 : 1.3, b = 1.05;
        INFO("pointwise ", static_cast<int>(f));
        run_on_host(n, cuda::PointwiseBody<T>{in.data<T>(), ptr<T>(y), f, a, b});
        const Tensor ref = ops::pointwise(f, in, a, b);
        CHECK(bitwise_equal(y, ref));
        Tensor gx(x.shape(), dt);
        run_on_host(n, cuda::PointwiseBackwardBody<T>{in.data<T>(), ref.data<T>(), pg, ptr<T>(gx), f, a, b});
        CHECK(bitwise_equal(gx, ops::pointwise_backward(f, in, ref, g, a, b)));
      }
      return 0;
    };
    if (dt == DType::F32)
      check_float(0.0f);
    else
      check_float(0.0);
  }
}

TEST_CASE("cuda kernel bodies on the host: LSTM, GRU and Elman cells with masked rows") {
  // Same formulas, but the compiler may contract a·b + c into an FMA in one copy and not the other
  // (it did under -O2 in the sanitizer build), so agreement is to rounding, not to the bit.
  Rng rng(706);
  const int64_t N = 4, H = 5;
  Tensor mask = Tensor::from_vector({N}, std::vector<double>{1, 0, 1, 1});
  for (const Tensor& m : {Tensor(), mask}) {
    INFO("mask ", m.defined());
    const double* pm = m.defined() ? m.data<double>() : nullptr;
    Tensor z = randn({N, 4 * H}, rng), c0 = randn({N, H}, rng), h0 = randn({N, H}, rng);
    Tensor a({N, 4 * H}, DType::F64), c({N, H}, DType::F64), h({N, H}, DType::F64);
    run_on_host(N * H, cuda::LstmForwardBody<double>{z.data<double>(), c0.data<double>(), h0.data<double>(), pm,
                                                     ptr<double>(a), ptr<double>(c), ptr<double>(h), H});
    const auto lf = ops::lstm_cell_forward(z, c0, h0, m);
    CHECK(rel_l2(a, lf[0]) < 1e-14);
    CHECK(rel_l2(c, lf[1]) < 1e-14);
    CHECK(rel_l2(h, lf[2]) < 1e-14);
    Tensor dh = randn({N, H}, rng), dc = randn({N, H}, rng);
    Tensor dz({N, 4 * H}, DType::F64), dc0({N, H}, DType::F64), dhd({N, H}, DType::F64);
    run_on_host(N * H, cuda::LstmBackwardBody<double>{dh.data<double>(), dc.data<double>(), lf[0].data<double>(),
                                                      c0.data<double>(), lf[1].data<double>(), pm, ptr<double>(dz),
                                                      ptr<double>(dc0), ptr<double>(dhd), H});
    const auto lb = ops::lstm_cell_backward(dh, dc, lf[0], c0, lf[1], m);
    CHECK(rel_l2(dz, lb[0]) < 1e-14);
    CHECK(rel_l2(dc0, lb[1]) < 1e-14);
    CHECK(rel_l2(dhd, lb[2]) < 1e-14);

    Tensor xi = randn({N, 3 * H}, rng), hh = randn({N, 3 * H}, rng);
    Tensor ga({N, 3 * H}, DType::F64), gh({N, H}, DType::F64);
    run_on_host(N * H, cuda::GruForwardBody<double>{xi.data<double>(), hh.data<double>(), h0.data<double>(), pm,
                                                    ptr<double>(ga), ptr<double>(gh), H});
    const auto gf = ops::gru_cell_forward(xi, hh, h0, m);
    CHECK(rel_l2(ga, gf[0]) < 1e-14);
    CHECK(rel_l2(gh, gf[1]) < 1e-14);
    Tensor dxi({N, 3 * H}, DType::F64), dhh({N, 3 * H}, DType::F64);
    run_on_host(
        N * H, cuda::GruBackwardBody<double>{dh.data<double>(), ga.data<double>(), hh.data<double>(), h0.data<double>(),
                                             pm, ptr<double>(dxi), ptr<double>(dhh), ptr<double>(dhd), H});
    const auto gb = ops::gru_cell_backward(dh, gf[0], hh, h0, m);
    CHECK(rel_l2(dxi, gb[0]) < 1e-14);
    CHECK(rel_l2(dhh, gb[1]) < 1e-14);
    CHECK(rel_l2(dhd, gb[2]) < 1e-14);

    for (bool relu : {false, true}) {
      Tensor zr = randn({N, H}, rng), hr({N, H}, DType::F64);
      zr.set_item(0, 0.0);
      run_on_host(N * H,
                  cuda::RnnForwardBody<double>{zr.data<double>(), h0.data<double>(), pm, ptr<double>(hr), H, relu});
      const Tensor rf = ops::rnn_cell_forward(zr, h0, m, relu);
      CHECK(bitwise_equal(hr, rf));
      Tensor dzr({N, H}, DType::F64);
      run_on_host(N * H, cuda::RnnBackwardBody<double>{dh.data<double>(), rf.data<double>(), pm, ptr<double>(dzr),
                                                       ptr<double>(dhd), H, relu});
      const auto rb = ops::rnn_cell_backward(dh, rf, m, relu);
      CHECK(rel_l2(dzr, rb[0]) < 1e-14);
      CHECK(rel_l2(dhd, rb[1]) < 1e-14);
    }
  }
}
