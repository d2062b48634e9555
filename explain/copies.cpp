#include "explain/copies.h"

#include <algorithm>

namespace xdnn::explain {

Tensor repeat_rows(const Tensor& x, int64_t times) {
  const int64_t N = x.dim(0);
  Shape s = x.shape();
  s[0] = N * times;
  Tensor out(s, x.dtype(), x.device());
  for (int64_t j = 0; j < times; ++j) out.slice_batch(j * N, (j + 1) * N).copy_from(x);
  return out;
}

std::vector<int64_t> repeat_targets(const std::vector<int64_t>& targets, int64_t times) {
  std::vector<int64_t> out;
  out.reserve(targets.size() * times);
  for (int64_t j = 0; j < times; ++j) out.insert(out.end(), targets.begin(), targets.end());
  return out;
}

int64_t copies_per_call(const Model& model, const Tensor& input, int64_t total_copies) {
  if (model.exported_batch > 0) return 1;
  const int64_t N = std::max<int64_t>(input.dim(0), 1), row_elements = input.numel() / N;
  // About 32 rows per model call: the per-call overhead is already small there, and a small model's activations
  // of one layer stay in the L2 cache (fashion-cnn, 1 thread: integrated gradients at batch 32 takes 111 ms
  // with 32-row calls, 142 ms with 128-row calls; occlusion 126 vs 148 ms). Rows of 4,096 to 65,535 elements
  // (a 3x64x64 image) take 64: their activations leave the caches whatever the rows, and the deep layers'
  // products need the columns (ResNet-18's layer4 planes are 2x2, so 32 rows give them 128 columns): ResNet-18
  // 3x64x64, batch 16, IG-16, paired runs against 32-row calls: 1.04x at 1 thread, 0.98-1.07x (median 1.03x)
  // over five runs at 2 threads; 128-row calls 1.04x. Larger rows keep 32, as the memory of a call grows with
  // them (ResNet-18 at 3x224x224).
  const int64_t rows = row_elements >= 4096 && row_elements < 65536 ? 64 : 32;
  return std::clamp<int64_t>(rows / N, 1, std::max<int64_t>(total_copies, 1));
}

}  // namespace xdnn::explain
