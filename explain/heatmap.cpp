#include "explain/heatmap.h"

// Debian's libstb-dev ships the implementation in libstb (linked through pkg-config 'stb'), so this
// file only includes the declarations (no STB_IMAGE_WRITE_IMPLEMENTATION here).
#include <stb/stb_image_write.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "engine/file_io.h"

namespace xdnn::explain {

namespace {

// (H, W) of a tensor whose leading dimensions are all 1; throws naming `what` otherwise.
std::pair<int64_t, int64_t> image_dims(const Tensor& t, const char* what) {
  if (!t.defined()) throw Error(std::string("heatmap: ") + what + " is undefined");
  if (!t.is_float()) throw Error(std::string("heatmap: ") + what + " must be float32 or float64, got " + t.describe());
  if (t.ndim() < 2) throw Error(std::string("heatmap: ") + what + " must be (H, W), got " + t.describe());
  for (int i = 0; i < t.ndim() - 2; ++i)
    if (t.dim(i) != 1)
      throw Error(std::string("heatmap: ") + what + " must be (H, W) (leading dimensions of size 1 allowed), got " +
                  t.describe());
  return {t.dim(-2), t.dim(-1)};
}

// A picture's channel count: 3 for (3, H, W) (leading dimensions of size 1 allowed), else 1 (grey (H, W)).
int64_t picture_channels(const Tensor& t) {
  if (t.ndim() < 3 || t.dim(-3) != 3) return 1;
  for (int i = 0; i < t.ndim() - 3; ++i)
    if (t.dim(i) != 1) return 1;
  return 3;
}

// (H, W) of a grey (H, W) or RGB (3, H, W) picture; throws naming `what` otherwise.
std::pair<int64_t, int64_t> picture_dims(const Tensor& t, const char* what) {
  if (t.defined() && picture_channels(t) == 3) {
    if (!t.is_float())
      throw Error(std::string("heatmap: ") + what + " must be float32 or float64, got " + t.describe());
    return {t.dim(-2), t.dim(-1)};
  }
  return image_dims(t, what);
}

// Pixel (x, y) of a grey or RGB picture as 0..255 per channel (values in [0, 1], clamped).
void picture_rgb(const Tensor& t, int64_t h, int64_t w, int64_t y, int64_t x, double rgb[3]) {
  const bool colour = picture_channels(t) == 3;
  for (int64_t k = 0; k < 3; ++k) rgb[k] = 255.0 * std::clamp(t.item((colour ? k * h * w : 0) + y * w + x), 0.0, 1.0);
}

void check_scale(int scale, int64_t h, int64_t w) {
  if (scale < 1 || scale > 64) throw Error("heatmap: scale " + std::to_string(scale) + " must be in [1, 64]");
  if (h < 1 || w < 1 || h * scale > 16384 || w * scale > 16384)
    throw Error("heatmap: image of " + std::to_string(h) + "x" + std::to_string(w) + " at scale " +
                std::to_string(scale) + " is empty or larger than 16384 pixels a side");
}

uint8_t to_byte(double v) { return static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 255.0))); }

// Fills the scale x scale block of input pixel (x, y).
void put_block(RgbImage& img, int64_t x, int64_t y, int scale, const uint8_t rgb[3]) {
  for (int dy = 0; dy < scale; ++dy)
    for (int dx = 0; dx < scale; ++dx) {
      size_t at = (static_cast<size_t>(y * scale + dy) * img.width + static_cast<size_t>(x * scale + dx)) * 3;
      std::memcpy(&img.rgb[at], rgb, 3);
    }
}

RgbImage blank(int64_t h, int64_t w, int scale) {
  RgbImage img;
  img.width = static_cast<int>(w * scale);
  img.height = static_cast<int>(h * scale);
  img.rgb.assign(static_cast<size_t>(img.width) * img.height * 3, 0);
  return img;
}

void append_to_string(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), static_cast<size_t>(size));
}

}  // namespace

void diverging_colour(double t, uint8_t rgb[3]) {
  t = std::clamp(t, -1.0, 1.0);
  uint8_t fade = to_byte(255.0 * (1.0 - std::abs(t)));  // the channels that go from 255 to 0
  if (t >= 0) {
    rgb[0] = 255, rgb[1] = fade, rgb[2] = fade;
  } else {
    rgb[0] = fade, rgb[1] = fade, rgb[2] = 255;
  }
}

double attribution_scale(const Tensor& attribution, double percentile) {
  if (!(percentile > 0 && percentile <= 100))
    throw Error("heatmap: percentile " + std::to_string(percentile) + " must be in (0, 100]");
  std::vector<double> mag(static_cast<size_t>(attribution.numel()));
  for (size_t i = 0; i < mag.size(); ++i) {
    double v = attribution.item(static_cast<int64_t>(i));
    if (!std::isfinite(v))
      throw Error("heatmap: attribution " + attribution.describe() + " has a non-finite value at index " +
                  std::to_string(i));
    mag[i] = std::abs(v);
  }
  if (mag.empty()) return 0;
  // Nearest rank: the smallest value with at least `percentile` percent of the values at or below it.
  size_t rank = static_cast<size_t>(std::ceil(percentile / 100.0 * static_cast<double>(mag.size())));
  rank = std::clamp<size_t>(rank, 1, mag.size());
  std::nth_element(mag.begin(), mag.begin() + static_cast<std::ptrdiff_t>(rank - 1), mag.end());
  return mag[rank - 1];
}

RgbImage render_heatmap(const Tensor& attribution, const Tensor& image, const HeatmapOptions& opt) {
  auto [h, w] = image_dims(attribution, "attribution");
  if (image.defined()) {
    auto [ih, iw] = picture_dims(image, "image");
    if (ih != h || iw != w)
      throw Error("heatmap: image " + image.describe() + " does not match attribution " + attribution.describe());
  }
  if (!(opt.image_weight >= 0 && opt.image_weight <= 1))
    throw Error("heatmap: image_weight " + std::to_string(opt.image_weight) + " must be in [0, 1]");
  check_scale(opt.scale, h, w);
  double scale = attribution_scale(attribution, opt.percentile);
  RgbImage img = blank(h, w, opt.scale);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      int64_t i = y * w + x;
      double t = scale > 0 ? attribution.item(i) / scale : 0.0;  // all-zero maps are white
      uint8_t c[3];
      diverging_colour(t, c);
      if (image.defined()) {
        double p[3];
        picture_rgb(image, h, w, y, x, p);
        for (int k = 0; k < 3; ++k) c[k] = to_byte((1 - opt.image_weight) * c[k] + opt.image_weight * p[k]);
      }
      put_block(img, x, y, opt.scale, c);
    }
  return img;
}

RgbImage render_grey(const Tensor& image, int scale) {
  auto [h, w] = picture_dims(image, "image");
  check_scale(scale, h, w);
  RgbImage img = blank(h, w, scale);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      double p[3];
      picture_rgb(image, h, w, y, x, p);
      uint8_t c[3] = {to_byte(p[0]), to_byte(p[1]), to_byte(p[2])};
      put_block(img, x, y, scale, c);
    }
  return img;
}

RgbImage side_by_side(const std::vector<RgbImage>& images, int gap) {
  RgbImage all;
  for (const auto& t : images) {
    all.width += t.width + (all.width ? gap : 0);
    all.height = std::max(all.height, t.height);
  }
  all.rgb.assign(static_cast<size_t>(all.width) * all.height * 3, 255);
  int x0 = 0;
  for (const auto& t : images) {
    for (int y = 0; y < t.height; ++y)
      for (int x = 0; x < t.width * 3; ++x)
        all.rgb[(static_cast<size_t>(y) * all.width + x0) * 3 + x] = t.rgb[(static_cast<size_t>(y) * t.width) * 3 + x];
    x0 += t.width + gap;
  }
  return all;
}

std::string png_bytes(const RgbImage& img) {
  if (img.width < 1 || img.height < 1 || img.rgb.size() != static_cast<size_t>(img.width) * img.height * 3)
    throw Error("png: image of " + std::to_string(img.width) + "x" + std::to_string(img.height) + " holds " +
                std::to_string(img.rgb.size()) + " bytes, expected width * height * 3");
  std::string out;
  if (!stbi_write_png_to_func(append_to_string, &out, img.width, img.height, 3, img.rgb.data(), img.width * 3))
    throw Error("png: stb_image_write failed to encode a " + std::to_string(img.width) + "x" +
                std::to_string(img.height) + " image");
  return out;
}

void save_png(const std::string& path, const RgbImage& img) { write_file_atomic(path, {png_bytes(img)}); }

std::string base64_encode(const std::string& bytes) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t v = static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    if (i + 2 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 2]);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? alphabet[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? alphabet[v & 63] : '=';
  }
  return out;
}

}  // namespace xdnn::explain
