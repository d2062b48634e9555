// Caching allocator for device memory (host code, g++).
//
// cudaMalloc/cudaFree are slow (cudaFree synchronises the device), and a training or explanation loop
// asks for the same sizes over and over. So freed blocks are kept on a free list per size bin and
// handed out again for the next request of that bin. All work runs on the backend's one stream, so a
// block released by one op and reused by the next is ordered correctly without events.
//
// Bins: 512 B minimum; powers of two up to 1 MiB; above that multiples of 2 MiB (< 2 MiB wasted per
// block, and slightly different large sizes share a bin).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/cuda_backend.h"

namespace xdnn::cuda {
namespace {

constexpr size_t kMiB = size_t(1) << 20;

size_t bin_size(size_t bytes) {
  if (bytes <= 512) return 512;
  if (bytes <= kMiB) {
    size_t b = 512;
    while (b < bytes) b <<= 1;
    return b;
  }
  return (bytes + 2 * kMiB - 1) / (2 * kMiB) * (2 * kMiB);
}

std::string mib(size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / static_cast<double>(kMiB));
  return buf;
}

struct Pool {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;  // bin size -> cached blocks
  std::unordered_map<void*, size_t> live;                      // block -> bin size
  PoolStats stats;
  bool exit_hook = false;

  // cudaFree of every cached block; the caller holds the mutex. Errors are ignored at exit (the runtime
  // may be shutting down) and reported otherwise.
  void free_cached(bool at_exit) {
    for (auto& [bin, blocks] : free_blocks) {
      for (void* p : blocks) {
        const cudaError_t status = cudaFree(p);
        if (!at_exit) check(status, "cudaFree");
        stats.cached_bytes -= bin;
      }
      blocks.clear();
    }
  }
};

// Never destroyed: tensors still alive during static destruction return their blocks to it.
Pool& pool() {
  static Pool* p = new Pool;
  return *p;
}

void empty_cache_at_exit() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  p.free_cached(true);
}

}  // namespace

void* pool_allocate(size_t bytes) {
  const size_t bin = bin_size(bytes);
  const cudaStream_t s = stream();  // throws "no CUDA device" before anything else
  (void)s;
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  auto it = p.free_blocks.find(bin);
  if (it != p.free_blocks.end() && !it->second.empty()) {
    void* ptr = it->second.back();
    it->second.pop_back();
    p.stats.cached_bytes -= bin;
    p.stats.in_use_bytes += bin;
    p.live[ptr] = bin;
    return ptr;
  }
  if (!p.exit_hook) {
    std::atexit(empty_cache_at_exit);  // registered after the runtime's own hook, so it runs before it
    p.exit_hook = true;
  }
  void* ptr = nullptr;
  cudaError_t status = cudaMalloc(&ptr, bin);
  ++p.stats.malloc_calls;
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    p.free_cached(false);  // give the cached blocks of other sizes back and try once more
    status = cudaMalloc(&ptr, bin);
    ++p.stats.malloc_calls;
  }
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    throw Error("CUDA out of memory: requested " + mib(bytes) + ", " + mib(free_bytes) + " free of " +
                mib(total_bytes) + " (xdnn holds " + mib(p.stats.in_use_bytes) +
                "); try a smaller batch size (--batch-size)");
  }
  check(status, "cudaMalloc");
  p.stats.in_use_bytes += bin;
  p.live[ptr] = bin;
  return ptr;
}

void pool_release(void* ptr) {
  if (!ptr) return;
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  auto it = p.live.find(ptr);
  if (it == p.live.end()) return;  // not ours (cannot happen through Storage); never cudaFree it
  const size_t bin = it->second;
  p.live.erase(it);
  p.free_blocks[bin].push_back(ptr);
  p.stats.in_use_bytes -= bin;
  p.stats.cached_bytes += bin;
}

void empty_cache() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  p.free_cached(false);
}

PoolStats pool_stats() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  return p.stats;
}

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (bytes == 0) return;
  if (dst_device == Device::CPU && src_device == Device::CPU) {
    std::memcpy(dst, src, bytes);
    return;
  }
  const cudaMemcpyKind kind = dst_device == Device::CPU   ? cudaMemcpyDeviceToHost
                              : src_device == Device::CPU ? cudaMemcpyHostToDevice
                                                          : cudaMemcpyDeviceToDevice;
  // Synchronous for both directions: a host source may be freed and a host destination read right after.
  check(cudaMemcpyAsync(dst, src, bytes, kind, stream()), "cudaMemcpyAsync");
  check(cudaStreamSynchronize(stream()), "cudaStreamSynchronize after cudaMemcpyAsync");
}

void zero_bytes(void* ptr, size_t bytes) {
  if (bytes == 0) return;
  check(cudaMemsetAsync(ptr, 0, bytes, stream()), "cudaMemsetAsync");
}

}  // namespace xdnn::cuda
