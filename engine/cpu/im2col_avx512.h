// The packed-columns fill (engine/cpu/im2col.h, PackedColumns) with AVX-512 gathers, compiled in its own
// file with -mavx512f like gemm_avx512.cpp; conv.cpp uses it only while the 512-bit GEMM kernel is
// selected (cpu::gemm_kernel(), so XDNN_GEMM=vec256 turns it off) and the offsets fit 32-bit indices.
//
// Why: a panel's nr columns are runs along output rows, one run per row; ResNet-18's layer3 / layer4 at
// 64x64 input have rows of 4 and 2 outputs, and stride-2 layers read every other value, so the scalar fill
// copies 2-4 values per run (0.4-1.3 ns per value, bench/RESULTS.md). A panel's columns sit at the same
// offsets from every tap's base (idx[c] = row[r] + ow·sw, the base xp + tap[k]), so one index vector per
// panel gathers all kc rows: 0.14 ns per value whatever the run length or stride.
#pragma once
#include <cstdint>

namespace xdnn::cpu {

// True when this build compiled im2col_avx512.cpp with AVX-512 enabled.
bool gather_columns_avx512_built();

// dst[k * nr + c] = xp[tap[k] + idx[c]] for k < kc, c < ncols, and 0 for ncols ≤ c < nr; nr a multiple of
// 64 / sizeof(T) and at most kGatherColumns. A pure copy: the same values as the scalar fill.
inline constexpr int64_t kGatherColumns = 64;
template <class T>
void gather_columns_avx512(const T* xp, const int64_t* tap, int64_t kc, const int32_t* idx, int64_t ncols, int64_t nr,
                           T* dst);

}  // namespace xdnn::cpu
