// Image files as model inputs: PNG and JPEG (and the other formats stb_image decodes: BMP, GIF's first
// frame, TGA, PNM) read into a float NCHW batch, as `--input photo.png` or `--input folder/`.
//
// Conventions
// - Values: 8 bits per channel (stb_image reduces 16-bit PNGs), divided by 255 into [0, 1].
// - Channels: --grayscale gives 1 channel (stb's luma, (77 R + 150 G + 29 B) / 256); otherwise a grey
//   file (with or without alpha) gives 1 channel and a colour file 3 (RGB); alpha is dropped. A folder
//   mixing grey and colour files reads every file as RGB (grey replicated).
// - Resize: bilinear with half-pixel centres (PyTorch's interpolate(mode="bilinear", align_corners=False,
//   antialias=False)): output pixel y samples source row s = (y + 0.5) * in / out - 0.5, clamped at 0;
//   the same for columns. Applied to the [0, 1] values, before normalisation.
// - Normalisation: x = (v - mean[c]) / std[c] per channel (one value: every channel), after the resize.
// - A folder is read in sorted file-name order (byte order), taking the files whose extension is an image
//   one (.png .jpg .jpeg .bmp .gif .tga .pgm .ppm, any case); other files are ignored (a labels.npy may sit
//   beside the pictures). Without a resize every file must have the same size.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tensor.h"

namespace xdnn {

// Beyond this many pixels an image is refused before it is decoded (a 16384 x 16384 photo is 2^28).
constexpr int64_t kMaxImagePixels = int64_t{1} << 28;

struct ImageOptions {
  int64_t height = 0, width = 0;  // --resize HxW; 0: keep each file's size
  bool grayscale = false;         // --grayscale
  std::vector<double> mean, std;  // --mean / --std: one per channel or one for all; empty: none
  bool any() const { return height > 0 || grayscale || !mean.empty() || !std.empty(); }
};

// "224x224" -> {224, 224}; `option` names the flag in the one-line error ("--resize '0x5': ...").
std::pair<int64_t, int64_t> parse_resize(const std::string& text, const std::string& option);
// "0.485,0.456,0.406" -> {0.485, 0.456, 0.406}; finite numbers, and > 0 when `positive` (for --std).
std::vector<double> parse_channel_values(const std::string& text, const std::string& option, bool positive);

// One decoded picture, values in [0, 1]: values[(c * height + y) * width + x].
struct Image {
  int64_t channels = 0, height = 0, width = 0;
  std::vector<float> values;
};

// Decodes the bytes of one file (`name` appears in errors, with stb_image's reason when it fails).
Image decode_image(std::string_view bytes, const std::string& name, bool grayscale,
                   int64_t max_pixels = kMaxImagePixels);
// Bilinear resize with half-pixel centres (see above), every channel alike.
Image resize_image(const Image& image, int64_t height, int64_t width);
// Grey (1 channel) -> RGB (3 channels, the grey value in each); other images are returned as they are.
Image to_rgb(const Image& image);

// True when `path` names an image file by its extension (above), or an existing folder.
bool is_image_input(const std::string& path);

struct ImageBatch {
  Tensor pixels;                   // float32 (N, C, H, W) in [0, 1], after resize, before normalisation (for pictures)
  Tensor values;                   // float32 (N, C, H, W): pixels normalised with mean / std (what the model gets)
  std::vector<std::string> files;  // the file of each sample, in batch order
};
// Reads one image file or every image file of a folder (sorted by name). `option` (e.g. "--input") names
// the argument in errors: an undecodable file, an empty folder, two files of different sizes without a
// resize, a mean / std whose length fits neither 1 nor the channel count.
ImageBatch load_images(const std::string& path, const ImageOptions& options, const std::string& option);

// What the options did, for a report's header: "resized to 224x224 (bilinear), RGB, mean (0.485, 0.456,
// 0.406), std (0.229, 0.224, 0.225)"; "as read" when nothing was asked.
std::string describe_image_options(const ImageOptions& options, int64_t channels);

}  // namespace xdnn
