// The forward and backward convolution's chunking (engine/cpu/conv.cpp's file comment): samples per chunk,
// chunk columns and rows, the chunk loop, and the GEMM choices. Included by engine/cpu/conv.cpp only
// (anonymous namespace, like conv_direct.h); its own header to keep conv.cpp under the 500-line limit.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "engine/cpu/gemm.h"
#include "engine/cpu/im2col.h"
#include "engine/ops.h"
#include "engine/parallel.h"

namespace xdnn::ops {
namespace {

// A chunk holds about this many output positions (GEMM columns): enough for the micro-kernel to stream
// over, small enough that a chunk's columns (K·L floats, 450 KB for fashion-cnn's conv2) stay in L2.
constexpr int64_t kChunkColumns = 1536;
// ... but a batch is cut into at least this many chunks (when it has that many samples), so that the
// threads have chunks to share.
constexpr int64_t kMinChunks = 8;

// Samples per chunk: a function of the shapes only (never of the thread count).
// When the whole batch fits the column budget (small planes: ResNet-18's layer3/layer4 have 4x4 and 2x2
// outputs at 64x64 input), it is one chunk and the GEMM runs in parallel over its tiles: cut into
// kMinChunks chunks instead, each GEMM would have 8 or 16 columns against a weight of up to 512 x 4608,
// and the weight would be streamed (input gradient: packed) once per chunk, its weight-gradient partial
// (as large as the weight) written and added once per chunk. Measured on ResNet-18 3x64x64 batch 16:
// bench/RESULTS.md.
int64_t chunk_samples(const Dims& d) {
  const int64_t by_columns = (kChunkColumns + d.P - 1) / std::max<int64_t>(d.P, 1);
  if (d.N <= by_columns) return std::max<int64_t>(1, d.N);
  return std::max<int64_t>(1, std::min(by_columns, d.N / kMinChunks));
}

// A 1x1 convolution with stride 1 and no padding needs no im2col: a sample's columns are x_n itself.
bool pointwise(const Dims& d, const Conv2dGeometry& g) {
  return d.KH == 1 && d.KW == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_top == 0 && g.pad_left == 0 &&
         g.pad_bottom == 0 && g.pad_right == 0;
}

// col (C·KH·KW, S·P) of samples [n0, n0 + S): x_n0 itself for one sample of a pointwise convolution, else
// built in buf.
template <class T>
const T* chunk_columns(const T* px, const Dims& d, const Conv2dGeometry& g, int64_t n0, int64_t S,
                       std::vector<T>& buf) {
  const int64_t L = S * d.P;
  if (S == 1 && pointwise(d, g)) return px + n0 * d.C * d.H * d.W;
  T* col = scratch(buf, static_cast<size_t>(d.C * d.KH * d.KW * L));
  for (int64_t s = 0; s < S; ++s) im2col(px + (n0 + s) * d.C * d.H * d.W, d, g, col + s * d.P, L);
  return col;
}

// gyc (O, S·P) of samples [n0, n0 + S) from gy (N, O, P): gy_n0 itself for one sample, else gathered in buf.
template <class T>
const T* chunk_rows(const T* pg, const Dims& d, int64_t n0, int64_t S, std::vector<T>& buf) {
  if (S == 1) return pg + n0 * d.O * d.P;
  const int64_t L = S * d.P;
  T* rows = scratch(buf, static_cast<size_t>(d.O * L));
  for (int64_t s = 0; s < S; ++s)
    for (int64_t o = 0; o < d.O; ++o) {
      const T* src = pg + ((n0 + s) * d.O + o) * d.P;
      std::copy(src, src + d.P, rows + o * L + s * d.P);
    }
  return rows;
}

// Runs fn(n0, S, parallel_gemm) for every chunk of S samples: over threads when there are several
// chunks, else the one chunk with the GEMM itself parallel. Same bits either way (see the file comment).
template <class Fn>
void for_each_chunk(int64_t N, int64_t S, const Fn& fn) {
  const int64_t chunks = (N + S - 1) / S;
  if (chunks > 1) {
    parallel_for(chunks, 1, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) fn(c * S, std::min(S, N - c * S), false);
    });
  } else if (N > 0) {
    fn(0, N, true);
  }
}

// The forward builds its im2col columns inside the GEMM's packing (PackedColumns, im2col.h) for layers
// with at least 32 output channels (more than two row panels: the column panels are reused, as packing
// assumes; fashion-cnn's 8- and 16-channel layers keep reading im2col columns in place) and groups = 1,
// with L a multiple of the wide kernel's panel width or at least one panel. A short L pads its last panel
// (ResNet-18 at 224x224, batch 1: layer3's 196 columns to 224, layer4's 49 to 64), but the im2col buffer
// costs more: its columns written and read back, and the GEMM it feeds may pack the weights instead
// (bench/RESULTS.md: 2 % of that forward).
template <class T>
bool packed_columns_apply(const Dims& d, int64_t L) {
  const int64_t nr = cpu::gemm_panel_width<T>();
  return d.G == 1 && d.O >= 32 && (L % nr == 0 || L >= nr);
}

template <class T>
void gemm_any(bool parallel, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B,
              int64_t ldb, T beta, T* C, int64_t ldc) {
  if (parallel)
    cpu::gemm<T>(ta, tb, M, N, K, T(1), A, lda, B, ldb, beta, C, ldc);
  else
    cpu::gemm_serial<T>(ta, tb, M, N, K, T(1), A, lda, B, ldb, beta, C, ldc);
}

}  // namespace
}  // namespace xdnn::ops
