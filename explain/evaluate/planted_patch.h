// A synthetic image task with planted evidence, for the ground-truth metrics (ground_truth.h): every
// image is background noise with one 6×6 patch pasted at a uniformly random place, and the patch's pattern
// alone decides the class, so a faithful attribution points into the patch (the idea of Arras et al.
// 2022's CLEVR-XAI and of the "planted" benchmarks, in the smallest form that a 28×28 model learns in one
// epoch).
// Classes (the patch, 1 = ink, 0 = no ink): 0 horizontal stripes (rows 0, 2, 4 inked), 1 vertical stripes,
// 2 a checkerboard, 3 a hollow square (the border ring). Background: U(0, 0.6) per pixel, drawn
// independently of the class; inside the patch the pattern replaces it.
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace xdnn::explain {

struct PlantedPatchTask {
  Tensor images;        // float32 (N, 1, 28, 28) in [0, 1]
  Tensor labels;        // int64 (N,), 0..3
  Tensor ground_truth;  // float32 (N, 1, 28, 28): 1 inside the patch, 0 elsewhere
};

// N images from Rng(seed); the same (N, seed) give the same task.
PlantedPatchTask make_planted_patch_task(int64_t count, uint64_t seed);

// Whether pixel (y, x) of a 6×6 patch of class `label` is inked.
bool patch_pixel(int64_t label, int64_t y, int64_t x);

}  // namespace xdnn::explain
