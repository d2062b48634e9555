// Attention matrices as images (explain/attention.h): a T x T grid of cells coloured white (0) .. red
// (the matrix's maximum), key labels written vertically above the columns, query labels left of the
// rows, a title line on top. Text is drawn with stb_easy_font (a public-domain vector font that emits
// axis-aligned quads), rasterised by render_text (explain/image_text.cpp).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "explain/attention.h"

namespace xdnn::explain {

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
  draw_text(img, head, pad, pad, kBlack);
  for (int t = 0; t < T; ++t) {
    const TextMask& m = marks[t];
    draw_text(img, m, left - pad - m.width, top + t * cell + (cell - m.height) / 2 + 1, kBlack);        // query
    draw_text(img, m, left + t * cell + (cell - m.height) / 2 + 1, top - pad - m.width, kBlack, true);  // key
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
      const Tensor p = maps[l].probs.to(Device::CPU);  // a picture is drawn on the host
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
