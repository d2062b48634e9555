// What a kernel body may use, in both compilers: XDNN_HOST_DEVICE marks functions nvcc compiles for host
// and device (g++ sees nothing), and the k* math overloads call the C functions that CUDA provides in
// device code and glibc on the host (expf for float, exp for double), so a body computes the same
// formula on both sides.
#pragma once
#include <math.h>

#include <cstdint>

#if defined(__CUDACC__)
#define XDNN_HOST_DEVICE __host__ __device__
#else
#define XDNN_HOST_DEVICE
#endif

namespace xdnn::cuda {

XDNN_HOST_DEVICE inline float kexp(float x) { return expf(x); }
XDNN_HOST_DEVICE inline double kexp(double x) { return exp(x); }
XDNN_HOST_DEVICE inline float klog(float x) { return logf(x); }
XDNN_HOST_DEVICE inline double klog(double x) { return log(x); }
XDNN_HOST_DEVICE inline float ktanh(float x) { return tanhf(x); }
XDNN_HOST_DEVICE inline double ktanh(double x) { return tanh(x); }
XDNN_HOST_DEVICE inline float ksqrt(float x) { return sqrtf(x); }
XDNN_HOST_DEVICE inline double ksqrt(double x) { return sqrt(x); }
XDNN_HOST_DEVICE inline float kabs(float x) { return fabsf(x); }
XDNN_HOST_DEVICE inline double kabs(double x) { return fabs(x); }
XDNN_HOST_DEVICE inline float kerf(float x) { return erff(x); }
XDNN_HOST_DEVICE inline double kerf(double x) { return ::erf(x); }
// NaN-propagation as std::max / std::min: the first argument is returned when the comparison is false.
template <class T>
XDNN_HOST_DEVICE inline T kmax(T a, T b) {
  return a < b ? b : a;
}
template <class T>
XDNN_HOST_DEVICE inline T kmin(T a, T b) {
  return b < a ? b : a;
}
XDNN_HOST_DEVICE inline bool kisinf(double x) { return isinf(x); }

// Calls body(i) for every i in [0, n) on the host: the CPU run of a kernel body (tests).
template <class Body>
void run_on_host(int64_t n, const Body& body) {
  for (int64_t i = 0; i < n; ++i) body(i);
}

}  // namespace xdnn::cuda
