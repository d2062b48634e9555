// The image formats read beside stb_image, and the checks made before handing a file to it.
//
// Why: Debian's stb_image (v2.27, libstb0 0.0~git20220908) reads a truncated binary PNM or uncompressed TGA
// into uninitialised memory without failing (stbi__getn's result is ignored there), and converts a 16-bit
// PNM to fewer channels with its 8-bit routine and then reads twice the buffer it made (a heap over-read;
// fuzz_image found it as a SEGV inside libstb with "P6 111 11 61111" and --grayscale). So binary PGM/PPM
// are decoded here (the Netpbm specification, with samples scaled by their maxval, which stb ignores);
// an uncompressed TGA must hold all the pixel bytes its header claims; the formats stb reads but xdnn does
// not promise (Radiance HDR, Photoshop PSD, Softimage PIC) are refused by their signature.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "models/io/image.h"

namespace xdnn {

// True when `bytes` begins like a binary Netpbm file: "P5" (PGM) or "P6" (PPM).
bool is_binary_pnm(std::string_view bytes);

// Decodes a binary PGM/PPM: "P5"|"P6", whitespace, width, whitespace, height, whitespace, maxval
// (1..65535), one whitespace byte, then height rows of width pixels of 1 (P5) or 3 (P6) samples, one byte
// each when maxval < 256, else two (big-endian). '#' comments run to the end of a line inside the header's
// whitespace. Values are sample / maxval, CHW; `grayscale` turns RGB into luma with stb's integer weights
// (77 R + 150 G + 29 B) / 256, floored, so that a P6 and its PNG give the same grey. Throws a one-line
// Error naming `name` for a malformed header, a sample above maxval, a short raster or a size past
// `max_pixels`.
Image decode_pnm(std::string_view bytes, const std::string& name, bool grayscale, int64_t max_pixels);

// Throws a one-line Error naming `name` when stb_image must not be given `bytes` (module comment).
void check_stb_input(std::string_view bytes, const std::string& name);

}  // namespace xdnn
