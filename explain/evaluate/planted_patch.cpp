// The planted-patch image task: see planted_patch.h.
#include "explain/evaluate/planted_patch.h"
#include "engine/check.h"

#include "engine/error.h"
#include "engine/random.h"

namespace xdnn::explain {

bool patch_pixel(int64_t label, int64_t y, int64_t x) {
  switch (label) {
    case 0:
      return y % 2 == 0;
    case 1:
      return x % 2 == 0;
    case 2:
      return (x + y) % 2 == 0;
    case 3:
      return y == 0 || y == 5 || x == 0 || x == 5;
    default:
      throw Error("planted patch: no class " + std::to_string(label) + " (0..3)");
  }
}

PlantedPatchTask make_planted_patch_task(int64_t count, uint64_t seed) {
  check(count >= 1, "planted patch: expected at least 1 image, got " + std::to_string(count));
  const int64_t H = 28, W = 28, P = 6;
  PlantedPatchTask t;
  t.images = Tensor({count, 1, H, W}, DType::F32);
  t.labels = Tensor({count}, DType::I64);
  t.ground_truth = Tensor({count, 1, H, W}, DType::F32);
  float* img = t.images.data<float>();
  float* gt = t.ground_truth.data<float>();
  Rng rng(seed);
  for (int64_t n = 0; n < count; ++n) {
    const int64_t label = static_cast<int64_t>(rng.below(4));
    const int64_t y0 = static_cast<int64_t>(rng.below(H - P + 1)), x0 = static_cast<int64_t>(rng.below(W - P + 1));
    t.labels.data<int64_t>()[n] = label;
    for (int64_t i = 0; i < H * W; ++i) img[n * H * W + i] = static_cast<float>(rng.uniform(0.0, 0.6));
    for (int64_t y = 0; y < P; ++y)
      for (int64_t x = 0; x < P; ++x) {
        const int64_t i = n * H * W + (y0 + y) * W + x0 + x;
        img[i] = patch_pixel(label, y, x) ? 1.0f : 0.0f;
        gt[i] = 1.0f;
      }
  }
  return t;
}

}  // namespace xdnn::explain
