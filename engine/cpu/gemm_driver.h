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

#include "engine/cpu/gemm.h"
#include "engine/cpu/scratch.h"
#include "engine/parallel.h"

namespace xdnn::cpu {
namespace {

constexpr int64_t kBlockK = kGemmBlockK;      // k-block: panels of A and B stay in L1/L2 while the kernel runs
constexpr int64_t kBlockBBytes = 512 * 1024;  // packed column panels swept at a time (gemm_blocked)

// The micro-kernel's shape: MR rows x NR = NV vectors of VecBytes bytes.
template <class T_, int VecBytes, int MR_, int NV_>
struct Kernel {
  using T = T_;
  static constexpr int VL = VecBytes / sizeof(T);  // lanes of one vector
  static constexpr int MR = MR_;
  static constexpr int NV = NV_;
  static constexpr int NR = NV * VL;
  typedef T Vec __attribute__((vector_size(VecBytes)));
};

template <class T>
struct AlignedBuffer {
  std::vector<T> storage;
  T* data(size_t n) {
    grow_scratch(storage, n + 64 / sizeof(T), "GEMM packing buffer");
    auto p = reinterpret_cast<uintptr_t>(storage.data());
    return reinterpret_cast<T*>((p + 63) & ~uintptr_t(63));
  }
};

// Packs a transposed A (stored K x M, op(A) = its transpose) for row panels [pa, pe) x k-range
// [k0, k0 + kc) of op(A): panel p is dst[(p − pa) * kc * MR + k * MR + r] = op(A)[p * MR + r][k0 + k]
// (zero beyond M), MR contiguous values per k from one row of the stored matrix. The stored rows are read
// one after the other, each across all the panels: panel by panel, the reads would step down the stored
// matrix a row (lda values) at a time, out of the prefetchers' reach (a convolution's input gradient
// packs Wᵀ from W (Og, K): up to 9 MB for ResNet layer4, read from memory every call).
template <class K, class T = typename K::T>
void pack_a_transposed(const T* A, int64_t lda, int64_t M, int64_t k0, int64_t kc, T* dst, int64_t pa, int64_t pe) {
  constexpr int MR = K::MR;
  const int64_t full_end = std::max(pa, std::min(pe, M / MR));  // panels [pa, full_end) lie inside M
  for (int64_t k = 0; k < kc; ++k) {
    const T* src = A + (k0 + k) * lda;
    T* d = dst + k * MR;
    for (int64_t p = pa; p < full_end; ++p) std::memcpy(d + (p - pa) * kc * MR, src + p * MR, MR * sizeof(T));
    for (int64_t p = full_end; p < pe; ++p) {
      const int64_t rows = M - p * MR;
      for (int r = 0; r < MR; ++r) d[(p - pa) * kc * MR + r] = r < rows ? src[p * MR + r] : T(0);
    }
  }
}

// Packs op(B)[k0 .. k0+kc) x columns of panel q into NR contiguous columns per k:
// dst[k * NR + c] = op(B)[k0 + k][q * NR + c] (zero beyond N).
template <class K, class T = typename K::T>
void pack_b(bool tb, const T* B, int64_t ldb, int64_t N, int64_t k0, int64_t kc, T* dst, int64_t q) {
  constexpr int NR = K::NR;
  int64_t j0 = q * NR, width = std::min<int64_t>(NR, N - j0);
  if (!tb && width == NR) {  // fixed-size copies: no per-row loop setup or memset call for the tail
    for (int64_t k = 0; k < kc; ++k) std::memcpy(dst + k * NR, B + (k0 + k) * ldb + j0, NR * sizeof(T));
    return;
  }
  if (tb) {
    // A transposed B is stored N x K: column c of the panel is a contiguous run of kc values in row
    // j0 + c, read sequentially and written with stride NR into the panel (kc·NR values, in L1).
    if (width < NR) std::memset(dst, 0, static_cast<size_t>(kc) * NR * sizeof(T));
    for (int64_t c = 0; c < width; ++c) {
      const T* src = B + (j0 + c) * ldb + k0;
      for (int64_t k = 0; k < kc; ++k) dst[k * NR + c] = src[k];
    }
    return;
  }
  for (int64_t k = 0; k < kc; ++k) {
    T* d = dst + k * NR;
    std::memset(d, 0, NR * sizeof(T));  // fixed size: vector stores, not a libc call
    const T* src = B + (k0 + k) * ldb + j0;
    for (int64_t c = 0; c < width; ++c) d[c] = src[c];
  }
}

// Where the micro-kernel reads A's MR x kc block: packed panels (a pointer, Ap[k·MR + r]), or straight
// from the MR rows of a non-transposed A (RowsA: row r at a_rows[r], k contiguous).
template <class K>
struct RowsA {
  const typename K::T* a_rows[K::MR];
};

template <class K>
inline void accumulate(int64_t kc, const typename K::T* Ap, const typename K::T* Bp, int64_t ldbp,
                       typename K::Vec (&acc)[K::MR][K::NV]) {
  using T = typename K::T;
  using Vec = typename K::Vec;
  for (int64_t k = 0; k < kc; ++k) {
    Vec b[K::NV];
    for (int h = 0; h < K::NV; ++h) std::memcpy(&b[h], Bp + k * ldbp + h * K::VL, sizeof(Vec));
    const T* a = Ap + k * K::MR;
    for (int r = 0; r < K::MR; ++r) {
      Vec av = a[r] - Vec{};  // a broadcast: x - (+0) == x exactly, so the compiler emits no arithmetic
      for (int h = 0; h < K::NV; ++h) acc[r][h] += av * b[h];
    }
  }
}

// Same arithmetic in the same order as the packed version, so results do not depend on the A layout.
template <class K>
inline void accumulate(int64_t kc, const RowsA<K>& A, const typename K::T* Bp, int64_t ldbp,
                       typename K::Vec (&acc)[K::MR][K::NV]) {
  using T = typename K::T;
  using Vec = typename K::Vec;
  const T* a[K::MR];
  for (int r = 0; r < K::MR; ++r) a[r] = A.a_rows[r];
  // One k: the values at a[r][j] times row j of the B block at b.
  const auto step = [&](int j, const T* b_row) {
    Vec b[K::NV];
    for (int h = 0; h < K::NV; ++h) std::memcpy(&b[h], b_row + h * K::VL, sizeof(Vec));
    for (int r = 0; r < K::MR; ++r) {
      Vec av = a[r][j] - Vec{};
      for (int h = 0; h < K::NV; ++h) acc[r][h] += av * b[h];
    }
  };
  if constexpr (sizeof(Vec) == 32) {
    // 256-bit vectors (16 registers): one k per iteration, rows read at a shared index. The four-k unroll
    // below left GCC too few registers for the 12 accumulators, which it kept on the stack.
    for (int64_t k = 0; k < kc; ++k) step(static_cast<int>(k), Bp + k * ldbp);
    return;
  }
  // Four k per iteration with the MR row pointers advanced once: stepped one k at a time, the compiler
  // advanced each of them every k (MR integer adds per 2·MR multiply-adds, on the vector ports' ALUs).
  int64_t k = 0;
  for (; k + 4 <= kc; k += 4) {
    const T* b_row = Bp + k * ldbp;
    step(0, b_row);
    step(1, b_row + ldbp);
    step(2, b_row + 2 * ldbp);
    step(3, b_row + 3 * ldbp);
    for (int r = 0; r < K::MR; ++r) a[r] += 4;
  }
  for (; k < kc; ++k) {
    step(0, Bp + k * ldbp);
    for (int r = 0; r < K::MR; ++r) a[r] += 1;
  }
}

// A read through an offset table (gemm.h, gemm_packed_b's a_offsets): row r at a_rows[r], element k at
// a_rows[r][off[k]].
template <class K>
struct TableA {
  const typename K::T* a_rows[K::MR];
  const int64_t* off;
};

// Same arithmetic in the same order as the versions above: element (r, k) comes from the table.
template <class K>
inline void accumulate(int64_t kc, const TableA<K>& A, const typename K::T* Bp, int64_t ldbp,
                       typename K::Vec (&acc)[K::MR][K::NV]) {
  using Vec = typename K::Vec;
  for (int64_t k = 0; k < kc; ++k) {
    const int64_t o = A.off[k];
    Vec b[K::NV];
    for (int h = 0; h < K::NV; ++h) std::memcpy(&b[h], Bp + k * ldbp + h * K::VL, sizeof(Vec));
    for (int r = 0; r < K::MR; ++r) {
      Vec av = A.a_rows[r][o] - Vec{};
      for (int h = 0; h < K::NV; ++h) acc[r][h] += av * b[h];
    }
  }
}

// B read in place through an offset table (gemm.h, BPacker::in_place): vector h of row k at
// base[h] + off[k], VL contiguous values (a stride-1 convolution's input: each vector one run along an
// output row, so the panel is never packed).
template <class K>
struct TableB {
  const typename K::T* base[K::NV];
  const int64_t* off;
};

// Where element k of A's rows sits: at k (RowsA), or through the table (TableA).
template <class K>
inline int64_t a_index(const RowsA<K>&, int64_t k) {
  return k;
}
template <class K>
inline int64_t a_index(const TableA<K>& A, int64_t k) {
  return A.off[k];
}

// Row panel p of a non-transposed A (M x K, rows lda apart) for the k-block from k0: read in place
// (rows_a), or through the offset table's entries for that block (table_a). Rows past M repeat the last
// row: computed, never stored (the kernel stores `rows` rows).
template <class K>
inline RowsA<K> rows_a(const typename K::T* A, int64_t lda, int64_t M, int64_t p, int64_t k0) {
  RowsA<K> a;
  for (int r = 0; r < K::MR; ++r) a.a_rows[r] = A + std::min<int64_t>(p * K::MR + r, M - 1) * lda + k0;
  return a;
}
template <class K>
inline TableA<K> table_a(const typename K::T* A, int64_t lda, int64_t M, int64_t p, const int64_t* off) {
  TableA<K> a;
  for (int r = 0; r < K::MR; ++r) a.a_rows[r] = A + std::min<int64_t>(p * K::MR + r, M - 1) * lda;
  a.off = off;
  return a;
}

// The RowsA and TableA products with B from a TableB: the same arithmetic in the same order as above.
template <class K, class ABlock>
inline void accumulate_table_b(int64_t kc, const ABlock& A, const TableB<K>& B, typename K::Vec (&acc)[K::MR][K::NV]) {
  using Vec = typename K::Vec;
  for (int64_t k = 0; k < kc; ++k) {
    const int64_t oa = a_index(A, k), ob = B.off[k];
    Vec b[K::NV];
    for (int h = 0; h < K::NV; ++h) std::memcpy(&b[h], B.base[h] + ob, sizeof(Vec));
    for (int r = 0; r < K::MR; ++r) {
      Vec av = A.a_rows[r][oa] - Vec{};
      for (int h = 0; h < K::NV; ++h) acc[r][h] += av * b[h];
    }
  }
}

// Where the micro-kernel writes its MR x NR tile: C row r, column j at c[r * ldc + j], or with
// transposed set at c[j * ldc + r] (the driver computes Cᵀ = op(B)ᵀ op(A)ᵀ when that pads less).
template <class T>
struct TileOut {
  T* c;
  int64_t ldc;
  bool transposed;
};

// C's tile = the accumulated acc[MR x NR], combined as alpha, beta and overwrite say.
template <class K, class T = typename K::T>
[[gnu::always_inline]] inline void store_tile(const typename K::Vec (&acc)[K::MR][K::NV], T alpha, T beta,
                                              bool overwrite, TileOut<T> out, int64_t rows, int64_t cols) {
  using Vec = typename K::Vec;
  constexpr int MR = K::MR, VL = K::VL;
  // Full tiles with alpha = 1 and beta in {0, accumulate} are stored as whole vectors. The arithmetic is
  // the same as the element loop below (a copy, or one addition per element), so an element's bits do
  // not depend on which path its tile takes.
  if (!out.transposed && rows == MR && cols == K::NR && alpha == T(1) && !(overwrite && beta != T(0))) {
    for (int r = 0; r < MR; ++r) {
      T* c = out.c + r * out.ldc;
      for (int h = 0; h < K::NV; ++h) {
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
  const int64_t row_step = out.transposed ? 1 : out.ldc, col_step = out.transposed ? out.ldc : 1;
  for (int64_t r = 0; r < rows; ++r) {
    T* c = out.c + r * row_step;
    for (int64_t j = 0; j < cols; ++j) {
      T v = alpha * tile[r][j];
      T& dst = c[j * col_step];
      if (overwrite)
        dst = beta == T(0) ? v : beta * dst + v;
      else
        dst += v;
    }
  }
}

// acc[MR x NR] = sum_k A[:, k] Bp[k, :] (Bp rows ldbp apart), k in increasing order, combined into C.
template <class K, class ABlock, class T = typename K::T>
void micro_kernel(int64_t kc, const ABlock& Ap, const T* Bp, int64_t ldbp, T alpha, T beta, bool overwrite,
                  TileOut<T> out, int64_t rows, int64_t cols) {
  typename K::Vec acc[K::MR][K::NV];
  for (int r = 0; r < K::MR; ++r)
    for (int h = 0; h < K::NV; ++h) acc[r][h] = typename K::Vec{};
  accumulate<K>(kc, Ap, Bp, ldbp, acc);
  store_tile<K>(acc, alpha, beta, overwrite, out, rows, cols);
}

// The same with B in place (TableB). Kept out of line: inlined beside the three panel versions, it left
// GCC unwilling to inline those into gemm_blocked (short products such as fashion-cnn's conv2 input
// gradient, k = 16, then paid a call per tile: +20 %).
template <class K, class ABlock, class T = typename K::T>
[[gnu::noinline]] void micro_kernel_table_b(int64_t kc, const ABlock& A, const TableB<K>& B, T alpha, T beta,
                                            bool overwrite, TileOut<T> out, int64_t rows, int64_t cols) {
  typename K::Vec acc[K::MR][K::NV];
  for (int r = 0; r < K::MR; ++r)
    for (int h = 0; h < K::NV; ++h) acc[r][h] = typename K::Vec{};
  accumulate_table_b<K>(kc, A, B, acc);
  store_tile<K>(acc, alpha, beta, overwrite, out, rows, cols);
}

// Multiply-adds the micro-kernel computes, zero padding included, for an M x N product.
template <class K>
int64_t padded_area(int64_t M, int64_t N) {
  return (M + K::MR - 1) / K::MR * K::MR * ((N + K::NR - 1) / K::NR * K::NR);
}

// C = alpha * op(A) * op(B) + beta * C with micro-kernel K (see gemm.h for the arguments); with
// transpose_c, C is stored transposed (element (i, j) at C[j * ldc + i]).
//
// Threads split the operand with more panels (A's row panels, or B's column panels) into ranges; each
// thread packs its own panels of that operand and every panel of the other one it needs, k-block by
// k-block, and runs its tiles through all k-blocks. One fork-join per product instead of two per k-block
// (a ResNet layer4 input gradient has 18 k-blocks: 36 barriers, each a wait for the slowest thread on a
// loaded machine). The panels of the other operand are packed once per thread rather than once: they are
// the smaller side. Every element is still one sum in increasing k order, so the split changes no bits.
template <class K, class T = typename K::T>
void gemm_blocked(bool parallel, bool ta, bool tb, int64_t M, int64_t N, int64_t Kdim, T alpha, const T* A, int64_t lda,
                  const T* B, int64_t ldb, T beta, T* C, int64_t ldc, bool transpose_c,
                  const BPacker<T>* packer = nullptr, const int64_t* a_offsets = nullptr) {
  constexpr int MR = K::MR, NR = K::NR;
  const int64_t panels_a = (M + MR - 1) / MR, panels_b = (N + NR - 1) / NR;
  const int64_t kc_max = std::min(Kdim, kBlockK);
  // Packing B pays when its panels are reused by many row panels of A. For one or two (the thin
  // products of convolutions: 8 or 16 output channels), full panels of a row-major B are read where
  // they lie, NR contiguous values per k; only a partial last panel is packed (zero padding).
  const bool direct_b = !tb && panels_a <= 2 && !packer;
  const int64_t direct_panels = direct_b ? N / NR : 0;
  // Threads split A's row panels or B's column panels. Each range packs every panel of the other operand
  // it needs, so a split by rows packs B once per range, and a split by columns packs a transposed A once
  // per range; an A read in place (not transposed) costs nothing to share. So with A in place the columns
  // are split whenever there are enough of them for the threads: a convolution's column fill (im2col into
  // the panels) then runs once per product, not once per range (ResNet-18's layer3 / layer4 at 64x64,
  // batch 16: 43 and 86 row panels against 16 and 4 column panels on the 256-bit kernel).
  const bool split_rows = ta || !parallel ? panels_a >= panels_b : panels_b < 2 * num_threads();
  // Row panels [pa, pe) x column panels [qa, qe), every k-block. Serial callers may be running inside a
  // parallel region; each thread owns its buffers.
  // Column panels are packed and swept kBlockBBytes at a time (Goto & van de Geijn's n_c blocking): the
  // block stays in L2 while every row panel runs over it. Unblocked, a convolution with thousands of
  // columns (ResNet-18's stem and layer1 at 224x224: 392 and 98 panels, 3-12 MB packed) streamed the
  // whole packed B from L3 once per row panel, and the micro-kernel waited on it.
  const int64_t nq = std::max<int64_t>(1, kBlockBBytes / (kc_max * NR * static_cast<int64_t>(sizeof(T))));
  auto block = [&](int64_t pa, int64_t pe, int64_t qa, int64_t qe) {
    thread_local AlignedBuffer<T> buf_a, buf_b;
    thread_local std::vector<const T*> in_place_bases;  // per panel of the range: NV bases, or nullptr (packed)
    T* Ap = ta ? buf_a.data(static_cast<size_t>((pe - pa) * kc_max * MR)) : nullptr;
    T* Bp = buf_b.data(static_cast<size_t>(std::min(qe - qa, nq) * kc_max * NR));
    // Which of the range's panels the packer lets the kernel read in place (the same for every k-block):
    // their NV bases, or nullptr first for a panel that is packed.
    const T** bases = nullptr;
    if (packer && packer->in_place) {
      grow_scratch(in_place_bases, static_cast<size_t>((qe - qa) * K::NV), "GEMM panel table");
      bases = in_place_bases.data();
      for (int64_t q = qa; q < qe; ++q) {
        const T** bq = bases + (q - qa) * K::NV;
        if (N - q * NR < NR || !packer->in_place(packer->ctx, q * NR, NR, K::VL, bq)) bq[0] = nullptr;
      }
    }
    const int64_t* block_ends = packer ? packer->k_block_ends : nullptr;
    for (int64_t k0 = 0, kb = 0; k0 < Kdim; k0 = block_ends ? block_ends[kb] : k0 + kBlockK, ++kb) {
      const int64_t kc = block_ends ? block_ends[kb] - k0 : std::min(kBlockK, Kdim - k0);
      const bool first = k0 == 0;
      if (ta) pack_a_transposed<K>(A, lda, M, k0, kc, Ap, pa, pe);
      for (int64_t qb = qa; qb < qe; qb += nq) {
        const int64_t qbe = std::min(qe, qb + nq);
        for (int64_t q = std::max(qb, direct_panels); q < qbe; ++q) {
          const int64_t cols = std::min<int64_t>(NR, N - q * NR);
          if (bases && bases[(q - qa) * K::NV]) continue;  // read in place: nothing to pack
          if (packer)
            packer->fn(packer->ctx, k0, kc, q * NR, cols, NR, Bp + (q - qb) * kc * NR);
          else
            pack_b<K>(tb, B, ldb, N, k0, kc, Bp + (q - qb) * kc * NR, q);
        }
        for (int64_t p = pa; p < pe; ++p)
          for (int64_t q = qb; q < qbe; ++q) {
            int64_t rows = std::min<int64_t>(MR, M - p * MR), cols = std::min<int64_t>(NR, N - q * NR);
            const TileOut<T> out{transpose_c ? C + q * NR * ldc + p * MR : C + p * MR * ldc + q * NR, ldc, transpose_c};
            if (bases && bases[(q - qa) * K::NV]) {  // B in place (the packer's table); A is not transposed
              TableB<K> b;
              for (int h = 0; h < K::NV; ++h) b.base[h] = bases[(q - qa) * K::NV + h];
              b.off = packer->offsets + k0;
              if (a_offsets)
                micro_kernel_table_b<K>(kc, table_a<K>(A, lda, M, p, a_offsets + k0), b, alpha, beta, first, out, rows,
                                        cols);
              else
                micro_kernel_table_b<K>(kc, rows_a<K>(A, lda, M, p, k0), b, alpha, beta, first, out, rows, cols);
              continue;
            }
            const bool direct = q < direct_panels;
            const T* bq = direct ? B + k0 * ldb + q * NR : Bp + (q - qb) * kc * NR;
            const int64_t ldbq = direct ? ldb : NR;
            if (ta) {
              micro_kernel<K>(kc, Ap + (p - pa) * kc * MR, bq, ldbq, alpha, beta, first, out, rows, cols);
            } else if (a_offsets) {
              micro_kernel<K>(kc, table_a<K>(A, lda, M, p, a_offsets + k0), bq, ldbq, alpha, beta, first, out, rows,
                              cols);
            } else {
              micro_kernel<K>(kc, rows_a<K>(A, lda, M, p, k0), bq, ldbq, alpha, beta, first, out, rows, cols);
            }
          }
      }
    }
  };
  auto range = [&](int64_t b, int64_t e) {
    if (split_rows)
      block(b, e, 0, panels_b);
    else
      block(0, panels_a, b, e);
  };
  const int64_t split = split_rows ? panels_a : panels_b;
  if (!parallel) return range(0, split);
  // A range is worth at least ~2 M flops (a fork-join costs about a microsecond when the workers spin),
  // and there are at most two ranges per thread: each range packs the other operand again.
  const double flops_per_panel = 2.0 * MR * NR * static_cast<double>(Kdim) * (split_rows ? panels_b : panels_a);
  const int64_t by_flops = static_cast<int64_t>(2e6 / flops_per_panel);
  const int64_t by_threads = (split + 2 * num_threads() - 1) / (2 * num_threads());
  // Ranges of equal size to within one panel: cut in fixed steps, 13 panels made ranges of 4, 4, 4 and 1,
  // and two threads then ran 8 and 5 (ResNet-18's layer3 at 224x224, batch 1: 196 columns).
  const int64_t grain = std::max<int64_t>({int64_t(1), by_flops, by_threads});
  const int64_t ranges = (split + grain - 1) / grain;
  parallel_for(ranges, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) range(r * split / ranges, (r + 1) * split / ranges);
  });
}

// What a blocked product costs, in the micro-kernel's vector multiply-adds per k plus the values packed
// per k (about one each: a load and a store), for an M x N product with kernel K. Zero padding of the
// edge tiles counts as work; so does packing a transposed A, and B unless it is read where it lies.
template <class K>
double blocked_cost(int64_t M, int64_t N, bool ta, bool tb) {
  const int64_t panels_a = (M + K::MR - 1) / K::MR;
  const double fmas = static_cast<double>(padded_area<K>(M, N)) / K::VL;
  const double packed_b = (!tb && panels_a <= 2) ? static_cast<double>(N % K::NR) : static_cast<double>(N);
  return fmas + packed_b + (ta ? static_cast<double>(M) : 0.0);
}

// C = alpha * op(A) * op(B) + beta * C (see gemm.h) with the cheapest of two micro-kernels, Wide
// (2 vectors per row) and Narrow (1 vector, more rows: for products with few columns), each applied to C
// or to Cᵀ = op(B)ᵀ op(A)ᵀ (e.g. a convolution's weight gradient (K, Og) has Og = 8 or 16 columns).
// Every element is still the same sum in the same k order, one fused multiply-add per k (the product
// a·b and b·a round the same), so the bits do not depend on the choice.
template <class Wide, class Narrow, class T = typename Wide::T>
void gemm_driver(bool parallel, bool ta, bool tb, int64_t M, int64_t N, int64_t Kdim, T alpha, const T* A, int64_t lda,
                 const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (Kdim <= 0) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
    return;
  }
  const double costs[4] = {blocked_cost<Wide>(M, N, ta, tb), blocked_cost<Narrow>(M, N, ta, tb),
                           blocked_cost<Wide>(N, M, !tb, !ta), blocked_cost<Narrow>(N, M, !tb, !ta)};
  int best = 0;
  for (int c = 1; c < 4; ++c)
    if (costs[c] < 0.9 * costs[best]) best = c;  // a clear gain only: the wide kernel on C is the default
  switch (best) {
    case 0:
      return gemm_blocked<Wide>(parallel, ta, tb, M, N, Kdim, alpha, A, lda, B, ldb, beta, C, ldc, false);
    case 1:
      return gemm_blocked<Narrow>(parallel, ta, tb, M, N, Kdim, alpha, A, lda, B, ldb, beta, C, ldc, false);
    case 2:
      return gemm_blocked<Wide>(parallel, !tb, !ta, N, M, Kdim, alpha, B, ldb, A, lda, beta, C, ldc, true);
    default:
      return gemm_blocked<Narrow>(parallel, !tb, !ta, N, M, Kdim, alpha, B, ldb, A, lda, beta, C, ldc, true);
  }
}

}  // namespace
}  // namespace xdnn::cpu
