// Convolution and GEMM routes taken by ResNet-class layers (issue 15):
//   - the GEMM's single fork-join (threads split A's row panels or B's column panels and run every k-block
//     of their tiles) against the serial GEMM bit for bit and against a float64 triple loop;
//   - convolutions whose whole batch is one chunk (small planes: ResNet-18's layer3 / layer4, 1x1
//     downsamples, stride 2): forward, input and weight gradients against the definition in float64,
//     finite differences, batch independence (a sample alone gives the same bits) and 1 vs 2 threads;
//   - the packed-columns forward with asymmetric padding, dilation and strides 2 and 3, and its panels
//     filled by AVX-512 gathers against the scalar fill byte for byte;
//   - the stem's 3x3 stride-2 max-pool in vector rows against the scalar scan.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "engine/cpu/gemm.h"
#include "engine/cpu/im2col.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "layers/registry.h"
#include "tests/conv_fixtures.h"
#include "tests/gradcheck.h"

using namespace xdnn;
using testing::max_rel_diff;
using testing::sample_of;

namespace {

struct ConvCase {
  int64_t N, C, H, W, O, k, stride, pad;
};

ops::Conv2dGeometry geometry(const ConvCase& c) {
  ops::Conv2dGeometry g;
  g.stride_h = g.stride_w = c.stride;
  g.pad_top = g.pad_left = g.pad_bottom = g.pad_right = c.pad;
  return g;
}

// The definition, float64: y = conv(x, w) + b, and for a given gy the input and weight gradients of
// <gy, y>, each a sum over every (n, o, oh, ow, c, i, j) whose tap lies inside the input.
struct NaiveConv {
  Tensor y, gx, gw;
};

NaiveConv naive(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& gy, const ops::Conv2dGeometry& g) {
  const Shape ys = ops::conv2d_output_shape(x.shape(), w.shape(), g);
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), O = w.dim(0), KH = w.dim(2), KW = w.dim(3);
  NaiveConv r{Tensor(ys, DType::F64), Tensor(x.shape(), DType::F64), Tensor(w.shape(), DType::F64)};
  const double *px = x.data<double>(), *pw = w.data<double>(), *pg = gy.data<double>();
  double *py = r.y.data<double>(), *pgx = r.gx.data<double>(), *pgw = r.gw.data<double>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oh = 0; oh < ys[2]; ++oh)
        for (int64_t ow = 0; ow < ys[3]; ++ow) {
          const int64_t yi = ((n * O + o) * ys[2] + oh) * ys[3] + ow;
          double s = b.data<double>()[o];
          for (int64_t c = 0; c < C; ++c)
            for (int64_t i = 0; i < KH; ++i)
              for (int64_t j = 0; j < KW; ++j) {
                const int64_t ih = oh * g.stride_h - g.pad_top + i, iw = ow * g.stride_w - g.pad_left + j;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const int64_t xi = ((n * C + c) * H + ih) * W + iw, wi = ((o * C + c) * KH + i) * KW + j;
                s += pw[wi] * px[xi];
                pgx[xi] += pw[wi] * pg[yi];
                pgw[wi] += px[xi] * pg[yi];
              }
          py[yi] = s;
        }
  return r;
}

// Random x (N, C, H, W), w (O, C, k, k), b (O) and gy of case c, drawn in that order, and the definition's
// y, gx and gw for them.
struct RandomConv {
  Tensor x, w, b, gy;
  NaiveConv want;
};

RandomConv random_conv(const ConvCase& c, const ops::Conv2dGeometry& g, Rng& rng) {
  RandomConv r;
  r.x = random_tensor({c.N, c.C, c.H, c.W}, rng);
  r.w = random_tensor({c.O, c.C, c.k, c.k}, rng);
  r.b = random_tensor({c.O}, rng);
  r.gy = random_tensor(ops::conv2d_output_shape(r.x.shape(), r.w.shape(), g), rng);
  r.want = naive(r.x, r.w, r.b, r.gy, g);
  return r;
}

// ResNet-18 layer shapes scaled down; N·OH·OW is at most 1536 in each, so the whole batch is one chunk.
// With 32 or more output channels the batch's forward builds its im2col columns inside the GEMM's packing
// (PackedColumns) while a sample alone (16 columns) takes the im2col buffer: the batch-independence test
// below compares the two routes bit for bit.
const std::vector<ConvCase> kCases = {
    {16, 32, 4, 4, 48, 3, 1, 1},  // 3x3 stride 1 (layer3 / layer4 at 64x64 input)
    {16, 32, 6, 6, 32, 3, 1, 1},  // output rows of 6: runs cross the GEMM's 32-column panels
    {16, 32, 7, 7, 32, 5, 2, 2},  // 5x5 stride 2 on an odd plane
    {16, 3, 8, 8, 32, 7, 2, 3},   // a 7x7 stride-2 stem
    {16, 24, 8, 8, 40, 3, 2, 1},  // 3x3 stride 2 (first conv of a stage)
    {16, 24, 8, 8, 40, 1, 2, 0},  // 1x1 stride 2 (downsample)
    {16, 24, 4, 4, 32, 1, 1, 0},  // 1x1 stride 1
    {5, 8, 6, 6, 12, 3, 1, 1},    // an odd batch
    {3, 8, 5, 5, 32, 3, 1, 1},    // 75 columns: packed with a padded last panel; a sample (25) the buffer
};

}  // namespace

TEST_CASE("gemm: threads splitting row or column panels give the serial bits, every transpose combination") {
  const int saved = num_threads();
  Rng rng(15);
  // Tall (rows split), wide (columns split); K = 700 is three k-blocks.
  for (const auto& mnk : std::vector<std::array<int64_t, 3>>{{600, 40, 700}, {40, 600, 700}, {130, 130, 300}}) {
    const int64_t M = mnk[0], N = mnk[1], K = mnk[2];
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        CAPTURE(M);
        CAPTURE(ta);
        CAPTURE(tb);
        const Tensor a = random_tensor(ta ? Shape{K, M} : Shape{M, K}, rng).to(DType::F32);
        const Tensor b = random_tensor(tb ? Shape{N, K} : Shape{K, N}, rng).to(DType::F32);
        const int64_t lda = ta ? M : K, ldb = tb ? K : N;
        Tensor serial({M, N}, DType::F32), two({M, N}, DType::F32), ref({M, N}, DType::F64);
        cpu::gemm_serial<float>(ta, tb, M, N, K, 1.f, a.data<float>(), lda, b.data<float>(), ldb, 0.f,
                                serial.data<float>(), N);
        set_num_threads(2);
        cpu::gemm<float>(ta, tb, M, N, K, 1.f, a.data<float>(), lda, b.data<float>(), ldb, 0.f, two.data<float>(), N);
        set_num_threads(saved);
        CHECK(bitwise_equal(serial, two));
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j) {
            double s = 0;
            for (int64_t k = 0; k < K; ++k)
              s += a.item(ta ? k * M + i : i * K + k) * b.item(tb ? j * K + k : k * N + j);
            ref.data<double>()[i * N + j] = s;
          }
        CHECK(max_rel_diff(serial.to(DType::F64), ref) < 1e-4);
      }
  }
}

TEST_CASE("Conv2d, whole batch in one chunk: float64 forward and gradients match the definition") {
  Rng rng(16);
  for (const ConvCase& c : kCases) {
    CAPTURE(c.k);
    CAPTURE(c.stride);
    const ops::Conv2dGeometry g = geometry(c);
    const RandomConv r = random_conv(c, g, rng);
    CHECK(max_rel_diff(ops::conv2d_forward(r.x, r.w, r.b, g), r.want.y) < 1e-12);
    CHECK(max_rel_diff(ops::conv2d_backward_input(r.gy, r.w, r.x.shape(), g), r.want.gx) < 1e-12);
    Tensor gw(r.w.shape(), DType::F64);
    ops::conv2d_backward_weight(r.x, r.gy, gw, false, g);
    CHECK(max_rel_diff(gw, r.want.gw) < 1e-12);
  }
}

TEST_CASE("Conv2d, whole batch in one chunk: weight and input gradients against finite differences") {
  Rng rng(17);
  // N·P = 24 columns: one chunk; stride 2 with 3 channels, stride 1 with 32.
  for (const ConvCase& c : {ConvCase{6, 3, 4, 4, 5, 3, 2, 1}, ConvCase{2, 32, 3, 3, 4, 3, 1, 1}}) {
    const ops::Conv2dGeometry g = geometry(c);
    Tensor x = random_tensor({c.N, c.C, c.H, c.W}, rng), w = random_tensor({c.O, c.C, c.k, c.k}, rng);
    const Tensor b = random_tensor({c.O}, rng);
    const Tensor gy = random_tensor(ops::conv2d_output_shape(x.shape(), w.shape(), g), rng);
    auto loss = [&] {  // <gy, conv(x, w) + b>
      const Tensor y = ops::conv2d_forward(x, w, b, g);
      double s = 0;
      for (int64_t i = 0; i < y.numel(); ++i) s += y.item(i) * gy.item(i);
      return s;
    };
    Tensor gw(w.shape(), DType::F64);
    ops::conv2d_backward_weight(x, gy, gw, false, g);
    CHECK(max_rel_diff(gw, testing::numeric_gradient(loss, w)) < 1e-6);
    CHECK(max_rel_diff(ops::conv2d_backward_input(gy, w, x.shape(), g), testing::numeric_gradient(loss, x)) < 1e-6);
  }
}

TEST_CASE("conv2d_backward_input, stride 1: asymmetric paddings, dilation, 1x1 / 3x3 / 1x3 kernels") {
  // 32 input channels; pads from 0 to dilation·(K−1) on each side, dilation 1 and 2, float64 against the
  // definition.
  Rng rng(19);
  struct Geo {
    int64_t kh, kw, dil, pt, pb, pl, pr;
  };
  for (const Geo& q : {Geo{3, 3, 1, 1, 1, 1, 1}, Geo{3, 3, 1, 0, 2, 2, 0}, Geo{3, 3, 2, 2, 1, 0, 4},
                       Geo{1, 1, 1, 0, 0, 0, 0}, Geo{1, 3, 1, 0, 0, 1, 2}}) {
    CAPTURE(q.kh);
    CAPTURE(q.dil);
    ops::Conv2dGeometry g;
    g.dilation_h = g.dilation_w = q.dil;
    g.pad_top = q.pt, g.pad_bottom = q.pb, g.pad_left = q.pl, g.pad_right = q.pr;
    const Tensor x = random_tensor({3, 32, 7, 6}, rng), w = random_tensor({5, 32, q.kh, q.kw}, rng);
    const Tensor gy = random_tensor(ops::conv2d_output_shape(x.shape(), w.shape(), g), rng);
    Tensor gx_ref(x.shape(), DType::F64);  // the definition, with dilation
    const Shape ys = gy.shape();
    for (int64_t n = 0; n < 3; ++n)
      for (int64_t o = 0; o < 5; ++o)
        for (int64_t oh = 0; oh < ys[2]; ++oh)
          for (int64_t ow = 0; ow < ys[3]; ++ow)
            for (int64_t c = 0; c < 32; ++c)
              for (int64_t i = 0; i < q.kh; ++i)
                for (int64_t j = 0; j < q.kw; ++j) {
                  const int64_t ih = oh - q.pt + i * q.dil, iw = ow - q.pl + j * q.dil;
                  if (ih < 0 || ih >= 7 || iw < 0 || iw >= 6) continue;
                  const int64_t xi = ((n * 32 + c) * 7 + ih) * 6 + iw;
                  gx_ref.set_item(xi, gx_ref.item(xi) + w.item(((o * 32 + c) * q.kh + i) * q.kw + j) *
                                                            gy.item(((n * 5 + o) * ys[2] + oh) * ys[3] + ow));
                }
    CHECK(max_rel_diff(ops::conv2d_backward_input(gy, w, x.shape(), g), gx_ref) < 1e-12);
  }
}

TEST_CASE("Conv2d, whole batch in one chunk: a sample alone gives the same bits; 1 and 2 threads agree") {
  const int saved = num_threads();
  Rng rng(18);
  for (const ConvCase& c : kCases) {
    CAPTURE(c.k);
    CAPTURE(c.stride);
    const ops::Conv2dGeometry g = geometry(c);
    const Tensor x = random_tensor({c.N, c.C, c.H, c.W}, rng).to(DType::F32);
    const Tensor w = random_tensor({c.O, c.C, c.k, c.k}, rng).to(DType::F32);
    const Tensor b = random_tensor({c.O}, rng).to(DType::F32);
    const Tensor gy = random_tensor(ops::conv2d_output_shape(x.shape(), w.shape(), g), rng).to(DType::F32);
    std::vector<std::vector<Tensor>> runs;
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      Tensor gw(w.shape(), DType::F32);
      ops::conv2d_backward_weight(x, gy, gw, false, g);
      runs.push_back({ops::conv2d_forward(x, w, b, g), ops::conv2d_backward_input(gy, w, x.shape(), g), gw});
    }
    set_num_threads(saved);
    for (size_t i = 0; i < runs[0].size(); ++i) CHECK(bitwise_equal(runs[0][i], runs[1][i]));
    for (int64_t n : {int64_t(0), c.N - 1}) {
      const Tensor xn = sample_of(x, n), gyn = sample_of(gy, n);
      CHECK(bitwise_equal(ops::conv2d_forward(xn, w, b, g), sample_of(runs[0][0], n)));
      CHECK(bitwise_equal(ops::conv2d_backward_input(gyn, w, xn.shape(), g), sample_of(runs[0][1], n)));
    }
  }
}

TEST_CASE("conv2d_forward, packed columns: asymmetric paddings and dilation against the definition and im2col") {
  // 32 output channels and 16 samples: the batch takes the packed-columns route (its zero-bordered copy of
  // the input, rows stored by phase for strides 2 and 3, and offset tables), a sample alone (P < 32 columns) the im2col
  // buffer; float64 against the definition, float32 batch against sample bit for bit.
  Rng rng(20);
  struct Geo {
    int64_t k, stride, dil, pt, pb, pl, pr;
  };
  for (const Geo& q :
       {Geo{3, 1, 2, 2, 1, 0, 3}, Geo{3, 2, 1, 0, 2, 1, 0}, Geo{2, 1, 1, 1, 0, 0, 1}, Geo{3, 3, 2, 1, 2, 2, 1}}) {
    CAPTURE(q.k);
    CAPTURE(q.stride);
    CAPTURE(q.dil);
    ops::Conv2dGeometry g;
    g.stride_h = g.stride_w = q.stride;
    g.dilation_h = g.dilation_w = q.dil;
    g.pad_top = q.pt, g.pad_bottom = q.pb, g.pad_left = q.pl, g.pad_right = q.pr;
    const int64_t N = 16, C = 5, H = 7, W = 6, O = 32;
    const Tensor x = random_tensor({N, C, H, W}, rng), w = random_tensor({O, C, q.k, q.k}, rng);
    const Tensor b = random_tensor({O}, rng);
    const Tensor y = ops::conv2d_forward(x, w, b, g);
    const Shape ys = y.shape();
    Tensor ref(ys, DType::F64);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < O; ++o)
        for (int64_t oh = 0; oh < ys[2]; ++oh)
          for (int64_t ow = 0; ow < ys[3]; ++ow) {
            double s = b.item(o);
            for (int64_t c = 0; c < C; ++c)
              for (int64_t i = 0; i < q.k; ++i)
                for (int64_t j = 0; j < q.k; ++j) {
                  const int64_t ih = oh * q.stride - q.pt + i * q.dil, iw = ow * q.stride - q.pl + j * q.dil;
                  if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                  s += w.item(((o * C + c) * q.k + i) * q.k + j) * x.item(((n * C + c) * H + ih) * W + iw);
                }
            ref.set_item(((n * O + o) * ys[2] + oh) * ys[3] + ow, s);
          }
    CHECK(max_rel_diff(y, ref) < 1e-12);
    const Tensor xf = x.to(DType::F32), wf = w.to(DType::F32), bf = b.to(DType::F32);
    const Tensor yf = ops::conv2d_forward(xf, wf, bf, g);
    for (int64_t n : {int64_t(0), int64_t(7), N - 1})
      CHECK(bitwise_equal(ops::conv2d_forward(sample_of(xf, n), wf, bf, g), sample_of(yf, n)));
  }
}

TEST_CASE("maxpool2d_forward 3x3 stride 2, float vector rows: the float64 scalar scan's maxima and arg-maxes") {
  // ResNet's stem pool and neighbours: padding 0 / 1 / asymmetric, ceil_mode, widths below, at and above the
  // 18 columns one vector reads. Values from 7 levels (ties everywhere), a few NaN and -inf: float32 (vector
  // interior) against float64 (scalar scan, the same values exactly), y bit for bit and the arg-max indices.
  Rng rng(21);
  struct Geo {
    int64_t H, W, pt, pl, pb, pr;
    bool ceil;
  };
  for (const Geo& q : {Geo{32, 32, 1, 1, 1, 1, false}, Geo{17, 40, 1, 1, 1, 1, false}, Geo{9, 19, 0, 0, 0, 0, false},
                       Geo{12, 37, 1, 0, 0, 1, true}, Geo{7, 18, 0, 1, 1, 0, false}}) {
    CAPTURE(q.W);
    ops::Pool2dGeometry g;
    g.kernel_h = g.kernel_w = 3;
    g.stride_h = g.stride_w = 2;
    g.pad_top = q.pt, g.pad_left = q.pl, g.pad_bottom = q.pb, g.pad_right = q.pr;
    g.ceil_mode = q.ceil;
    Tensor x({2, 3, q.H, q.W}, DType::F32);
    float* px = x.data<float>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double u = rng.uniform();
      px[i] = u < 0.01   ? std::numeric_limits<float>::quiet_NaN()
              : u < 0.02 ? -std::numeric_limits<float>::infinity()
                         : static_cast<float>(std::floor(u * 7) - 3);
    }
    Tensor arg32, arg64;
    const Tensor y32 = ops::maxpool2d_forward(x, g, arg32);
    const Tensor y64 = ops::maxpool2d_forward(x.to(DType::F64), g, arg64);
    CHECK(bitwise_equal(y32.to(DType::F64), y64));
    CHECK(bitwise_equal(arg32, arg64));
  }
}

TEST_CASE("packed columns: panels filled by AVX-512 gathers are the scalar fill's bytes, zero tails included") {
  if (!cpu::gemm_kernel_available(cpu::GemmKernel::Vec512) || !cpu::gather_columns_avx512_built()) {
    MESSAGE("not run: this CPU or build has no AVX-512 (the gathers are never used there)");
    return;
  }
  const cpu::GemmKernel saved = cpu::gemm_kernel();
  cpu::set_gemm_kernel(cpu::GemmKernel::Vec512);
  Rng rng(21);
  struct Geo {
    int64_t S, C, H, W, k, stride, dil, pt, pb, pl, pr;
  };
  // strides 1-3, dilation, asymmetric and no padding, rows of 1-9 outputs (runs across panels), odd batches
  for (const Geo& q : {Geo{16, 5, 4, 4, 3, 1, 1, 1, 1, 1, 1}, Geo{3, 4, 7, 6, 3, 2, 1, 0, 2, 1, 0},
                       Geo{1, 3, 9, 11, 3, 3, 2, 1, 2, 2, 1}, Geo{5, 6, 2, 2, 3, 1, 1, 1, 1, 1, 1},
                       Geo{7, 2, 5, 3, 1, 2, 1, 0, 0, 0, 0}, Geo{2, 3, 8, 9, 2, 1, 1, 0, 0, 0, 0}}) {
    CAPTURE(q.S);
    CAPTURE(q.stride);
    CAPTURE(q.W);
    ops::Conv2dGeometry g;
    g.stride_h = g.stride_w = q.stride;
    g.dilation_h = g.dilation_w = q.dil;
    g.pad_top = q.pt, g.pad_bottom = q.pb, g.pad_left = q.pl, g.pad_right = q.pr;
    const Tensor x64 = random_tensor({q.S + 1, q.C, q.H, q.W}, rng);
    const auto check_type = [&](auto zero) {
      using T = decltype(zero);
      const Tensor x = x64.to(std::is_same_v<T, float> ? DType::F32 : DType::F64);
      const ops::Dims d = ops::conv_dims(x.shape(), {8, q.C, q.k, q.k}, g);
      std::vector<T> padbuf;
      std::vector<int64_t> tables;
      // samples [1, S + 1): a chunk that does not start at the batch's first sample
      const ops::PackedColumns<T> cols = ops::packed_columns(x.data<T>(), d, g, 1, q.S, padbuf, tables);
      REQUIRE(cols.gather);
      const int64_t L = q.S * d.P, VL = 64 / static_cast<int64_t>(sizeof(T));
      for (int64_t nr : {VL, 2 * VL, cpu::kGatherColumns}) {
        std::vector<T> want(static_cast<size_t>(d.K * nr)), got(want.size());
        for (int64_t k0 : {int64_t(0), d.K / 3})
          for (int64_t j0 = 0; j0 < L; j0 += nr) {
            const int64_t kc = d.K - k0, ncols = std::min(nr, L - j0);
            std::fill(want.begin(), want.end(), T(7));
            std::fill(got.begin(), got.end(), std::numeric_limits<T>::quiet_NaN());
            ops::PackedColumns<T>::fill(&cols, k0, kc, j0, ncols, nr, want.data());
            ops::PackedColumns<T>::fill_gather(&cols, k0, kc, j0, ncols, nr, got.data());
            CHECK(std::memcmp(want.data(), got.data(), static_cast<size_t>(kc * nr) * sizeof(T)) == 0);
          }
      }
    };
    check_type(0.0f);
    check_type(0.0);
  }
  cpu::set_gemm_kernel(saved);
}

TEST_CASE("packed columns read in place: the fill's values and the packed GEMM's bits, mixed and tail panels") {
  // Convolutions whose output rows hold whole vectors let the GEMM load B's vectors straight from the padded
  // input (BPacker::in_place; rows stored by phase for strides 2 and 3) instead of packing them. Output rows
  // of 16 and 24 with 8-lane vectors: every full panel is read in place; rows of 12 and 9 (and 24 with 16
  // lanes): runs would cross rows, every panel is packed; S·P not a multiple of the panel width: a packed
  // tail panel beside panels read in place. Against the fill value by value, then the whole product against
  // the same packer without in_place, byte for byte, for A in place and A through an offset table (the
  // flipped input gradient), serial and on 2 threads; the convolution in float64 against the definition.
  const int saved = num_threads();
  Rng rng(22);
  struct Geo {
    int64_t S, C, H, W, k, stride, pad;
  };
  int64_t accepted = 0, refused = 0;
  for (const Geo& q :
       {Geo{4, 40, 8, 16, 3, 1, 1}, Geo{3, 33, 5, 24, 3, 1, 1}, Geo{2, 36, 6, 12, 3, 1, 1}, Geo{2, 3, 32, 32, 7, 2, 3},
        Geo{3, 24, 16, 16, 3, 2, 1}, Geo{2, 16, 16, 16, 1, 2, 0}, Geo{2, 8, 9, 25, 3, 3, 1}}) {
    CAPTURE(q.W);
    CAPTURE(q.stride);
    ops::Conv2dGeometry g;
    g.stride_h = g.stride_w = q.stride;
    g.pad_top = g.pad_bottom = g.pad_left = g.pad_right = q.pad;
    const int64_t O = 40;
    const Tensor x64 = random_tensor({q.S + 1, q.C, q.H, q.W}, rng), w64 = random_tensor({O, q.C, q.k, q.k}, rng);
    const auto check_type = [&](auto zero) {
      using T = decltype(zero);
      const DType dt = std::is_same_v<T, float> ? DType::F32 : DType::F64;
      const Tensor x = x64.to(dt), w = w64.to(dt);
      const ops::Dims d = ops::conv_dims(x.shape(), w.shape(), g);
      std::vector<T> padbuf;
      std::vector<int64_t> tables;
      const ops::PackedColumns<T> cols = ops::packed_columns(x.data<T>(), d, g, 1, q.S, padbuf, tables);
      const cpu::BPacker<T> packer = cols.packer();
      cpu::BPacker<T> packed_only = packer;
      packed_only.in_place = nullptr;
      REQUIRE(bool(packer.in_place));
      const int64_t L = q.S * d.P, NR = cpu::gemm_panel_width<T>(), VL = NR / 2;
      std::vector<T> panel(static_cast<size_t>(d.K * NR));
      for (int64_t j0 = 0; j0 + NR <= L; j0 += NR) {
        const T* bases[2] = {nullptr, nullptr};
        if (!packer.in_place(&cols, j0, NR, VL, bases)) {
          ++refused;
          continue;
        }
        ++accepted;
        ops::PackedColumns<T>::fill(&cols, 0, d.K, j0, NR, NR, panel.data());
        bool same = true;
        for (int64_t k = 0; k < d.K; ++k)
          for (int64_t c = 0; c < NR; ++c)
            same = same && bases[c / VL][packer.offsets[k] + c % VL] == panel[static_cast<size_t>(k * NR + c)];
        CHECK(same);
      }
      std::vector<int64_t> reversed(static_cast<size_t>(d.K));  // A's element (m, k) at w[m·K + K − 1 − k]
      for (int64_t k = 0; k < d.K; ++k) reversed[static_cast<size_t>(k)] = d.K - 1 - k;
      for (const int64_t* a_offsets :
           {static_cast<const int64_t*>(nullptr), static_cast<const int64_t*>(reversed.data())})
        for (int threads : {1, 2}) {
          set_num_threads(threads);
          std::vector<T> want(static_cast<size_t>(O * L)), got(want.size(), std::numeric_limits<T>::quiet_NaN());
          cpu::gemm_packed_b<T>(threads > 1, O, L, d.K, w.data<T>(), d.K, packed_only, want.data(), L, a_offsets);
          cpu::gemm_packed_b<T>(threads > 1, O, L, d.K, w.data<T>(), d.K, packer, got.data(), L, a_offsets);
          CHECK(std::memcmp(want.data(), got.data(), want.size() * sizeof(T)) == 0);
        }
      set_num_threads(saved);
    };
    check_type(0.0f);
    check_type(0.0);
    // The convolution itself, float64, against the definition (the route that reads in place).
    const Tensor b = random_tensor({O}, rng),
                 gy = random_tensor(ops::conv2d_output_shape(x64.shape(), w64.shape(), g), rng);
    CHECK(max_rel_diff(ops::conv2d_forward(x64, w64, b, g), naive(x64, w64, b, gy, g).y) < 1e-12);
  }
  CHECK(accepted > 0);  // the route under test ran
  CHECK(refused > 0);   // and the packed panels beside it
}

TEST_CASE("stride above 1 with rows of one or two values: empty phases, forward and input gradient exact") {
  // Rows stored by phase (packed columns, col2im) where a phase holds no input column at all (W = 1 or 2
  // with stride 3, no left padding): nothing may be read or written for it. 32 output channels take the
  // packed-columns forward; the input gradient takes col2im. Float64 against the definition, 1 and 2 threads
  // (col2im's planes are split over threads for a whole-batch chunk).
  const int saved = num_threads();
  Rng rng(23);
  for (const ConvCase& c : {ConvCase{16, 4, 5, 1, 32, 1, 2, 0}, ConvCase{16, 4, 4, 2, 32, 1, 3, 0},
                            ConvCase{16, 3, 6, 2, 32, 3, 3, 1}, ConvCase{5, 2, 3, 1, 32, 1, 3, 0}}) {
    CAPTURE(c.W);
    CAPTURE(c.stride);
    const ops::Conv2dGeometry g = geometry(c);
    const RandomConv r = random_conv(c, g, rng);
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      CHECK(max_rel_diff(ops::conv2d_forward(r.x, r.w, r.b, g), r.want.y) < 1e-12);
      CHECK(max_rel_diff(ops::conv2d_backward_input(r.gy, r.w, r.x.shape(), g), r.want.gx) < 1e-12);
    }
    // col2im itself writes one sample's planes and nothing past them (sentinels after the last plane).
    const ops::Dims d = ops::conv_dims(r.x.shape(), r.w.shape(), g);
    std::vector<double> col(static_cast<size_t>(d.C * d.KH * d.KW * d.P), 0.5);
    std::vector<double> gx(static_cast<size_t>(d.C * d.H * d.W + 8), -7.0);
    ops::col2im(col.data(), d, g, gx.data(), d.P, 0, d.C);
    CHECK(std::all_of(gx.end() - 8, gx.end(), [](double v) { return v == -7.0; }));
  }
  set_num_threads(saved);
}
