// A grid of small pictures with a caption under each (activation maximisation's grid PNG; any analysis
// that shows one picture per unit, class or example can use it).
#pragma once
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "explain/heatmap.h"

namespace xdnn::explain {

struct GridOptions {
  int columns = 10;       // pictures per row
  int scale = 4;          // each pixel becomes a scale x scale block
  int gap = 6;            // white pixels between cells
  size_t max_chars = 18;  // captions are cut to this many characters (printable_label)
};

// images: (N, C, H, W) or (N, H, W) float with values in [0, 1] (clamped): grey for C = 1, RGB for C = 3,
// the channel mean otherwise. captions: none, or one line per picture (up to two lines: split at '\n').
RgbImage image_grid(const Tensor& images, const std::vector<std::string>& captions, const GridOptions& opt = {});

// One picture of the batch (row n) as image_grid draws it, without a caption.
RgbImage grid_picture(const Tensor& images, int64_t n, int scale);

}  // namespace xdnn::explain
