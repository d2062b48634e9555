// Filter and data views (see exemplars.h).
#include "explain/global/exemplars.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "engine/check.h"
#include "explain/svcca.h"

namespace xdnn::explain {

namespace {

// A white canvas of `rows` × `cols` cells of cell_h × cell_w pixels, `gap` pixels apart.
struct Canvas {
  RgbImage img;
  int cell_h, cell_w, gap;
  Canvas(int rows, int cols, int ch, int cw, int g) : cell_h(ch), cell_w(cw), gap(g) {
    img.width = std::max(1, cols * (cw + g) + g);
    img.height = std::max(1, rows * (ch + g) + g);
    img.rgb.assign(static_cast<size_t>(img.width) * img.height * 3, 255);
  }
  // Pixel (x, y) of cell (row, col) as a block of `scale` pixels.
  void put(int row, int col, int64_t x, int64_t y, int scale, const uint8_t rgb[3]) {
    const int x0 = gap + col * (cell_w + gap) + static_cast<int>(x) * scale;
    const int y0 = gap + row * (cell_h + gap) + static_cast<int>(y) * scale;
    for (int dy = 0; dy < scale; ++dy)
      for (int dx = 0; dx < scale; ++dx)
        for (int c = 0; c < 3; ++c) img.rgb[(static_cast<size_t>(y0 + dy) * img.width + x0 + dx) * 3 + c] = rgb[c];
  }
};

uint8_t byte_of(double u) { return static_cast<uint8_t>(std::lround(std::clamp(u, 0.0, 1.0) * 255.0)); }

// Pixel (y, x) of example n of (N, C, H, W) images as RGB in [0, 1], scaled by the example's [lo, hi].
void pixel(const Tensor& data, int64_t n, int64_t y, int64_t x, double lo, double hi, uint8_t rgb[3]) {
  const int64_t C = data.dim(1), H = data.dim(2), W = data.dim(3);
  for (int c = 0; c < 3; ++c) {
    const int64_t ch = C == 3 ? c : 0;
    const double v = data.item(((n * C + ch) * H + y) * W + x);
    rgb[c] = byte_of(hi > lo ? (v - lo) / (hi - lo) : 0.5);
  }
}

void example_range(const Tensor& data, int64_t n, double& lo, double& hi) {
  const int64_t per = data.numel() / data.dim(0);
  lo = hi = data.item(n * per);
  for (int64_t k = 0; k < per; ++k)
    lo = std::min(lo, data.item(n * per + k)), hi = std::max(hi, data.item(n * per + k));
}

void check_images(const Tensor& data, const std::string& what) {
  check(data.ndim() == 4 && (data.dim(1) == 1 || data.dim(1) == 3) && data.is_float(),
        what + ": expected float images (N, 1 or 3, H, W), got " + data.describe());
}

}  // namespace

FirstLayerWeights first_layer_weights(const Model& model) {
  check(!model.nodes().empty(), "filters: the model has no layers");
  for (const Node& node : model.nodes()) {
    const LinearLike* lin = node.layer->as_linear();
    if (!lin) continue;
    const Tensor& w = lin->weight();
    if (w.ndim() == 4) return {node.name, w.to(Device::CPU)};  // a host copy: the filters are drawn
    const Shape& in = model.input_shape;
    if (w.ndim() == 2 && in.size() == 3 && in[0] > 0 && in[1] > 0 && in[2] > 0 && w.dim(1) == in[0] * in[1] * in[2])
      return {node.name, w.reshape({w.dim(0), in[0], in[1], in[2]}).to(Device::CPU)};
    throw Error("filters: the first linear layer '" + node.name + "' (" + node.layer->kind() + ", weight " +
                w.describe() +
                ") does not read the input image: expected a convolution, or a linear layer on the whole image");
  }
  throw Error("filters: the model has no convolution or linear layer");
}

RgbImage filter_grid(const Tensor& weight, int scale) {
  check(weight.ndim() == 4, "filters: expected a weight (O, C, KH, KW), got " + weight.describe());
  check(scale >= 1 && scale <= 64, "filters: scale must be from 1 to 64");
  const int64_t O = weight.dim(0), C = weight.dim(1), KH = weight.dim(2), KW = weight.dim(3);
  const bool rgb = C == 3;
  const int64_t cols = rgb ? 1 : std::min<int64_t>(C, 8);
  // Filters in rows of up to 16 cells (an RGB filter is one cell, a grey one `cols` cells).
  const int64_t per_row = std::min(O, std::max<int64_t>(1, 16 / cols));
  const int64_t rows = (O + per_row - 1) / per_row;
  Canvas canvas(static_cast<int>(rows), static_cast<int>(per_row * cols), static_cast<int>(KH * scale),
                static_cast<int>(KW * scale), 2);
  for (int64_t o = 0; o < O; ++o) {
    double m = 0;
    for (int64_t k = 0; k < C * KH * KW; ++k) m = std::max(m, std::abs(weight.item(o * C * KH * KW + k)));
    if (m == 0) m = 1;
    for (int64_t c = 0; c < cols; ++c)
      for (int64_t y = 0; y < KH; ++y)
        for (int64_t x = 0; x < KW; ++x) {
          uint8_t px[3];
          if (rgb) {
            for (int k = 0; k < 3; ++k) px[k] = byte_of(0.5 + 0.5 * weight.item(((o * C + k) * KH + y) * KW + x) / m);
          } else {
            diverging_colour(weight.item(((o * C + c) * KH + y) * KW + x) / m, px);
          }
          canvas.put(static_cast<int>(o / per_row), static_cast<int>((o % per_row) * cols + c), x, y, scale, px);
        }
  }
  return canvas.img;
}

Tensor layer_activations(const Model& model, const Tensor& data, const std::string& layer, int64_t batch) {
  check(batch >= 1, "activations: batch must be >= 1");
  model.value_id(layer);  // an unknown name fails before any forward pass
  const int64_t n = data.dim(0);
  Tensor out;
  for (int64_t b = 0; b < n; b += batch) {
    const int64_t e = std::min(n, b + batch);
    const Tensor v = layer_activation(model, data.slice_batch(b, e), layer);
    check(v.ndim() >= 1 && v.dim(0) == e - b, "activations: layer '" + layer + "' is " + v.describe() +
                                                  ", expected one row per input (" + std::to_string(e - b) + ")");
    if (!out.defined()) {
      Shape s = v.shape();
      s[0] = n;
      out = Tensor(s, v.dtype());
    }
    out.slice_batch(b, e).copy_from(v);
  }
  return out;
}

int64_t channel_count(const Model& model, const Tensor& data, const std::string& layer) {
  check(data.ndim() >= 1 && data.dim(0) >= 1, "top activations: no data");
  const Tensor v = layer_activation(model, data.slice_batch(0, 1), layer);
  check(v.ndim() >= 2, "top activations: layer '" + layer + "' is " + v.describe() + ", expected (N, C, ...)");
  return v.dim(1);
}

std::vector<std::vector<TopActivation>> top_activations(const Model& model, const Tensor& data,
                                                        const std::string& layer, const std::vector<int64_t>& channels,
                                                        int64_t k, int64_t batch) {
  check(k >= 1, "top activations: k must be >= 1, got " + std::to_string(k));
  check(batch >= 1, "top activations: batch must be >= 1");
  const int64_t n = data.dim(0), C = channel_count(model, data, layer);
  for (int64_t c : channels)
    check(c >= 0 && c < C, "top activations: channel " + std::to_string(c) + " of layer '" + layer +
                               "' is out of range: it has " + std::to_string(C) + " channels (0 to " +
                               std::to_string(C - 1) + ")");
  // Candidates per channel: (−value, sample) sorts highest value first, then lower index.
  std::vector<std::vector<std::pair<std::pair<double, int64_t>, int64_t>>> best(channels.size());
  for (int64_t b = 0; b < n; b += batch) {
    const int64_t e = std::min(n, b + batch);
    // The maxima are searched on a host copy of the activations (small host work, one copy a batch).
    const Tensor v = layer_activation(model, data.slice_batch(b, e), layer).to(Device::CPU).to(DType::F64);
    const int64_t per = v.numel() / (v.dim(0) * C);  // positions per channel
    const double* p = v.data<double>();
    for (size_t ci = 0; ci < channels.size(); ++ci) {
      auto& list = best[ci];
      for (int64_t r = 0; r < e - b; ++r) {
        const double* q = p + (r * C + channels[ci]) * per;
        int64_t arg = 0;
        for (int64_t t = 1; t < per; ++t)
          if (q[t] > q[arg]) arg = t;  // first maximum in row-major order
        list.push_back({{-q[arg], b + r}, arg});
      }
      const size_t keep = static_cast<size_t>(std::min<int64_t>(k, static_cast<int64_t>(list.size())));
      std::partial_sort(list.begin(), list.begin() + keep, list.end());
      list.resize(keep);
    }
  }
  // Positions: (N, C, H, W) → (y, x); (N, C, L) → (0, x); (N, F) → none.
  const Tensor shape_probe = layer_activation(model, data.slice_batch(0, 1), layer);
  std::vector<std::vector<TopActivation>> out(channels.size());
  for (size_t ci = 0; ci < channels.size(); ++ci)
    for (const auto& [key, pos] : best[ci]) {
      TopActivation t;
      t.sample = key.second;
      t.value = -key.first;
      if (shape_probe.ndim() == 4) {
        t.y = pos / shape_probe.dim(3);
        t.x = pos % shape_probe.dim(3);
      } else if (shape_probe.ndim() == 3) {
        t.y = 0;
        t.x = pos;
      }
      out[ci].push_back(t);
    }
  return out;
}

RgbImage patch_grid(const Tensor& data, const ReceptiveField& rf, const std::vector<std::vector<TopActivation>>& top,
                    int scale) {
  check_images(data, "top activations");
  const int64_t H = data.dim(2), W = data.dim(3);
  const int64_t ph = rf.spatial ? rf.size_h : H, pw = rf.spatial ? rf.size_w : W;
  size_t cols = 1;
  for (const auto& row : top) cols = std::max(cols, row.size());
  Canvas canvas(static_cast<int>(top.size()), static_cast<int>(cols), static_cast<int>(ph * scale),
                static_cast<int>(pw * scale), 3);
  const uint8_t outside[3] = {225, 225, 225};
  for (size_t r = 0; r < top.size(); ++r)
    for (size_t c = 0; c < top[r].size(); ++c) {
      const TopActivation& t = top[r][c];
      double lo, hi;
      example_range(data, t.sample, lo, hi);
      // The field's window in input coordinates (unclipped), so a patch at the border keeps its place.
      const int64_t top0 = rf.spatial ? rf.start_h + std::max<int64_t>(t.y, 0) * rf.jump_h : 0;
      const int64_t left0 = rf.spatial ? rf.start_w + std::max<int64_t>(t.x, 0) * rf.jump_w : 0;
      for (int64_t y = 0; y < ph; ++y)
        for (int64_t x = 0; x < pw; ++x) {
          const int64_t iy = top0 + y, ix = left0 + x;
          uint8_t px[3] = {outside[0], outside[1], outside[2]};
          if (iy >= 0 && iy < H && ix >= 0 && ix < W) pixel(data, t.sample, iy, ix, lo, hi, px);
          canvas.put(static_cast<int>(r), static_cast<int>(c), x, y, scale, px);
        }
    }
  return canvas.img;
}

std::vector<int64_t> nearest_rows(const Tensor& points, const std::vector<double>& centre, int64_t k) {
  const int64_t n = points.dim(0), f = points.numel() / std::max<int64_t>(1, n);
  check(static_cast<int64_t>(centre.size()) == f, "nearest examples: the centre has " + std::to_string(centre.size()) +
                                                      " values, the points " + std::to_string(f));
  const Tensor p64 = points.to(DType::F64);
  const double* p = p64.data<double>();
  std::vector<std::pair<double, int64_t>> d(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t j = 0; j < f; ++j) s += (p[i * f + j] - centre[j]) * (p[i * f + j] - centre[j]);
    d[i] = {s, i};
  }
  const int64_t keep = std::min(k, n);
  std::partial_sort(d.begin(), d.begin() + keep, d.end());
  std::vector<int64_t> out;
  for (int64_t i = 0; i < keep; ++i) out.push_back(d[i].second);
  return out;
}

std::vector<ClassExemplars> class_exemplars(const Tensor& activations, const Tensor& labels, int64_t k) {
  const int64_t n = activations.dim(0), f = activations.numel() / std::max<int64_t>(1, n);
  check(labels.defined() && labels.numel() == n && !labels.is_float(),
        "class exemplars: expected integer labels (N,) with N = " + std::to_string(n) + ", got " +
            (labels.defined() ? labels.describe() : std::string("none")));
  check(k >= 1, "class exemplars: k must be >= 1");
  const Tensor a = activations.to(DType::F64);
  const double* p = a.data<double>();
  std::map<int64_t, std::pair<std::vector<double>, int64_t>> sums;  // label -> (sum, count)
  for (int64_t i = 0; i < n; ++i) {
    auto& [sum, count] = sums[static_cast<int64_t>(labels.item(i))];
    if (sum.empty()) sum.assign(static_cast<size_t>(f), 0.0);
    for (int64_t j = 0; j < f; ++j) sum[j] += p[i * f + j];
    ++count;
  }
  std::vector<ClassExemplars> out;
  for (auto& [label, sc] : sums) {
    std::vector<double> mean = sc.first;
    for (double& v : mean) v /= static_cast<double>(sc.second);
    ClassExemplars e;
    e.label = label;
    e.nearest = nearest_rows(a, mean, k);
    for (int64_t i : e.nearest) {
      double s = 0;
      for (int64_t j = 0; j < f; ++j) s += (p[i * f + j] - mean[j]) * (p[i * f + j] - mean[j]);
      e.distance.push_back(std::sqrt(s));
    }
    out.push_back(std::move(e));
  }
  return out;
}

RgbImage example_grid(const Tensor& data, const std::vector<std::vector<int64_t>>& rows, int scale) {
  check_images(data, "examples");
  const int64_t H = data.dim(2), W = data.dim(3);
  size_t cols = 1;
  for (const auto& row : rows) cols = std::max(cols, row.size());
  Canvas canvas(static_cast<int>(rows.size()), static_cast<int>(cols), static_cast<int>(H * scale),
                static_cast<int>(W * scale), 3);
  for (size_t r = 0; r < rows.size(); ++r)
    for (size_t c = 0; c < rows[r].size(); ++c) {
      double lo, hi;
      example_range(data, rows[r][c], lo, hi);
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) {
          uint8_t px[3];
          pixel(data, rows[r][c], y, x, lo, hi, px);
          canvas.put(static_cast<int>(r), static_cast<int>(c), x, y, scale, px);
        }
    }
  return canvas.img;
}

}  // namespace xdnn::explain
