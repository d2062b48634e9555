// A scatter plot of 2-D points coloured by class, with a legend (class colour and name) and a title, for
// the projections of `xdnn project` and the global report. Reusable by any analysis that places points in
// a plane. Colours: the ten of matplotlib's "tab10" cycle, then the same with a darker shade.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "explain/heatmap.h"

namespace xdnn::explain {

// The colour of class k (any k ≥ 0; classes beyond 20 repeat).
void class_colour(int64_t k, uint8_t rgb[3]);

// points: (N, 2) float; classes: N class indices ≥ 0, or empty for one colour; class_names: the legend's
// labels by class index (missing names are the index). The plot area is `size` × `size` pixels, the axes
// spanning the points' range; points are drawn in index order as discs of radius 2.
RgbImage scatter_plot(const Tensor& points, const std::vector<int64_t>& classes,
                      const std::vector<std::string>& class_names, const std::string& title, int size = 520);

}  // namespace xdnn::explain
