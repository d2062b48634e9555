// Line plots of evaluation curves for `xdnn evaluate --png`: one panel per curve metric (deletion,
// insertion, aopc, the randomisation checks), one coloured line per attribution (the mean curve over the
// samples), the x axis from the first to the last point, the y axis spanning the panel's values, with
// the metric name, the y range and a legend drawn in a small built-in 3×5 pixel font (no font library).
#pragma once
#include <string>
#include <vector>

#include "explain/evaluate/table.h"
#include "explain/heatmap.h"

namespace xdnn::explain {

struct CurvePanel {
  std::string title;                        // e.g. "deletion"
  std::vector<std::string> labels;          // one per line, e.g. the method names
  std::vector<std::vector<double>> curves;  // one per line, all of the same length (≥ 2)
};

// The panels side by side, each 360×260 pixels.
RgbImage plot_curves(const std::vector<CurvePanel>& panels);

// One panel per metric of `t` whose array is a curve per sample (N, points ≥ 2): the mean curve of each
// attribution. Empty when no metric gives curves.
std::vector<CurvePanel> mean_curve_panels(const EvaluationTable& t);

// Draws `text` (letters, digits, - . + e and space; letters in capitals) with its top-left corner at
// (x, y), each font pixel `scale`×`scale` screen pixels.
void draw_text(RgbImage& img, int x, int y, const std::string& text, const uint8_t rgb[3], int scale = 2);

}  // namespace xdnn::explain
