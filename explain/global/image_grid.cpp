// The picture grid: see image_grid.h.
#include "explain/global/image_grid.h"

#include <algorithm>

#include "engine/check.h"

namespace xdnn::explain {
namespace {

std::vector<std::string> caption_lines(const std::string& caption) {
  std::vector<std::string> lines;
  size_t begin = 0;
  while (begin <= caption.size() && lines.size() < 2) {
    const size_t nl = std::min(caption.find('\n', begin), caption.size());
    lines.push_back(caption.substr(begin, nl - begin));
    begin = nl + 1;
  }
  return lines;
}

}  // namespace

RgbImage grid_picture(const Tensor& images, int64_t n, int scale) {
  check(images.defined() && images.is_float() && (images.ndim() == 3 || images.ndim() == 4),
        "image grid: expected float pictures (N, C, H, W) or (N, H, W), got " +
            (images.defined() ? images.describe() : std::string("nothing")));
  const Tensor one = images.slice_batch(n, n + 1).to(DType::F32);
  Tensor picture =
      images.ndim() == 3 ? one.reshape({one.dim(1), one.dim(2)}) : one.reshape({one.dim(1), one.dim(2), one.dim(3)});
  if (picture.ndim() == 3 && picture.dim(0) != 1 && picture.dim(0) != 3) {
    // Neither grey nor RGB: the mean over channels.
    const int64_t C = picture.dim(0), HW = picture.dim(1) * picture.dim(2);
    Tensor mean({picture.dim(1), picture.dim(2)}, DType::F32);
    for (int64_t i = 0; i < HW; ++i) {
      double s = 0;
      for (int64_t c = 0; c < C; ++c) s += picture.data<float>()[c * HW + i];
      mean.data<float>()[i] = static_cast<float>(s / static_cast<double>(C));
    }
    picture = mean;
  } else if (picture.ndim() == 3 && picture.dim(0) == 1) {
    picture = picture.reshape({picture.dim(1), picture.dim(2)});
  }
  return render_grey(picture, scale);
}

RgbImage image_grid(const Tensor& images, const std::vector<std::string>& captions, const GridOptions& opt) {
  check(opt.columns >= 1 && opt.scale >= 1 && opt.gap >= 0, "image grid: expected columns, scale >= 1, gap >= 0");
  check(images.defined() && images.ndim() >= 3 && images.dim(0) >= 1, "image grid: no pictures");
  const int64_t N = images.dim(0);
  check(captions.empty() || static_cast<int64_t>(captions.size()) == N,
        "image grid: " + std::to_string(captions.size()) + " captions for " + std::to_string(N) + " pictures");
  std::vector<RgbImage> cells;
  int cell_w = 0, cell_h = 0, text_h = 0;
  for (int64_t n = 0; n < N; ++n) {
    cells.push_back(grid_picture(images, n, opt.scale));
    cell_w = std::max(cell_w, cells.back().width);
    cell_h = std::max(cell_h, cells.back().height);
  }
  std::vector<std::vector<TextMask>> texts(N);
  for (int64_t n = 0; n < static_cast<int64_t>(captions.size()); ++n) {
    for (const std::string& line : caption_lines(captions[n])) {
      texts[n].push_back(render_text(printable_label(line, opt.max_chars)));
      cell_w = std::max(cell_w, texts[n].back().width);
    }
    text_h = std::max(text_h, static_cast<int>(texts[n].size()) * 12);
  }
  const int columns = static_cast<int>(std::min<int64_t>(opt.columns, N));
  const int rows = static_cast<int>((N + columns - 1) / columns);
  RgbImage grid;
  grid.width = columns * cell_w + (columns + 1) * opt.gap;
  grid.height = rows * (cell_h + text_h) + (rows + 1) * opt.gap;
  grid.rgb.assign(static_cast<size_t>(grid.width) * grid.height * 3, 255);
  for (int64_t n = 0; n < N; ++n) {
    const int col = static_cast<int>(n % columns), row = static_cast<int>(n / columns);
    const int x0 = opt.gap + col * (cell_w + opt.gap), y0 = opt.gap + row * (cell_h + text_h + opt.gap);
    const RgbImage& c = cells[n];
    for (int y = 0; y < c.height; ++y)
      std::copy(c.rgb.begin() + static_cast<size_t>(y) * c.width * 3,
                c.rgb.begin() + static_cast<size_t>(y + 1) * c.width * 3,
                grid.rgb.begin() + (static_cast<size_t>(y0 + y) * grid.width + x0) * 3);
    for (size_t k = 0; k < texts[n].size(); ++k)
      draw_text(grid, texts[n][k], x0, y0 + cell_h + 1 + static_cast<int>(k) * 12, kBlack);
  }
  return grid;
}

}  // namespace xdnn::explain
