// How a process that runs models keeps its freed tensor memory (called once, at the start of main, by
// the xdnn command line and by the benchmarks that time what it runs; a library never changes its host
// process's allocator on its own).
#pragma once

namespace xdnn {

// Tensors of a few MB (a batch of activations: ResNet-18's stem output is 3.2 MB per 224x224 sample)
// are freed and allocated again at every model call. glibc serves them with mmap by default and gives
// them back at once, so every call page-faults its buffers in again: 30 % of RISE's CPU time on
// fashion-cnn was the kernel's, and 5-15 % of a ResNet-18 forward or saliency pass at 2 threads. Kept in
// the heap up to 32 MB (glibc's largest mmap threshold) and not trimmed below 256 MB, they are reused.
// Numbers do not change; freed memory stays with the process for reuse. A no-op off glibc.
void keep_freed_tensor_memory();

}  // namespace xdnn
