// engine/ops_influence.h against its definition (axpy_columns_into: against axpy_inplace / scale on the block):
// the factored Gram update (two products, then the fold of
// its contract, element by element, written out here) and the factor norms (sums in k order by hand); Grad-Cos
// scores a zero gradient 0; columns outside the block untouched; more test rows than one CPU block (1024);
// each op on Strict with the CPU's bits, on 1 and 2 threads with the same bits; the CUDA kernel bodies
// (kernels/influence_body.h) run on the host with the CPU's bits; bad operands are one line.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "engine/ops_influence.h"
#include "engine/random.h"
#include "kernels/influence_body.h"
#include "tests/random_tensors.h"
#include "tests/thread_count.h"

using namespace xdnn;

namespace {

// x as computed, opaque to the compiler: a product passed through it is rounded on its own (never contracted
// with the addition that reads it), as the contract of ops_influence.h says.
template <class T>
T rounded(T x) {
  asm("" : "+x"(x));
  return x;
}

struct Factors {
  Tensor test_delta, test_act, train_delta, train_act;
};

Factors random_factors(int64_t nj, int64_t ni, int64_t K, int64_t in, Rng& rng, DType dt) {
  return {random_normal({nj, K}, rng, dt), random_normal({nj, in}, rng, dt), random_normal({ni, K}, rng, dt),
          random_normal({ni, in}, rng, dt)};
}

Tensor on(const Tensor& t, Device device) { return t.defined() ? t.to(device) : t; }

// The op on `device`: S (a copy of `start`, moved there) after one call; returned on the host.
Tensor gram_on(Device device, const Tensor& start, int64_t col0, const Factors& f, double one, double w, bool add,
               const Tensor& tn = Tensor(), const Tensor& rn = Tensor()) {
  Tensor S = start.clone().to(device);
  ops::factored_gram_accumulate_into(S, col0, on(f.test_delta, device), on(f.test_act, device),
                                     on(f.train_delta, device), on(f.train_act, device), one, w, add, on(tn, device),
                                     on(rn, device));
  return S.to(Device::CPU);
}

// The contract of ops_influence.h written out per element, on the CPU products.
template <class T>
Tensor gram_by_definition(const Tensor& start, int64_t col0, const Factors& f, T one, T w, bool add, const Tensor& tn,
                          const Tensor& rn) {
  const Tensor d = ops::matmul(f.test_delta, f.train_delta, false, true);
  const Tensor a = ops::matmul(f.test_act, f.train_act, false, true);
  Tensor S = start.clone();
  const int64_t nj = d.dim(0), ni = d.dim(1), cols = S.dim(1);
  for (int64_t j = 0; j < nj; ++j)
    for (int64_t i = 0; i < ni; ++i) {
      const T dk = d.data<T>()[j * ni + i], shifted = a.data<T>()[j * ni + i] + one;
      T& s = S.data<T>()[j * cols + col0 + i];
      if (tn.defined()) {
        const T den = rounded(tn.data<T>()[j] * rn.data<T>()[i]);
        const T v = den > 0 ? rounded(dk * shifted) / den : T(0);
        s = add ? std::fma(w, v, s) : rounded(w * v);
      } else {
        const T wd = rounded(w * dk);
        s = add ? std::fma(wd, shifted, s) : rounded(wd * shifted);
      }
    }
  return S;
}

// The CUDA fold body run on the host over the CPU products.
template <class T>
Tensor gram_by_body(const Tensor& start, int64_t col0, const Factors& f, T one, T w, bool add, const Tensor& tn,
                    const Tensor& rn) {
  const Tensor d = ops::matmul(f.test_delta, f.train_delta, false, true);
  const Tensor a = ops::matmul(f.test_act, f.train_act, false, true);
  Tensor S = start.clone();
  const int64_t ni = d.dim(1);
  cuda::run_on_host(d.numel(), cuda::FactoredFoldBody<T>{S.data<T>(), S.dim(1), col0, ni, d.data<T>(), a.data<T>(),
                                                         tn.defined() ? tn.data<T>() : nullptr,
                                                         rn.defined() ? rn.data<T>() : nullptr, one, w, add});
  return S;
}

template <class T>
Tensor norms_by_definition(const Tensor& delta, const Tensor& act, T one, bool squared) {
  const int64_t n = delta.dim(0), K = delta.dim(1), in = act.dim(1);
  Tensor out({n}, delta.dtype());
  for (int64_t r = 0; r < n; ++r) {
    T dd = 0, aa = 0;
    for (int64_t k = 0; k < K; ++k) dd += rounded(delta.data<T>()[r * K + k] * delta.data<T>()[r * K + k]);
    for (int64_t k = 0; k < in; ++k) aa += rounded(act.data<T>()[r * in + k] * act.data<T>()[r * in + k]);
    const T p = rounded(dd * (aa + one));
    out.data<T>()[r] = squared ? p : std::sqrt(p);
  }
  return out;
}

template <class T>
void check_gram(DType dt, int64_t nj, Rng& rng) {
  const int64_t ni = 19, K = 5, in = 23, cols = 40, col0 = 13;
  const Factors f = random_factors(nj, ni, K, in, rng, dt);
  const Tensor start = random_normal({nj, cols}, rng, dt);
  // Grad-Cos norms: positive, but a zero test row and a zero training column score 0.
  Tensor tn = ops::unary(ops::Unary::Abs, random_normal({nj}, rng, dt));
  Tensor rn = ops::unary(ops::Unary::Abs, random_normal({ni}, rng, dt));
  tn.set_item(1, 0.0);
  rn.set_item(4, 0.0);
  for (const bool cosine : {false, true})
    for (const double one : {1.0, 0.0})
      for (const bool add : {false, true}) {
        CAPTURE(cosine);
        CAPTURE(one);
        CAPTURE(add);
        const Tensor n_test = cosine ? tn : Tensor(), n_train = cosine ? rn : Tensor();
        const double w = 0.3;
        const Tensor want =
            gram_by_definition<T>(start, col0, f, static_cast<T>(one), static_cast<T>(w), add, n_test, n_train);
        const Tensor cpu = gram_on(Device::CPU, start, col0, f, one, w, add, n_test, n_train);
        CHECK(bitwise_equal(cpu, want));
        CHECK(bitwise_equal(gram_on(Device::Strict, start, col0, f, one, w, add, n_test, n_train), cpu));
        CHECK(bitwise_equal(
            gram_by_body<T>(start, col0, f, static_cast<T>(one), static_cast<T>(w), add, n_test, n_train), cpu));
        testing::RestoreThreadCount restore;
        set_num_threads(1);
        const Tensor one_thread = gram_on(Device::CPU, start, col0, f, one, w, add, n_test, n_train);
        set_num_threads(2);
        CHECK(bitwise_equal(gram_on(Device::CPU, start, col0, f, one, w, add, n_test, n_train), one_thread));
        CHECK(bitwise_equal(one_thread, cpu));
        // Outside columns [col0, col0 + ni): S as it was.
        CHECK(bitwise_equal(cpu.reshape({nj * cols}).slice_batch(0, col0),
                            start.reshape({nj * cols}).slice_batch(0, col0)));
        const Tensor after = ops::strided_slice(cpu, {0, col0 + ni}, {1, 1}, {nj, cols - col0 - ni});
        CHECK(bitwise_equal(after, ops::strided_slice(start, {0, col0 + ni}, {1, 1}, {nj, cols - col0 - ni})));
        if (cosine) {
          // Test row 1 and training column 4 have norm 0: their terms are 0 (S unchanged when adding).
          CHECK(cpu.item(1 * cols + col0 + 2) == (add ? start.item(1 * cols + col0 + 2) : 0.0));
          CHECK(cpu.item(0 * cols + col0 + 4) == (add ? start.item(0 * cols + col0 + 4) : 0.0));
        }
      }
}

}  // namespace

TEST_CASE("ops::factored_gram_accumulate_into: the contract element by element, strict, threads, CUDA body") {
  Rng rng(41);
  SUBCASE("float64, one block") { check_gram<double>(DType::F64, 7, rng); }
  SUBCASE("float32, one block") { check_gram<float>(DType::F32, 7, rng); }
  SUBCASE("float32, more test rows than a CPU block (1024)") { check_gram<float>(DType::F32, 1030, rng); }
}

TEST_CASE("ops::factored_gram_accumulate_into: S = Σ_c w_c ⟨g_j, g_i⟩ of explicit last-layer gradients") {
  // g = [δ ⊗ a, δ] (bias) formed explicitly: the sum over two checkpoints equals G_test G_trainᵀ to rounding.
  Rng rng(7);
  const int64_t nj = 4, ni = 6, K = 3, in = 5;
  const std::vector<double> w = {0.5, 2.0};
  Tensor S({nj, ni}, DType::F64), want({nj, ni}, DType::F64);
  for (size_t c = 0; c < w.size(); ++c) {
    const Factors f = random_factors(nj, ni, K, in, rng, DType::F64);
    ops::factored_gram_accumulate_into(S, 0, f.test_delta, f.test_act, f.train_delta, f.train_act, 1.0, w[c], c > 0);
    auto grads = [&](const Tensor& delta, const Tensor& act) {
      const int64_t n = delta.dim(0);
      Tensor g({n, K * in + K}, DType::F64);
      for (int64_t r = 0; r < n; ++r)
        for (int64_t k = 0; k < K; ++k) {
          for (int64_t q = 0; q < in; ++q)
            g.set_item(r * (K * in + K) + k * in + q, delta.item(r * K + k) * act.item(r * in + q));
          g.set_item(r * (K * in + K) + K * in + k, delta.item(r * K + k));
        }
      return g;
    };
    ops::axpy_inplace(want, w[c],
                      ops::matmul(grads(f.test_delta, f.test_act), grads(f.train_delta, f.train_act), false, true));
  }
  for (int64_t i = 0; i < nj * ni; ++i) CHECK(S.item(i) == doctest::Approx(want.item(i)).epsilon(1e-12));
}

TEST_CASE("ops::factor_norms: sums in k order by hand, squared and not, strict, CUDA body") {
  Rng rng(3);
  for (DType dt : {DType::F32, DType::F64}) {
    CAPTURE(dtype_name(dt));
    const Tensor delta = random_normal({9, 4}, rng, dt), act = random_normal({9, 11}, rng, dt);
    for (const bool squared : {true, false})
      for (const double one : {1.0, 0.0}) {
        const Tensor cpu = ops::factor_norms(delta, act, one, squared);
        Tensor body({9}, dt);
        if (dt == DType::F32) {
          CHECK(bitwise_equal(cpu, norms_by_definition<float>(delta, act, static_cast<float>(one), squared)));
          cuda::run_on_host(9, cuda::FactorNormsBody<float>{delta.data<float>(), act.data<float>(), body.data<float>(),
                                                            4, 11, static_cast<float>(one), squared});
        } else {
          CHECK(bitwise_equal(cpu, norms_by_definition<double>(delta, act, one, squared)));
          cuda::run_on_host(9, cuda::FactorNormsBody<double>{delta.data<double>(), act.data<double>(),
                                                             body.data<double>(), 4, 11, one, squared});
        }
        CHECK(bitwise_equal(body, cpu));
        CHECK(bitwise_equal(ops::factor_norms(delta.to(Device::Strict), act.to(Device::Strict), one, squared), cpu));
      }
  }
}

TEST_CASE("ops::factored_gram_accumulate_into and factor_norms: bad operands are one line naming what is wrong") {
  Rng rng(5);
  const Factors f = random_factors(3, 4, 2, 5, rng, DType::F32);
  Tensor S({3, 6}, DType::F32);
  auto message = [](auto&& call) {
    try {
      call();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string outside = message([&] {
    ops::factored_gram_accumulate_into(S, 3, f.test_delta, f.test_act, f.train_delta, f.train_act, 1, 1, false);
  });
  CHECK(outside.find("columns [3, 7) are not inside S") != std::string::npos);
  const std::string rows = message([&] {
    ops::factored_gram_accumulate_into(S, 0, f.train_delta, f.test_act, f.train_delta, f.train_act, 1, 1, false);
  });
  CHECK(rows.find("test_delta (one row per row of S) must be (3, m)") != std::string::npos);
  const std::string width = message([&] {
    ops::factored_gram_accumulate_into(S, 0, f.test_delta, f.test_act, f.train_delta, f.train_delta, 1, 1, false);
  });
  CHECK(width.find("train_act") != std::string::npos);
  const std::string half = message([&] {
    ops::factored_gram_accumulate_into(S, 0, f.test_delta, f.test_act, f.train_delta, f.train_act, 1, 1, false,
                                       Tensor({3}, DType::F32));
  });
  CHECK(half.find("give both norms") != std::string::npos);
  const std::string dtype = message([&] {
    ops::factored_gram_accumulate_into(S, 0, f.test_delta.to(DType::F64), f.test_act, f.train_delta, f.train_act, 1, 1,
                                       false);
  });
  CHECK(dtype.find("factored_gram_accumulate_into") != std::string::npos);
  const std::string devices = message([&] {
    ops::factored_gram_accumulate_into(S, 0, f.test_delta.to(Device::Strict), f.test_act, f.train_delta, f.train_act, 1,
                                       1, false);
  });
  CHECK(devices.find("strict") != std::string::npos);
  const std::string norms = message([&] { ops::factor_norms(f.test_delta, f.train_act, 1, true); });
  CHECK(norms.find("factor_norms: expected delta (n, K) and act (n, in)") != std::string::npos);
}

TEST_CASE("ops::axpy_columns_into: a block into a column range (assign, fma-add), strict, CUDA body, errors") {
  Rng rng(11);
  for (DType dt : {DType::F32, DType::F64}) {
    CAPTURE(dtype_name(dt));
    const int64_t rows = 5, cols = 17, n = 6, col0 = 9;
    const Tensor start = random_normal({rows, cols}, rng, dt), x = random_normal({rows, n}, rng, dt);
    for (const bool accumulate : {false, true})
      for (const double a : {1.0, -1.0, 0.37}) {
        CAPTURE(accumulate);
        CAPTURE(a);
        Tensor cpu = start.clone();
        ops::axpy_columns_into(cpu, col0, a, x, accumulate);
        // The definition: S as it was outside the columns; inside a · x, or axpy_inplace's element.
        Tensor block = ops::strided_slice(start, {0, col0}, {1, 1}, {rows, n});
        if (accumulate)
          ops::axpy_inplace(block, a, x);
        else
          block = ops::scale(x, a);
        CHECK(bitwise_equal(ops::strided_slice(cpu, {0, col0}, {1, 1}, {rows, n}), block));
        CHECK(bitwise_equal(ops::strided_slice(cpu, {0, 0}, {1, 1}, {rows, col0}),
                            ops::strided_slice(start, {0, 0}, {1, 1}, {rows, col0})));
        CHECK(bitwise_equal(ops::strided_slice(cpu, {0, col0 + n}, {1, 1}, {rows, cols - col0 - n}),
                            ops::strided_slice(start, {0, col0 + n}, {1, 1}, {rows, cols - col0 - n})));
        if (!accumulate && a == -1.0) CHECK(bitwise_equal(block, ops::unary(ops::Unary::Neg, x)));
        Tensor strict = start.to(Device::Strict);
        ops::axpy_columns_into(strict, col0, a, x.to(Device::Strict), accumulate);
        CHECK(bitwise_equal(strict, cpu));
        Tensor body = start.clone();
        if (dt == DType::F32)
          cuda::run_on_host(x.numel(), cuda::AxpyColumnsBody<float>{body.data<float>(), x.data<float>(), cols, col0, n,
                                                                    static_cast<float>(a), accumulate});
        else
          cuda::run_on_host(x.numel(), cuda::AxpyColumnsBody<double>{body.data<double>(), x.data<double>(), cols, col0,
                                                                     n, a, accumulate});
        CHECK(bitwise_equal(body, cpu));
      }
  }
  Tensor y({3, 4}, DType::F32);
  try {
    ops::axpy_columns_into(y, 2, 1.0, Tensor({3, 3}, DType::F32), true);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("axpy_columns_into: columns [2, 5) are not inside") != std::string::npos);
  }
  try {
    ops::axpy_columns_into(y, 0, 1.0, Tensor({2, 3}, DType::F32), true);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("axpy_columns_into: expected y (rows, cols) and x (rows, n)") !=
          std::string::npos);
  }
}
