// 512-bit GEMM micro-kernels: 8 rows x 2 vectors of 16 floats (8 doubles), 16 of the 32 zmm registers
// as accumulators (8 rows rather than the 256-bit kernel's 6 because convolutions have 8 or 16 output
// channels, the rows of their forward GEMM, which then fill every tile), and 16 rows x 1 vector for
// products with at most 16 columns.
#include "engine/cpu/gemm_avx512.h"

#if defined(__AVX512F__)
#include "engine/cpu/gemm_driver.h"

namespace xdnn::cpu {

bool gemm_avx512_built() { return true; }

template <class T>
void gemm_avx512(bool parallel, bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                 const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  gemm_driver<Kernel<T, 64, 8, 2>, Kernel<T, 64, 16, 1>>(parallel, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C,
                                                         ldc);
}

template <class T>
void gemm_avx512_packed_b(bool parallel, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda,
                          const BPacker<T>& packer, T* C, int64_t ldc, const int64_t* a_offsets) {
  gemm_blocked<Kernel<T, 64, 8, 2>>(parallel, false, false, M, N, K, T(1), A, lda, static_cast<const T*>(nullptr), 0,
                                    T(0), C, ldc, false, &packer, a_offsets);
}

}  // namespace xdnn::cpu

#else  // a compiler or target without AVX-512: gemm.cpp never calls this

#include "engine/error.h"

namespace xdnn::cpu {

bool gemm_avx512_built() { return false; }

template <class T>
void gemm_avx512(bool, bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, int64_t, T, T*, int64_t) {
  throw Error("gemm: this build has no AVX-512 kernel");
}

template <class T>
void gemm_avx512_packed_b(bool, int64_t, int64_t, int64_t, const T*, int64_t, const BPacker<T>&, T*, int64_t,
                          const int64_t*) {
  throw Error("gemm: this build has no AVX-512 kernel");
}

}  // namespace xdnn::cpu
#endif

namespace xdnn::cpu {
template void gemm_avx512<float>(bool, bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                                 const float*, int64_t, float, float*, int64_t);
template void gemm_avx512<double>(bool, bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                  const double*, int64_t, double, double*, int64_t);
template void gemm_avx512_packed_b<float>(bool, int64_t, int64_t, int64_t, const float*, int64_t, const BPacker<float>&,
                                          float*, int64_t, const int64_t*);
template void gemm_avx512_packed_b<double>(bool, int64_t, int64_t, int64_t, const double*, int64_t,
                                           const BPacker<double>&, double*, int64_t, const int64_t*);
}  // namespace xdnn::cpu
