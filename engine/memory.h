// How a process that runs models keeps its freed tensor memory (called once, at the start of main, by
// the xdnn command line and by the benchmarks that time what it runs; a library never changes its host
// process's allocator on its own).
#pragma once
#include <cstddef>

namespace xdnn {

// Tensors of a few MB (a batch of activations: ResNet-18's stem output is 3.2 MB per 224x224 sample)
// are freed and allocated again at every model call. glibc serves them with mmap by default and gives
// them back at once, so every call page-faults its buffers in again: 30 % of RISE's CPU time on
// fashion-cnn was the kernel's, and 5-15 % of a ResNet-18 forward or saliency pass at 2 threads. Kept in
// the heap up to 32 MB (glibc's largest mmap threshold) and not trimmed below 1 GiB (at 256 MB, a ResNet-18
// IG-16 call at 224x224 gave back and faulted in again 291 MB of heap), they are reused. Blocks above 32 MB
// glibc maps and unmaps whatever it is told (a batch of 16 ResNet-18 stem outputs at 224x224 is 51 MB; IG-16
// there frees two a call); up to kKeptLargeBlockBytes of those are kept here, freed, for the next request
// of the same size (allocate_host_block), and given back before a block of another size is mapped.
// Numbers do not change; freed memory stays with the process for reuse. Off glibc, only the large blocks.
void keep_freed_tensor_memory();

inline constexpr size_t kLargeBlockBytes = size_t{32} << 20;       // glibc's largest mmap threshold
inline constexpr size_t kKeptLargeBlockBytes = size_t{256} << 20;  // the most kept freed at once

// Host blocks for tensor storage, 64-byte aligned; `bytes` a multiple of 64 and the same at release. A block
// of kLargeBlockBytes or more may come from those kept by release_host_block (after
// keep_freed_tensor_memory()); any other goes to and from std::aligned_alloc / std::free. Thread-safe.
void* allocate_host_block(size_t bytes);  // nullptr when out of memory
void release_host_block(void* ptr, size_t bytes);

}  // namespace xdnn
