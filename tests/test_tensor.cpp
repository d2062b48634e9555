#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "engine/cpu/gemm.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/random.h"
#include "layers/registry.h"
#include "tests/gradcheck.h"

using namespace xdnn;

TEST_CASE("tensor basics: shape, reshape, slice, dtype conversion") {
  Tensor t = Tensor::from_vector({2, 3}, std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(t.numel() == 6);
  CHECK(t.dim(-1) == 3);
  CHECK(t.strides() == Shape{3, 1});
  CHECK(t.reshape({3, -1}).shape() == Shape{3, 2});
  Tensor row = t.slice_batch(1, 2);
  CHECK(row.item(0) == 4);
  row.set_item(2, 60);  // a view: writes through
  CHECK(t.item(5) == 60);
  Tensor d = t.to(DType::F64);
  CHECK(d.dtype() == DType::F64);
  CHECK(d.item(5) == 60);
  CHECK_THROWS_AS(t.reshape({4, 2}), Error);
  CHECK_THROWS_AS(t.data<double>(), Error);
  CHECK_THROWS_AS(t.dim(2), Error);
}

// Tensor::to(DType) converts each element through double, as item() reads and set_item() writes it: the
// typed loop must give the bits of that per-element route for every pair of dtypes, on a view too.
TEST_CASE("dtype conversion equals the item / set_item route for every pair, bit for bit") {
  const std::vector<double> wide = {0.0, -0.0, 1.5, -2.75, 1e-40, 3.4e38, -7.9, 1e20, 0.1, 123456789.123};
  const std::vector<double> fits = {0.0, -0.0, 1.5, -2.75, -7.9, 0.1, 123456789.123, -9e15, 2.5, 1e-9};  // in int64
  const std::vector<int64_t> ints = {0, -1, 7, (int64_t{1} << 53) + 1, -(int64_t{1} << 60) - 3, 1234567};
  auto same_as_items = [](const Tensor& src, DType d) {
    const Tensor got = src.to(d);
    if (d == src.dtype()) {  // no conversion: the tensor itself (the item route would round an int64 to double)
      CHECK(got.raw_data() == src.raw_data());
      return;
    }
    Tensor want(src.shape(), d);
    for (int64_t i = 0; i < src.numel(); ++i) want.set_item(i, src.item(i));
    REQUIRE(got.dtype() == d);
    REQUIRE(got.shape() == src.shape());
    CHECK(std::memcmp(got.raw_data(), want.raw_data(), src.numel() * dtype_size(d)) == 0);
  };
  const Tensor int_view = Tensor::from_vector({2, 3}, ints).slice_batch(1, 2);  // a view at an offset
  for (DType d : {DType::F32, DType::F64, DType::I64}) {
    same_as_items(Tensor::from_vector({2, 5}, fits).to(DType::F32), d);
    same_as_items(Tensor::from_vector({2, 5}, fits), d);
    same_as_items(Tensor::from_vector({2, 3}, ints), d);
    same_as_items(int_view, d);
  }
  for (DType d : {DType::F32, DType::F64}) {  // beyond int64 (the cast to int64 would be undefined)
    same_as_items(Tensor::from_vector({2, 5}, wide).to(DType::F32), d);
    same_as_items(Tensor::from_vector({2, 5}, wide), d);
  }
  CHECK(Tensor({0, 3}, DType::F32).to(DType::F64).numel() == 0);
}

// ops::where on the CPU: equal shapes read element i directly, broadcast operands through an index table;
// both must equal the per-element definition.
TEST_CASE("where: equal and broadcast shapes equal a per-element reference") {
  Rng rng(3);
  const Tensor x = random_tensor({3, 4, 5}, rng).to(DType::F64), y = random_tensor({3, 4, 5}, rng).to(DType::F64);
  const Tensor full_cond = ops::unary(ops::Unary::Step, random_tensor({3, 4, 5}, rng));
  const Tensor row_cond = ops::unary(ops::Unary::Step, random_tensor({3, 1, 5}, rng));
  const Tensor y_row = random_tensor({1, 4, 1}, rng).to(DType::F64);
  for (const auto& [cond, b] :
       std::vector<std::pair<Tensor, Tensor>>{{full_cond, y}, {row_cond, y}, {row_cond, y_row}}) {
    const Tensor r = ops::where(cond, x, b);
    REQUIRE(r.shape() == x.shape());
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 4; ++j)
        for (int64_t k = 0; k < 5; ++k) {
          const int64_t e = (i * 4 + j) * 5 + k;
          const double c = cond.dim(1) == 1 ? cond.item(i * 5 + k) : cond.item(e);
          const double other = b.numel() == 4 ? b.item(j) : b.item(e);
          CHECK(r.item(e) == (c != 0.0 ? x.item(e) : other));
        }
  }
  const Tensor xf = x.to(DType::F32), yf = y.to(DType::F32), rf = ops::where(full_cond, xf, yf);
  CHECK(rf.dtype() == DType::F32);
  for (int64_t e = 0; e < rf.numel(); ++e) CHECK(rf.item(e) == (full_cond.item(e) != 0.0 ? xf.item(e) : yf.item(e)));
}

TEST_CASE("broadcasting binary ops and sum_to_shape") {
  Tensor a = Tensor::from_vector({2, 3}, std::vector<double>{1, 2, 3, 4, 5, 6});
  Tensor b = Tensor::from_vector({3}, std::vector<double>{10, 20, 30});
  Tensor c = ops::add(a, b);
  CHECK(c.item(4) == 25);
  Tensor back = ops::sum_to_shape(c, {3});
  CHECK(back.item(0) == 11 + 14);
  Tensor col = Tensor::from_vector({2, 1}, std::vector<double>{2, 3});
  CHECK(ops::mul(a, col).item(5) == 18);
  CHECK_THROWS_AS(ops::add(a, Tensor::zeros({4}, DType::F64)), Error);
}

TEST_CASE("broadcasting binary ops equal a per-element reference for runs, constants and mixed axes") {
  // The broadcast path loops over inner runs (engine/cpu/elementwise.cpp): contiguous, constant, or a
  // mixture that ends the run. Each pair is checked element by element against NumPy's index rule.
  Rng rng(5);
  const std::vector<std::pair<Shape, Shape>> pairs = {{{4, 3, 5, 6}, {1, 3, 5, 6}}, {{4, 3, 5, 6}, {3, 1, 1}},
                                                      {{4, 1, 5, 6}, {1, 3, 1, 6}}, {{4, 3, 5, 6}, {6}},
                                                      {{1, 3, 5, 6}, {4, 3, 5, 6}}, {{5, 1}, {1, 7}},
                                                      {{2, 1, 3}, {2, 4, 1}},       {{3, 1, 1}, {3, 2, 2}},
                                                      {{2, 0, 3}, {1, 3}},          {{1}, {4, 2}},
                                                      {{4, 3, 1, 6}, {4, 1, 5, 1}}};
  for (const auto& [sa, sb] : pairs) {
    Tensor a({sa}, DType::F64), b({sb}, DType::F64);
    for (int64_t i = 0; i < a.numel(); ++i) a.set_item(i, rng.uniform(-1, 1));
    for (int64_t i = 0; i < b.numel(); ++i) b.set_item(i, rng.uniform(-1, 1) + 2.0);
    for (ops::Binary op : {ops::Binary::Add, ops::Binary::Sub, ops::Binary::Div, ops::Binary::Max}) {
      Tensor y = ops::binary(op, a, b);
      const Shape& so = y.shape();
      const size_t n = so.size();
      for (int64_t i = 0; i < y.numel(); ++i) {
        int64_t rem = i, ia = 0, ib = 0, stride_a = 1, stride_b = 1;
        std::vector<int64_t> coord(n);
        for (size_t d = n; d-- > 0;) {
          coord[d] = rem % so[d];
          rem /= so[d];
        }
        for (size_t d = n; d-- > 0;) {
          const size_t da = d + sa.size() - n, db = d + sb.size() - n;
          if (d + sa.size() >= n) {
            ia += (sa[da] == 1 ? 0 : coord[d]) * stride_a;
            stride_a *= sa[da];
          }
          if (d + sb.size() >= n) {
            ib += (sb[db] == 1 ? 0 : coord[d]) * stride_b;
            stride_b *= sb[db];
          }
        }
        const double u = a.item(ia), v = b.item(ib);
        const double want = op == ops::Binary::Add   ? u + v
                            : op == ops::Binary::Sub ? u - v
                            : op == ops::Binary::Div ? u / v
                                                     : std::max(u, v);
        REQUIRE(y.item(i) == want);
      }
    }
  }
}

TEST_CASE("gemm matches a naive triple loop for every transpose combination and edge size") {
  Rng rng(1);
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      // {72, 16, ·} and {9, 8, ·} take the transposed-product route (a convolution's weight gradient),
      // {13, 70, ·} reads full panels of a row-major B directly.
      for (auto [M, N, K] : {std::array<int64_t, 3>{1, 1, 1},
                             {7, 19, 5},
                             {13, 33, 300},
                             {64, 10, 784},
                             {72, 16, 300},
                             {9, 8, 50},
                             {13, 70, 20}}) {
        std::vector<double> A(M * K), B(K * N), C(M * N, 0.5), R(M * N);
        for (auto& v : A) v = rng.uniform(-1, 1);
        for (auto& v : B) v = rng.uniform(-1, 1);
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j) {
            double s = 0;
            for (int64_t k = 0; k < K; ++k)
              s += (ta ? A[k * M + i] : A[i * K + k]) * (tb ? B[j * K + k] : B[k * N + j]);
            R[i * N + j] = 2.0 * s + 0.5 * 0.5;
          }
        cpu::gemm<double>(ta, tb, M, N, K, 2.0, A.data(), ta ? M : K, B.data(), tb ? K : N, 0.5, C.data(), N);
        double err = 0;
        for (int64_t i = 0; i < M * N; ++i) err = std::max(err, std::abs(C[i] - R[i]));
        CHECK(err < 1e-12);
      }
}

TEST_CASE("gemm: identical columns of B give bit-identical outputs wherever they sit") {
  // The property max-pool tie-breaking relies on: same receptive field -> same bits, border or not.
  Rng rng(2);
  const int64_t M = 16, N = 37, K = 72;
  std::vector<float> A(M * K), B(K * N), C(M * N);
  for (auto& v : A) v = static_cast<float>(rng.uniform(-1, 1));
  for (int64_t k = 0; k < K; ++k) {
    float v = static_cast<float>(rng.uniform(-1, 1));
    for (int64_t j = 0; j < N; ++j) B[k * N + j] = v;  // every column identical
  }
  cpu::gemm<float>(false, false, M, N, K, 1.f, A.data(), K, B.data(), N, 0.f, C.data(), N);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 1; j < N; ++j) CHECK(C[i * N + j] == C[i * N]);
}

namespace {
bool no_avx512() { return !cpu::gemm_kernel_available(cpu::GemmKernel::Vec512); }

// C = alpha op(A) op(B) + beta C0 with the given kernel, 2 threads.
template <class T>
std::vector<T> gemm_with(cpu::GemmKernel kernel, bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, T beta,
                         const std::vector<T>& A, const std::vector<T>& B, const std::vector<T>& C0) {
  const cpu::GemmKernel before = cpu::gemm_kernel();
  cpu::set_gemm_kernel(kernel);
  std::vector<T> C = C0;
  cpu::gemm<T>(ta, tb, M, N, K, alpha, A.data(), ta ? M : K, B.data(), tb ? K : N, beta, C.data(), N);
  cpu::set_gemm_kernel(before);
  return C;
}

template <class T>
void check_kernels_agree(Rng& rng) {
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (auto [M, N, K] :
           {std::array<int64_t, 3>{1, 1, 1}, {7, 19, 5}, {16, 70, 600}, {61, 45, 784}, {72, 16, 300}, {9, 8, 50}})
        for (auto [alpha, beta] : {std::array<T, 2>{1, 0}, {1, 1}, {T(0.75), T(-0.5)}}) {
          std::vector<T> A(M * K), B(K * N), C0(M * N);
          for (auto& v : A) v = static_cast<T>(rng.uniform(-1, 1));
          for (auto& v : B) v = static_cast<T>(rng.uniform(-1, 1));
          for (auto& v : C0) v = static_cast<T>(rng.uniform(-1, 1));
          const auto c256 = gemm_with(cpu::GemmKernel::Vec256, ta, tb, M, N, K, alpha, beta, A, B, C0);
          const auto c512 = gemm_with(cpu::GemmKernel::Vec512, ta, tb, M, N, K, alpha, beta, A, B, C0);
          CHECK(std::memcmp(c256.data(), c512.data(), c256.size() * sizeof(T)) == 0);
        }
}
}  // namespace

TEST_CASE("gemm: which kernel runs is reported, and an unavailable one is refused") {
  MESSAGE("gemm kernel in use: " << cpu::gemm_kernel_name(cpu::gemm_kernel()));
  CHECK(cpu::gemm_kernel_available(cpu::GemmKernel::Vec256));
  if (no_avx512()) CHECK_THROWS_AS(cpu::set_gemm_kernel(cpu::GemmKernel::Vec512), Error);
}

TEST_CASE("gemm: the 512-bit and 256-bit kernels give bit-identical results" * doctest::skip(no_avx512())) {
  if (no_avx512()) {  // reached only with --no-skip
    MESSAGE("SKIPPED: this CPU or build has no AVX-512F kernel");
    return;
  }
  Rng rng(4);
  check_kernels_agree<float>(rng);
  check_kernels_agree<double>(rng);
}

TEST_CASE("gemm is bit-identical for 1 and 2 threads") {
  Rng rng(3);
  Tensor a({67, 300}), b({300, 45});
  for (int64_t i = 0; i < a.numel(); ++i) a.set_item(i, rng.uniform(-1, 1));
  for (int64_t i = 0; i < b.numel(); ++i) b.set_item(i, rng.uniform(-1, 1));
  int before = num_threads();
  set_num_threads(1);
  Tensor c1 = ops::matmul(a, b);
  set_num_threads(2);
  Tensor c2 = ops::matmul(a, b);
  set_num_threads(before);
  CHECK(bitwise_equal(c1, c2));
}
