// Text on pictures: stb_easy_font (a public-domain vector font that emits axis-aligned quads) rasterised
// by filling each quad into a one-channel mask, then drawn in a colour. Used by the attention matrices
// (explain/attention_image.cpp) and the heatmap overlays (explain/overlay.cpp).
#include <algorithm>

#include "explain/heatmap.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <stb/stb_easy_font.h>
#pragma GCC diagnostic pop

namespace xdnn::explain {

std::string printable_label(const std::string& s, size_t max_chars) {
  std::string out;
  for (unsigned char c : s) out += (c >= 32 && c < 127) ? static_cast<char>(c) : '?';
  if (out.size() > max_chars) out = out.substr(0, max_chars - 1) + "~";
  return out;
}

TextMask render_text(const std::string& text) {
  TextMask m;
  if (text.empty()) return m;
  std::vector<char> buf(text.begin(), text.end());
  buf.push_back('\0');
  m.width = stb_easy_font_width(buf.data()) + 1;
  m.height = 12;  // stb_easy_font's line height at scale 1 (glyphs are 7 units tall, descenders 2 more)
  std::vector<float> verts(text.size() * 270 * 4);  // at most ~270 bytes of quads per character (its docs)
  const int quads =
      stb_easy_font_print(0, 1, buf.data(), nullptr, verts.data(), static_cast<int>(verts.size() * sizeof(float)));
  m.ink.assign(static_cast<size_t>(m.width) * m.height, 0);
  // Each vertex is 16 bytes: x, y, z floats and 4 colour bytes; four vertices per quad.
  for (int q = 0; q < quads; ++q) {
    float x0 = 1e9f, y0 = 1e9f, x1 = -1e9f, y1 = -1e9f;
    for (int v = 0; v < 4; ++v) {
      const float* p = verts.data() + (q * 4 + v) * 4;
      x0 = std::min(x0, p[0]), x1 = std::max(x1, p[0]);
      y0 = std::min(y0, p[1]), y1 = std::max(y1, p[1]);
    }
    for (int y = std::max(0, static_cast<int>(y0)); y < std::min(m.height, static_cast<int>(y1)); ++y)
      for (int x = std::max(0, static_cast<int>(x0)); x < std::min(m.width, static_cast<int>(x1)); ++x)
        m.ink[static_cast<size_t>(y) * m.width + x] = 1;
  }
  return m;
}

void draw_text(RgbImage& img, const TextMask& m, int x0, int y0, const uint8_t rgb[3], bool vertical) {
  for (int y = 0; y < m.height; ++y)
    for (int x = 0; x < m.width; ++x) {
      if (!m.ink[static_cast<size_t>(y) * m.width + x]) continue;
      const int px = vertical ? x0 + y : x0 + x;
      const int py = vertical ? y0 + (m.width - 1 - x) : y0 + y;
      if (px < 0 || py < 0 || px >= img.width || py >= img.height) continue;
      uint8_t* c = &img.rgb[(static_cast<size_t>(py) * img.width + px) * 3];
      c[0] = rgb[0], c[1] = rgb[1], c[2] = rgb[2];
    }
}

}  // namespace xdnn::explain
