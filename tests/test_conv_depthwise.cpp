// Depthwise convolution (engine/cpu/conv_depthwise.h, issue 15): groups = C with channel multiplier 1 and
// more, every pass (forward, input gradient, weight and bias gradient, per-example weight gradients)
//   - against the definition in float64 (1e-12: the same sums in another order),
//   - against the generic GEMM route on the same convolution written densely (groups = 1, a block-diagonal
//     weight with zeros off the diagonal; float32, 1e-5 relative),
//   - by central finite differences of <gy, conv(x, w)> in float64 (rel 1e-6),
//   - 1 vs 2 threads and a sample alone vs in its batch: the same bits.
// The layer harness (layers/conv2d.cpp's depthwise examples) adds the layer's modes and LRP rules.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/random.h"
#include "tests/gradcheck.h"

using namespace xdnn;
using testing::max_rel_diff;

namespace {

struct DwCase {
  int64_t N, C, M, H, W, KH, KW;
  ops::Conv2dGeometry g;
};

ops::Conv2dGeometry geom(int64_t stride, int64_t pad, int64_t dil, int64_t groups) {
  ops::Conv2dGeometry g;
  g.stride_h = g.stride_w = stride;
  g.pad_top = g.pad_left = g.pad_bottom = g.pad_right = pad;
  g.dilation_h = g.dilation_w = dil;
  g.groups = groups;
  return g;
}

std::vector<DwCase> cases() {
  std::vector<DwCase> out = {
      {2, 4, 1, 9, 11, 3, 3, geom(1, 1, 1, 4)},  // MobileNetV2's 3x3 stride 1
      {3, 5, 1, 10, 9, 3, 3, geom(2, 1, 1, 5)},  // ... stride 2
      {2, 3, 2, 8, 7, 3, 3, geom(1, 1, 1, 3)},   // channel multiplier 2
      {1, 2, 3, 7, 12, 5, 5, geom(2, 2, 1, 2)},  // 5x5, multiplier 3 (MnasNet-style)
      {2, 3, 1, 9, 9, 3, 2, geom(1, 2, 2, 3)},   // dilation 2, padding wider than the kernel's reach
      {2, 4, 2, 3, 20, 3, 3, geom(1, 1, 1, 4)},  // long rows: the vectorised runs and their tails
  };
  DwCase asym{2, 3, 1, 6, 8, 3, 3, geom(2, 0, 1, 3)};
  asym.g.pad_top = 1;
  asym.g.pad_right = 2;
  asym.g.stride_w = 1;
  out.push_back(asym);
  return out;
}

Tensor random_tensor(const Shape& s, DType dt, Rng& rng) {
  Tensor t(s, dt);
  for (int64_t i = 0; i < t.numel(); ++i) t.set_item(i, rng.uniform() * 2 - 1);
  return t;
}

// The definition, float64: y = conv(x, w) + b and, for gy, the gradients of <gy, y> as sums over every
// (n, o, oh, ow, i, j) whose tap lies inside the input; gw_n per sample.
struct Naive {
  Tensor y, gx, gw, gb, gw_per_example;
};

Naive naive(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& gy, const DwCase& c) {
  const Shape ys = ops::conv2d_output_shape(x.shape(), w.shape(), c.g);
  const int64_t O = c.C * c.M, KK = c.KH * c.KW;
  Shape pe = w.shape();
  pe.insert(pe.begin(), c.N);
  Naive r{Tensor(ys, DType::F64), Tensor(x.shape(), DType::F64), Tensor(w.shape(), DType::F64), Tensor({O}, DType::F64),
          Tensor(pe, DType::F64)};
  const double *px = x.data<double>(), *pw = w.data<double>(), *pg = gy.data<double>();
  for (int64_t n = 0; n < c.N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oh = 0; oh < ys[2]; ++oh)
        for (int64_t ow = 0; ow < ys[3]; ++ow) {
          const int64_t yi = ((n * O + o) * ys[2] + oh) * ys[3] + ow;
          double s = b.data<double>()[o];
          r.gb.data<double>()[o] += pg[yi];
          for (int64_t i = 0; i < c.KH; ++i)
            for (int64_t j = 0; j < c.KW; ++j) {
              const int64_t ih = oh * c.g.stride_h - c.g.pad_top + i * c.g.dilation_h;
              const int64_t iw = ow * c.g.stride_w - c.g.pad_left + j * c.g.dilation_w;
              if (ih < 0 || ih >= c.H || iw < 0 || iw >= c.W) continue;
              const int64_t xi = ((n * c.C + o / c.M) * c.H + ih) * c.W + iw, wi = o * KK + i * c.KW + j;
              s += pw[wi] * px[xi];
              r.gx.data<double>()[xi] += pw[wi] * pg[yi];
              r.gw.data<double>()[wi] += px[xi] * pg[yi];
              r.gw_per_example.data<double>()[n * O * KK + wi] += px[xi] * pg[yi];
            }
          r.y.data<double>()[yi] = s;
        }
  return r;
}

// The same convolution with groups = 1: weight (O, C, KH, KW), zero except w_dense[o, o / M] = w[o, 0].
Tensor dense_weight(const Tensor& w, const DwCase& c) {
  const int64_t O = c.C * c.M, KK = c.KH * c.KW;
  Tensor d = Tensor::zeros({O, c.C, c.KH, c.KW}, w.dtype());
  for (int64_t o = 0; o < O; ++o)
    for (int64_t k = 0; k < KK; ++k) d.set_item((o * c.C + o / c.M) * KK + k, w.item(o * KK + k));
  return d;
}

// The depthwise block of a dense weight gradient (O, C, KH, KW): gw[o, 0] = g_dense[o, o / M].
Tensor depthwise_block(const Tensor& gd, const DwCase& c) {
  const int64_t O = c.C * c.M, KK = c.KH * c.KW;
  Tensor out({O, 1, c.KH, c.KW}, gd.dtype());
  for (int64_t o = 0; o < O; ++o)
    for (int64_t k = 0; k < KK; ++k) out.set_item(o * KK + k, gd.item((o * c.C + o / c.M) * KK + k));
  return out;
}

struct Passes {
  Tensor y, gx, gw, gb, gw_per_example;
};

Passes run_passes(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& gy, const DwCase& c) {
  Passes p;
  p.y = ops::conv2d_forward(x, w, b, c.g);
  p.gx = ops::conv2d_backward_input(gy, w, x.shape(), c.g);
  p.gw = Tensor(w.shape(), w.dtype());
  p.gb = Tensor::zeros({w.dim(0)}, w.dtype());
  ops::conv2d_backward_weight_bias(x, gy, p.gw, false, p.gb, c.g);
  p.gw_per_example = ops::conv2d_backward_weight_per_example(x, gy, w.shape(), c.g);
  return p;
}

}  // namespace

TEST_CASE("depthwise conv: every pass equals the definition in float64") {
  Rng rng(15);
  for (const DwCase& c : cases()) {
    CAPTURE(c.C);
    CAPTURE(c.M);
    CAPTURE(c.KH);
    const Tensor x = random_tensor({c.N, c.C, c.H, c.W}, DType::F64, rng);
    const Tensor w = random_tensor({c.C * c.M, 1, c.KH, c.KW}, DType::F64, rng);
    const Tensor b = random_tensor({c.C * c.M}, DType::F64, rng);
    const Tensor gy = random_tensor(ops::conv2d_output_shape(x.shape(), w.shape(), c.g), DType::F64, rng);
    const Naive want = naive(x, w, b, gy, c);
    const Passes got = run_passes(x, w, b, gy, c);
    CHECK(max_rel_diff(got.y, want.y) < 1e-12);
    CHECK(max_rel_diff(got.gx, want.gx) < 1e-12);
    CHECK(max_rel_diff(got.gw, want.gw) < 1e-12);
    CHECK(max_rel_diff(got.gb, want.gb) < 1e-12);
    CHECK(max_rel_diff(got.gw_per_example, want.gw_per_example) < 1e-12);
    // accumulate adds to what is there
    Tensor acc = Tensor::full(w.shape(), 1.0, DType::F64);
    ops::conv2d_backward_weight(x, gy, acc, true, c.g);
    CHECK(max_rel_diff(acc, ops::add_scalar(want.gw, 1.0)) < 1e-12);
  }
}

TEST_CASE("depthwise conv: float32 agrees with the generic GEMM route on the dense equivalent") {
  Rng rng(16);
  for (const DwCase& c : cases()) {
    CAPTURE(c.C);
    CAPTURE(c.M);
    const Tensor x = random_tensor({c.N, c.C, c.H, c.W}, DType::F32, rng);
    const Tensor w = random_tensor({c.C * c.M, 1, c.KH, c.KW}, DType::F32, rng);
    const Tensor b = random_tensor({c.C * c.M}, DType::F32, rng);
    const Tensor gy = random_tensor(ops::conv2d_output_shape(x.shape(), w.shape(), c.g), DType::F32, rng);
    ops::Conv2dGeometry dense_g = c.g;
    dense_g.groups = 1;
    const Tensor wd = dense_weight(w, c);
    const Passes got = run_passes(x, w, b, gy, c);
    CHECK(max_rel_diff(got.y, ops::conv2d_forward(x, wd, b, dense_g)) < 1e-5);
    CHECK(max_rel_diff(got.gx, ops::conv2d_backward_input(gy, wd, x.shape(), dense_g)) < 1e-5);
    Tensor gwd(wd.shape(), DType::F32);
    ops::conv2d_backward_weight(x, gy, gwd, false, dense_g);
    CHECK(max_rel_diff(got.gw, depthwise_block(gwd, c)) < 1e-5);
    CHECK(max_rel_diff(got.gb, ops::conv2d_backward_bias(gy, false)) < 1e-5);
  }
}

TEST_CASE("depthwise conv: input and weight gradients equal finite differences (float64)") {
  Rng rng(17);
  for (const DwCase& c : cases()) {
    CAPTURE(c.C);
    CAPTURE(c.M);
    Tensor x = random_tensor({c.N, c.C, c.H, c.W}, DType::F64, rng);
    Tensor w = random_tensor({c.C * c.M, 1, c.KH, c.KW}, DType::F64, rng);
    const Tensor b = random_tensor({c.C * c.M}, DType::F64, rng);
    const Tensor gy = random_tensor(ops::conv2d_output_shape(x.shape(), w.shape(), c.g), DType::F64, rng);
    const auto loss = [&] { return ops::dot_all(gy, ops::conv2d_forward(x, w, b, c.g)); };
    const Passes got = run_passes(x, w, b, gy, c);
    CHECK(max_rel_diff(got.gx, testing::numeric_gradient(loss, x)) < 1e-6);
    CHECK(max_rel_diff(got.gw, testing::numeric_gradient(loss, w)) < 1e-6);
  }
}

TEST_CASE("depthwise conv: same bits for 1 and 2 threads and for a sample alone") {
  Rng rng(18);
  const int saved_threads = num_threads();
  for (const DwCase& c : cases()) {
    CAPTURE(c.C);
    const Tensor x = random_tensor({c.N, c.C, c.H, c.W}, DType::F32, rng);
    const Tensor w = random_tensor({c.C * c.M, 1, c.KH, c.KW}, DType::F32, rng);
    const Tensor b = random_tensor({c.C * c.M}, DType::F32, rng);
    const Tensor gy = random_tensor(ops::conv2d_output_shape(x.shape(), w.shape(), c.g), DType::F32, rng);
    set_num_threads(1);
    const Passes one = run_passes(x, w, b, gy, c);
    set_num_threads(2);
    const Passes two = run_passes(x, w, b, gy, c);
    CHECK(bitwise_equal(one.y, two.y));
    CHECK(bitwise_equal(one.gx, two.gx));
    CHECK(bitwise_equal(one.gw, two.gw));
    CHECK(bitwise_equal(one.gb, two.gb));
    CHECK(bitwise_equal(one.gw_per_example, two.gw_per_example));
    // The last sample alone: its output and input gradient are the batch's rows, bit for bit.
    const int64_t n = c.N - 1, xs = c.C * c.H * c.W, ys = one.y.numel() / c.N;
    Tensor x1({1, c.C, c.H, c.W}, DType::F32), gy1(Shape{1, gy.dim(1), gy.dim(2), gy.dim(3)}, DType::F32);
    for (int64_t i = 0; i < xs; ++i) x1.set_item(i, x.item(n * xs + i));
    for (int64_t i = 0; i < ys; ++i) gy1.set_item(i, gy.item(n * ys + i));
    const Tensor y1 = ops::conv2d_forward(x1, w, b, c.g);
    const Tensor gx1 = ops::conv2d_backward_input(gy1, w, x1.shape(), c.g);
    bool rows_equal = true;
    for (int64_t i = 0; i < ys; ++i) rows_equal = rows_equal && y1.item(i) == one.y.item(n * ys + i);
    for (int64_t i = 0; i < xs; ++i) rows_equal = rows_equal && gx1.item(i) == one.gx.item(n * xs + i);
    CHECK(rows_equal);
  }
  set_num_threads(saved_threads);
}

namespace {

// The summation order conv_depthwise.h promises, written with std::fma: the forward's taps (i, j) ascending from
// +0, then the bias; the input gradient's (oh, j) ascending (M = 1, stride 1). Any route that keeps that order
// with one rounding per multiply-add gives these bits.
template <class T>
void ordered_reference(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& gy, const DwCase& c, Tensor& y,
                       Tensor& gx) {
  const int64_t OH = gy.dim(2), OW = gy.dim(3), pt = c.g.pad_top, pl = c.g.pad_left;
  const T *px = x.data<T>(), *pw = w.data<T>(), *pb = b.data<T>(), *pg = gy.data<T>();
  T *py = y.data<T>(), *pgx = gx.data<T>();
  for (int64_t n = 0; n < c.N; ++n)
    for (int64_t ch = 0; ch < c.C; ++ch) {
      const T* xp = px + (n * c.C + ch) * c.H * c.W;
      const T* gp = pg + (n * c.C + ch) * OH * OW;
      const T* wo = pw + ch * c.KH * c.KW;
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          T s = T(0);
          for (int64_t i = 0; i < c.KH; ++i)
            for (int64_t j = 0; j < c.KW; ++j) {
              const int64_t ih = oh - pt + i, iw = ow - pl + j;
              if (ih >= 0 && ih < c.H && iw >= 0 && iw < c.W) s = std::fma(wo[i * c.KW + j], xp[ih * c.W + iw], s);
            }
          py[((n * c.C + ch) * OH + oh) * OW + ow] = s + pb[ch];
        }
      for (int64_t ih = 0; ih < c.H; ++ih)
        for (int64_t iw = 0; iw < c.W; ++iw) {
          T s = T(0);
          for (int64_t oh = 0; oh < OH; ++oh) {
            const int64_t i = ih + pt - oh;
            if (i < 0 || i >= c.KH) continue;
            for (int64_t j = 0; j < c.KW; ++j) {
              const int64_t ow = iw + pl - j;
              if (ow >= 0 && ow < OW) s = std::fma(wo[i * c.KW + j], gp[oh * OW + ow], s);
            }
          }
          pgx[((n * c.C + ch) * c.H + ih) * c.W + iw] = s;
        }
    }
}

}  // namespace

TEST_CASE("depthwise conv, stride 1: the register-blocked rows give the bits of the promised summation order") {
  // engine/cpu/conv_depthwise.cpp keeps interior outputs in vector registers across the taps; edges, tails (W
  // not a multiple of the vector), padding wider than the kernel's reach and rows shorter than a vector all
  // have to come out as the ordered sums.
  Rng rng(21);
  for (DType dt : {DType::F32, DType::F64})
    for (const DwCase& c :
         {DwCase{2, 3, 1, 9, 37, 3, 3, geom(1, 1, 1, 3)}, DwCase{1, 2, 1, 6, 5, 3, 3, geom(1, 1, 1, 2)},
          DwCase{1, 2, 1, 11, 29, 5, 5, geom(1, 2, 1, 2)}, DwCase{1, 2, 1, 7, 19, 3, 3, geom(1, 0, 1, 2)},
          DwCase{1, 2, 1, 8, 17, 3, 3, geom(1, 3, 1, 2)}}) {
      CAPTURE(c.W);
      CAPTURE(c.KH);
      CAPTURE(c.g.pad_left);
      const Tensor x = random_tensor({c.N, c.C, c.H, c.W}, dt, rng);
      const Tensor w = random_tensor({c.C, 1, c.KH, c.KW}, dt, rng);
      const Tensor b = random_tensor({c.C}, dt, rng);
      const Tensor gy = random_tensor(ops::conv2d_output_shape(x.shape(), w.shape(), c.g), dt, rng);
      Tensor want_y(gy.shape(), dt), want_gx(x.shape(), dt);
      if (dt == DType::F32)
        ordered_reference<float>(x, w, b, gy, c, want_y, want_gx);
      else
        ordered_reference<double>(x, w, b, gy, c, want_y, want_gx);
      CHECK(bitwise_equal(ops::conv2d_forward(x, w, b, c.g), want_y));
      CHECK(bitwise_equal(ops::conv2d_backward_input(gy, w, x.shape(), c.g), want_gx));
    }
}
