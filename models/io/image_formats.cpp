#include "models/io/image_formats.h"

#include <string>

#include "engine/check.h"
#include "engine/error.h"

namespace xdnn {

namespace {

constexpr const char* kFormats = "PNG, JPEG, BMP, GIF, TGA and binary PNM (P5/P6) files are read";

bool is_pnm_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

// A cursor over the PNM header.
struct PnmHeaderReader {
  std::string_view bytes;
  size_t pos = 2;  // past the magic
  std::string name;

  [[noreturn]] void fail(const std::string& why) const {
    throw Error(name + ": cannot decode image: PNM header: " + why + " (at byte " + std::to_string(pos) + ")");
  }
  // Whitespace and comments before a number; at least one whitespace byte or comment is required.
  void skip_separator(const char* before) {
    const size_t start = pos;
    while (pos < bytes.size()) {
      if (is_pnm_space(bytes[pos])) {
        ++pos;
      } else if (bytes[pos] == '#') {
        while (pos < bytes.size() && bytes[pos] != '\n' && bytes[pos] != '\r') ++pos;
      } else {
        break;
      }
    }
    if (pos == start) fail(std::string("expected whitespace before the ") + before);
  }
  // A decimal number in [1, limit].
  int64_t number(const char* what, int64_t limit) {
    skip_separator(what);
    const size_t start = pos;
    int64_t value = 0;
    while (pos < bytes.size() && bytes[pos] >= '0' && bytes[pos] <= '9') {
      value = value * 10 + (bytes[pos] - '0');
      if (value > limit) fail(std::string("the ") + what + " exceeds " + std::to_string(limit));
      ++pos;
    }
    if (pos == start) fail(std::string("expected the ") + what + " as a decimal number");
    if (value < 1) fail(std::string("the ") + what + " must be at least 1");
    return value;
  }
};

uint16_t read_u16le(std::string_view b, size_t at) {
  return static_cast<uint16_t>(static_cast<uint8_t>(b[at]) | (static_cast<uint8_t>(b[at + 1]) << 8));
}

}  // namespace

bool is_binary_pnm(std::string_view bytes) { return bytes.starts_with("P5") || bytes.starts_with("P6"); }

Image decode_pnm(std::string_view bytes, const std::string& name, bool grayscale, int64_t max_pixels) {
  check(is_binary_pnm(bytes), name + ": cannot decode image: not a binary PGM/PPM (expected P5 or P6)");
  const int64_t samples_per_pixel = bytes[1] == '6' ? 3 : 1;
  PnmHeaderReader header{bytes, 2, name};
  const int64_t width = header.number("width", int64_t{1} << 24);
  const int64_t height = header.number("height", int64_t{1} << 24);
  const int64_t maxval = header.number("maxval", 65535);
  if (header.pos >= bytes.size() || !is_pnm_space(bytes[header.pos]))
    header.fail("expected one whitespace byte after the maxval");
  const size_t raster = header.pos + 1;
  check(width * height <= max_pixels, name + ": image of " + std::to_string(height) + "x" + std::to_string(width) +
                                          " pixels is larger than the limit of " + std::to_string(max_pixels) +
                                          " pixels");
  const int64_t bytes_per_sample = maxval < 256 ? 1 : 2;
  const int64_t samples = width * height * samples_per_pixel;
  const int64_t need = samples * bytes_per_sample;
  const int64_t have = static_cast<int64_t>(bytes.size() - raster);
  check(have >= need, name + ": cannot decode image: PNM raster truncated: " + std::to_string(height) + "x" +
                          std::to_string(width) + " pixels of " + std::to_string(samples_per_pixel) + " x " +
                          std::to_string(bytes_per_sample) + " bytes need " + std::to_string(need) +
                          " bytes after the header, the file has " + std::to_string(have));
  auto sample = [&](int64_t i) -> int64_t {
    const auto* p = reinterpret_cast<const uint8_t*>(bytes.data() + raster);
    const int64_t v = bytes_per_sample == 1 ? p[i] : (p[2 * i] << 8) | p[2 * i + 1];
    if (v > maxval)
      throw Error(name + ": cannot decode image: PNM sample " + std::to_string(i) + " is " + std::to_string(v) +
                  ", above the maxval " + std::to_string(maxval));
    return v;
  };
  Image im;
  im.channels = grayscale ? 1 : samples_per_pixel, im.height = height, im.width = width;
  const int64_t plane = height * width;
  im.values.resize(static_cast<size_t>(im.channels * plane));
  const double scale = 1.0 / static_cast<double>(maxval);
  for (int64_t i = 0; i < plane; ++i) {
    if (samples_per_pixel == 1) {
      im.values[static_cast<size_t>(i)] = static_cast<float>(static_cast<double>(sample(i)) * scale);
    } else if (grayscale) {
      const int64_t luma = (77 * sample(3 * i) + 150 * sample(3 * i + 1) + 29 * sample(3 * i + 2)) >> 8;
      im.values[static_cast<size_t>(i)] = static_cast<float>(static_cast<double>(luma) * scale);
    } else {
      for (int64_t c = 0; c < 3; ++c)  // interleaved RGB in the file, CHW out
        im.values[static_cast<size_t>(c * plane + i)] =
            static_cast<float>(static_cast<double>(sample(3 * i + c)) * scale);
    }
  }
  return im;
}

void check_stb_input(std::string_view bytes, const std::string& name) {
  if (bytes.starts_with("#?RADIANCE") || bytes.starts_with("#?RGBE"))
    throw Error(name + ": cannot decode image: a Radiance HDR file is not read", kFormats);
  if (bytes.starts_with("8BPS")) throw Error(name + ": cannot decode image: a Photoshop file is not read", kFormats);
  if (bytes.starts_with("\x53\x80\xF6\x34"))
    throw Error(name + ": cannot decode image: a Softimage PIC file is not read", kFormats);
  const bool known_signature = bytes.starts_with("\x89PNG") || bytes.starts_with("\xFF\xD8") ||
                               bytes.starts_with("BM") || bytes.starts_with("GIF8");
  // What stb takes for a TGA (it has no signature; stb tries it last): an uncompressed true-colour (type 2)
  // or grey (type 3) image is read with stbi__getn, which leaves the pixels uninitialised when the file is
  // short, so the file must hold 18 header bytes, the id field and every pixel. Colour-mapped and RLE
  // images are read byte by byte (stb gives 0 past the end: deterministic, not checked here).
  if (known_signature || bytes.size() < 18) return;
  const auto* b = reinterpret_cast<const uint8_t*>(bytes.data());
  const int image_type = b[2];
  if (image_type != 2 && image_type != 3) return;
  const int64_t id_length = b[0];
  const int64_t width = read_u16le(bytes, 12), height = read_u16le(bytes, 14);
  const int64_t bytes_per_pixel = (b[16] + 7) / 8;
  const int64_t need = 18 + id_length + width * height * bytes_per_pixel;
  check(static_cast<int64_t>(bytes.size()) >= need,
        name + ": cannot decode image: TGA pixels truncated: " + std::to_string(height) + "x" + std::to_string(width) +
            " pixels of " + std::to_string(bytes_per_pixel) + " bytes need a file of " + std::to_string(need) +
            " bytes, it has " + std::to_string(bytes.size()));
}

}  // namespace xdnn
