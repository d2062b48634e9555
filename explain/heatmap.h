// Heatmap images for people to look at: an attribution map drawn over the grey input image with a
// diverging colour map (blue negative, white zero, red positive, symmetric around zero, as in the LRP
// and Zennit papers' figures), upscaled by an integer factor, encoded as PNG (stb_image_write) for
// files or for base64 embedding in an HTML report.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace xdnn::explain {

// An 8-bit RGB image, rows top to bottom: pixel (x, y) channel c is rgb[(y * width + x) * 3 + c].
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;
};

struct HeatmapOptions {
  int scale = 8;  // each input pixel becomes a scale x scale block
  // The colour scale is this percentile of |attribution| (100 = max |a|); values beyond it saturate.
  // A lower percentile (e.g. 99.5) keeps a few extreme pixels from washing out the rest.
  double percentile = 100.0;
  // Weight of the grey image in the blend: pixel = (1 - w) * colour(a) + w * grey. 0 = colours only.
  double image_weight = 0.35;
};

// The diverging colour map: t in [-1, 1] -> blue (0,0,255) .. white (255,255,255) .. red (255,0,0).
void diverging_colour(double t, uint8_t rgb[3]);

// attribution: (H, W) float (leading dimensions of size 1 are allowed, e.g. (1, 1, H, W)).
// image: the same (H, W) grey image with values in [0, 1], or an undefined Tensor for colours only.
RgbImage render_heatmap(const Tensor& attribution, const Tensor& image, const HeatmapOptions& opt = {});

// A grey (H, W) image in [0, 1] (values outside are clamped), upscaled.
RgbImage render_grey(const Tensor& image, int scale = 8);

// The colour scale render_heatmap uses: the given percentile of |a| (nearest rank).
double attribution_scale(const Tensor& attribution, double percentile);

// The images side by side, top-aligned, `gap` white pixels between neighbours, white below shorter ones
// (`xdnn explain --png`: one heatmap per sample in one file).
RgbImage side_by_side(const std::vector<RgbImage>& images, int gap = 4);

std::string png_bytes(const RgbImage& img);                   // PNG file contents
void save_png(const std::string& path, const RgbImage& img);  // throws xdnn::Error naming the path
std::string base64_encode(const std::string& bytes);          // RFC 4648, with '=' padding

}  // namespace xdnn::explain
