// Curve plots: see plot.h.
#include "explain/evaluate/plot.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

#include "engine/error.h"

namespace xdnn::explain {

namespace {

// 3×5 glyphs, rows top to bottom, '#' = ink.
const char* glyph(char c) {
  switch (std::toupper(static_cast<unsigned char>(c))) {
    case 'A':
      return ".#.#.#####.##.#";
    case 'B':
      return "##.#.###.#.###.";
    case 'C':
      return ".###..#..#...##";
    case 'D':
      return "##.#.##.##.###.";
    case 'E':
      return "####..##.#..###";
    case 'F':
      return "####..##.#..#..";
    case 'G':
      return ".###..#.##.#.##";
    case 'H':
      return "#.##.#####.##.#";
    case 'I':
      return "###.#..#..#.###";
    case 'J':
      return "..#..#..##.#.#.";
    case 'K':
      return "#.##.###.#.##.#";
    case 'L':
      return "#..#..#..#..###";
    case 'M':
      return "#.########.##.#";
    case 'N':
      return "##.#.##.##.##.#";
    case 'O':
      return ".#.#.##.##.#.#.";
    case 'P':
      return "##.#.###.#..#..";
    case 'Q':
      return ".#.#.##.#.#...#";
    case 'R':
      return "##.#.###.#.##.#";
    case 'S':
      return ".###...#...###.";
    case 'T':
      return "###.#..#..#..#.";
    case 'U':
      return "#.##.##.##.####";
    case 'V':
      return "#.##.##.##.#.#.";
    case 'W':
      return "#.##.########.#";
    case 'X':
      return "#.##.#.#.#.##.#";
    case 'Y':
      return "#.##.#.#..#..#.";
    case 'Z':
      return "###..#.#.#..###";
    case '0':
      return "####.##.##.####";
    case '1':
      return ".#.##..#..#.###";
    case '2':
      return "###..#####..###";
    case '3':
      return "###..####..####";
    case '4':
      return "#.##.####..#..#";
    case '5':
      return "####..###..####";
    case '6':
      return "####..####.####";
    case '7':
      return "###..#..#..#..#";
    case '8':
      return "####.#####.####";
    case '9':
      return "####.####..####";
    case '-':
      return "......###......";
    case '+':
      return "....#.###.#....";
    case '.':
      return ".............#.";
    default:
      return "...............";
  }
}

void put(RgbImage& img, int x, int y, const uint8_t rgb[3]) {
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
  for (int c = 0; c < 3; ++c) img.rgb[(static_cast<size_t>(y) * img.width + x) * 3 + c] = rgb[c];
}

void line(RgbImage& img, double x0, double y0, double x1, double y1, const uint8_t rgb[3]) {
  const int steps = static_cast<int>(std::max(std::abs(x1 - x0), std::abs(y1 - y0))) + 1;
  for (int s = 0; s <= steps; ++s) {
    const double t = static_cast<double>(s) / steps;
    const int x = static_cast<int>(std::lround(x0 + t * (x1 - x0))),
              y = static_cast<int>(std::lround(y0 + t * (y1 - y0)));
    put(img, x, y, rgb);
    put(img, x, y + 1, rgb);  // two pixels thick
  }
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

// Distinct line colours (Tableau 10).
const uint8_t kColours[10][3] = {{31, 119, 180}, {255, 127, 14},  {44, 160, 44},   {214, 39, 40},  {148, 103, 189},
                                 {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};

}  // namespace

void draw_text(RgbImage& img, int x, int y, const std::string& text, const uint8_t rgb[3], int scale) {
  for (size_t i = 0; i < text.size(); ++i) {
    const char* g = glyph(text[i]);
    for (int r = 0; r < 5; ++r)
      for (int c = 0; c < 3; ++c)
        if (g[r * 3 + c] == '#')
          for (int dy = 0; dy < scale; ++dy)
            for (int dx = 0; dx < scale; ++dx)
              put(img, x + static_cast<int>(i) * 4 * scale + c * scale + dx, y + r * scale + dy, rgb);
  }
}

RgbImage plot_curves(const std::vector<CurvePanel>& panels) {
  const int pw = 360, ph = 260, left = 50, right = 10, top = 24, bottom = 14;
  RgbImage img;
  img.width = pw * static_cast<int>(std::max<size_t>(panels.size(), 1));
  img.height = ph;
  img.rgb.assign(static_cast<size_t>(img.width) * img.height * 3, 255);
  const uint8_t black[3] = {0, 0, 0}, grey[3] = {200, 200, 200};
  for (size_t p = 0; p < panels.size(); ++p) {
    const CurvePanel& panel = panels[p];
    const int x0 = static_cast<int>(p) * pw + left, x1 = static_cast<int>(p + 1) * pw - right;
    const int y0 = top, y1 = ph - bottom;
    double lo = INFINITY, hi = -INFINITY;
    for (const auto& c : panel.curves) {
      if (c.size() < 2) throw Error("plot: curve '" + panel.title + "' needs at least 2 points");
      for (double v : c) lo = std::min(lo, v), hi = std::max(hi, v);
    }
    if (!(hi > lo)) hi = lo + 1.0;  // a flat or empty panel still gets an axis
    line(img, x0, y0, x0, y1, grey);
    line(img, x0, y1, x1, y1, grey);
    draw_text(img, x0, 4, panel.title, black);
    draw_text(img, static_cast<int>(p) * pw + 2, y0, number(hi), black, 1);
    draw_text(img, static_cast<int>(p) * pw + 2, y1 - 5, number(lo), black, 1);
    for (size_t k = 0; k < panel.curves.size(); ++k) {
      const auto& c = panel.curves[k];
      const uint8_t* col = kColours[k % 10];
      const double n = static_cast<double>(c.size() - 1);
      for (size_t i = 1; i < c.size(); ++i)
        line(img, x0 + (x1 - x0) * (i - 1) / n, y1 - (y1 - y0) * (c[i - 1] - lo) / (hi - lo), x0 + (x1 - x0) * i / n,
             y1 - (y1 - y0) * (c[i] - lo) / (hi - lo), col);
      // Legend, top right: a swatch and the label.
      const int ly = y0 + 4 + static_cast<int>(k) * 9;
      for (int d = 0; d < 6; ++d) line(img, x1 - 150, ly + d, x1 - 144, ly + d, col);
      draw_text(img, x1 - 140, ly, k < panel.labels.size() ? panel.labels[k] : "", col, 1);
    }
  }
  return img;
}

std::vector<CurvePanel> mean_curve_panels(const EvaluationTable& t) {
  std::vector<CurvePanel> panels;
  for (size_t j = 0; j < t.columns.size(); ++j) {
    if (t.cells.empty() || t.cells[0][j].values.ndim() != 2 || t.cells[0][j].values.dim(1) < 2) continue;
    CurvePanel panel{t.columns[j], t.rows, {}};
    for (size_t i = 0; i < t.rows.size(); ++i) {
      const Tensor& v = t.cells[i][j].values;  // (N, points)
      std::vector<double> mean(v.dim(1), 0.0);
      for (int64_t n = 0; n < v.dim(0); ++n)
        for (int64_t k = 0; k < v.dim(1); ++k) mean[k] += v.item(n * v.dim(1) + k) / static_cast<double>(v.dim(0));
      panel.curves.push_back(mean);
    }
    panels.push_back(panel);
  }
  return panels;
}

}  // namespace xdnn::explain
