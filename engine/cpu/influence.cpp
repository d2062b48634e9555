// CPU twins of engine/ops_influence.h: the factored Gram update of TracInCP-fast and the factor norms.
// Compiled with -ffp-contract=off (meson.build): each product is rounded on its own unless written std::fma,
// exactly as the contract in ops_influence.h says. The influence route calls them from inside its own parallel region
// (one work unit of training examples per thread), where the GEMMs run on the calling thread; called alone, the GEMMs
// use the pool (same bits).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/cpu/backend_cpu.h"
#include "engine/cpu/gemm.h"
#include "engine/cpu/scratch.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/ops_influence.h"

namespace xdnn::ops {
namespace {

// Test rows per Gram block. Each block's GEMM packs the training factors again (a transposing copy of
// ni × in values), so blocks are large: one for up to 1024 test examples; with ni = 128 its two (1024, 128)
// products are 1 MB in float32, half a core's L2 (measured: 256-row blocks cost ~8 % more GEMM time).
constexpr int64_t kTestBlock = 1024;

void expect_matrix(const Tensor& t, int64_t rows, int64_t cols, const char* what) {
  if (t.ndim() != 2 || (rows >= 0 && t.dim(0) != rows) || (cols >= 0 && t.dim(1) != cols))
    throw Error(std::string("factored_gram_accumulate_into: ") + what + " must be (" +
                (rows >= 0 ? std::to_string(rows) : std::string("n")) + ", " +
                (cols >= 0 ? std::to_string(cols) : std::string("m")) + "), got " + t.describe());
}

// Rows [r0, r0 + nj) of S, columns [col0, col0 + ni): the element-wise fold of ops_influence.h over one
// block's products d, a (nj, ni), row-major.
template <class T>
void fold_block(T* S, int64_t cols, int64_t r0, int64_t col0, int64_t nj, int64_t ni, const T* d, const T* a, T one,
                T w, bool add, const T* test_norm, const T* train_norm) {
  for (int64_t j = 0; j < nj; ++j) {
    T* row = S + (r0 + j) * cols + col0;
    const T *dr = d + j * ni, *ar = a + j * ni;
    if (test_norm) {
      for (int64_t i = 0; i < ni; ++i) {
        const T den = test_norm[r0 + j] * train_norm[i];
        const T v = den > 0 ? dr[i] * (ar[i] + one) / den : T(0);
        row[i] = add ? std::fma(w, v, row[i]) : w * v;
      }
    } else if (add) {
      for (int64_t i = 0; i < ni; ++i) row[i] = std::fma(w * dr[i], ar[i] + one, row[i]);
    } else {
      for (int64_t i = 0; i < ni; ++i) row[i] = w * dr[i] * (ar[i] + one);
    }
  }
}

template <class T>
void gram_accumulate_typed(Tensor& S, int64_t col0, const Tensor& test_delta, const Tensor& test_act,
                           const Tensor& train_delta, const Tensor& train_act, T one, T w, bool add,
                           const Tensor& test_norm, const Tensor& train_norm) {
  const int64_t nj = test_delta.dim(0), ni = train_delta.dim(0), K = test_delta.dim(1), in = test_act.dim(1);
  const int64_t block = std::min(nj, kTestBlock);
  // The block's two products (block, ni) each, kept per thread between calls.
  thread_local std::vector<T> d_buf, a_buf;
  cpu::grow_scratch(d_buf, static_cast<size_t>(block * ni), "Gram block");
  cpu::grow_scratch(a_buf, static_cast<size_t>(block * ni), "Gram block");
  const bool cosine = test_norm.defined();
  for (int64_t r0 = 0; r0 < nj; r0 += kTestBlock) {
    const int64_t rows = std::min(nj, r0 + kTestBlock) - r0;
    cpu::gemm<T>(false, true, rows, ni, K, T(1), test_delta.data<T>() + r0 * K, K, train_delta.data<T>(), K, T(0),
                 d_buf.data(), ni);
    cpu::gemm<T>(false, true, rows, ni, in, T(1), test_act.data<T>() + r0 * in, in, train_act.data<T>(), in, T(0),
                 a_buf.data(), ni);
    fold_block<T>(S.data<T>(), S.dim(1), r0, col0, rows, ni, d_buf.data(), a_buf.data(), one, w, add,
                  cosine ? test_norm.data<T>() : nullptr, cosine ? train_norm.data<T>() : nullptr);
  }
}

template <class T>
void factor_norms_typed(const Tensor& delta, const Tensor& act, T one, bool squared, Tensor& out) {
  const int64_t n = delta.dim(0), K = delta.dim(1), in = act.dim(1);
  const T *d = delta.data<T>(), *a = act.data<T>();
  T* o = out.data<T>();
  for (int64_t r = 0; r < n; ++r) {
    T dd = 0, aa = 0;
    for (int64_t k = 0; k < K; ++k) dd += d[r * K + k] * d[r * K + k];
    for (int64_t k = 0; k < in; ++k) aa += a[r * in + k] * a[r * in + k];
    o[r] = squared ? dd * (aa + one) : std::sqrt(dd * (aa + one));
  }
}

}  // namespace

void factored_gram_accumulate_into(Tensor& S, int64_t col0, const Tensor& test_delta, const Tensor& test_act,
                                   const Tensor& train_delta, const Tensor& train_act, double one, double w, bool add,
                                   const Tensor& test_norm, const Tensor& train_norm) {
  const char* what = "factored_gram_accumulate_into";
  const Tensor& out = S;
  for (const Tensor* t : {&out, &test_delta, &test_act, &train_delta, &train_act})
    if (!t->defined()) throw Error(std::string(what) + ": missing operand");
  expect_float(S, what);
  for (const Tensor* t : {&test_delta, &test_act, &train_delta, &train_act}) expect_same_dtype(S, *t, what);
  expect_matrix(S, -1, -1, "S");
  const int64_t nj = S.dim(0);
  expect_matrix(test_delta, nj, -1, "test_delta (one row per row of S)");
  expect_matrix(test_act, nj, -1, "test_act (one row per row of S)");
  expect_matrix(train_delta, -1, test_delta.dim(1), "train_delta (test_delta's width)");
  expect_matrix(train_act, train_delta.dim(0), test_act.dim(1), "train_act (train_delta's rows, test_act's width)");
  const int64_t ni = train_delta.dim(0);
  if (col0 < 0 || col0 > S.dim(1) - ni)
    throw Error(std::string(what) + ": columns [" + std::to_string(col0) + ", " + std::to_string(col0 + ni) +
                ") are not inside S " + S.describe());
  if (test_norm.defined() != train_norm.defined())
    throw Error(std::string(what) + ": give both norms (Grad-Cos) or neither");
  if (test_norm.defined()) {
    expect_same_dtype(S, test_norm, what);
    expect_same_dtype(S, train_norm, what);
    expect_shape(test_norm, {nj}, "factored_gram_accumulate_into test_norm");
    expect_shape(train_norm, {ni}, "factored_gram_accumulate_into train_norm");
  }
  return backend_of(what, S, test_delta, test_act, train_delta, train_act, test_norm, train_norm)
      .factored_gram_accumulate_into(S, col0, test_delta, test_act, train_delta, train_act, one, w, add, test_norm,
                                     train_norm);
}

static void cpu_factored_gram_accumulate_into(Tensor& S, int64_t col0, const Tensor& test_delta, const Tensor& test_act,
                                              const Tensor& train_delta, const Tensor& train_act, double one, double w,
                                              bool add, const Tensor& test_norm, const Tensor& train_norm) {
  if (S.dim(0) == 0 || train_delta.dim(0) == 0) return;
  dispatch_float(S.dtype(), [&](auto zero) {
    using T = decltype(zero);
    gram_accumulate_typed<T>(S, col0, test_delta, test_act, train_delta, train_act, static_cast<T>(one),
                             static_cast<T>(w), add, test_norm, train_norm);
    return 0;
  });
}

Tensor factor_norms(const Tensor& delta, const Tensor& act, double one, bool squared) {
  if (!delta.defined() || !act.defined()) throw Error("factor_norms: missing operand");
  expect_float(delta, "factor_norms");
  expect_same_dtype(delta, act, "factor_norms");
  if (delta.ndim() != 2 || act.ndim() != 2 || act.dim(0) != delta.dim(0))
    throw Error("factor_norms: expected delta (n, K) and act (n, in), got " + delta.describe() + " and " +
                act.describe());
  return backend_of("factor_norms", delta, act).factor_norms(delta, act, one, squared);
}

static Tensor cpu_factor_norms(const Tensor& delta, const Tensor& act, double one, bool squared) {
  Tensor out({delta.dim(0)}, delta.dtype());
  dispatch_float(delta.dtype(), [&](auto zero) {
    using T = decltype(zero);
    factor_norms_typed<T>(delta, act, static_cast<T>(one), squared, out);
    return 0;
  });
  return out;
}

void axpy_columns_into(Tensor& y, int64_t col0, double a, const Tensor& x, bool accumulate) {
  if (!y.defined() || !x.defined()) throw Error("axpy_columns_into: missing operand");
  expect_float(y, "axpy_columns_into");
  expect_same_dtype(y, x, "axpy_columns_into");
  if (y.ndim() != 2 || x.ndim() != 2 || x.dim(0) != y.dim(0))
    throw Error("axpy_columns_into: expected y (rows, cols) and x (rows, n), got " + y.describe() + " and " +
                x.describe());
  if (col0 < 0 || col0 > y.dim(1) - x.dim(1))
    throw Error("axpy_columns_into: columns [" + std::to_string(col0) + ", " + std::to_string(col0 + x.dim(1)) +
                ") are not inside " + y.describe());
  return backend_of("axpy_columns_into", y, x).axpy_columns_into(y, col0, a, x, accumulate);
}

static void cpu_axpy_columns_into(Tensor& y, int64_t col0, double a, const Tensor& x, bool accumulate) {
  dispatch_float(y.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const int64_t rows = x.dim(0), n = x.dim(1), cols = y.dim(1);
    const T s = static_cast<T>(a);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for (int64_t r = 0; r < rows; ++r) {
      T* yr = py + r * cols + col0;
      const T* xr = px + r * n;
      if (accumulate) {
        for (int64_t i = 0; i < n; ++i) yr[i] = std::fma(s, xr[i], yr[i]);
      } else {
        for (int64_t i = 0; i < n; ++i) yr[i] = s * xr[i];
      }
    }
    return 0;
  });
}

// This file's entries of the CPU table (engine/cpu/backend_cpu.cpp).
void add_cpu_influence(Backend& b) {
  b.factored_gram_accumulate_into = cpu_factored_gram_accumulate_into;
  b.factor_norms = cpu_factor_norms;
  b.axpy_columns_into = cpu_axpy_columns_into;
}

}  // namespace xdnn::ops
