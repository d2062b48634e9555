// SLIC superpixels (Achanta et al. 2012, "SLIC Superpixels Compared to State-of-the-Art Superpixel
// Methods", Algorithm 1), the built-in image grouping `--feature-mask slic:K[,m]` of the perturbation
// explainers (LIME's image explainer groups pixels this way).
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace xdnn::explain {

// Labels (H, W) int64 with values 0..G−1, each a 4-connected region, G ≈ `segments`, for an image
// (C, H, W). Colours are the channel values rescaled to [0, 1] by the image's own range; `compactness` m
// weighs the spatial distance (in units of the grid step S = √(HW/K)) against the colour distance:
// D = √(d_colour² + m² (d_xy / S)²).
Tensor slic_labels(const Tensor& image, int64_t segments, double compactness);

}  // namespace xdnn::explain
