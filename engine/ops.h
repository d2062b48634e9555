// ops: the engine's device boundary. Layers and explainers compute only through these functions (and
// Tensor's own bookkeeping); each picks the implementation from the tensors' device and dtype.
// CPU implementations live in engine/cpu/<family>.cpp (templates over float and double); the CUDA
// backend implements the same list in kernels/<family>.cu. A new primitive lands with its CPU twin,
// its CUDA kernel, a kernel test and a bench entry.
//
// Conventions: all tensors contiguous; float ops accept F32 or F64 (all operands the same dtype);
// results are new tensors unless the name ends in _inplace / _into.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace xdnn::ops {

// ---- checks ---------------------------------------------------------------------------------------
// Throws "<what>: expected <dtype>, got <dtype>" style errors.
void expect_float(const Tensor& t, const char* what);
void expect_same_dtype(const Tensor& a, const Tensor& b, const char* what);
void expect_shape(const Tensor& t, const Shape& s, const char* what);

// ---- matrix products (engine/cpu/gemm.cpp) -----------------------------------------------------------
// c = op(a) op(b) for 2-D a, b. op = transpose when the flag is set.
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a = false, bool transpose_b = false);
// c = alpha op(a) op(b) + beta c, c preallocated.
void matmul_into(const Tensor& a, const Tensor& b, Tensor& c, bool transpose_a, bool transpose_b, double alpha,
                 double beta);

// ---- element-wise (engine/cpu/elementwise.cpp) -----------------------------------------------------------
enum class Unary {
  Relu, Sigmoid, Tanh, Exp, Log, Sqrt, Abs, Neg, Square, Reciprocal,
  PositivePart,  // max(x, 0)
  NegativePart,  // min(x, 0)
  Sign,          // sign with sign(0) = 0
  SignPlus,      // sign with sign(0) = +1 (the LRP stabiliser's convention)
  Step,          // [x > 0]
};
Tensor unary(Unary op, const Tensor& x);

enum class Binary { Add, Sub, Mul, Div, Max, Min };
// NumPy broadcasting between a and b.
Tensor binary(Binary op, const Tensor& a, const Tensor& b);
inline Tensor add(const Tensor& a, const Tensor& b) { return binary(Binary::Add, a, b); }
inline Tensor sub(const Tensor& a, const Tensor& b) { return binary(Binary::Sub, a, b); }
inline Tensor mul(const Tensor& a, const Tensor& b) { return binary(Binary::Mul, a, b); }
inline Tensor div(const Tensor& a, const Tensor& b) { return binary(Binary::Div, a, b); }
// Sums a broadcast gradient back to `shape` (the reverse of broadcasting `shape` to g.shape()).
Tensor sum_to_shape(const Tensor& g, const Shape& shape);

Tensor scale(const Tensor& x, double a);              // a x
Tensor add_scalar(const Tensor& x, double a);         // x + a
void add_inplace(Tensor& y, const Tensor& x);         // y += x (same shape)
void axpy_inplace(Tensor& y, double a, const Tensor& x);  // y += a x (same shape)
// LRP stabiliser: z + eps * sign(z) with sign(0) = +1.
Tensor stabilize(const Tensor& z, double eps);
Tensor clip(const Tensor& x, double lo, double hi);

// ---- reductions --------------------------------------------------------------------------------------
double sum_all(const Tensor& x);     // accumulated in double, fixed order
double dot_all(const Tensor& a, const Tensor& b);

}  // namespace xdnn::ops
