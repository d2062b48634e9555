// The packed, register-blocked GEMM behind cpu::gemm (Goto & van de Geijn, "Anatomy of
// high-performance matrix multiplication", 2008), written once over the micro-kernel's vector width
// and row count. Included by gemm.cpp (256-bit vectors, the build's baseline ISA) and gemm_avx512.cpp
// (512-bit vectors, that file alone is compiled with -mavx512f); everything here sits in an anonymous
// namespace, so each file gets its own copy and the two never meet at link time.
//
// Why the two kernels give bit-identical results: an element of C is the sum over k, in increasing k
// within each k-block of kBlockK, one fused multiply-add per k starting from zero, then added to C block
// after block. Vector width and tile size decide which elements are computed together, never the order
// of one element's sum. tests/test_tensor.cpp checks it on the machines that have both.
//
// Reduced to what xdnn's shapes need: one k-block size, panels of NR columns of B packed contiguously,
// an MR x NR micro-kernel on GCC vector types. A non-transposed A is not packed: the kernel broadcasts
// its MR values per k straight from the MR rows (MR sequential streams, each kc ≤ 256 long, so they stay
// in L1 while the kernel sweeps the B panels). Packing A cost as many instructions as the kernel itself
// for the thin products of convolutions (K × L columns copied one float at a time for 16 channels).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/parallel.h"

namespace xdnn::cpu {
namespace {

constexpr int64_t kBlockK = 256;  // k-block: panels of A and B stay in L1/L2 while the kernel runs

// The micro-kernel's shape: MR rows x NR = 2 vectors of VecBytes bytes.
template <class T_, int VecBytes, int MR_>
struct Kernel {
  using T = T_;
  static constexpr int VL = VecBytes / sizeof(T);  // lanes of one vector
  static constexpr int MR = MR_;
  static constexpr int NR = 2 * VL;
  typedef T Vec __attribute__((vector_size(VecBytes)));
};

template <class T>
struct AlignedBuffer {
  std::vector<T> storage;
  T* data(size_t n) {
    storage.resize(n + 64 / sizeof(T));
    auto p = reinterpret_cast<uintptr_t>(storage.data());
    return reinterpret_cast<T*>((p + 63) & ~uintptr_t(63));
  }
};

// Packs a transposed A (stored K x M, op(A) = its transpose) for rows [0, M) x k-range [k0, k0 + kc) of
// op(A) into panels of MR rows: panel p holds packed[p * kc * MR + k * MR + r] = op(A)[p * MR + r][k0 + k]
// (zero beyond M), MR contiguous values per k read from one row of the stored matrix.
template <class K, class T = typename K::T>
void pack_a_transposed(const T* A, int64_t lda, int64_t M, int64_t k0, int64_t kc, T* packed, int64_t p) {
  constexpr int MR = K::MR;
  T* dst = packed + p * kc * MR;
  const T* src = A + k0 * lda + p * MR;
  const int64_t rows = std::min<int64_t>(MR, M - p * MR);
  for (int64_t k = 0; k < kc; ++k) {
    for (int r = 0; r < rows; ++r) dst[k * MR + r] = src[k * lda + r];
    for (int r = static_cast<int>(rows); r < MR; ++r) dst[k * MR + r] = T(0);
  }
}

// Packs op(B)[k0 .. k0+kc) x columns of panel q into NR contiguous columns per k:
// packed[q * kc * NR + k * NR + c] = op(B)[k0 + k][q * NR + c] (zero beyond N).
template <class K, class T = typename K::T>
void pack_b(bool tb, const T* B, int64_t ldb, int64_t N, int64_t k0, int64_t kc, T* packed, int64_t q) {
  constexpr int NR = K::NR;
  T* dst = packed + q * kc * NR;
  int64_t j0 = q * NR, width = std::min<int64_t>(NR, N - j0);
  if (!tb && width == NR) {  // fixed-size copies: no per-row loop setup or memset call for the tail
    for (int64_t k = 0; k < kc; ++k) std::memcpy(dst + k * NR, B + (k0 + k) * ldb + j0, NR * sizeof(T));
    return;
  }
  for (int64_t k = 0; k < kc; ++k) {
    T* d = dst + k * NR;
    if (width < NR) std::memset(d, 0, NR * sizeof(T));  // fixed size: vector stores, not a libc call
    if (!tb) {
      const T* src = B + (k0 + k) * ldb + j0;
      for (int64_t c = 0; c < width; ++c) d[c] = src[c];
    } else {
      const T* src = B + j0 * ldb + (k0 + k);
      for (int64_t c = 0; c < width; ++c) d[c] = src[c * ldb];
    }
  }
}

// Where the micro-kernel reads A's MR x kc block: packed panels (a pointer, Ap[k·MR + r]), or straight
// from the MR rows of a non-transposed A (RowsA: row r at a_rows[r], k contiguous).
template <class K>
struct RowsA {
  const typename K::T* a_rows[K::MR];
};

template <class K>
inline void accumulate(int64_t kc, const typename K::T* Ap, const typename K::T* Bp, typename K::Vec (&acc)[K::MR][2]) {
  using T = typename K::T;
  using Vec = typename K::Vec;
  for (int64_t k = 0; k < kc; ++k) {
    Vec b0, b1;
    std::memcpy(&b0, Bp + k * K::NR, sizeof(Vec));
    std::memcpy(&b1, Bp + k * K::NR + K::VL, sizeof(Vec));
    const T* a = Ap + k * K::MR;
    for (int r = 0; r < K::MR; ++r) {
      Vec av = a[r] - Vec{};  // a broadcast: x - (+0) == x exactly, so the compiler emits no arithmetic
      acc[r][0] += av * b0;
      acc[r][1] += av * b1;
    }
  }
}

// Same arithmetic in the same order as the packed version, so results do not depend on the A layout.
template <class K>
inline void accumulate(int64_t kc, const RowsA<K>& A, const typename K::T* Bp, typename K::Vec (&acc)[K::MR][2]) {
  using T = typename K::T;
  using Vec = typename K::Vec;
  const T* a[K::MR];
  for (int r = 0; r < K::MR; ++r) a[r] = A.a_rows[r];
  for (int64_t k = 0; k < kc; ++k) {
    Vec b0, b1;
    std::memcpy(&b0, Bp + k * K::NR, sizeof(Vec));
    std::memcpy(&b1, Bp + k * K::NR + K::VL, sizeof(Vec));
    for (int r = 0; r < K::MR; ++r) {
      Vec av = a[r][k] - Vec{};
      acc[r][0] += av * b0;
      acc[r][1] += av * b1;
    }
  }
}

// acc[MR x NR] = sum_k A[:, k] Bp[k, :], k in increasing order, then combined into C.
template <class K, class ABlock, class T = typename K::T>
void micro_kernel(int64_t kc, const ABlock& Ap, const T* Bp, T alpha, T beta, bool overwrite, T* C, int64_t ldc,
                  int64_t rows, int64_t cols) {
  using Vec = typename K::Vec;
  constexpr int MR = K::MR, VL = K::VL;
  Vec acc[MR][2];
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = Vec{};
  accumulate<K>(kc, Ap, Bp, acc);
  // Full tiles with alpha = 1 and beta in {0, accumulate} are stored as whole vectors. The arithmetic is
  // the same as the element loop below (a copy, or one addition per element), so an element's bits do
  // not depend on which path its tile takes.
  if (rows == MR && cols == K::NR && alpha == T(1) && !(overwrite && beta != T(0))) {
    for (int r = 0; r < MR; ++r) {
      T* c = C + r * ldc;
      for (int h = 0; h < 2; ++h) {
        Vec v = acc[r][h];
        if (!overwrite) {
          Vec old;
          std::memcpy(&old, c + h * VL, sizeof(Vec));
          v = old + v;
        }
        std::memcpy(c + h * VL, &v, sizeof(Vec));
      }
    }
    return;
  }
  T tile[MR][K::NR];
  std::memcpy(tile, acc, sizeof(tile));
  for (int64_t r = 0; r < rows; ++r) {
    T* c = C + r * ldc;
    for (int64_t j = 0; j < cols; ++j) {
      T v = alpha * tile[r][j];
      if (overwrite)
        c[j] = beta == T(0) ? v : beta * c[j] + v;
      else
        c[j] += v;
    }
  }
}

// C = alpha * op(A) * op(B) + beta * C with micro-kernel K (see gemm.h for the arguments).
template <class K, class T = typename K::T>
void gemm_driver(bool parallel, bool ta, bool tb, int64_t M, int64_t N, int64_t Kdim, T alpha, const T* A, int64_t lda,
                 const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (Kdim <= 0) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
    return;
  }
  constexpr int MR = K::MR, NR = K::NR;
  const int64_t panels_a = (M + MR - 1) / MR, panels_b = (N + NR - 1) / NR;
  thread_local AlignedBuffer<T> buf_a, buf_b;
  // Serial callers may be running inside a parallel region; each thread owns its buffers.
  const int64_t kc_max = std::min(Kdim, kBlockK);
  T* Ap = ta ? buf_a.data(static_cast<size_t>(panels_a * kc_max * MR)) : nullptr;
  T* Bp = buf_b.data(static_cast<size_t>(panels_b * kc_max * NR));
  const double flops_per_tile = 2.0 * MR * NR * kc_max;
  const int64_t grain = std::max<int64_t>(1, static_cast<int64_t>(2e6 / flops_per_tile));
  for (int64_t k0 = 0; k0 < Kdim; k0 += kBlockK) {
    const int64_t kc = std::min(kBlockK, Kdim - k0);
    const bool first = k0 == 0;
    // Only a transposed A is packed; B always is.
    const int64_t packed_a = ta ? panels_a : 0;
    auto pack = [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        if (t < packed_a)
          pack_a_transposed<K>(A, lda, M, k0, kc, Ap, t);
        else
          pack_b<K>(tb, B, ldb, N, k0, kc, Bp, t - packed_a);
      }
    };
    auto tiles = [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        int64_t p = t / panels_b, q = t % panels_b;
        int64_t rows = std::min<int64_t>(MR, M - p * MR), cols = std::min<int64_t>(NR, N - q * NR);
        T* c = C + p * MR * ldc + q * NR;
        if (ta) {
          micro_kernel<K>(kc, Ap + p * kc * MR, Bp + q * kc * NR, alpha, beta, first, c, ldc, rows, cols);
        } else {
          // Rows past M repeat the last row: computed, never stored (the kernel stores `rows` rows).
          RowsA<K> a;
          for (int r = 0; r < MR; ++r) a.a_rows[r] = A + std::min<int64_t>(p * MR + r, M - 1) * lda + k0;
          micro_kernel<K>(kc, a, Bp + q * kc * NR, alpha, beta, first, c, ldc, rows, cols);
        }
      }
    };
    if (parallel) {
      parallel_for(packed_a + panels_b, std::max<int64_t>(1, 65536 / kc), pack);
      parallel_for(panels_a * panels_b, grain, tiles);
    } else {
      pack(0, packed_a + panels_b);
      tiles(0, panels_a * panels_b);
    }
  }
}

}  // namespace
}  // namespace xdnn::cpu
