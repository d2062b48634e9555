// Tensor-level matrix products on top of the CPU GEMM.
#include "engine/backend.h"
#include "engine/cpu/backend_cpu.h"
#include "engine/cpu/gemm.h"
#include "engine/dispatch.h"
#include "engine/ops.h"

namespace xdnn::ops {

void matmul_into(const Tensor& a, const Tensor& b, Tensor& c, bool ta, bool tb, double alpha, double beta) {
  expect_float(a, "matmul");
  expect_same_dtype(a, b, "matmul");
  expect_same_dtype(a, c, "matmul");
  if (a.ndim() != 2 || b.ndim() != 2 || c.ndim() != 2)
    throw Error("matmul: expected 2-D operands, got " + a.describe() + " and " + b.describe());
  return backend_of("matmul_into", a, b, c).matmul_into(a, b, c, ta, tb, alpha, beta);
}

static void cpu_matmul_into(const Tensor& a, const Tensor& b, Tensor& c, bool ta, bool tb, double alpha, double beta) {
  const int64_t M = ta ? a.dim(1) : a.dim(0), K = ta ? a.dim(0) : a.dim(1);
  const int64_t Kb = tb ? b.dim(1) : b.dim(0), N = tb ? b.dim(0) : b.dim(1);
  if (K != Kb) throw Error("matmul: inner dimensions differ: " + a.describe() + " and " + b.describe());
  expect_shape(c, {M, N}, "matmul output");
  dispatch_float(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    cpu::gemm<T>(ta, tb, M, N, K, static_cast<T>(alpha), a.data<T>(), a.dim(1), b.data<T>(), b.dim(1),
                 static_cast<T>(beta), c.data<T>(), N);
    return 0;
  });
}

Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  expect_float(a, "matmul");
  if (a.ndim() != 2 || b.ndim() != 2)
    throw Error("matmul: expected 2-D operands, got " + a.describe() + " and " + b.describe());
  return backend_of("matmul", a, b).matmul(a, b, ta, tb);
}

static Tensor cpu_matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  // beta = 0: the GEMM writes every element without reading C.
  Tensor c = Tensor::empty({ta ? a.dim(1) : a.dim(0), tb ? b.dim(0) : b.dim(1)}, a.dtype());
  matmul_into(a, b, c, ta, tb, 1.0, 0.0);
  return c;
}

// This file's entries of the CPU table (engine/cpu/backend_cpu.cpp).
void add_cpu_matmul(Backend& b) {
  b.matmul_into = cpu_matmul_into;
  b.matmul = cpu_matmul;
}

}  // namespace xdnn::ops
