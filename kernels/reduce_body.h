// Kernel bodies of kernels/reduce.cu: deterministic sums over all elements (CPU twins: ops::sum_all and
// ops::dot_all in engine/cpu/elementwise.cpp, which add serially in double).
//
// The GPU sum runs in two passes over a FIXED grid of kReduceBlocks blocks of kReduceThreads threads
// (not derived from the device, so every GPU adds in the same order):
//   pass 1: thread t (of T = kReduceBlocks * kReduceThreads) adds elements t, t + T, t + 2T, ... in
//           double (PartialSumBody), then each block halves its kReduceThreads values pairwise
//           (tree_step with stride 128, 64, ..., 1) -> one partial per block;
//   pass 2: one block reduces the kReduceBlocks partials with the same tree.
// reduce_on_host() replays exactly these steps, so the host test checks the order, not just the sum.
#pragma once
#include <vector>

#include "kernels/host_device.h"

namespace xdnn::cuda {

constexpr int kReduceThreads = 256;  // a power of two (the tree halves it)
constexpr int kReduceBlocks = 256;   // a power of two, at most kReduceThreads (pass 2 is one block)

// Σ a[i] (b == nullptr) or Σ a[i]·b[i] over i ≡ t (mod threads), in double, increasing i.
template <class T>
struct PartialSumBody {
  const T* a;
  const T* b;
  int64_t n;
  int64_t threads;
  XDNN_HOST_DEVICE double operator()(int64_t t) const {
    double s = 0;
    for (int64_t i = t; i < n; i += threads) s += b ? static_cast<double>(a[i]) * static_cast<double>(b[i]) : a[i];
    return s;
  }
};

// One step of the pairwise tree over v[0 .. 2·stride): v[tid] += v[tid + stride] for tid < stride.
XDNN_HOST_DEVICE inline void tree_step(double* v, int tid, int stride) {
  if (tid < stride) v[tid] += v[tid + stride];
}

// The whole two-pass reduction on the host, in the device's order.
template <class T>
double reduce_on_host(const PartialSumBody<T>& body) {
  std::vector<double> partials(kReduceBlocks);
  std::vector<double> v(kReduceThreads);
  for (int blk = 0; blk < kReduceBlocks; ++blk) {
    for (int tid = 0; tid < kReduceThreads; ++tid) v[tid] = body(static_cast<int64_t>(blk) * kReduceThreads + tid);
    for (int stride = kReduceThreads / 2; stride > 0; stride /= 2)
      for (int tid = 0; tid < kReduceThreads; ++tid) tree_step(v.data(), tid, stride);
    partials[blk] = v[0];
  }
  for (int tid = 0; tid < kReduceThreads; ++tid) v[tid] = tid < kReduceBlocks ? partials[tid] : 0.0;
  for (int stride = kReduceThreads / 2; stride > 0; stride /= 2)
    for (int tid = 0; tid < kReduceThreads; ++tid) tree_step(v.data(), tid, stride);
  return v[0];
}

}  // namespace xdnn::cuda
