// Scatter plots of 2-D points by class (see scatter.h).
#include "explain/global/scatter.h"

#include <algorithm>
#include <cmath>

#include "engine/check.h"

namespace xdnn::explain {

void class_colour(int64_t k, uint8_t rgb[3]) {
  static constexpr uint8_t kTab10[10][3] = {{31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
                                            {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
                                            {188, 189, 34},  {23, 190, 207}};
  const int64_t i = k < 0 ? 0 : k % 20;
  for (int c = 0; c < 3; ++c) rgb[c] = static_cast<uint8_t>(kTab10[i % 10][c] * (i >= 10 ? 0.55 : 1.0));
}

RgbImage scatter_plot(const Tensor& points, const std::vector<int64_t>& classes,
                      const std::vector<std::string>& class_names, const std::string& title, int size) {
  check(points.ndim() == 2 && points.dim(1) == 2 && points.is_float(),
        "scatter plot: expected float (N, 2) points, got " + points.describe());
  const int64_t n = points.dim(0);
  check(classes.empty() || static_cast<int64_t>(classes.size()) == n,
        "scatter plot: " + std::to_string(classes.size()) + " classes for " + std::to_string(n) + " points");
  const Tensor p = points.to(DType::F64);
  const double* y = p.data<double>();
  double lo[2] = {0, 0}, hi[2] = {1, 1};
  for (int a = 0; a < 2 && n > 0; ++a) {
    lo[a] = hi[a] = y[a];
    for (int64_t i = 0; i < n; ++i) lo[a] = std::min(lo[a], y[2 * i + a]), hi[a] = std::max(hi[a], y[2 * i + a]);
    if (hi[a] - lo[a] <= 0) lo[a] -= 1, hi[a] += 1;
  }
  int64_t n_classes = 0;
  for (int64_t c : classes) n_classes = std::max(n_classes, c + 1);
  const int margin = 12, title_h = 22, legend_w = classes.empty() ? 0 : 170;
  RgbImage img;
  img.width = size + 2 * margin + legend_w;
  img.height = std::max(size + 2 * margin + title_h, title_h + margin + 16 * static_cast<int>(n_classes) + margin);
  img.rgb.assign(static_cast<size_t>(img.width) * img.height * 3, 255);
  auto put = [&](int x, int yy, const uint8_t rgb[3]) {
    if (x < 0 || yy < 0 || x >= img.width || yy >= img.height) return;
    for (int c = 0; c < 3; ++c) img.rgb[(static_cast<size_t>(yy) * img.width + x) * 3 + c] = rgb[c];
  };
  // The plot's frame.
  const uint8_t grey[3] = {160, 160, 160};
  const int x0 = margin, y0 = title_h + margin;
  for (int t = 0; t <= size; ++t) {
    put(x0 + t, y0, grey);
    put(x0 + t, y0 + size, grey);
    put(x0, y0 + t, grey);
    put(x0 + size, y0 + t, grey);
  }
  const int inner = size - 8;  // points stay 4 pixels inside the frame
  for (int64_t i = 0; i < n; ++i) {
    uint8_t rgb[3];
    class_colour(classes.empty() ? 0 : classes[static_cast<size_t>(i)], rgb);
    const int px = x0 + 4 + static_cast<int>(std::lround((y[2 * i] - lo[0]) / (hi[0] - lo[0]) * inner));
    const int py = y0 + 4 + static_cast<int>(std::lround((hi[1] - y[2 * i + 1]) / (hi[1] - lo[1]) * inner));
    for (int dy = -2; dy <= 2; ++dy)
      for (int dx = -2; dx <= 2; ++dx)
        if (dx * dx + dy * dy <= 5) put(px + dx, py + dy, rgb);
  }
  draw_text(img, render_text(printable_label(title, 90)), margin, 6, kBlack);
  for (int64_t c = 0; c < n_classes; ++c) {
    uint8_t rgb[3];
    class_colour(c, rgb);
    const int lx = x0 + size + 14, ly = y0 + 16 * static_cast<int>(c);
    for (int dy = 2; dy < 12; ++dy)
      for (int dx = 0; dx < 10; ++dx) put(lx + dx, ly + dy, rgb);
    const std::string name =
        c < static_cast<int64_t>(class_names.size()) ? class_names[static_cast<size_t>(c)] : std::to_string(c);
    draw_text(img, render_text(printable_label(name, 24)), lx + 14, ly, kBlack);
  }
  return img;
}

}  // namespace xdnn::explain
