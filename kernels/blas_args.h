// The row-major -> column-major mapping of kernels/blas.cpp as plain data, so the host test can feed it
// to a reference column-major GEMM and compare with the CPU matmul (tests/test_cuda_host.cpp).
//
// Row-major C (M×N) = op(A) op(B) is column-major Cᵀ (N×M) = op(B)ᵀ op(A)ᵀ: a row-major (R, C) buffer
// read column-major is its transpose, so cuBLAS gets B first, then A, each with its own transpose flag.
#pragma once
#include <cstdint>

namespace xdnn::cuda {

struct ColumnMajorGemm {
  bool trans_first, trans_second;  // cuBLAS transa, transb
  int64_t m, n, k;                 // column-major C is m×n
  bool first_is_b;                 // always true: the first operand is B's buffer, the second A's
  int64_t ld_first, ld_second, ldc;
};

// a is (M, K) or (K, M) when ta; b is (K, N) or (N, K) when tb; row-major, rows of length a_cols, b_cols.
inline ColumnMajorGemm column_major_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, int64_t a_cols,
                                         int64_t b_cols) {
  return ColumnMajorGemm{tb, ta, N, M, K, true, b_cols < 1 ? 1 : b_cols, a_cols < 1 ? 1 : a_cols, N < 1 ? 1 : N};
}

}  // namespace xdnn::cuda
