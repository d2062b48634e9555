// Heatmap overlays (declared in explain/heatmap.h): one picture per sample, laid out as
//
//   title line (12 px): "#0 target 3 pred 3", "(all zero)" appended for a map without a non-zero value
//   the map, each value a scale x scale block, alpha-blended over the input picture
//   the colour bar (10 px) over the picture's width, its ends labelled with the values they stand for
//
// A signed map (any value < 0) is scaled symmetrically, [-s, s]; a non-negative one over [0, s], unless
// the colour map is diverging (its white is zero). s is a percentile of |map| (attribution_scale).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "engine/check.h"
#include "explain/heatmap.h"

namespace xdnn::explain {

namespace {

uint8_t byte_of(double v) { return static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 255.0))); }

// Piecewise-linear colour map through `n` evenly spaced anchors.
void interpolate(const uint8_t (*anchors)[3], int n, double u, uint8_t rgb[3]) {
  const double pos = std::clamp(u, 0.0, 1.0) * (n - 1);
  const int i = std::min(static_cast<int>(pos), n - 2);
  const double f = pos - i;
  for (int k = 0; k < 3; ++k) rgb[k] = byte_of((1 - f) * anchors[i][k] + f * anchors[i + 1][k]);
}

// matplotlib's viridis at u = 0, 1/8, ..., 1 (its entries 0, 32, ..., 255, rounded to bytes).
constexpr uint8_t kViridis[9][3] = {{68, 1, 84},    {71, 44, 122}, {59, 81, 139},  {44, 113, 142}, {33, 144, 141},
                                    {39, 173, 129}, {92, 200, 99}, {170, 220, 50}, {253, 231, 37}};

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

}  // namespace

const std::vector<std::string>& colormap_names() {
  static const std::vector<std::string> names = {"bwr", "hot", "viridis", "gray"};
  return names;
}

bool colormap_is_diverging(const std::string& name) { return name == "bwr"; }

void colormap_colour(const std::string& name, double u, uint8_t rgb[3]) {
  u = std::clamp(u, 0.0, 1.0);
  if (name == "bwr") {
    diverging_colour(2 * u - 1, rgb);
  } else if (name == "hot") {  // black -> red -> yellow -> white, a third of the range each
    rgb[0] = byte_of(255 * 3 * u), rgb[1] = byte_of(255 * (3 * u - 1)), rgb[2] = byte_of(255 * (3 * u - 2));
  } else if (name == "viridis") {
    interpolate(kViridis, 9, u, rgb);
  } else if (name == "gray") {
    rgb[0] = rgb[1] = rgb[2] = byte_of(255 * u);
  } else {
    std::string known;
    for (const auto& n : colormap_names()) known += (known.empty() ? "" : ", ") + n;
    throw Error("--colormap '" + name + "': unknown colour map; expected one of " + known);
  }
}

Overlay render_overlay(const Tensor& map, const Tensor& picture, const OverlayOptions& opt) {
  check(map.defined() && map.is_float() && map.ndim() >= 2,
        "overlay: expected a float map (H, W), got " + (map.defined() ? map.describe() : "nothing"));
  for (int i = 0; i < map.ndim() - 2; ++i)
    check(map.dim(i) == 1, "overlay: expected a map (H, W), got " + map.describe());
  const int64_t H = map.dim(-2), W = map.dim(-1);
  int64_t C = 0;
  if (picture.defined()) {
    check(picture.is_float() && picture.ndim() >= 3 && picture.dim(-2) == H && picture.dim(-1) == W,
          "overlay: picture " + picture.describe() + " does not match the map " + map.describe() + " (C, H, W)");
    C = picture.dim(-3);
  }
  check(opt.alpha >= 0 && opt.alpha <= 1, "--png-alpha " + number(opt.alpha) + ": must be in [0, 1]");
  Overlay out;
  out.colormap = opt.colormap;
  const double s = attribution_scale(map, opt.percentile);  // also refuses NaN / Inf
  bool has_negative = false;
  for (int64_t i = 0; i < H * W && !has_negative; ++i) has_negative = map.item(i) < 0;
  if (out.colormap.empty()) out.colormap = has_negative ? "bwr" : "hot";
  uint8_t probe[3];
  colormap_colour(out.colormap, 0, probe);  // an unknown name fails here, before any drawing
  const bool diverging = colormap_is_diverging(out.colormap);
  out.low = diverging || has_negative ? -s : 0.0;
  out.high = s;
  out.scale = opt.scale > 0 ? opt.scale
                            : static_cast<int>(std::clamp<int64_t>((224 + std::max(H, W) - 1) / std::max(H, W), 1, 8));
  check(out.scale <= 64 && H * out.scale <= 16384 && W * out.scale <= 16384,
        "overlay: a map of " + std::to_string(H) + "x" + std::to_string(W) + " at scale " + std::to_string(out.scale) +
            " is larger than 16384 pixels a side");

  const int pad = 4, mw = static_cast<int>(W) * out.scale, mh = static_cast<int>(H) * out.scale;
  const TextMask title = render_text(printable_label(opt.title + (s == 0 ? "  (all zero)" : ""), 160));
  const TextMask lo = render_text(number(out.low)), mid = render_text(number((out.low + out.high) / 2)),
                 hi = render_text(number(out.high));
  out.map_x = pad, out.map_y = pad + 14;
  out.bar_x = pad, out.bar_y = out.map_y + mh + pad, out.bar_width = mw, out.bar_height = 10;
  RgbImage& img = out.image;
  img.width = std::max({mw, title.width, lo.width + mid.width + hi.width + 16}) + 2 * pad;
  img.height = out.bar_y + out.bar_height + 2 + 12 + pad;
  img.rgb.assign(static_cast<size_t>(img.width) * img.height * 3, 255);

  auto put = [&](int x, int y, const uint8_t rgb[3]) {
    std::memcpy(&img.rgb[(static_cast<size_t>(y) * img.width + x) * 3], rgb, 3);
  };
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x) {
      const double a = map.item(y * W + x);
      uint8_t c[3];
      colormap_colour(out.colormap, s > 0 ? (a - out.low) / (out.high - out.low) : diverging ? 0.5 : 0.0, c);
      if (C > 0) {  // blend over the picture: grey for one channel, RGB for three, the mean otherwise
        double p[3] = {0, 0, 0};
        for (int k = 0; k < 3; ++k) {
          if (C == 3) {
            p[k] = picture.item((k * H + y) * W + x);
          } else {
            for (int64_t ch = 0; ch < C; ++ch) p[k] += picture.item((ch * H + y) * W + x) / static_cast<double>(C);
          }
          c[k] = byte_of(opt.alpha * c[k] + (1 - opt.alpha) * 255.0 * std::clamp(p[k], 0.0, 1.0));
        }
      }
      for (int dy = 0; dy < out.scale; ++dy)
        for (int dx = 0; dx < out.scale; ++dx)
          put(out.map_x + static_cast<int>(x) * out.scale + dx, out.map_y + static_cast<int>(y) * out.scale + dy, c);
    }
  // The bar: its first column is the low end exactly, its last the high end.
  for (int x = 0; x < out.bar_width; ++x) {
    uint8_t c[3];
    colormap_colour(out.colormap, out.bar_width > 1 ? static_cast<double>(x) / (out.bar_width - 1) : 1.0, c);
    for (int y = 0; y < out.bar_height; ++y) put(out.bar_x + x, out.bar_y + y, c);
  }
  draw_text(img, title, pad, pad, kBlack);
  const int label_y = out.bar_y + out.bar_height + 2;
  draw_text(img, lo, out.bar_x, label_y, kBlack);
  draw_text(img, mid, out.bar_x + (out.bar_width - mid.width) / 2, label_y, kBlack);
  draw_text(img, hi, out.bar_x + out.bar_width - hi.width, label_y, kBlack);
  return out;
}

Overlay render_token_overlay(const std::vector<double>& values, const std::vector<std::string>& labels,
                             const OverlayOptions& opt) {
  check(values.size() == labels.size() && !values.empty(),
        "overlay: " + std::to_string(values.size()) + " values for " + std::to_string(labels.size()) + " tokens");
  const Tensor map = Tensor::from_vector({1, static_cast<int64_t>(values.size())}, values);
  Overlay out;
  out.colormap = opt.colormap;
  const double s = attribution_scale(map, opt.percentile);
  bool has_negative = false;
  for (double v : values) has_negative = has_negative || v < 0;
  if (out.colormap.empty()) out.colormap = has_negative ? "bwr" : "hot";
  uint8_t probe[3];
  colormap_colour(out.colormap, 0, probe);
  const bool diverging = colormap_is_diverging(out.colormap);
  out.low = diverging || has_negative ? -s : 0.0;
  out.high = s;

  // Cells left to right, wrapping rows at kRowWidth; each cell is its text plus 3 pixels a side.
  constexpr int kRowWidth = 640, kCellHeight = 16, pad = 4;
  std::vector<TextMask> texts;
  std::vector<std::pair<int, int>> at;  // top-left of each cell, relative to the first row
  int x = 0, y = 0, widest = 0;
  for (const auto& l : labels) {
    texts.push_back(render_text(printable_label(l, 24)));
    const int w = texts.back().width + 6;
    if (x > 0 && x + w > kRowWidth) x = 0, y += kCellHeight + 2;
    at.push_back({x, y});
    x += w + 2;
    widest = std::max(widest, x);
  }
  const TextMask title = render_text(printable_label(opt.title + (s == 0 ? "  (all zero)" : ""), 160));
  const TextMask lo = render_text(number(out.low)), hi = render_text(number(out.high));
  out.map_x = pad, out.map_y = pad + 14, out.scale = 1;
  out.bar_x = pad, out.bar_y = out.map_y + y + kCellHeight + pad;
  out.bar_width = std::max(widest, 160), out.bar_height = 10;
  RgbImage& img = out.image;
  img.width = std::max({out.bar_width, title.width}) + 2 * pad;
  img.height = out.bar_y + out.bar_height + 2 + 12 + pad;
  img.rgb.assign(static_cast<size_t>(img.width) * img.height * 3, 255);
  auto fill = [&](int x0, int y0, int w, int h, const uint8_t rgb[3]) {
    for (int yy = y0; yy < y0 + h; ++yy)
      for (int xx = x0; xx < x0 + w; ++xx)
        std::memcpy(&img.rgb[(static_cast<size_t>(yy) * img.width + xx) * 3], rgb, 3);
  };
  for (size_t t = 0; t < values.size(); ++t) {
    const double u = s > 0 ? (values[t] - out.low) / (out.high - out.low) : diverging ? 0.5 : 0.0;
    uint8_t c[3];
    colormap_colour(out.colormap, u, c);
    const int cx = out.map_x + at[t].first, cy = out.map_y + at[t].second;
    fill(cx, cy, texts[t].width + 6, kCellHeight, c);
    // Light text where the cell is dark (luma below ~0.45), dark text elsewhere.
    const double luma = (77.0 * c[0] + 150.0 * c[1] + 29.0 * c[2]) / 256.0;
    const uint8_t white[3] = {255, 255, 255};
    draw_text(img, texts[t], cx + 3, cy + 3, luma < 115 ? white : kBlack);
  }
  for (int bx = 0; bx < out.bar_width; ++bx) {
    uint8_t c[3];
    colormap_colour(out.colormap, out.bar_width > 1 ? static_cast<double>(bx) / (out.bar_width - 1) : 1.0, c);
    fill(out.bar_x + bx, out.bar_y, 1, out.bar_height, c);
  }
  draw_text(img, title, pad, pad, kBlack);
  draw_text(img, lo, out.bar_x, out.bar_y + out.bar_height + 2, kBlack);
  draw_text(img, hi, out.bar_x + out.bar_width - hi.width, out.bar_y + out.bar_height + 2, kBlack);
  return out;
}

}  // namespace xdnn::explain
