#include "models/io/image.h"

// Debian's libstb-dev ships the implementation in libstb (pkg-config 'stb'): declarations only here.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>

#include "engine/check.h"
#include "engine/error.h"
#include "engine/printable.h"
#include "models/io/image_formats.h"

namespace xdnn {

namespace {

namespace fs = std::filesystem;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool has_image_extension(const fs::path& p) {
  static const char* const kExtensions[] = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tga", ".pgm", ".ppm"};
  const std::string ext = lower(p.extension().string());
  for (const char* e : kExtensions)
    if (ext == e) return true;
  return false;
}

std::string read_whole_file(const std::string& path, const std::string& what) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  check(!ec && fs::exists(st), what + ": cannot open image: no such file");
  check(fs::is_regular_file(st), what + ": not a regular file (expected a PNG or JPEG image)");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw Error(what + ": cannot open image: " + std::strerror(errno));
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(f, std::fclose);
  std::string bytes;
  char buf[1 << 16];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) bytes.append(buf, n);
  check(!std::ferror(f), what + ": read error");
  return bytes;
}

std::string size_text(const Image& im) { return std::to_string(im.height) + "x" + std::to_string(im.width); }

std::string list_text(const std::vector<double>& v) {
  std::string out = "(";
  for (size_t i = 0; i < v.size(); ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v[i]);
    out += (i ? ", " : "") + std::string(buf);
  }
  return out + ")";
}

// The per-channel value of --mean / --std: one value for all channels, or exactly one per channel.
double channel_value(const std::vector<double>& v, int64_t c, double none) {
  if (v.empty()) return none;
  return v.size() == 1 ? v[0] : v[static_cast<size_t>(c)];
}

}  // namespace

std::pair<int64_t, int64_t> parse_resize(const std::string& text, const std::string& option) {
  const std::string what = option + " '" + printable(text) + "'";
  const size_t x = lower(text).find('x');
  check(x != std::string::npos && x > 0 && x + 1 < text.size(), what + ": expected HxW, e.g. 224x224");
  int64_t hw[2] = {0, 0};
  const std::string parts[2] = {text.substr(0, x), text.substr(x + 1)};
  for (int i = 0; i < 2; ++i) {
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(parts[i].c_str(), &end, 10);
    check(!parts[i].empty() && end == parts[i].c_str() + parts[i].size() && errno == 0,
          what + ": expected HxW with whole numbers, e.g. 224x224");
    check(v >= 1 && v <= 16384, what + ": each side must be in 1..16384");
    hw[i] = v;
  }
  return {hw[0], hw[1]};
}

std::vector<double> parse_channel_values(const std::string& text, const std::string& option, bool positive) {
  const std::string what = option + " '" + printable(text) + "'";
  std::vector<double> out;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    char* end = nullptr;
    const double v = std::strtod(item.c_str(), &end);
    check(!item.empty() && end == item.c_str() + item.size(),
          what + ": expected numbers separated by commas, one per channel (e.g. 0.485,0.456,0.406)");
    check(std::isfinite(v), what + ": values must be finite");
    check(!positive || v > 0, what + ": values must be > 0");
    out.push_back(v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// stb_image's reason for the last failure. It can quote bytes of the file (an unknown PNG chunk's type:
// "\x0aabc PNG chunk not known", found by fuzz_image), so it is made printable: the error stays one line.
static std::string decoder_reason() {
  const char* reason = stbi_failure_reason();
  return printable_name(reason ? reason : "unknown error");
}

Image decode_image(std::string_view bytes, const std::string& name, bool grayscale, int64_t max_pixels) {
  check(!bytes.empty(), name + ": cannot decode image: the file is empty");
  check(bytes.size() <= static_cast<size_t>(INT32_MAX), name + ": cannot decode image: larger than 2 GiB");
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  // Binary PGM/PPM are decoded here and the other formats checked before stb sees them (image_formats.h).
  if (is_binary_pnm(bytes)) return decode_pnm(bytes, name, grayscale, max_pixels);
  check_stb_input(bytes, name);
  const int size = static_cast<int>(bytes.size());
  int w = 0, h = 0, comp = 0;
  // The header first: a claimed size past the limit is refused before any pixel memory is taken.
  if (!stbi_info_from_memory(data, size, &w, &h, &comp))
    throw Error(name + ": cannot decode image: " + decoder_reason(),
                "PNG, JPEG, BMP, GIF, TGA and binary PNM (P5/P6) files are read");
  check(static_cast<int64_t>(w) * h <= max_pixels, name + ": image of " + std::to_string(h) + "x" + std::to_string(w) +
                                                       " pixels is larger than the limit of " +
                                                       std::to_string(max_pixels) + " pixels");
  const int want = grayscale || comp <= 2 ? 1 : 3;
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(stbi_load_from_memory(data, size, &w, &h, &comp, want),
                                                   stbi_image_free);
  if (!pixels) throw Error(name + ": cannot decode image: " + decoder_reason());
  check(w >= 1 && h >= 1 && static_cast<int64_t>(w) * h <= max_pixels,
        name + ": cannot decode image: size " + std::to_string(h) + "x" + std::to_string(w) + " out of range");
  Image im;
  im.channels = want, im.height = h, im.width = w;
  im.values.resize(static_cast<size_t>(want) * h * w);
  // stb gives interleaved HWC bytes; the model wants CHW.
  for (int64_t c = 0; c < want; ++c)
    for (int64_t i = 0; i < static_cast<int64_t>(h) * w; ++i)
      im.values[static_cast<size_t>(c * h * w + i)] = static_cast<float>(pixels.get()[i * want + c]) / 255.0f;
  return im;
}

Image resize_image(const Image& image, int64_t height, int64_t width) {
  check(height >= 1 && width >= 1, "resize: the size must be at least 1x1");
  const int64_t C = image.channels, H = image.height, W = image.width;
  // Source coordinate of each output row / column: half-pixel centres, clamped at 0 (module comment).
  auto taps = [](int64_t out, int64_t in, std::vector<int64_t>& i0, std::vector<int64_t>& i1, std::vector<double>& l) {
    const double scale = static_cast<double>(in) / static_cast<double>(out);
    for (int64_t o = 0; o < out; ++o) {
      const double s = std::max((static_cast<double>(o) + 0.5) * scale - 0.5, 0.0);
      const int64_t a = std::min(static_cast<int64_t>(std::floor(s)), in - 1);
      i0.push_back(a), i1.push_back(std::min(a + 1, in - 1)), l.push_back(s - static_cast<double>(a));
    }
  };
  std::vector<int64_t> y0, y1, x0, x1;
  std::vector<double> ly, lx;
  taps(height, H, y0, y1, ly);
  taps(width, W, x0, x1, lx);
  Image out;
  out.channels = C, out.height = height, out.width = width;
  out.values.resize(static_cast<size_t>(C * height * width));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t y = 0; y < height; ++y)
      for (int64_t x = 0; x < width; ++x) {
        auto at = [&](int64_t yy, int64_t xx) { return static_cast<double>(image.values[(c * H + yy) * W + xx]); };
        // Rows first, then columns: (1-ly)[(1-lx) a + lx b] + ly[(1-lx) c + lx d].
        const double top = (1 - lx[x]) * at(y0[y], x0[x]) + lx[x] * at(y0[y], x1[x]);
        const double bottom = (1 - lx[x]) * at(y1[y], x0[x]) + lx[x] * at(y1[y], x1[x]);
        out.values[(c * height + y) * width + x] = static_cast<float>((1 - ly[y]) * top + ly[y] * bottom);
      }
  return out;
}

Image to_rgb(const Image& image) {
  if (image.channels != 1) return image;
  Image out = image;
  out.channels = 3;
  out.values.reserve(image.values.size() * 3);
  for (int k = 0; k < 2; ++k) out.values.insert(out.values.end(), image.values.begin(), image.values.end());
  return out;
}

bool is_image_input(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return true;
  return has_image_extension(fs::path(path));
}

ImageBatch load_images(const std::string& path, const ImageOptions& options, const std::string& option) {
  const std::string what = option + " '" + path + "'";
  std::vector<std::string> files;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    for (const auto& entry : fs::directory_iterator(path, ec))
      if (has_image_extension(entry.path())) files.push_back(entry.path().string());
    check(!ec, what + ": cannot list the folder: " + ec.message());
    check(!files.empty(), what + ": the folder holds no image files (.png, .jpg, .jpeg, .bmp, .gif, .tga, .pgm, .ppm)");
    std::sort(files.begin(), files.end());  // byte order of the names: the batch order
  } else {
    files.push_back(path);
  }
  std::vector<Image> images;
  bool any_colour = false;
  for (const auto& f : files) {
    const std::string name = option + " '" + f + "'";
    Image im = decode_image(read_whole_file(f, name), name, options.grayscale);
    if (options.height > 0) im = resize_image(im, options.height, options.width);
    // Sizes must agree without a resize: name both files so that the odd one is found at once.
    if (!images.empty() && (im.height != images[0].height || im.width != images[0].width))
      throw Error(what + ": '" + files[0] + "' is " + size_text(images[0]) + " but '" + f + "' is " + size_text(im),
                  "give --resize HxW to read pictures of different sizes");
    any_colour = any_colour || im.channels == 3;
    images.push_back(std::move(im));
  }
  if (any_colour)
    for (auto& im : images) im = to_rgb(im);
  const int64_t N = static_cast<int64_t>(images.size()), C = images[0].channels;
  const int64_t H = images[0].height, W = images[0].width;
  for (const auto* v : {&options.mean, &options.std})
    check(v->size() <= 1 || static_cast<int64_t>(v->size()) == C,
          std::string(v == &options.mean ? "--mean" : "--std") + " has " + std::to_string(v->size()) +
              " values, but the images of " + what + " have " + std::to_string(C) + " channel" +
              (C == 1 ? ": give one value" : "s: give 1 or " + std::to_string(C)));
  ImageBatch out;
  out.files = files;
  out.pixels = Tensor({N, C, H, W}, DType::F32);
  out.values = Tensor({N, C, H, W}, DType::F32);
  float* px = out.pixels.data<float>();
  float* vx = out.values.data<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const double mean = channel_value(options.mean, c, 0.0), sd = channel_value(options.std, c, 1.0);
      for (int64_t i = 0; i < H * W; ++i) {
        const float v = images[n].values[static_cast<size_t>(c * H * W + i)];
        px[(n * C + c) * H * W + i] = v;
        vx[(n * C + c) * H * W + i] = static_cast<float>((static_cast<double>(v) - mean) / sd);
      }
    }
  return out;
}

std::string describe_image_options(const ImageOptions& options, int64_t channels) {
  std::string out;
  auto add = [&](const std::string& s) { out += (out.empty() ? "" : ", ") + s; };
  if (options.height > 0)
    add("resized to " + std::to_string(options.height) + "x" + std::to_string(options.width) +
        " (bilinear, half-pixel centres)");
  add(options.grayscale ? "grayscale" : channels == 3 ? "RGB" : "grey");
  add("values / 255");
  if (!options.mean.empty()) add("mean " + list_text(options.mean));
  if (!options.std.empty()) add("std " + list_text(options.std));
  return out;
}

}  // namespace xdnn
