// Image inputs (models/io/image.h): PNG and JPEG files written here by stb_image_write decode to the bytes
// / 255 they hold; the bilinear resize against values worked by hand; --mean / --std per channel; folder
// order; one-line errors for mixed sizes, corrupt and truncated files, bad options.
#include <doctest/doctest.h>
#include <stb/stb_image_write.h>

#include <cmath>
#include <string>
#include <vector>

#include "file_fixtures.h"
#include "models/io/image.h"

using namespace xdnn;
using xdnn::testing::check_error;
using xdnn::testing::ScratchDir;
using xdnn::testing::write_bytes;

namespace {

void append(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), static_cast<size_t>(size));
}

// PNG bytes of an interleaved (h, w, comp) 8-bit image.
std::string png_of(int w, int h, int comp, const std::vector<uint8_t>& px) {
  std::string out;
  REQUIRE(stbi_write_png_to_func(append, &out, w, h, comp, px.data(), w * comp));
  return out;
}

std::string jpeg_of(int w, int h, int comp, const std::vector<uint8_t>& px) {
  std::string out;
  REQUIRE(stbi_write_jpg_to_func(append, &out, w, h, comp, px.data(), 100));
  return out;
}

// A w x h grey image whose pixel (x, y) is `value(x, y)`.
std::vector<uint8_t> grey(int w, int h, int (*value)(int, int)) {
  std::vector<uint8_t> px;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) px.push_back(static_cast<uint8_t>(value(x, y)));
  return px;
}

}  // namespace

TEST_CASE("images: a PNG written here decodes to its bytes / 255, grey and RGB, CHW") {
  const std::vector<uint8_t> g = grey(3, 2, [](int x, int y) { return 40 * x + 100 * y; });
  Image im = decode_image(png_of(3, 2, 1, g), "g.png", false);
  CHECK(im.channels == 1);
  CHECK(im.height == 2);
  CHECK(im.width == 3);
  for (int i = 0; i < 6; ++i) CHECK(im.values[i] == doctest::Approx(g[i] / 255.0).epsilon(1e-7));

  // RGB: interleaved in the file, channel planes in the tensor.
  std::vector<uint8_t> rgb = {255, 0, 10, 0, 128, 20};  // 2 x 1 pixels
  im = decode_image(png_of(2, 1, 3, rgb), "c.png", false);
  REQUIRE(im.channels == 3);
  CHECK(im.values[0] == 1.0f);                                        // R of pixel 0
  CHECK(im.values[1] == 0.0f);                                        // R of pixel 1
  CHECK(im.values[3] == doctest::Approx(128 / 255.0).epsilon(1e-7));  // G of pixel 1
  CHECK(im.values[4] == doctest::Approx(10 / 255.0).epsilon(1e-7));   // B of pixel 0
  // RGBA drops alpha; --grayscale takes stb's luma (77 R + 150 G + 29 B) >> 8.
  std::vector<uint8_t> rgba = {200, 100, 50, 7};
  im = decode_image(png_of(1, 1, 4, rgba), "a.png", false);
  CHECK(im.channels == 3);
  CHECK(im.values[2] == doctest::Approx(50 / 255.0).epsilon(1e-7));
  im = decode_image(png_of(1, 1, 4, rgba), "a.png", true);
  CHECK(im.channels == 1);
  CHECK(im.values[0] == doctest::Approx(((200 * 77 + 100 * 150 + 50 * 29) >> 8) / 255.0).epsilon(1e-7));
}

TEST_CASE("images: a JPEG (quality 100, flat colours) decodes within a few levels") {
  // Two flat 8x8 blocks side by side: a block boundary, so no ringing crosses it.
  std::vector<uint8_t> px;
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 16; ++x) px.insert(px.end(), {static_cast<uint8_t>(x < 8 ? 200 : 30), 90, 160});
  const std::string jpg = jpeg_of(16, 8, 3, px);
  CHECK(jpg.substr(0, 2) == "\xff\xd8");  // a JPEG start-of-image marker
  const Image im = decode_image(jpg, "x.jpg", false);
  REQUIRE(im.channels == 3);
  CHECK(im.width == 16);
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t x : {0, 3, 12, 15}) {
      const double want = (c == 0 ? (x < 8 ? 200 : 30) : c == 1 ? 90 : 160) / 255.0;
      CHECK(std::abs(im.values[(c * 8 + 4) * 16 + x] - want) < 4.0 / 255);
    }
}

TEST_CASE("images: bilinear resize with half-pixel centres, by hand") {
  Image im;
  im.channels = 1, im.height = 1, im.width = 2;
  im.values = {0.0f, 1.0f};
  // Source column s = (x + 0.5) * 2 / 4 - 0.5 = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to the edge).
  Image up = resize_image(im, 1, 4);
  REQUIRE(up.values.size() == 4);
  CHECK(up.values[0] == 0.0f);
  CHECK(up.values[1] == doctest::Approx(0.25));
  CHECK(up.values[2] == doctest::Approx(0.75));
  CHECK(up.values[3] == 1.0f);
  // 2x2 -> 1x1 samples the centre: the mean of the four.
  im.height = 2, im.values = {0.0f, 0.2f, 0.4f, 1.0f};
  CHECK(resize_image(im, 1, 1).values[0] == doctest::Approx(0.4));
  // Same size: unchanged.
  CHECK(resize_image(im, 2, 2).values == im.values);
}

TEST_CASE("images: a folder in sorted name order, normalised per channel, non-images ignored") {
  ScratchDir dir("images_folder");
  // b first on disk, then a, then c: the batch is a, b, c.
  for (const char* name : {"b.png", "a.png", "c.png"}) {
    const int v = name[0] == 'a' ? 10 : name[0] == 'b' ? 20 : 30;
    write_bytes(dir.path(name), png_of(2, 2, 3, std::vector<uint8_t>(12, static_cast<uint8_t>(v))));
  }
  write_bytes(dir.path("labels.npy"), "not an image");
  ImageOptions opt;
  opt.mean = {0.1, 0.2, 0.3};
  opt.std = {0.5, 0.25, 2.0};
  const ImageBatch b = load_images(dir.dir.string(), opt, "--input");
  REQUIRE(b.values.shape() == Shape{3, 3, 2, 2});
  REQUIRE(b.files.size() == 3);
  CHECK(b.files[0].ends_with("a.png"));
  CHECK(b.files[2].ends_with("c.png"));
  for (int64_t n = 0; n < 3; ++n)
    for (int64_t c = 0; c < 3; ++c) {
      const double v = (10.0 * (n + 1)) / 255.0;
      CHECK(b.pixels.item(((n * 3 + c) * 2) * 2) == doctest::Approx(v).epsilon(1e-7));
      CHECK(b.values.item(((n * 3 + c) * 2) * 2) == doctest::Approx((v - opt.mean[c]) / opt.std[c]).epsilon(1e-6));
    }
  CHECK(describe_image_options(opt, 3) == "RGB, values / 255, mean (0.1, 0.2, 0.3), std (0.5, 0.25, 2)");

  // A grey file among colour ones: every file read as RGB, the grey replicated.
  write_bytes(dir.path("d.png"), png_of(2, 2, 1, std::vector<uint8_t>(4, 40)));
  const ImageBatch mixed = load_images(dir.dir.string(), {}, "--input");
  REQUIRE(mixed.values.shape() == Shape{4, 3, 2, 2});
  CHECK(mixed.values.item(3 * 12 + 8) == doctest::Approx(40 / 255.0).epsilon(1e-7));  // B plane of d.png
}

TEST_CASE("images: mixed sizes, corrupt files and bad options are one-line errors naming the file") {
  ScratchDir dir("images_errors");
  write_bytes(dir.path("a.png"), png_of(2, 2, 1, std::vector<uint8_t>(4, 0)));
  write_bytes(dir.path("b.png"), png_of(3, 2, 1, std::vector<uint8_t>(6, 0)));
  check_error([&] { load_images(dir.dir.string(), {}, "--input"); }, "b.png", dir.path("a.png") + "' is 2x2");
  check_error([&] { load_images(dir.dir.string(), {}, "--input"); }, "b.png", "is 2x3");
  // With a resize the sizes agree.
  ImageOptions resize;
  resize.height = 4, resize.width = 5;
  CHECK(load_images(dir.dir.string(), resize, "--input").values.shape() == Shape{2, 1, 4, 5});

  write_bytes(dir.path("z.png"), "this is not a picture");
  check_error([&] { load_images(dir.path("z.png"), {}, "--input"); }, "z.png", "cannot decode image: ");
  std::string png = png_of(8, 8, 3, std::vector<uint8_t>(192, 77));
  write_bytes(dir.path("cut.png"), png.substr(0, png.size() / 2));
  check_error([&] { load_images(dir.path("cut.png"), {}, "--input"); }, "cut.png", "cannot decode image");
  write_bytes(dir.path("empty.png"), "");
  check_error([&] { load_images(dir.path("empty.png"), {}, "--input"); }, "empty.png", "empty");
  check_error([&] { load_images(dir.path("missing.png"), {}, "--input"); }, "missing.png", "no such file");
  ScratchDir none("images_none");
  check_error([&] { load_images(none.dir.string(), {}, "--input"); }, "images_none", "no image files");
  // A header that claims more pixels than the limit is refused before decoding.
  check_error([&] { decode_image(png, "big.png", false, 63); }, "big.png", "larger than the limit");

  ImageOptions three;
  three.mean = {0.1, 0.2, 0.3};
  check_error([&] { load_images(dir.path("a.png"), three, "--input"); }, "--mean", "1 channel: give one value");
  check_error([&] { parse_resize("224", "--resize"); }, "--resize '224'", "expected HxW");
  check_error([&] { parse_resize("0x5", "--resize"); }, "--resize", "1..16384");
  CHECK(parse_resize("24X32", "--resize") == std::pair<int64_t, int64_t>{24, 32});
  check_error([&] { parse_channel_values("0.1,,0.3", "--mean", false); }, "--mean", "expected numbers");
  check_error([&] { parse_channel_values("0.2,0", "--std", true); }, "--std", "> 0");
  check_error([&] { parse_channel_values("nan", "--std", true); }, "--std", "finite");
  CHECK(parse_channel_values("0.5,-1", "--mean", false) == std::vector<double>{0.5, -1.0});
}

// Binary PGM/PPM are decoded by xdnn (models/io/image_formats.h): values are sample / maxval, 16-bit
// samples are big-endian, comments sit in the header, and a P6 turned grey uses stb's integer luma, so a
// PPM and its PNG give the same grey values.
TEST_CASE("images: binary PGM and PPM, 8 and 16 bit, sample / maxval, grey as the PNG path") {
  const std::string pgm = std::string("P5\n# a comment\n3 1\n# another\n15\n") + std::string("\x00\x07\x0f", 3);
  const Image g = decode_image(pgm, "a.pgm", false);
  CHECK(g.channels == 1);
  CHECK(g.height == 1);
  CHECK(g.width == 3);
  CHECK(g.values == std::vector<float>{0.0f, static_cast<float>(7.0 / 15.0), 1.0f});

  const std::string ppm16 = std::string("P6 1 2 1000\n") + std::string("\x03\xe8\x00\x00\x01\xf4", 6) +
                            std::string("\x00\x00\x00\x64\x00\x01", 6);
  const Image c = decode_image(ppm16, "b.ppm", false);
  CHECK(c.channels == 3);
  CHECK(c.height == 2);
  CHECK(c.width == 1);  // CHW: R of both rows, then G, then B
  CHECK(c.values == std::vector<float>{1.0f, 0.0f, 0.0f, 0.1f, 0.5f, static_cast<float>(0.001)});

  // The same RGB pixels as a P6 and as a PNG, read grey: identical values.
  const std::vector<uint8_t> rgb = {255, 0, 0, 10, 200, 30, 1, 2, 3, 90, 90, 90};
  const std::string ppm = std::string("P6\n2 2\n255\n") + std::string(rgb.begin(), rgb.end());
  CHECK(decode_image(ppm, "c.ppm", true).values == decode_image(png_of(2, 2, 3, rgb), "c.png", true).values);
  CHECK(decode_image(ppm, "c.ppm", false).values == decode_image(png_of(2, 2, 3, rgb), "c.png", false).values);
}

// stb_image v2.27 read these into uninitialised memory (a short raster) or past its buffer (16-bit PNM
// to fewer channels: fuzz_image's SEGV inside libstb); they are one-line errors now.
TEST_CASE("images: truncated or malformed PNM and TGA files, and formats not read, are one-line errors") {
  // The fuzzer's input (stb also took "P6111" for a width of 111; Netpbm wants whitespace there), then the
  // same header with the space.
  check_error([] { decode_image(std::string("P6111\r11 61111\0", 16), "f.ppm", true); }, "f.ppm",
              "PNM header: expected whitespace before the width (at byte 2)");
  check_error([] { decode_image(std::string("P6 111\r11 61111\n"), "f.ppm", true); }, "f.ppm",
              "PNM raster truncated: 11x111 pixels of 3 x 2 bytes need 7326 bytes after the header, the file has 0");
  check_error([] { decode_image("P5\n2 2\n255\nabc", "g.pgm", false); }, "g.pgm", "need 4 bytes");
  check_error([] { decode_image("P5\n2 2\n0\nabcd", "h.pgm", false); }, "h.pgm", "the maxval must be at least 1");
  check_error([] { decode_image("P5\n2 2\n65536\nabcd", "h.pgm", false); }, "h.pgm", "maxval exceeds 65535");
  check_error([] { decode_image("P5\n2 x\n255\nabcd", "h.pgm", false); }, "h.pgm", "expected the height");
  check_error([] { decode_image("P52 2 255 abcd", "h.pgm", false); }, "h.pgm", "whitespace before the width");
  check_error([] { decode_image("P5 2 2 255", "h.pgm", false); }, "h.pgm", "one whitespace byte after the maxval");
  check_error([] { decode_image("P5 1 1 9\n\x0a", "i.pgm", false); }, "i.pgm", "sample 0 is 10, above the maxval 9");
  check_error([] { decode_image("P5 99999 99999 255\n", "j.pgm", false); }, "j.pgm", "larger than the limit");

  // An uncompressed 24-bit TGA of 4x4 pixels needs 18 + 48 bytes; stb took 20 and returned garbage.
  std::string tga(18, '\0');
  tga[2] = 2, tga[12] = 4, tga[14] = 4, tga[16] = 24;
  check_error([&] { decode_image(tga + "ab", "k.tga", false); }, "k.tga",
              "TGA pixels truncated: 4x4 pixels of 3 bytes need a file of 66 bytes, it has 20");
  const Image t = decode_image(tga + std::string(48, '\x33'), "k.tga", false);  // whole: read by stb
  CHECK(t.values == std::vector<float>(48, static_cast<float>(0x33) / 255.0f));

  check_error([] { decode_image("#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n", "l.hdr", false); }, "l.hdr",
              "a Radiance HDR file is not read");
  check_error([] { decode_image("8BPS\x00\x01", "m.psd", false); }, "m.psd", "a Photoshop file is not read");
}
