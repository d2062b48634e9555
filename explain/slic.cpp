// SLIC superpixels; see slic.h. Steps (Achanta et al. 2012, Algorithm 1 and §3.2):
//   1. K cluster centres on a regular grid of step S = √(HW/K) (ny × nx cells, centres at the cells'
//      middles), each moved to the lowest-gradient position of its 3×3 neighbourhood;
//   2. ten iterations of: every centre claims the pixels of its 2S × 2S window that are closer to it (in D)
//      than to any centre claiming them before; centres move to the mean colour and position of their
//      pixels;
//   3. connectivity: 4-connected components are relabelled in raster order; a component smaller than
//      S²/4 pixels joins the label of the component next to its first pixel (left, else above).
// Everything runs in a fixed order (centres in grid order, pixels in raster order), so the labels are
// deterministic.
#include "explain/slic.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "engine/error.h"

namespace xdnn::explain {

Tensor slic_labels(const Tensor& image, int64_t segments, double compactness) {
  if (image.ndim() != 3) throw Error("slic: expected an image (C, H, W), got " + image.describe());
  const int64_t C = image.dim(0), H = image.dim(1), W = image.dim(2), HW = H * W;
  const Tensor img = image.to(DType::F64);
  // Colours scaled by the image's range to [0, 1].
  std::vector<double> col(img.data<double>(), img.data<double>() + C * HW);
  const auto [lo, hi] = std::minmax_element(col.begin(), col.end());
  const double lo_v = *lo, range = *hi - *lo;
  for (double& v : col) v = range > 0 ? (v - lo_v) / range : 0.0;
  auto colour_dist2 = [&](int64_t p, const std::vector<double>& c) {
    double d = 0;
    for (int64_t k = 0; k < C; ++k) d += (col[k * HW + p] - c[k]) * (col[k * HW + p] - c[k]);
    return d;
  };

  const double S = std::sqrt(static_cast<double>(HW) / static_cast<double>(std::max<int64_t>(segments, 1)));
  const int64_t ny = std::max<int64_t>(1, std::llround(H / S)), nx = std::max<int64_t>(1, std::llround(W / S));
  struct Centre {
    double y, x;
    std::vector<double> c;
  };
  std::vector<Centre> centres;
  auto grad = [&](int64_t y, int64_t x) {  // squared colour gradient by central differences
    const int64_t y0 = std::max<int64_t>(y - 1, 0), y1 = std::min(y + 1, H - 1);
    const int64_t x0 = std::max<int64_t>(x - 1, 0), x1 = std::min(x + 1, W - 1);
    double g = 0;
    for (int64_t k = 0; k < C; ++k) {
      const double* ch = col.data() + k * HW;
      g += (ch[y * W + x1] - ch[y * W + x0]) * (ch[y * W + x1] - ch[y * W + x0]) +
           (ch[y1 * W + x] - ch[y0 * W + x]) * (ch[y1 * W + x] - ch[y0 * W + x]);
    }
    return g;
  };
  for (int64_t i = 0; i < ny; ++i)
    for (int64_t j = 0; j < nx; ++j) {
      int64_t y = static_cast<int64_t>((i + 0.5) * H / ny), x = static_cast<int64_t>((j + 0.5) * W / nx);
      int64_t by = y, bx = x;
      double best = grad(y, x);
      for (int64_t dy = -1; dy <= 1; ++dy)
        for (int64_t dx = -1; dx <= 1; ++dx) {
          const int64_t yy = y + dy, xx = x + dx;
          if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
          const double g = grad(yy, xx);
          if (g < best) best = g, by = yy, bx = xx;
        }
      Centre c{static_cast<double>(by), static_cast<double>(bx), std::vector<double>(C)};
      for (int64_t k = 0; k < C; ++k) c.c[k] = col[k * HW + by * W + bx];
      centres.push_back(c);
    }

  const int64_t K = static_cast<int64_t>(centres.size());
  std::vector<int64_t> label(HW, -1);
  std::vector<double> dist(HW);
  const double spatial = compactness * compactness / (S * S);
  const int64_t reach = static_cast<int64_t>(std::ceil(S));
  for (int iter = 0; iter < 10; ++iter) {
    std::fill(dist.begin(), dist.end(), std::numeric_limits<double>::infinity());
    for (int64_t k = 0; k < K; ++k) {
      const Centre& c = centres[k];
      const int64_t cy = std::llround(c.y), cx = std::llround(c.x);
      for (int64_t y = std::max<int64_t>(cy - reach, 0); y <= std::min(cy + reach, H - 1); ++y)
        for (int64_t x = std::max<int64_t>(cx - reach, 0); x <= std::min(cx + reach, W - 1); ++x) {
          const int64_t p = y * W + x;
          const double d = colour_dist2(p, c.c) + spatial * ((y - c.y) * (y - c.y) + (x - c.x) * (x - c.x));
          if (d < dist[p]) dist[p] = d, label[p] = k;
        }
    }
    std::vector<double> sy(K, 0), sx(K, 0), cnt(K, 0), sc(K * C, 0);
    for (int64_t p = 0; p < HW; ++p) {
      const int64_t k = label[p];
      if (k < 0) continue;
      sy[k] += static_cast<double>(p / W), sx[k] += static_cast<double>(p % W), cnt[k] += 1;
      for (int64_t ch = 0; ch < C; ++ch) sc[k * C + ch] += col[ch * HW + p];
    }
    for (int64_t k = 0; k < K; ++k) {
      if (cnt[k] == 0) continue;
      centres[k].y = sy[k] / cnt[k], centres[k].x = sx[k] / cnt[k];
      for (int64_t ch = 0; ch < C; ++ch) centres[k].c[ch] = sc[k * C + ch] / cnt[k];
    }
  }
  // Pixels no window reached (possible only at extreme aspect ratios): the nearest centre in space.
  for (int64_t p = 0; p < HW; ++p) {
    if (label[p] >= 0) continue;
    double best = std::numeric_limits<double>::infinity();
    for (int64_t k = 0; k < K; ++k) {
      const double d =
          (p / W - centres[k].y) * (p / W - centres[k].y) + (p % W - centres[k].x) * (p % W - centres[k].x);
      if (d < best) best = d, label[p] = k;
    }
  }

  // Connectivity: 4-connected components in raster order; small ones join a neighbour.
  const int64_t min_size = std::max<int64_t>(1, static_cast<int64_t>(S * S / 4));
  std::vector<int64_t> out(HW, -1), stack, members;
  int64_t next = 0;
  for (int64_t p0 = 0; p0 < HW; ++p0) {
    if (out[p0] >= 0) continue;
    int64_t adjacent = -1;  // the label of an already labelled neighbour (left, else above)
    if (p0 % W > 0 && out[p0 - 1] >= 0) adjacent = out[p0 - 1];
    if (adjacent < 0 && p0 >= W && out[p0 - W] >= 0) adjacent = out[p0 - W];
    members.clear();
    stack.assign(1, p0);
    out[p0] = next;
    while (!stack.empty()) {
      const int64_t p = stack.back();
      stack.pop_back();
      members.push_back(p);
      const int64_t y = p / W, x = p % W;
      const int64_t nb[4] = {x > 0 ? p - 1 : -1, x + 1 < W ? p + 1 : -1, y > 0 ? p - W : -1, y + 1 < H ? p + W : -1};
      for (int64_t q : nb)
        if (q >= 0 && out[q] < 0 && label[q] == label[p0]) out[q] = next, stack.push_back(q);
    }
    if (static_cast<int64_t>(members.size()) < min_size && adjacent >= 0)
      for (int64_t p : members) out[p] = adjacent;
    else
      ++next;
  }
  Tensor labels({H, W}, DType::I64);
  std::copy(out.begin(), out.end(), labels.data<int64_t>());
  return labels;
}

}  // namespace xdnn::explain
