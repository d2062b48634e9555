// engine/cpu/im2col_avx512.h: the packed-columns fill with 512-bit gathers.
#include "engine/cpu/im2col_avx512.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace xdnn::cpu {

bool gather_columns_avx512_built() {
#if defined(__AVX512F__)
  return true;
#else
  return false;
#endif
}

#if defined(__AVX512F__)
// Lanes [0, n) of a 16-lane (floats) or 8-lane (doubles) vector, n clamped to [0, lanes].
static __mmask16 first_lanes(int64_t n, int lanes) {
  if (n <= 0) return 0;
  return n >= lanes ? static_cast<__mmask16>((1u << lanes) - 1) : static_cast<__mmask16>((1u << n) - 1);
}

template <>
void gather_columns_avx512<float>(const float* xp, const int64_t* tap, int64_t kc, const int32_t* idx, int64_t ncols,
                                  int64_t nr, float* dst) {
  constexpr int VL = 16;
  const int64_t nv = nr / VL;
  __m512i iv[kGatherColumns / VL];
  __mmask16 mv[kGatherColumns / VL];
  for (int64_t v = 0; v < nv; ++v) {
    mv[v] = first_lanes(ncols - v * VL, VL);
    iv[v] = _mm512_maskz_loadu_epi32(mv[v], idx + v * VL);  // lanes past ncols: index 0, masked off
  }
  for (int64_t k = 0; k < kc; ++k) {
    const float* base = xp + tap[k];
    for (int64_t v = 0; v < nv; ++v)
      _mm512_storeu_ps(dst + k * nr + v * VL, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mv[v], iv[v], base, 4));
  }
}

template <>
void gather_columns_avx512<double>(const double* xp, const int64_t* tap, int64_t kc, const int32_t* idx, int64_t ncols,
                                   int64_t nr, double* dst) {
  constexpr int VL = 8;
  const int64_t nv = nr / VL;
  __m256i iv[kGatherColumns / VL];
  __mmask8 mv[kGatherColumns / VL];
  for (int64_t v = 0; v < nv; ++v) {
    mv[v] = static_cast<__mmask8>(first_lanes(ncols - v * VL, VL));
    alignas(32) int32_t lane[VL] = {};
    for (int64_t l = 0; l < VL && v * VL + l < ncols; ++l) lane[l] = idx[v * VL + l];
    iv[v] = _mm256_load_si256(reinterpret_cast<const __m256i*>(lane));
  }
  for (int64_t k = 0; k < kc; ++k) {
    const double* base = xp + tap[k];
    for (int64_t v = 0; v < nv; ++v)
      _mm512_storeu_pd(dst + k * nr + v * VL, _mm512_mask_i32gather_pd(_mm512_setzero_pd(), mv[v], iv[v], base, 8));
  }
}
#else
template <class T>
void gather_columns_avx512(const T*, const int64_t*, int64_t, const int32_t*, int64_t, int64_t, T*) {}
template void gather_columns_avx512<float>(const float*, const int64_t*, int64_t, const int32_t*, int64_t, int64_t,
                                           float*);
template void gather_columns_avx512<double>(const double*, const int64_t*, int64_t, const int32_t*, int64_t, int64_t,
                                            double*);
#endif

}  // namespace xdnn::cpu
