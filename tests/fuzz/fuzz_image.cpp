// libFuzzer harness for the image reader (models/io/image.h, stb_image underneath). Byte 0 picks
// --grayscale (bit 0); the rest is the file. Property: decode_image returns a picture or throws
// xdnn::Error with a one-line message; a picture has the size it claims, values in [0, 1], and survives a
// bilinear resize with values still in [0, 1]. The pixel limit is small here (2^16) so that a header
// claiming a huge picture is refused rather than decoded, as kMaxImagePixels does at full size.
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/error.h"
#include "models/io/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool grayscale = data[0] & 1;
  const std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  xdnn::Image im;
  try {
    im = xdnn::decode_image(bytes, "fuzz.png", grayscale, int64_t{1} << 16);
  } catch (const xdnn::Error& e) {
    const std::string msg = e.what();
    if (msg.empty() || msg.find('\n') != std::string::npos) __builtin_trap();  // messages are one line
    return 0;
  }
  if (im.channels != (grayscale ? 1 : im.channels) || (im.channels != 1 && im.channels != 3)) __builtin_trap();
  if (im.height < 1 || im.width < 1 || im.height * im.width > (int64_t{1} << 16)) __builtin_trap();
  if (im.values.size() != static_cast<size_t>(im.channels * im.height * im.width)) __builtin_trap();
  for (float v : im.values)
    if (!(v >= 0.0f && v <= 1.0f)) __builtin_trap();
  const xdnn::Image small = xdnn::resize_image(im, 3, 5);
  for (float v : small.values)
    if (!(v >= 0.0f && v <= 1.0f)) __builtin_trap();
  return 0;
}
