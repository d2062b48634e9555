// CUDA kernel bodies run on the CPU (no GPU needed; runs in every build, CUDA or not).
//
// Each kernel of kernels/{elementwise,reduce,softmax}.cu is a struct with operator()(i) in a
// kernels/*_body.h header; here g++ runs the very same struct for every index (run_on_host) and the
// result is compared with the engine's CPU op on fresh random inputs, including broadcasting cases and
// odd sizes. The cuBLAS argument mapping (kernels/blas_args.h) is checked with a reference
// column-major GEMM. What this cannot check: launch geometry, the device's math library, cuBLAS itself;
// tests/test_cuda.cpp does that on a machine with a GPU.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/ops.h"
#include "engine/random.h"
#include "kernels/blas_args.h"
#include "kernels/elementwise_body.h"
#include "kernels/reduce_body.h"
#include "kernels/softmax_body.h"

using namespace xdnn;

namespace {

Tensor random_tensor(const Shape& s, DType dt, Rng& rng, double lo = -2, double hi = 2) {
  Tensor t(s, dt);
  for (int64_t i = 0; i < t.numel(); ++i) t.set_item(i, rng.uniform(lo, hi));
  return t;
}

// ||a − b|| / ||b|| (the absolute L2 error when b is zero).
double rel_l2(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  double num = 0, den = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double d = a.item(i) - b.item(i);
    num += d * d;
    den += b.item(i) * b.item(i);
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

template <class T>
T* ptr(Tensor& t) {
  return t.data<T>();
}

const std::vector<ops::Unary> kUnaries = {
    ops::Unary::Relu,         ops::Unary::Sigmoid,      ops::Unary::Tanh, ops::Unary::Exp,      ops::Unary::Log,
    ops::Unary::Sqrt,         ops::Unary::Abs,          ops::Unary::Neg,  ops::Unary::Square,   ops::Unary::Reciprocal,
    ops::Unary::PositivePart, ops::Unary::NegativePart, ops::Unary::Sign, ops::Unary::SignPlus, ops::Unary::Step};
const std::vector<ops::Binary> kBinaries = {ops::Binary::Add, ops::Binary::Sub, ops::Binary::Mul,
                                            ops::Binary::Div, ops::Binary::Max, ops::Binary::Min};

}  // namespace

TEST_CASE("cuda host: unary bodies equal the CPU ops (float32, float64, odd sizes, zeros)") {
  Rng rng(11);
  for (DType dt : {DType::F32, DType::F64})
    for (int64_t n : {1, 7, 1000, 4099})
      for (ops::Unary op : kUnaries) {
        const bool positive = op == ops::Unary::Log || op == ops::Unary::Sqrt || op == ops::Unary::Reciprocal;
        Tensor x = random_tensor({n}, dt, rng, positive ? 0.1 : -3, 3);
        if (!positive && n > 3) x.set_item(3, 0.0);  // sign conventions at 0
        const Tensor want = ops::unary(op, x);
        Tensor got(x.shape(), dt);
        if (dt == DType::F32)
          cuda::run_on_host(n, cuda::UnaryBody<float>{op, x.data<float>(), ptr<float>(got)});
        else
          cuda::run_on_host(n, cuda::UnaryBody<double>{op, x.data<double>(), ptr<double>(got)});
        CHECK_MESSAGE(rel_l2(got, want) <= 1e-6, "unary op " << static_cast<int>(op) << " n=" << n);
      }
}

TEST_CASE("cuda host: binary bodies with NumPy broadcasting equal the CPU ops") {
  Rng rng(12);
  const std::vector<std::pair<Shape, Shape>> cases = {{{5, 7}, {5, 7}},
                                                      {{2, 3}, {3}},
                                                      {{4, 1, 5}, {3, 1}},
                                                      {{1}, {7}},
                                                      {{13, 17}, {17}},
                                                      {{1, 1}, {5, 7}},
                                                      {{2, 3, 4, 5}, {2, 1, 4, 1}},
                                                      {{3, 1, 2}, {1, 4, 1}},
                                                      {{6}, {2, 3, 1, 6}},
                                                      {{2, 1, 3, 5, 1}, {4, 1, 5, 1}}};
  for (DType dt : {DType::F32, DType::F64})
    for (const auto& shapes : cases)
      for (ops::Binary op : kBinaries) {
        const Shape &sa = shapes.first, &sb = shapes.second;
        const Tensor a = random_tensor(sa, dt, rng), b = random_tensor(sb, dt, rng, 0.5, 2.5);
        const Tensor want = ops::binary(op, a, b);
        cuda::Broadcast2 geo;
        const bool same = sa == sb;
        const Shape out = same ? sa : cuda::broadcast_geometry(sa, sb, geo);
        REQUIRE(out == want.shape());
        Tensor got(out, dt);
        if (dt == DType::F32)
          cuda::run_on_host(got.numel(),
                            cuda::BinaryBody<float>{op, a.data<float>(), b.data<float>(), ptr<float>(got), same, geo});
        else
          cuda::run_on_host(got.numel(), cuda::BinaryBody<double>{op, a.data<double>(), b.data<double>(),
                                                                  ptr<double>(got), same, geo});
        CHECK_MESSAGE(rel_l2(got, want) <= 1e-6,
                      "binary op " << static_cast<int>(op) << " " << shape_str(sa) << " " << shape_str(sb));
      }
  cuda::Broadcast2 geo;
  CHECK_THROWS_AS(cuda::broadcast_geometry({2, 3}, {4}, geo), Error);
  CHECK_THROWS_AS(cuda::broadcast_geometry(Shape(9, 1), {1}, geo), Error);  // more than 8 axes
}

TEST_CASE("cuda host: sum_to_shape body sums in the CPU's order (bit-identical)") {
  Rng rng(13);
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{4, 5}, {5}}, {{4, 5}, {4, 1}},    {{3, 4, 5}, {1, 4, 1}}, {{2, 3, 4, 5}, {3, 1, 5}},
      {{7, 9}, {1}}, {{6, 1, 5}, {1, 1}}, {{0, 3}, {3}},          {{2, 3, 7, 11}, {2, 1, 7, 1}}};
  for (DType dt : {DType::F32, DType::F64})
    for (const auto& shapes : cases) {
      const Shape &gs = shapes.first, &s = shapes.second;
      const Tensor g = random_tensor(gs, dt, rng);
      const Tensor want = ops::sum_to_shape(g, s);
      const cuda::SumToShapeGeometry geo = cuda::sum_to_shape_geometry(gs, s);
      Tensor got(s, dt);
      if (dt == DType::F32)
        cuda::run_on_host(got.numel(), cuda::SumToShapeBody<float>{g.data<float>(), ptr<float>(got), geo});
      else
        cuda::run_on_host(got.numel(), cuda::SumToShapeBody<double>{g.data<double>(), ptr<double>(got), geo});
      CHECK_MESSAGE(bitwise_equal(got, want), shape_str(gs) << " -> " << shape_str(s));
    }
  CHECK_THROWS_AS(cuda::sum_to_shape_geometry({4, 5}, {3}), Error);
}

TEST_CASE("cuda host: scale, add_scalar, axpy, stabilize, clip, fill bodies equal the CPU ops") {
  Rng rng(14);
  for (int64_t n : {1, 33, 1001}) {
    const Tensor x = random_tensor({n}, DType::F32, rng), y0 = random_tensor({n}, DType::F32, rng);
    Tensor got({n}, DType::F32);
    const float* px = x.data<float>();
    cuda::run_on_host(n, cuda::ScaleBody<float>{px, ptr<float>(got), -1.7f});
    CHECK(rel_l2(got, ops::scale(x, -1.7)) <= 1e-6);
    cuda::run_on_host(n, cuda::AddScalarBody<float>{px, ptr<float>(got), 0.25f});
    CHECK(rel_l2(got, ops::add_scalar(x, 0.25)) <= 1e-6);
    cuda::run_on_host(n, cuda::StabilizeBody<float>{px, ptr<float>(got), 1e-2f});
    CHECK(rel_l2(got, ops::stabilize(x, 1e-2)) <= 1e-6);
    cuda::run_on_host(n, cuda::ClipBody<float>{px, ptr<float>(got), -0.5f, 0.75f});
    CHECK(rel_l2(got, ops::clip(x, -0.5, 0.75)) <= 1e-6);
    for (double a : {1.0, 0.3}) {
      Tensor want = y0.clone();
      ops::axpy_inplace(want, a, x);
      got = y0.clone();
      cuda::run_on_host(n, cuda::AxpyBody<float>{px, ptr<float>(got), static_cast<float>(a), a == 1.0});
      CHECK(rel_l2(got, want) <= 1e-6);
    }
    cuda::run_on_host(n, cuda::FillBody<float>{ptr<float>(got), 2.5f});
    CHECK(rel_l2(got, Tensor::full({n}, 2.5)) == 0);
  }
}

TEST_CASE("cuda host: the cast body equals Tensor::to(DType) for every pair of dtypes") {
  Rng rng(16);
  // Fractions and negatives (float -> int64 truncates toward zero), int64 past 2^53 and 2^24 (rounded through
  // double, then to float), zero and a large float.
  const Tensor f64 = Tensor::from_vector({6}, std::vector<double>{-2.75, -0.5, 0.0, 0.999, 3.5e9, 1e-310});
  const Tensor i64 = Tensor::from_vector(
      {5}, std::vector<int64_t>{-7, 0, (int64_t{1} << 24) + 1, (int64_t{1} << 53) + 1, (int64_t{1} << 62) + 3});
  for (const Tensor& x : {random_tensor({33}, DType::F32, rng), f64.to(DType::F32), f64, i64})
    for (DType d : {DType::F32, DType::F64, DType::I64}) {
      if (d == x.dtype()) continue;  // Tensor::to returns the tensor itself: no cast runs
      const Tensor want = x.to(d);
      Tensor got(x.shape(), d);
      const auto run = [&](const auto* src) {
        using From = std::remove_const_t<std::remove_pointer_t<decltype(src)>>;
        if (d == DType::F32) cuda::run_on_host(x.numel(), cuda::CastBody<From, float>{src, ptr<float>(got)});
        if (d == DType::F64) cuda::run_on_host(x.numel(), cuda::CastBody<From, double>{src, ptr<double>(got)});
        if (d == DType::I64) cuda::run_on_host(x.numel(), cuda::CastBody<From, int64_t>{src, ptr<int64_t>(got)});
      };
      if (x.dtype() == DType::F32) run(x.data<float>());
      if (x.dtype() == DType::F64) run(x.data<double>());
      if (x.dtype() == DType::I64) run(x.data<int64_t>());
      CHECK_MESSAGE(bitwise_equal(got, want), x.describe() << " -> " << std::string(dtype_name(d)));
    }
}

TEST_CASE("cuda host: two-pass sum and dot in the device's order match sum_all / dot_all") {
  Rng rng(15);
  // Sizes around the fixed grid: fewer elements than threads, exactly one round, several rounds.
  const int64_t threads = static_cast<int64_t>(cuda::kReduceBlocks) * cuda::kReduceThreads;
  for (int64_t n : {int64_t(0), int64_t(1), int64_t(255), threads, threads + 17, 3 * threads + 5}) {
    for (DType dt : {DType::F32, DType::F64}) {
      const Tensor a = random_tensor({n}, dt, rng), b = random_tensor({n}, dt, rng);
      double sum = 0, dot = 0;
      if (dt == DType::F32) {
        sum = cuda::reduce_on_host(cuda::PartialSumBody<float>{a.data<float>(), nullptr, n, threads});
        dot = cuda::reduce_on_host(cuda::PartialSumBody<float>{a.data<float>(), b.data<float>(), n, threads});
      } else {
        sum = cuda::reduce_on_host(cuda::PartialSumBody<double>{a.data<double>(), nullptr, n, threads});
        dot = cuda::reduce_on_host(cuda::PartialSumBody<double>{a.data<double>(), b.data<double>(), n, threads});
      }
      const double want_sum = ops::sum_all(a), want_dot = ops::dot_all(a, b);
      // Both accumulate in double: only the order differs.
      CHECK(std::abs(sum - want_sum) <= 1e-12 * (1 + std::abs(want_sum)) * std::sqrt(double(n + 1)));
      CHECK(std::abs(dot - want_dot) <= 1e-12 * (1 + std::abs(want_dot)) * std::sqrt(double(n + 1)));
    }
  }
}

TEST_CASE("cuda host: softmax / log-softmax over any axis and their backward equal the CPU ops") {
  Rng rng(16);
  for (DType dt : {DType::F32, DType::F64})
    for (const Shape& s : {Shape{3, 5, 7}, Shape{1, 9}, Shape{11}, Shape{2, 1, 4, 3}})
      for (int axis = -static_cast<int>(s.size()); axis < static_cast<int>(s.size()); ++axis)
        for (bool log : {false, true}) {
          const Tensor x = random_tensor(s, dt, rng, -6, 6), dy = random_tensor(s, dt, rng);
          const Tensor want = log ? ops::log_softmax(x, axis) : ops::softmax(x, axis);
          const int a = axis < 0 ? axis + static_cast<int>(s.size()) : axis;
          int64_t inner = 1, outer = 1;
          for (int i = 0; i < a; ++i) outer *= s[i];
          for (size_t i = a + 1; i < s.size(); ++i) inner *= s[i];
          const int64_t D = s[a];
          Tensor y(s, dt), dx(s, dt);
          const Tensor want_dx =
              log ? ops::log_softmax_backward(want, dy, axis) : ops::softmax_backward(want, dy, axis);
          if (dt == DType::F32) {
            cuda::run_on_host(outer * inner,
                              cuda::SoftmaxLineBody<float>{x.data<float>(), ptr<float>(y), D, inner, log});
            cuda::run_on_host(outer * inner, cuda::SoftmaxBackwardLineBody<float>{want.data<float>(), dy.data<float>(),
                                                                                  ptr<float>(dx), D, inner, log});
          } else {
            cuda::run_on_host(outer * inner,
                              cuda::SoftmaxLineBody<double>{x.data<double>(), ptr<double>(y), D, inner, log});
            cuda::run_on_host(outer * inner,
                              cuda::SoftmaxBackwardLineBody<double>{want.data<double>(), dy.data<double>(),
                                                                    ptr<double>(dx), D, inner, log});
          }
          CHECK_MESSAGE(rel_l2(y, want) <= 1e-6, shape_str(s) << " axis " << axis << " log " << log);
          CHECK_MESSAGE(rel_l2(dx, want_dx) <= 1e-6, shape_str(s) << " axis " << axis << " log " << log);
        }
}

TEST_CASE("cuda host: cross-entropy and last-axis softmax bodies equal the CPU ops") {
  Rng rng(17);
  for (const auto& [N, C] : std::vector<std::pair<int64_t, int64_t>>{{1, 2}, {7, 10}, {33, 3}}) {
    const Tensor z = random_tensor({N, C}, DType::F32, rng, -5, 5);
    Tensor labels({N}, DType::I64);
    for (int64_t n = 0; n < N; ++n) labels.set_item(n, static_cast<double>(rng.below(C)));
    Tensor loss({N}, DType::F32), g({N, C}, DType::F32);
    cuda::run_on_host(N, cuda::CrossEntropyBody<float>{z.data<float>(), labels.data<int64_t>(), ptr<float>(loss), C});
    cuda::run_on_host(
        N, cuda::CrossEntropyBackwardBody<float>{z.data<float>(), labels.data<int64_t>(), ptr<float>(g), C, 0.5});
    CHECK(rel_l2(loss, ops::cross_entropy_per_example(z, labels)) <= 1e-6);
    CHECK(rel_l2(g, ops::cross_entropy_backward(z, labels, 0.5)) <= 1e-6);
  }
  for (const Shape& s : {Shape{4, 7}, Shape{2, 3, 5}, Shape{1, 1}, Shape{3, 129}}) {
    const Tensor x = random_tensor(s, DType::F32, rng, -8, 8), dy = random_tensor(s, DType::F32, rng);
    const int64_t D = s.back(), rows = x.numel() / D;
    const Tensor want = ops::softmax_last_axis(x);
    Tensor y(s, DType::F32), dx(s, DType::F32);
    cuda::run_on_host(rows, cuda::SoftmaxRowBody<float>{x.data<float>(), ptr<float>(y), D});
    cuda::run_on_host(rows,
                      cuda::SoftmaxRowBackwardBody<float>{want.data<float>(), dy.data<float>(), ptr<float>(dx), D});
    CHECK(rel_l2(y, want) <= 1e-6);
    CHECK(rel_l2(dx, ops::softmax_last_axis_backward(want, dy)) <= 1e-6);
  }
}

namespace {
// Reference column-major GEMM (the BLAS definition): C(i, j) = Σ_p op1(X)(i, p) op2(Y)(p, j), X and Y
// column-major with leading dimensions ldx, ldy.
void reference_colmajor_gemm(bool tx, bool ty, int64_t m, int64_t n, int64_t k, const double* X, int64_t ldx,
                             const double* Y, int64_t ldy, double* C, int64_t ldc) {
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < m; ++i) {
      double s = 0;
      for (int64_t p = 0; p < k; ++p) {
        const double x = tx ? X[p + i * ldx] : X[i + p * ldx];
        const double y = ty ? Y[j + p * ldy] : Y[p + j * ldy];
        s += x * y;
      }
      C[i + j * ldc] = s;
    }
}
}  // namespace

TEST_CASE("cuda host: the row-major -> cuBLAS column-major mapping reproduces matmul for all transposes") {
  Rng rng(18);
  const int64_t M = 5, N = 7, K = 3;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const Tensor a = random_tensor(ta ? Shape{K, M} : Shape{M, K}, DType::F64, rng);
      const Tensor b = random_tensor(tb ? Shape{N, K} : Shape{K, N}, DType::F64, rng);
      const Tensor want = ops::matmul(a, b, ta, tb);
      const cuda::ColumnMajorGemm g = cuda::column_major_gemm(ta, tb, M, N, K, a.dim(1), b.dim(1));
      CHECK(g.first_is_b);
      Tensor got({M, N}, DType::F64);
      reference_colmajor_gemm(g.trans_first, g.trans_second, g.m, g.n, g.k, b.data<double>(), g.ld_first,
                              a.data<double>(), g.ld_second, ptr<double>(got), g.ldc);
      CHECK_MESSAGE(rel_l2(got, want) <= 1e-12, "ta " << ta << " tb " << tb);
    }
}

TEST_CASE("cuda host: device bookkeeping leaves CPU tensors as they were") {
  Tensor t = Tensor::from_vector({2, 2}, std::vector<float>{1, 2, 3, 4});
  CHECK(t.device() == Device::CPU);
  CHECK(t.to(Device::CPU).data<float>() == t.data<float>());  // same device: no copy
  CHECK(t.device_data<float>() == t.data<float>());
  CHECK_THROWS_AS(t.device_data<double>(), Error);
  CHECK(t.describe() == "float32 (2, 2)");
  CHECK(std::string(device_name(Device::CUDA)) == "cuda");
  Tensor e = Tensor::empty({3}, DType::F64, Device::CPU);
  CHECK(e.device() == Device::CPU);
}
