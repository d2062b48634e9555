// The 512-bit instantiation of gemm_driver.h, compiled in its own file with -mavx512f (see
// engine/meson.build); only gemm.cpp calls it, and only after checking that the CPU has AVX-512F.
#pragma once
#include <cstdint>

#include "engine/cpu/gemm.h"

namespace xdnn::cpu {

// True when this build compiled gemm_avx512.cpp with AVX-512 enabled.
bool gemm_avx512_built();

template <class T>
void gemm_avx512(bool parallel, bool transpose_a, bool transpose_b, int64_t M, int64_t N, int64_t K, T alpha,
                 const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);
template <class T>
void gemm_avx512_packed_b(bool parallel, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda,
                          const BPacker<T>& packer, T* C, int64_t ldc, const int64_t* a_offsets);

}  // namespace xdnn::cpu
