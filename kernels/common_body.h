// Shared pieces of the kernel bodies of cuda-kernels' files (conv, pooling, norms, activations,
// pointwise, data movement, recurrent cells): math that kernels/host_device.h does not carry, and the
// strided index map of the data-movement kernels. Same rules as host_device.h: XDNN_HOST_DEVICE, the C
// math functions (f-suffixed for float, what std:: calls on the host), no std::.
#pragma once
#include "kernels/host_device.h"

namespace xdnn::cuda {

XDNN_HOST_DEVICE inline float kexpm1(float x) { return expm1f(x); }
XDNN_HOST_DEVICE inline double kexpm1(double x) { return expm1(x); }
XDNN_HOST_DEVICE inline float klog1p(float x) { return log1pf(x); }
XDNN_HOST_DEVICE inline double klog1p(double x) { return log1p(x); }
XDNN_HOST_DEVICE inline float kpow(float x, float y) { return powf(x, y); }
XDNN_HOST_DEVICE inline double kpow(double x, double y) { return pow(x, y); }

// a · b rounded on its own: nvcc may not fuse it with a following addition into an FMA (one rounding where the
// CPU twin rounds twice), so a body that must give its CPU twin's bits on the device writes its products so.
XDNN_HOST_DEVICE inline double kmul_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}

template <class T>
XDNN_HOST_DEVICE inline T ksigmoid(T x) {
  return T(1) / (T(1) + kexp(-x));
}

// ---- strided index maps ---------------------------------------------------------------------------------
constexpr int kMaxDims = 8;  // higher ranks are rejected on the host before launch

// An output of shape dims[0..ndim) read from another buffer at base + Σ coord[d]·stride[d]. Covers
// permutations, strided slices (negative steps), broadcasting (stride 0) and last-axis slices.
struct StridedMap {
  int ndim = 0;
  int64_t dims[kMaxDims] = {};
  int64_t stride[kMaxDims] = {};
  int64_t base = 0;
};

// Offset in the source buffer of output element `flat` (row-major over dims).
XDNN_HOST_DEVICE inline int64_t strided_offset(int64_t flat, const StridedMap& m) {
  int64_t off = m.base;
  for (int d = m.ndim - 1; d >= 0; --d) {
    const int64_t c = flat % m.dims[d];
    flat /= m.dims[d];
    off += c * m.stride[d];
  }
  return off;
}

}  // namespace xdnn::cuda
