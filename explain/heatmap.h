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
// image: the same (H, W) grey image or (3, H, W) RGB picture with values in [0, 1], or an undefined Tensor
// for colours only.
RgbImage render_heatmap(const Tensor& attribution, const Tensor& image, const HeatmapOptions& opt = {});

// A grey (H, W) image or an RGB (3, H, W) picture in [0, 1] (values outside are clamped), upscaled.
RgbImage render_grey(const Tensor& image, int scale = 8);

// The colour scale render_heatmap uses: the given percentile of |a| (nearest rank).
double attribution_scale(const Tensor& attribution, double percentile);

// The images side by side, top-aligned, `gap` white pixels between neighbours, white below shorter ones
// (`xdnn explain --png`: one heatmap per sample in one file).
RgbImage side_by_side(const std::vector<RgbImage>& images, int gap = 4);

// Text on pictures (explain/image_text.cpp): stb_easy_font, ASCII 32..126 (anything else drawn as '?'),
// 12-pixel lines, about 6 pixels per character.
struct TextMask {  // one channel, 1 where ink is
  int width = 0, height = 0;
  std::vector<uint8_t> ink;
};
TextMask render_text(const std::string& text);
std::string printable_label(const std::string& s, size_t max_chars);  // non-ASCII -> '?', cut with '~'
inline constexpr uint8_t kBlack[3] = {0, 0, 0};
// Draws `m` in colour `rgb` with its top-left at (x0, y0); `vertical` turns it a quarter anticlockwise
// (reads bottom-up). Ink outside `img` is dropped.
void draw_text(RgbImage& img, const TextMask& m, int x0, int y0, const uint8_t rgb[3], bool vertical = false);

// Heatmap overlays (`xdnn explain --png`, explain/overlay.cpp): the map coloured by a colour map and
// alpha-blended over the picture (in colour for RGB inputs), a title line above (sample index, target,
// prediction) and a colour bar below labelled with the map's scale.
//   colour maps: "bwr" diverging blue (-s) .. white (0) .. red (+s), the diverging_colour above;
//   sequential over [0, s] (or [-s, s] for a signed map): "hot" black-red-yellow-white, "viridis"
//   (matplotlib's, interpolated between 9 of its entries), "gray".
const std::vector<std::string>& colormap_names();
bool colormap_is_diverging(const std::string& name);
// u in [0, 1] along the colour bar (a diverging map has its zero at 0.5); throws naming an unknown map.
void colormap_colour(const std::string& name, double u, uint8_t rgb[3]);

struct OverlayOptions {
  std::string colormap;     // empty: "bwr" when the map has a negative value, else "hot"
  double alpha = 0.65;      // heatmap weight: pixel = alpha * colour + (1 - alpha) * picture
  int scale = 0;            // upscaling of the map's pixels; 0: the smallest making the longer side >= 224
  double percentile = 100;  // the colour scale s: this percentile of |map| (attribution_scale)
  std::string title;        // the line above the picture, e.g. "#0 target 3 pred 3"
};
struct Overlay {
  RgbImage image;
  int map_x = 0, map_y = 0, scale = 1;                      // where pixel (0, 0) of the map starts, its block size
  int bar_x = 0, bar_y = 0, bar_width = 0, bar_height = 0;  // the colour bar
  double low = 0, high = 0;                                 // the values at the bar's ends
  std::string colormap;                                     // the map used
};
// map: (H, W) float (leading 1s allowed). picture: (C, H, W) in [0, 1] with C = 1 or 3 (other C: the mean
// over channels), values clamped; or undefined for colours over white.
Overlay render_overlay(const Tensor& map, const Tensor& picture, const OverlayOptions& opt);

// A token sequence's picture: the title line, then one cell per token (its text on the cell's colour, light
// text on saturated cells; rows wrap at about 640 pixels), then the colour bar. values: one per token;
// the colour map as in render_overlay (the picture is the text).
Overlay render_token_overlay(const std::vector<double>& values, const std::vector<std::string>& labels,
                             const OverlayOptions& opt);

std::string png_bytes(const RgbImage& img);                   // PNG file contents
void save_png(const std::string& path, const RgbImage& img);  // throws xdnn::Error naming the path
std::string base64_encode(const std::string& bytes);          // RFC 4648, with '=' padding

}  // namespace xdnn::explain
