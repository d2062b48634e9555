#include "engine/memory.h"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <utility>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace xdnn {
namespace {

std::atomic<bool> keep_large_blocks{false};

// Freed large blocks, oldest first, and their bytes in all. Exact sizes only: a model call asks for the same
// shapes again, and a larger block handed out would keep its surplus from use.
struct KeptBlocks {
  std::mutex mutex;
  std::vector<std::pair<size_t, void*>> blocks;  // (bytes, block)
  size_t bytes = 0;
};

KeptBlocks& kept_blocks() {
  static KeptBlocks* kept = new KeptBlocks;  // never destroyed: tensors may be freed during static destruction
  return *kept;
}

}  // namespace

void keep_freed_tensor_memory() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
  keep_large_blocks = true;
}

void* allocate_host_block(size_t bytes) {
  if (bytes >= kLargeBlockBytes && keep_large_blocks) {
    std::vector<std::pair<size_t, void*>> evicted;
    {
      KeptBlocks& kept = kept_blocks();
      std::lock_guard<std::mutex> lock(kept.mutex);
      for (size_t i = kept.blocks.size(); i-- > 0;)  // the most recently freed first: its pages are likeliest cached
        if (kept.blocks[i].first == bytes) {
          void* block = kept.blocks[i].second;
          kept.blocks.erase(kept.blocks.begin() + static_cast<std::ptrdiff_t>(i));
          kept.bytes -= bytes;
          return block;
        }
      // None fits: the kept ones go back before a new block is mapped, so that keeping them never raises the
      // process's peak memory.
      evicted.swap(kept.blocks);
      kept.bytes = 0;
    }
    for (const auto& [size, block] : evicted) std::free(block);
  }
  return std::aligned_alloc(64, bytes);
}

void release_host_block(void* ptr, size_t bytes) {
  if (!ptr) return;
  if (bytes < kLargeBlockBytes || bytes > kKeptLargeBlockBytes || !keep_large_blocks) {
    std::free(ptr);
    return;
  }
  std::vector<void*> evicted;  // freed outside the lock
  {
    KeptBlocks& kept = kept_blocks();
    std::lock_guard<std::mutex> lock(kept.mutex);
    size_t drop = 0;
    while (kept.bytes + bytes > kKeptLargeBlockBytes) {  // the oldest go first
      kept.bytes -= kept.blocks[drop].first;
      evicted.push_back(kept.blocks[drop++].second);
    }
    kept.blocks.erase(kept.blocks.begin(), kept.blocks.begin() + static_cast<std::ptrdiff_t>(drop));
    kept.blocks.emplace_back(bytes, ptr);
    kept.bytes += bytes;
  }
  for (void* block : evicted) std::free(block);
}

}  // namespace xdnn
