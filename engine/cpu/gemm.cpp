// cpu::gemm: picks the micro-kernel (256-bit vectors from this file's build flags, or the 512-bit one in
// gemm_avx512.cpp when the CPU has AVX-512F) and runs gemm_driver.h with it. Both give the same bits.
#include "engine/cpu/gemm.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "engine/cpu/gemm_avx512.h"
#include "engine/cpu/gemm_driver.h"
#include "engine/error.h"

namespace xdnn::cpu {
namespace {

bool cpu_has_avx512f() {
#if defined(__x86_64__) || defined(__i386__)
  return __builtin_cpu_supports("avx512f");
#else
  return false;
#endif
}

// $XDNN_GEMM: "vec256" or "vec512" asks for that kernel, unset or "auto" takes the widest this CPU runs.
// A value it cannot honour is reported on stderr (once, at the first GEMM) rather than thrown, since
// this runs inside the first gemm call of whatever computation comes first.
GemmKernel default_kernel() {
  const GemmKernel widest = gemm_kernel_available(GemmKernel::Vec512) ? GemmKernel::Vec512 : GemmKernel::Vec256;
  const char* env = std::getenv("XDNN_GEMM");
  const std::string v = env ? env : "auto";
  if (v == "auto") return widest;
  if (v == "vec256") return GemmKernel::Vec256;
  if (v == "vec512" && widest == GemmKernel::Vec512) return widest;
  std::fprintf(stderr, "xdnn: XDNN_GEMM=%s %s; using %s\n", printable(v).c_str(),
               v == "vec512" ? "is not available on this CPU or in this build" : "is not one of auto, vec256, vec512",
               gemm_kernel_name(widest));
  return widest;
}

std::atomic<GemmKernel>& current_kernel() {
  static std::atomic<GemmKernel> kernel{default_kernel()};
  return kernel;
}

template <class T>
void gemm_dispatch(bool parallel, bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                   const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (current_kernel().load(std::memory_order_relaxed) == GemmKernel::Vec512)
    return gemm_avx512(parallel, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  // 6 rows x 2 vectors (12 accumulators + 2 B vectors + 1 broadcast fit the 16 ymm registers), or
  // 12 rows x 1 vector for products with at most 8 (floats) columns.
  gemm_driver<Kernel<T, 32, 6, 2>, Kernel<T, 32, 12, 1>>(parallel, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C,
                                                         ldc);
}

}  // namespace

const char* gemm_kernel_name(GemmKernel kernel) {
  return kernel == GemmKernel::Vec512 ? "vec512 (AVX-512)" : "vec256 (AVX2)";
}

bool gemm_kernel_available(GemmKernel kernel) {
  if (kernel == GemmKernel::Vec256) return true;
  return gemm_avx512_built() && cpu_has_avx512f();
}

GemmKernel gemm_kernel() { return current_kernel().load(); }

void set_gemm_kernel(GemmKernel kernel) {
  if (!gemm_kernel_available(kernel))
    throw Error(std::string("gemm: the ") + gemm_kernel_name(kernel) +
                " kernel is not available on this CPU or in this build");
  current_kernel().store(kernel);
}

template <class T>
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B, int64_t ldb,
          T beta, T* C, int64_t ldc) {
  gemm_dispatch(true, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <class T>
void gemm_serial(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
                 int64_t ldb, T beta, T* C, int64_t ldc) {
  gemm_dispatch(false, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <class T>
void gemm_packed_b(bool parallel, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const BPacker<T>& packer,
                   T* C, int64_t ldc, const int64_t* a_offsets) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = T(0);
    return;
  }
  if (current_kernel().load(std::memory_order_relaxed) == GemmKernel::Vec512)
    return gemm_avx512_packed_b(parallel, M, N, K, A, lda, packer, C, ldc, a_offsets);
  gemm_blocked<Kernel<T, 32, 6, 2>>(parallel, false, false, M, N, K, T(1), A, lda, static_cast<const T*>(nullptr), 0,
                                    T(0), C, ldc, false, &packer, a_offsets);
}

template <class T>
int64_t gemm_panel_width() {
  return (current_kernel().load(std::memory_order_relaxed) == GemmKernel::Vec512 ? 128 : 64) / sizeof(T);
}

template void gemm_packed_b<float>(bool, int64_t, int64_t, int64_t, const float*, int64_t, const BPacker<float>&,
                                   float*, int64_t, const int64_t*);
template void gemm_packed_b<double>(bool, int64_t, int64_t, int64_t, const double*, int64_t, const BPacker<double>&,
                                    double*, int64_t, const int64_t*);
template int64_t gemm_panel_width<float>();
template int64_t gemm_panel_width<double>();
template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t);
template void gemm_serial<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                                 int64_t, float, float*, int64_t);
template void gemm_serial<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                                  int64_t, double, double*, int64_t);

}  // namespace xdnn::cpu
