// Filter and data views (see exemplars.h).
#include "explain/global/exemplars.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "engine/check.h"
#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "engine/ops_onnx.h"
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

// One example of (N, C, H, W) images as host values, for drawing it (a picture is an output: host work by
// design, after one copy of the example), and its [lo, hi] range the picture is scaled by.
struct ExampleValues {
  std::vector<double> v;  // (C, H, W)
  int64_t C = 0, H = 0, W = 0;
  double lo = 0, hi = 0;
};

ExampleValues example_values(const Tensor& data, int64_t n) {
  ExampleValues e;
  e.v = ops::value_vector(data.slice_batch(n, n + 1));
  e.C = data.dim(1), e.H = data.dim(2), e.W = data.dim(3);
  e.lo = e.hi = e.v[0];
  for (double x : e.v) e.lo = std::min(e.lo, x), e.hi = std::max(e.hi, x);
  return e;
}

// Pixel (y, x) of the example as RGB in [0, 1], scaled by its [lo, hi].
void pixel(const ExampleValues& e, int64_t y, int64_t x, uint8_t rgb[3]) {
  for (int c = 0; c < 3; ++c) {
    const int64_t ch = e.C == 3 ? c : 0;
    const double v = e.v[static_cast<size_t>((ch * e.H + y) * e.W + x)];
    rgb[c] = byte_of(e.hi > e.lo ? (v - e.lo) / (e.hi - e.lo) : 0.5);
  }
}

// Σ_j (p_ij − c_j)² for every row i of points (n, f) float64 and centre (1, f) on the points' device: the
// squared distances, copied back for the host's ranking (n numbers).
std::vector<double> squared_distances(const Tensor& points, const Tensor& centre) {
  const Tensor d2 = ops::unary(ops::Unary::Square, ops::sub(points, centre));
  return ops::value_vector(ops::reduce_axes(ops::ReduceOp::Sum, d2, {points.dim(0), 1})[0]);
}

// The `k` smallest of `distances` by (distance, index): nearest first, ties to the lower index.
std::vector<int64_t> smallest(const std::vector<double>& distances, int64_t k) {
  std::vector<std::pair<double, int64_t>> d(distances.size());
  for (size_t i = 0; i < d.size(); ++i) d[i] = {distances[i], static_cast<int64_t>(i)};
  const int64_t keep = std::min(k, static_cast<int64_t>(d.size()));
  std::partial_sort(d.begin(), d.begin() + keep, d.end());
  std::vector<int64_t> out;
  for (int64_t i = 0; i < keep; ++i) out.push_back(d[i].second);
  return out;
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
  // The weights as host values (one copy): the grid is a picture, drawn on the host.
  const std::vector<double> w = ops::value_vector(weight);
  auto weight_at = [&](int64_t o, int64_t c, int64_t y, int64_t x) { return w[((o * C + c) * KH + y) * KW + x]; };
  for (int64_t o = 0; o < O; ++o) {
    double m = 0;
    for (int64_t k = 0; k < C * KH * KW; ++k) m = std::max(m, std::abs(w[o * C * KH * KW + k]));
    if (m == 0) m = 1;
    for (int64_t c = 0; c < cols; ++c)
      for (int64_t y = 0; y < KH; ++y)
        for (int64_t x = 0; x < KW; ++x) {
          uint8_t px[3];
          if (rgb) {
            for (int k = 0; k < 3; ++k) px[k] = byte_of(0.5 + 0.5 * weight_at(o, k, y, x) / m);
          } else {
            diverging_colour(weight_at(o, c, y, x) / m, px);
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
  const int64_t K = static_cast<int64_t>(channels.size());
  const Tensor channel_ids = Tensor::from_vector({K}, channels);
  for (int64_t b = 0; b < n; b += batch) {
    const int64_t e = std::min(n, b + batch), rows = e - b;
    // Each example's maximum over positions for the chosen channels, and its first position, on the
    // activations' device; only the (rows, K) maxima and positions come back for the ranking.
    const Tensor v = layer_activation(model, data.slice_batch(b, e), layer);  // (rows, C, ...)
    const int64_t per = v.numel() / (rows * C);                               // positions per channel
    const Tensor chosen = ops::gather_axis(v.reshape({rows, C, per}), channel_ids.to(v.device()), 1);
    const std::vector<Tensor> max_arg = ops::reduce_axes(ops::ReduceOp::Max, chosen, {rows, K, 1});
    const std::vector<double> value = ops::value_vector(max_arg[0]);  // (rows, K)
    const std::vector<int64_t> arg = ops::index_vector(max_arg[1]);   // flat index into chosen
    for (int64_t ci = 0; ci < K; ++ci) {
      auto& list = best[ci];
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t at = r * K + ci;
        list.push_back({{-value[at], b + r}, arg[at] - at * per});
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
      const ExampleValues ex = example_values(data, t.sample);
      // The field's window in input coordinates (unclipped), so a patch at the border keeps its place.
      const int64_t top0 = rf.spatial ? rf.start_h + std::max<int64_t>(t.y, 0) * rf.jump_h : 0;
      const int64_t left0 = rf.spatial ? rf.start_w + std::max<int64_t>(t.x, 0) * rf.jump_w : 0;
      for (int64_t y = 0; y < ph; ++y)
        for (int64_t x = 0; x < pw; ++x) {
          const int64_t iy = top0 + y, ix = left0 + x;
          uint8_t px[3] = {outside[0], outside[1], outside[2]};
          if (iy >= 0 && iy < H && ix >= 0 && ix < W) pixel(ex, iy, ix, px);
          canvas.put(static_cast<int>(r), static_cast<int>(c), x, y, scale, px);
        }
    }
  return canvas.img;
}

std::vector<int64_t> nearest_rows(const Tensor& points, const std::vector<double>& centre, int64_t k) {
  const int64_t n = points.dim(0), f = points.numel() / std::max<int64_t>(1, n);
  check(static_cast<int64_t>(centre.size()) == f, "nearest examples: the centre has " + std::to_string(centre.size()) +
                                                      " values, the points " + std::to_string(f));
  const Tensor p64 = points.reshape({n, f}).to(DType::F64);
  return smallest(squared_distances(p64, Tensor::from_vector({1, f}, centre).to(p64.device())), k);
}

std::vector<ClassExemplars> class_exemplars(const Tensor& activations, const Tensor& labels, int64_t k) {
  const int64_t n = activations.dim(0), f = activations.numel() / std::max<int64_t>(1, n);
  check(labels.defined() && labels.numel() == n && !labels.is_float(),
        "class exemplars: expected integer labels (N,) with N = " + std::to_string(n) + ", got " +
            (labels.defined() ? labels.describe() : std::string("none")));
  check(k >= 1, "class exemplars: k must be >= 1");
  const Tensor a = activations.reshape({n, f}).to(DType::F64);
  const Device device = a.device();
  // The rows of each label (labels are indices: they come back to the host to group the rows).
  std::map<int64_t, std::vector<int64_t>> members;
  const std::vector<int64_t> label = ops::index_vector(labels.reshape({n}));
  for (int64_t i = 0; i < n; ++i) members[label[i]].push_back(i);
  std::vector<ClassExemplars> out;
  for (const auto& [l, rows] : members) {
    // The class mean (1, f): its rows' sum in ascending row order, divided by their count.
    const int64_t count = static_cast<int64_t>(rows.size());
    const Tensor picked = ops::gather_axis(a, Tensor::from_vector({count}, rows).to(device), 0);
    const Tensor sum = ops::reduce_axes(ops::ReduceOp::Sum, picked, {1, f})[0];
    const Tensor mean = ops::div(sum, ops::full({1}, static_cast<double>(count), DType::F64, device));
    const std::vector<double> d2 = squared_distances(a, mean);
    ClassExemplars e;
    e.label = l;
    e.nearest = smallest(d2, k);
    for (int64_t i : e.nearest) e.distance.push_back(std::sqrt(d2[i]));
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
      const ExampleValues ex = example_values(data, rows[r][c]);
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) {
          uint8_t px[3];
          pixel(ex, y, x, px);
          canvas.put(static_cast<int>(r), static_cast<int>(c), x, y, scale, px);
        }
    }
  return canvas.img;
}

}  // namespace xdnn::explain
