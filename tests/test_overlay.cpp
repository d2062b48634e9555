// Heatmap overlays (explain/heatmap.h render_overlay): colour-map endpoints at known map pixels, the alpha
// blend over grey and RGB pictures worked by hand, the colour bar's ends, the title and bar labels inked,
// the automatic scale, the default colour map per sign, and bad options as one-line errors.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <string>

#include "explain/heatmap.h"
#include "explain/report.h"
#include "file_fixtures.h"

using namespace xdnn;
using namespace xdnn::explain;
using xdnn::testing::check_error;

namespace {

std::array<int, 3> px(const RgbImage& img, int x, int y) {
  const size_t i = (static_cast<size_t>(y) * img.width + x) * 3;
  return {img.rgb[i], img.rgb[i + 1], img.rgb[i + 2]};
}

// The colour of map pixel (x, y): the centre of its block.
std::array<int, 3> map_px(const Overlay& o, int x, int y) {
  return px(o.image, o.map_x + x * o.scale + o.scale / 2, o.map_y + y * o.scale + o.scale / 2);
}

// Non-white pixels in rows [y0, y1) of the image.
int ink_in_rows(const RgbImage& img, int y0, int y1) {
  int n = 0;
  for (int y = y0; y < y1; ++y)
    for (int x = 0; x < img.width; ++x) n += px(img, x, y) != std::array<int, 3>{255, 255, 255};
  return n;
}

}  // namespace

TEST_CASE("overlay: colour-map endpoints at known pixels, the bar's ends, labels and title inked") {
  // map (2, 2): -2 at (0, 0), 0 at (1, 0), 1 at (0, 1), 2 at (1, 1); signed, so bwr over [-2, 2].
  const Tensor map = Tensor::from_vector({2, 2}, std::vector<double>{-2, 0, 1, 2});
  OverlayOptions opt;
  opt.alpha = 1.0;  // colours only
  opt.scale = 10;
  opt.title = "#0 target 3 pred 3";
  const Overlay o = render_overlay(map, Tensor::full({1, 2, 2}, 0.5), opt);
  CHECK(o.colormap == "bwr");
  CHECK(o.low == -2.0);
  CHECK(o.high == 2.0);
  CHECK(map_px(o, 0, 0) == std::array<int, 3>{0, 0, 255});      // -s: blue
  CHECK(map_px(o, 1, 0) == std::array<int, 3>{255, 255, 255});  // 0: white
  CHECK(map_px(o, 0, 1) == std::array<int, 3>{255, 128, 128});  // s / 2: half-way to red (127.5 rounds up)
  CHECK(map_px(o, 1, 1) == std::array<int, 3>{255, 0, 0});      // +s: red
  // The bar spans the map's width; its first column is the low end, its last the high end.
  CHECK(o.bar_width == 20);
  CHECK(px(o.image, o.bar_x, o.bar_y + 5) == std::array<int, 3>{0, 0, 255});
  CHECK(px(o.image, o.bar_x + o.bar_width - 1, o.bar_y + 5) == std::array<int, 3>{255, 0, 0});
  CHECK(ink_in_rows(o.image, 0, o.map_y) > 20);                              // the title
  CHECK(ink_in_rows(o.image, o.bar_y + o.bar_height, o.image.height) > 10);  // "-2", "0", "2"
  CHECK(o.image.width >= render_text(opt.title).width + 8);                  // the title fits
}

TEST_CASE("overlay: alpha blend over grey and RGB pictures, by hand") {
  const Tensor map = Tensor::from_vector({1, 2}, std::vector<double>{-1, 1});
  OverlayOptions opt;
  opt.alpha = 0.25;
  opt.scale = 4;
  // Grey picture 0.2 / 0.8: pixel = 0.25 colour + 0.75 * 255 * grey.
  Overlay o = render_overlay(map, Tensor::from_vector({1, 1, 2}, std::vector<double>{0.2, 0.8}), opt);
  CHECK(map_px(o, 0, 0) == std::array<int, 3>{38, 38, 102});    // blue: 0.75 * 51 = 38.25; 63.75 + 38.25
  CHECK(map_px(o, 1, 0) == std::array<int, 3>{217, 153, 153});  // red: 63.75 + 153 = 216.75; 0.75 * 204
  // RGB picture (C = 3): each channel blended with its own plane.
  const Tensor rgb = Tensor::from_vector({3, 1, 2}, std::vector<double>{1.0, 0.0, 0.0, 1.0, 0.2, 0.4});
  opt.alpha = 0.5;
  o = render_overlay(map, rgb, opt);
  CHECK(map_px(o, 0, 0) == std::array<int, 3>{128, 0, 153});   // (0,0,255)/2 + (255, 0, 51)/2 = 127.5, 0, 153
  CHECK(map_px(o, 1, 0) == std::array<int, 3>{128, 128, 51});  // (255,0,0)/2 + (0, 255, 102)/2
  // Alpha 0: the picture itself.
  opt.alpha = 0.0;
  o = render_overlay(map, rgb, opt);
  CHECK(map_px(o, 1, 0) == std::array<int, 3>{0, 255, 102});
}

TEST_CASE("overlay: non-negative maps use hot over [0, s]; the scale grows small maps to ~224 px") {
  const Tensor map = Tensor::from_vector({2, 2}, std::vector<double>{0, 1, 2, 4});
  OverlayOptions opt;
  opt.alpha = 1.0;
  Overlay o = render_overlay(map, Tensor(), opt);
  CHECK(o.colormap == "hot");
  CHECK(o.low == 0.0);
  CHECK(o.scale == 8);                                          // 2 pixels: capped at 8
  CHECK(map_px(o, 0, 0) == std::array<int, 3>{0, 0, 0});        // 0: black
  CHECK(map_px(o, 1, 1) == std::array<int, 3>{255, 255, 255});  // s: white
  CHECK(render_overlay(Tensor({28, 28}, DType::F64), Tensor(), opt).scale == 8);
  CHECK(render_overlay(Tensor({100, 60}, DType::F64), Tensor(), opt).scale == 3);
  CHECK(render_overlay(Tensor({224, 224}, DType::F64), Tensor(), opt).scale == 1);
  // A diverging map chosen for a non-negative map keeps zero white, over [-s, s].
  opt.colormap = "bwr";
  o = render_overlay(map, Tensor(), opt);
  CHECK(o.low == -4.0);
  CHECK(map_px(o, 0, 0) == std::array<int, 3>{255, 255, 255});
  // viridis and gray ends.
  uint8_t c[3];
  colormap_colour("viridis", 0, c);
  CHECK(std::array<int, 3>{c[0], c[1], c[2]} == std::array<int, 3>{68, 1, 84});
  colormap_colour("viridis", 1, c);
  CHECK(std::array<int, 3>{c[0], c[1], c[2]} == std::array<int, 3>{253, 231, 37});
  colormap_colour("gray", 0.5, c);
  CHECK(c[0] == 128);
}

TEST_CASE("overlay: an all-zero map is drawn as the picture under the zero colour, and says so") {
  const Tensor zero({2, 2}, DType::F64);
  OverlayOptions opt;
  opt.alpha = 0.5;
  opt.scale = 4;
  opt.title = "#0";
  const Overlay o = render_overlay(zero, Tensor::full({1, 2, 2}, 0.0), opt);
  CHECK(o.colormap == "hot");
  CHECK(map_px(o, 0, 0) == std::array<int, 3>{0, 0, 0});  // black zero over a black picture
  // The title carries "(all zero)": wider ink than "#0" alone.
  OverlayOptions plain = opt;
  const Overlay nonzero = render_overlay(Tensor::full({2, 2}, 1.0, DType::F64), Tensor::full({1, 2, 2}, 0.0), plain);
  CHECK(ink_in_rows(o.image, 0, o.map_y) > ink_in_rows(nonzero.image, 0, nonzero.map_y) + 20);
}

TEST_CASE("overlay: bad options and shapes are one-line errors") {
  const Tensor map({2, 2}, DType::F64);
  OverlayOptions opt;
  opt.colormap = "jet";
  check_error([&] { render_overlay(map, Tensor(), opt); }, "--colormap 'jet'", "bwr, hot, viridis, gray");
  opt = {};
  opt.alpha = 1.5;
  check_error([&] { render_overlay(map, Tensor(), opt); }, "--png-alpha", "[0, 1]");
  check_error([&] { render_overlay(map, Tensor({1, 3, 2}, DType::F64), {}); }, "picture", "does not match");
  check_error([&] { render_overlay(Tensor({2}, DType::F64), Tensor(), {}); }, "overlay", "(H, W)");
  Tensor nan = Tensor::full({2, 2}, 0.0, DType::F64);
  nan.set_item(3, std::nan(""));
  check_error([&] { render_overlay(nan, Tensor(), {}); }, "heatmap", "non-finite");
}

TEST_CASE("heatmap and report pictures: RGB inputs drawn in colour, grey ones as the channel mean") {
  // (1, 3, 1, 2): pixel 0 pure red, pixel 1 (0, 0.2, 1).
  const Tensor x = Tensor::from_vector({1, 3, 1, 2}, std::vector<double>{1.0, 0.0, 0.0, 0.2, 0.0, 1.0});
  const Tensor shown = display_image(x, 0);
  REQUIRE(shown.shape() == Shape{3, 1, 2});
  const RgbImage pic = render_grey(shown, 1);
  CHECK(px(pic, 0, 0) == std::array<int, 3>{255, 0, 0});
  CHECK(px(pic, 1, 0) == std::array<int, 3>{0, 51, 255});
  // A zero map over the picture: white blended with each channel (image weight 0.5).
  HeatmapOptions opt;
  opt.scale = 1;
  opt.image_weight = 0.5;
  const RgbImage h = render_heatmap(Tensor({1, 2}, DType::F64), shown, opt);
  CHECK(px(h, 0, 0) == std::array<int, 3>{255, 128, 128});  // (255 + 255) / 2, (255 + 0) / 2 = 127.5
  CHECK(px(h, 1, 0) == std::array<int, 3>{128, 153, 255});
  // Two channels are not a colour picture: their mean, (H, W).
  CHECK(display_image(Tensor({1, 2, 1, 2}, DType::F64), 0).shape() == Shape{1, 2});
}

TEST_CASE("overlay: token pictures put each token's text on its colour, light text on saturated cells") {
  OverlayOptions opt;
  opt.title = "#0 target 1 pred 1";
  const Overlay o = render_token_overlay({-2, 0, 2}, {"ab", "cd", "ef"}, opt);
  CHECK(o.colormap == "bwr");
  // Cells: each its text width + 6, 2 pixels apart, left to right from (map_x, map_y), 16 pixels tall.
  const int w0 = render_text("ab").width + 6, w1 = render_text("cd").width + 6;
  const int x1 = o.map_x + w0 + 2, x2 = x1 + w1 + 2;
  CHECK(px(o.image, o.map_x + 1, o.map_y + 1) == std::array<int, 3>{0, 0, 255});  // -s: blue
  CHECK(px(o.image, x1 + 1, o.map_y + 1) == std::array<int, 3>{255, 255, 255});   // 0: white
  CHECK(px(o.image, x2 + 1, o.map_y + 1) == std::array<int, 3>{255, 0, 0});       // +s: red
  auto count = [&](int x0, int w, std::array<int, 3> colour) {
    int n = 0;
    for (int y = o.map_y; y < o.map_y + 16; ++y)
      for (int x = x0; x < x0 + w; ++x) n += px(o.image, x, y) == colour;
    return n;
  };
  CHECK(count(o.map_x, w0, {255, 255, 255}) > 5);  // white "ab" on blue
  CHECK(count(o.map_x, w0, {0, 0, 0}) == 0);
  CHECK(count(x1, w1, {0, 0, 0}) > 5);  // black "cd" on white
  CHECK(count(x2, w0, {255, 255, 255}) > 5);
  CHECK(px(o.image, o.bar_x, o.bar_y + 5) == std::array<int, 3>{0, 0, 255});
  CHECK(px(o.image, o.bar_x + o.bar_width - 1, o.bar_y + 5) == std::array<int, 3>{255, 0, 0});
  // Long sequences wrap into rows instead of one endless strip.
  const Overlay wide = render_token_overlay(std::vector<double>(200, 1.0), std::vector<std::string>(200, "word"), opt);
  CHECK(wide.image.width < 700);
  CHECK(wide.bar_y > wide.map_y + 5 * 16);
  check_error([&] { render_token_overlay({1.0}, {"a", "b"}, opt); }, "overlay", "1 values for 2 tokens");
}
