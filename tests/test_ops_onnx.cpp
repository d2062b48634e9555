// engine/ops_onnx.h against its definitions: reductions over axes (groups in ascending index, first extreme,
// NaN wins) by a direct walk, their backward passes by float64 finite differences and by hand with zeros,
// first_nonfinite by hand, resize against the dense matrix of its taps (and Mᵀ as its adjoint), float Mod and
// arange by hand; each op on Strict with the CPU's bits, and on 1 and 2 threads with the same bits.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "engine/ops.h"
#include "engine/ops_onnx.h"
#include "engine/random.h"
#include "tests/gradcheck.h"
#include "tests/random_tensors.h"
#include "tests/thread_count.h"

using namespace xdnn;
using ops::ReduceOp;

namespace {

Tensor randn(const Shape& s, Rng& rng, DType dt = DType::F64) {
  return dt == DType::I64 ? random_integers(s, rng, dt, -3, 7) : random_normal(s, rng, dt);
}
Tensor strict(const Tensor& t) { return t.to(Device::Strict); }
Tensor host(const Tensor& t) { return t.to(Device::CPU); }

// The definition: group of element i = its coordinates with the reduced axes zeroed; each group's elements
// taken in ascending i, accumulated in the dtype (as double here for the comparison of floats it is exact
// for the Max / Min values and the same order for Sum / Prod, done in T below).
template <class T>
void reduce_by_walk(ReduceOp op, const Tensor& x, const Shape& kept, Tensor& y, Tensor& arg) {
  y = Tensor(kept, x.dtype()), arg = Tensor(kept, DType::I64);
  std::vector<bool> seen(static_cast<size_t>(y.numel()), false);
  const T* px = x.data<T>();
  T* py = y.data<T>();
  int64_t* pa = arg.data<int64_t>();
  const int nd = x.ndim();
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t rem = i, k = 0, kstride = 1;
    for (int d = nd - 1; d >= 0; --d) {
      const int64_t c = rem % x.dim(d);
      rem /= x.dim(d);
      if (kept[d] != 1) k += c * kstride;
      kstride *= kept[d];
    }
    const T v = px[i];
    if (!seen[k]) {
      seen[k] = true, py[k] = v, pa[k] = i;
      continue;
    }
    const bool nan_v = v != v, nan_y = py[k] != py[k];
    if (op == ReduceOp::Sum) py[k] += v;
    if (op == ReduceOp::Prod) py[k] *= v;
    if (op == ReduceOp::Max && (v > py[k] || (nan_v && !nan_y))) py[k] = v, pa[k] = i;
    if (op == ReduceOp::Min && (v < py[k] || (nan_v && !nan_y))) py[k] = v, pa[k] = i;
  }
}

const std::vector<Shape> kKeptFor234 = {{1, 3, 4}, {2, 1, 4}, {2, 3, 1}, {1, 3, 1}, {1, 1, 1}, {2, 3, 4}};

}  // namespace

TEST_CASE("ops::reduce_axes: every op, axis set and dtype equals the walk over groups in ascending index") {
  Rng rng(5);
  testing::RestoreThreadCount restore;
  for (DType dt : {DType::F32, DType::F64, DType::I64})
    for (const Shape& kept : kKeptFor234)
      for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min, ReduceOp::Prod}) {
        INFO(dtype_name(dt), " kept ", shape_str(kept), " op ", static_cast<int>(op));
        const Tensor x = randn({2, 3, 4}, rng, dt);
        Tensor y, arg;
        if (dt == DType::F32) reduce_by_walk<float>(op, x, kept, y, arg);
        if (dt == DType::F64) reduce_by_walk<double>(op, x, kept, y, arg);
        if (dt == DType::I64) reduce_by_walk<int64_t>(op, x, kept, y, arg);
        set_num_threads(1);
        const std::vector<Tensor> one = ops::reduce_axes(op, x, kept);
        set_num_threads(2);
        const std::vector<Tensor> two = ops::reduce_axes(op, x, kept);
        CHECK(bitwise_equal(one[0], y));
        CHECK(bitwise_equal(two[0], y));
        if (op == ReduceOp::Max || op == ReduceOp::Min) CHECK(bitwise_equal(one[1], arg));
        const std::vector<Tensor> s = ops::reduce_axes(op, strict(x), kept);
        CHECK(s[0].device() == Device::Strict);
        CHECK(bitwise_equal(host(s[0]), one[0]));
        CHECK(bitwise_equal(host(s[1]), one[1]));
      }
}

TEST_CASE("ops::reduce_axes: ties go to the first extreme, NaN wins, bad kept shapes are one line") {
  const Tensor x = Tensor::from_vector({2, 4}, std::vector<double>{1, 5, 5, 2, 3, NAN, 7, NAN});
  const std::vector<Tensor> mx = ops::reduce_axes(ReduceOp::Max, x, {2, 1});
  CHECK(mx[0].item(0) == 5);
  CHECK(mx[1].item(0) == 1);  // the first 5
  CHECK(std::isnan(mx[0].item(1)));
  CHECK(mx[1].item(1) == 5);  // the first NaN, not the larger 7 after it
  const std::vector<Tensor> mn = ops::reduce_axes(ReduceOp::Min, x, {1, 4});
  CHECK(mn[0].item(0) == 1);
  CHECK(std::isnan(mn[0].item(1)));
  CHECK(mn[1].item(1) == 5);
  CHECK_THROWS_WITH_AS(ops::reduce_axes(ReduceOp::Sum, x, {2, 2}), doctest::Contains("kept shape (2, 2)"), Error);
  CHECK_THROWS_WITH_AS(ops::reduce_axes(ReduceOp::Sum, x, {1}), doctest::Contains("does not reduce"), Error);
  CHECK_THROWS_WITH_AS(ops::reduce_axes(ReduceOp::Sum, Tensor({0, 3}, DType::F32), {1, 3}),
                       doctest::Contains("empty input"), Error);
}

TEST_CASE("ops::reduce_axes_backward: float64 finite differences for Max, Min, Prod; Prod with zeros by hand") {
  Rng rng(6);
  for (const Shape& kept : kKeptFor234)
    for (ReduceOp op : {ReduceOp::Max, ReduceOp::Min, ReduceOp::Prod, ReduceOp::Sum}) {
      INFO("kept ", shape_str(kept), " op ", static_cast<int>(op));
      Tensor x = randn({2, 3, 4}, rng);
      if (op == ReduceOp::Prod) x = ops::add_scalar(ops::scale(x, 0.2), 1.0);  // away from 0
      const Tensor w = randn(kept, rng);
      const std::vector<Tensor> y_arg = ops::reduce_axes(op, x, kept);
      const Tensor gx = ops::reduce_axes_backward(op, x, w, y_arg[1], kept);
      const Tensor num =
          testing::numeric_gradient([&] { return ops::dot_all(ops::reduce_axes(op, x, kept)[0], w); }, x);
      CHECK(testing::max_rel_diff(gx, num) < 1e-6);
      const Tensor gs = ops::reduce_axes_backward(op, strict(x), strict(w), strict(y_arg[1]), kept);
      CHECK(bitwise_equal(host(gs), gx));
    }
  // One zero: only the zero gets the others' product; two zeros: all gradients 0.
  const Tensor x = Tensor::from_vector({2, 3}, std::vector<double>{2, 0, 3, 0, 4, 0});
  const Tensor g = Tensor::from_vector({2, 1}, std::vector<double>{1, 1});
  const Tensor gx =
      ops::reduce_axes_backward(ReduceOp::Prod, x, g, ops::reduce_axes(ReduceOp::Prod, x, {2, 1})[1], {2, 1});
  const std::vector<double> want{0, 6, 0, 0, 0, 0};
  for (int64_t i = 0; i < 6; ++i) CHECK(gx.item(i) == want[i]);
}

TEST_CASE("ops::first_nonfinite: the first NaN or infinity in flat order, -1 when none, on every device") {
  for (DType dt : {DType::F32, DType::F64}) {
    INFO(dtype_name(dt));
    Tensor x({3, 5000}, dt);
    x.fill(1.5);
    CHECK(ops::first_nonfinite(x) == -1);
    CHECK(ops::first_nonfinite(strict(x)) == -1);
    x.set_item(9000, -INFINITY);
    x.set_item(12000, NAN);
    CHECK(ops::first_nonfinite(x) == 9000);
    x.set_item(4097, INFINITY);
    CHECK(ops::first_nonfinite(x) == 4097);
    CHECK(ops::first_nonfinite(strict(x)) == 4097);
    x.set_item(4097, std::numeric_limits<double>::max());  // finite in float64, +inf once rounded to float32
    CHECK(ops::first_nonfinite(x) == (dt == DType::F32 ? 4097 : 9000));
  }
  CHECK_THROWS_WITH_AS(ops::first_nonfinite(Tensor({2}, DType::I64)), doctest::Contains("first_nonfinite"), Error);
}

namespace {

// The dense matrix (prod(out), prod(in)) of the taps: M[k, i] = Σ over combinations of the weight product.
std::vector<double> dense_resize(const ops::ResizeTaps& taps, const Shape& xs, int64_t& rows, int64_t& cols) {
  const int n = static_cast<int>(xs.size());
  Shape ys;
  for (const auto& t : taps) ys.push_back(static_cast<int64_t>(t.i0.size()));
  rows = shape_numel(ys), cols = shape_numel(xs);
  std::vector<double> m(static_cast<size_t>(rows * cols), 0.0);
  for (int64_t k = 0; k < rows; ++k)
    for (int combo = 0; combo < (1 << n); ++combo) {
      int64_t rem = k, off = 0, stride = 1;
      double w = 1;
      for (int a = n - 1; a >= 0; --a) {
        const int64_t j = rem % ys[a];
        rem /= ys[a];
        const bool hi = (combo >> a) & 1;
        w *= hi ? taps[a].w1[j] : taps[a].w0[j];
        off += (hi ? taps[a].i1[j] : taps[a].i0[j]) * stride;
        stride *= xs[a];
      }
      m[k * cols + off] += w;
    }
  return m;
}

// Linear taps of a half-pixel resize from d to o, and identity taps.
ops::ResizeAxisTaps linear_axis(int64_t d, int64_t o) {
  ops::ResizeAxisTaps t;
  for (int64_t j = 0; j < o; ++j) {
    const double c = (static_cast<double>(j) + 0.5) * static_cast<double>(d) / static_cast<double>(o) - 0.5;
    const double f = std::floor(c);
    const auto clampi = [d](int64_t i) { return i < 0 ? int64_t{0} : (i >= d ? d - 1 : i); };
    t.i0.push_back(clampi(static_cast<int64_t>(f))), t.i1.push_back(clampi(static_cast<int64_t>(f) + 1));
    t.w0.push_back(1 - (c - f)), t.w1.push_back(c - f);
  }
  return t;
}
ops::ResizeAxisTaps identity_axis(int64_t d) {
  ops::ResizeAxisTaps t;
  for (int64_t j = 0; j < d; ++j) t.i0.push_back(j), t.i1.push_back(j), t.w0.push_back(1), t.w1.push_back(0);
  return t;
}

}  // namespace

TEST_CASE("ops::resize and resize_backward: the dense matrix of the taps and its transpose; same bits anywhere") {
  Rng rng(7);
  testing::RestoreThreadCount restore;
  const Shape xs{2, 3, 4, 5};
  const ops::ResizeTaps taps{identity_axis(2), linear_axis(3, 7), linear_axis(4, 2), linear_axis(5, 5)};
  int64_t rows = 0, cols = 0;
  const std::vector<double> m = dense_resize(taps, xs, rows, cols);
  const Tensor x = randn(xs, rng), g = randn({2, 7, 2, 5}, rng);
  set_num_threads(1);
  const Tensor y = ops::resize(x, taps), gx = ops::resize_backward(g, taps, xs);
  set_num_threads(2);
  CHECK(bitwise_equal(ops::resize(x, taps), y));
  CHECK(bitwise_equal(ops::resize_backward(g, taps, xs), gx));
  REQUIRE(y.shape() == Shape{2, 7, 2, 5});
  REQUIRE(gx.shape() == xs);
  double worst = 0;
  for (int64_t k = 0; k < rows; ++k) {
    double s = 0;
    for (int64_t i = 0; i < cols; ++i) s += m[k * cols + i] * x.item(i);
    worst = std::max(worst, std::abs(s - y.item(k)));
  }
  for (int64_t i = 0; i < cols; ++i) {
    double s = 0;
    for (int64_t k = 0; k < rows; ++k) s += m[k * cols + i] * g.item(k);
    worst = std::max(worst, std::abs(s - gx.item(i)));
  }
  CHECK(worst < 1e-12);
  CHECK(bitwise_equal(host(ops::resize(strict(x), taps)), y));
  CHECK(bitwise_equal(host(ops::resize_backward(strict(g), taps, xs)), gx));
  // float32: one rounding of the double sum.
  const Tensor x32 = x.to(DType::F32);
  const Tensor y32 = ops::resize(x32, taps);
  for (int64_t k = 0; k < rows; ++k) {
    double s = 0;
    for (int64_t i = 0; i < cols; ++i) s += m[k * cols + i] * x32.item(i);
    CHECK(std::abs(static_cast<double>(static_cast<float>(s)) - y32.item(k)) <= 1e-6 * (1 + std::abs(s)));
  }
  ops::ResizeTaps bad = taps;
  bad[1].i1[3] = 3;
  CHECK_THROWS_WITH_AS(ops::resize(x, bad), doctest::Contains("taps of axis 1"), Error);
  CHECK_THROWS_WITH_AS(ops::resize(x, {taps[0]}), doctest::Contains("1 axes of taps"), Error);
}

TEST_CASE("ops::mod: floor and fmod semantics by hand, broadcasting, the quotient; ops::arange") {
  const Tensor a = Tensor::from_vector({2, 2}, std::vector<double>{5.5, 5.5, -7, -7});
  const Tensor b = Tensor::from_vector({2}, std::vector<double>{2, -3});
  const std::vector<Tensor> fl = ops::mod(a, b, false), tr = ops::mod(a, b, true);
  const std::vector<double> y_floor{1.5, -0.5, 1, -1}, q_floor{2, -2, -4, 2};
  const std::vector<double> y_fmod{1.5, 2.5, -1, -1}, q_trunc{2, -1, -3, 2};
  for (int64_t i = 0; i < 4; ++i) {
    CHECK(fl[0].item(i) == y_floor[i]);
    CHECK(fl[1].item(i) == q_floor[i]);
    CHECK(tr[0].item(i) == y_fmod[i]);
    CHECK(tr[1].item(i) == q_trunc[i]);
  }
  for (bool f : {false, true}) {
    const std::vector<Tensor> s = ops::mod(strict(a.to(DType::F32)), strict(b.to(DType::F32)), f);
    const std::vector<Tensor> c = ops::mod(a.to(DType::F32), b.to(DType::F32), f);
    CHECK(bitwise_equal(host(s[0]), c[0]));
    CHECK(bitwise_equal(host(s[1]), c[1]));
  }
  CHECK_THROWS_WITH_AS(ops::mod(a, b.to(DType::F32), false), doctest::Contains("mod"), Error);
  CHECK_THROWS_WITH_AS(ops::mod(a.to(DType::I64), b.to(DType::I64), false), doctest::Contains("mod"), Error);

  const Tensor r = ops::arange(Tensor::from_vector({1}, std::vector<int64_t>{-3}),
                               Tensor::from_vector({1}, std::vector<int64_t>{4}), 4);
  CHECK(bitwise_equal(r, Tensor::from_vector({4}, std::vector<int64_t>{-3, 1, 5, 9})));
  const Tensor s = Tensor::from_vector({1}, std::vector<float>{0.5f}),
               d = Tensor::from_vector({1}, std::vector<float>{0.1f});
  const Tensor rf = ops::arange(s, d, 3);
  for (int64_t i = 0; i < 3; ++i)
    CHECK(rf.item(i) ==
          static_cast<double>(static_cast<float>(0.5 + static_cast<double>(i) * static_cast<double>(0.1f))));
  CHECK(bitwise_equal(host(ops::arange(strict(s), strict(d), 3)), rf));
  CHECK(ops::arange(s, d, 0).numel() == 0);
  CHECK_THROWS_WITH_AS(ops::arange(s, d, -1), doctest::Contains("negative length"), Error);
}
