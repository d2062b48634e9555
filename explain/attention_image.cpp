// Attention matrices as images (explain/attention.h): a T x T grid of cells coloured white (0) .. red
// (the matrix's maximum), key labels written vertically above the columns, query labels left of the
// rows, a title line on top. Text is drawn with stb_easy_font (a public-domain vector font that emits
// axis-aligned quads), rasterised here by filling each quad.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "explain/attention.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <stb/stb_easy_font.h>
#pragma GCC diagnostic pop

namespace xdnn::explain {

namespace {

// A one-channel text bitmap: 1 where ink is.
struct TextMask {
  int width = 0, height = 0;
  std::vector<uint8_t> ink;
};

// stb_easy_font draws ASCII 32..126; anything else becomes '?'. Long labels are cut to `max_chars`.
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

// Draws `m` in black at (x0, y0); `vertical` rotates it a quarter turn anticlockwise (reads bottom-up).
void blit(RgbImage& img, const TextMask& m, int x0, int y0, bool vertical) {
  for (int y = 0; y < m.height; ++y)
    for (int x = 0; x < m.width; ++x) {
      if (!m.ink[static_cast<size_t>(y) * m.width + x]) continue;
      const int px = vertical ? x0 + y : x0 + x;
      const int py = vertical ? y0 + (m.width - 1 - x) : y0 + y;
      if (px < 0 || py < 0 || px >= img.width || py >= img.height) continue;
      uint8_t* c = &img.rgb[(static_cast<size_t>(py) * img.width + px) * 3];
      c[0] = c[1] = c[2] = 0;
    }
}

}  // namespace

std::vector<std::string> token_labels(const Tensor& ids, int64_t n, const std::vector<std::string>& vocab) {
  const int64_t T = ids.dim(1);
  std::vector<std::string> out;
  for (int64_t t = 0; t < T; ++t) {
    const int64_t id = static_cast<int64_t>(ids.item(n * T + t));
    out.push_back(id >= 0 && id < static_cast<int64_t>(vocab.size()) ? vocab[id] : std::to_string(id));
  }
  return out;
}

std::vector<std::string> load_vocabulary_tokens(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open the vocabulary file");
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("tokens") || !j["tokens"].is_array())
    throw Error(path + ": expected a vocabulary JSON object with a \"tokens\" array of strings");
  std::vector<std::string> tokens;
  for (const auto& t : j["tokens"]) {
    if (!t.is_string()) throw Error(path + ": \"tokens\" entry " + std::to_string(tokens.size()) + " is not a string");
    tokens.push_back(t.get<std::string>());
  }
  return tokens;
}

RgbImage render_attention(const Tensor& matrix, const std::vector<std::string>& labels, const std::string& title,
                          int cell) {
  if (matrix.ndim() != 2 || matrix.dim(0) != matrix.dim(1))
    throw Error("render_attention: expected a square matrix (T, T), got " + matrix.describe());
  const int T = static_cast<int>(matrix.dim(0));
  if (static_cast<int>(labels.size()) != T)
    throw Error("render_attention: " + std::to_string(labels.size()) + " labels for " + std::to_string(T) + " tokens");
  std::vector<TextMask> marks;
  int label_len = 0;
  for (const auto& l : labels) {
    marks.push_back(render_text(printable_label(l, 12)));
    label_len = std::max(label_len, marks.back().width);
  }
  const TextMask head = render_text(printable_label(title, 80));
  const int pad = 4, top = pad + head.height + pad + label_len + pad, left = pad + label_len + pad;
  RgbImage img;
  img.width = std::max(left + T * cell + pad, head.width + 2 * pad);
  img.height = top + T * cell + pad;
  img.rgb.assign(static_cast<size_t>(img.width) * img.height * 3, 255);
  double mx = 0;
  for (int i = 0; i < T * T; ++i) mx = std::max(mx, matrix.item(i));
  for (int i = 0; i < T; ++i)
    for (int j = 0; j < T; ++j) {
      uint8_t rgb[3];
      diverging_colour(mx > 0 ? std::clamp(matrix.item(i * T + j) / mx, 0.0, 1.0) : 0.0, rgb);
      for (int y = 0; y < cell; ++y)
        for (int x = 0; x < cell; ++x) {
          // A one-pixel light grey grid between cells.
          const bool grid = x == cell - 1 || y == cell - 1;
          uint8_t* c = &img.rgb[(static_cast<size_t>(top + i * cell + y) * img.width + left + j * cell + x) * 3];
          for (int k = 0; k < 3; ++k) c[k] = grid ? 220 : rgb[k];
        }
    }
  blit(img, head, pad, pad, false);
  for (int t = 0; t < T; ++t) {
    const TextMask& m = marks[t];
    blit(img, m, left - pad - m.width, top + t * cell + (cell - m.height) / 2 + 1, false);  // query
    blit(img, m, left + t * cell + (cell - m.height) / 2 + 1, top - pad - m.width, true);   // key
  }
  return img;
}

std::vector<std::string> write_attention_pngs(const std::string& dir, const std::vector<AttentionMap>& maps,
                                              const Tensor& ids, const std::vector<std::string>& vocab) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error(dir + ": cannot create the directory for attention PNGs (" + ec.message() + ")");
  std::vector<std::string> paths;
  const int64_t N = ids.dim(0), T = ids.dim(1);
  for (int64_t n = 0; n < N; ++n) {
    const std::vector<std::string> labels = token_labels(ids, n, vocab);
    for (size_t l = 0; l < maps.size(); ++l) {
      const Tensor& p = maps[l].probs;
      const int64_t h = p.dim(1);
      Tensor mean({T, T}, DType::F64);
      for (int64_t k = 0; k <= h; ++k) {  // heads 0..h−1, then their mean
        Tensor m({T, T}, DType::F64);
        if (k < h) {
          for (int64_t i = 0; i < T * T; ++i) m.set_item(i, p.item(((n * h + k) * T * T) + i));
          for (int64_t i = 0; i < T * T; ++i) mean.set_item(i, mean.item(i) + m.item(i) / static_cast<double>(h));
        } else {
          m = mean;
        }
        const std::string hname = k < h ? std::to_string(k) : "mean";
        const std::string title =
            "sample " + std::to_string(n) + "  layer " + std::to_string(l) + " (" + maps[l].node + ")  head " + hname;
        const std::string path = (std::filesystem::path(dir) / ("attention-s" + std::to_string(n) + "-l" +
                                                                std::to_string(l) + "-h" + hname + ".png"))
                                     .string();
        save_png(path, render_attention(m, labels, title));
        paths.push_back(path);
      }
    }
  }
  return paths;
}

}  // namespace xdnn::explain
