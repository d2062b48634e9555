// Matrix products on the GPU through cuBLAS (CPU twins: ops::matmul / matmul_into in
// engine/cpu/matmul.cpp, ops::batched_matmul in engine/cpu/sequence.cpp).
//
// cuBLAS is column-major; our tensors are row-major. A row-major (R, C) buffer read column-major is its
// transpose, so for row-major C = op(A) op(B) we ask cuBLAS for the column-major product
//   Cᵀ (N × M) = op(B)ᵀ op(A)ᵀ,
// i.e. gemm(opB, opA, N, M, K, B, ldb = row length of B, A, lda = row length of A, C, ldc = N), where
// opB = transpose iff transpose_b (and likewise for A): the buffers are passed in swapped order with
// their own flags, and no data moves.
#include <climits>
#include <string>
#include <type_traits>

#include "engine/dispatch.h"
#include "kernels/blas_args.h"
#include "kernels/cuda_libs.h"

namespace xdnn::cuda {
namespace {

int as_int(int64_t v, const char* what) {
  if (v > INT_MAX) throw Error(std::string(what) + ": dimension " + std::to_string(v) + " is too large for cuBLAS");
  return static_cast<int>(v);
}

cublasOperation_t op_of(bool transpose) { return transpose ? CUBLAS_OP_T : CUBLAS_OP_N; }

// C (M×N, row-major, ldc = N) = alpha op(A) op(B) + beta C for `batch` matrices at the given strides.
template <class T>
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const T* A, int64_t lda, int64_t stride_a,
          const T* B, int64_t ldb, int64_t stride_b, double beta, T* C, int64_t stride_c, int64_t batch,
          const char* what) {
  if (M == 0 || N == 0 || batch == 0) return;
  const T al = static_cast<T>(alpha), be = static_cast<T>(beta);
  const ColumnMajorGemm g = column_major_gemm(ta, tb, M, N, K, lda, ldb);
  const int m = as_int(g.m, what), n = as_int(g.n, what), k = as_int(g.k, what);
  const int l1 = as_int(g.ld_first, what), l2 = as_int(g.ld_second, what), lc = as_int(g.ldc, what);
  const cublasOperation_t op1 = op_of(g.trans_first), op2 = op_of(g.trans_second);
  std::lock_guard<std::mutex> lock(library_mutex());
  cublasHandle_t h = blas_handle();
  if (batch == 1) {
    if constexpr (std::is_same_v<T, float>)
      check_cublas(cublas().sgemm(h, op1, op2, m, n, k, &al, B, l1, A, l2, &be, C, lc), "cublasSgemm");
    else
      check_cublas(cublas().dgemm(h, op1, op2, m, n, k, &al, B, l1, A, l2, &be, C, lc), "cublasDgemm");
  } else {
    const int count = as_int(batch, what);
    if constexpr (std::is_same_v<T, float>)
      check_cublas(cublas().sgemm_strided_batched(h, op1, op2, m, n, k, &al, B, l1, stride_b, A, l2, stride_a, &be, C,
                                                  lc, stride_c, count),
                   "cublasSgemmStridedBatched");
    else
      check_cublas(cublas().dgemm_strided_batched(h, op1, op2, m, n, k, &al, B, l1, stride_b, A, l2, stride_a, &be, C,
                                                  lc, stride_c, count),
                   "cublasDgemmStridedBatched");
  }
}

}  // namespace

void matmul_into(const Tensor& a, const Tensor& b, Tensor& c, bool ta, bool tb, double alpha, double beta) {
  expect_cuda(a, "matmul");
  expect_cuda(b, "matmul");
  expect_cuda(c, "matmul output");
  ops::expect_float(a, "matmul");
  ops::expect_same_dtype(a, b, "matmul");
  ops::expect_same_dtype(a, c, "matmul");
  if (a.ndim() != 2 || b.ndim() != 2 || c.ndim() != 2)
    throw Error("matmul: expected 2-D operands, got " + a.describe() + " and " + b.describe());
  const int64_t M = ta ? a.dim(1) : a.dim(0), K = ta ? a.dim(0) : a.dim(1);
  const int64_t Kb = tb ? b.dim(1) : b.dim(0), N = tb ? b.dim(0) : b.dim(1);
  if (K != Kb) throw Error("matmul: inner dimensions differ: " + a.describe() + " and " + b.describe());
  ops::expect_shape(c, {M, N}, "matmul output");
  if (K == 0 && beta == 0.0) {  // an empty sum: C = 0 (cuBLAS is not asked about k = 0)
    zero_bytes(c.raw_device_data(), static_cast<size_t>(c.numel()) * dtype_size(c.dtype()));
    return;
  }
  dispatch_float(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    gemm<T>(ta, tb, M, N, K, alpha, a.device_data<T>(), a.dim(1), 0, b.device_data<T>(), b.dim(1), 0, beta,
            c.device_data<T>(), 0, 1, "matmul");
    return 0;
  });
}

Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  expect_cuda(a, "matmul");
  expect_cuda(b, "matmul");
  ops::expect_float(a, "matmul");
  if (a.ndim() != 2 || b.ndim() != 2)
    throw Error("matmul: expected 2-D operands, got " + a.describe() + " and " + b.describe());
  Tensor c = Tensor::empty({ta ? a.dim(1) : a.dim(0), tb ? b.dim(0) : b.dim(1)}, a.dtype(), Device::CUDA);
  matmul_into(a, b, c, ta, tb, 1.0, 0.0);
  return c;
}

Tensor batched_matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  expect_cuda(a, "batched_matmul");
  expect_cuda(b, "batched_matmul");
  ops::expect_float(a, "batched_matmul");
  ops::expect_same_dtype(a, b, "batched_matmul");
  if (a.ndim() != 3 || b.ndim() != 3 || a.dim(0) != b.dim(0))
    throw Error("batched_matmul: expected (B, ., .) operands, got " + a.describe() + " and " + b.describe());
  const int64_t B = a.dim(0), M = ta ? a.dim(2) : a.dim(1), K = ta ? a.dim(1) : a.dim(2);
  const int64_t Kb = tb ? b.dim(2) : b.dim(1), N = tb ? b.dim(1) : b.dim(2);
  if (K != Kb) throw Error("batched_matmul: inner dimensions differ: " + a.describe() + " and " + b.describe());
  if (K == 0) return Tensor({B, M, N}, a.dtype(), Device::CUDA);  // empty sums: zeros
  Tensor c = Tensor::empty({B, M, N}, a.dtype(), Device::CUDA);
  dispatch_float(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    gemm<T>(ta, tb, M, N, K, 1.0, a.device_data<T>(), a.dim(2), a.dim(1) * a.dim(2), b.device_data<T>(), b.dim(2),
            b.dim(1) * b.dim(2), 0.0, c.device_data<T>(), M * N, B, "batched_matmul");
    return 0;
  });
  return c;
}

}  // namespace xdnn::cuda
