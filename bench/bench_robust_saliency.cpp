// How saliency maps of an adversarially trained model differ (issue 20, item 2). fashion-cnn is trained
// twice from the same initialisation and batch order: normally, and with PGD adversarial training (Madry
// et al. 2018; `xdnn train --adversarial pgd`). Then:
//   - clean and robust test accuracy of both (robust: PGD with a random start, the training attack, on
//     the first --robust-test test images);
//   - saliency (the gradient of the true class's logit, explain/saliency.cpp) of both on the first
//     --maps test images, scored per image on |gradient|:
//       total variation  Σ |a(i, j+1) − a(i, j)| + |a(i+1, j) − a(i, j)| / Σ |a|   (lower: smoother)
//       edge correlation Pearson r between |a| and the Sobel gradient magnitude of the input image
//                        (higher: the map follows the object's outline; Tsipras et al. 2019 §4 and
//                        Etmann et al. 2019 report robust models' gradients aligned with the image)
//     printed as mean ± sd over the images;
//   - a PNG grid (--png): row 1 the inputs, row 2 the standard model's saliency, row 3 the robust model's
//     (diverging colours, each map scaled by its own 99.5th percentile of |a|).
//
//   bench_robust_saliency [--train 60000] [--epochs 2] [--radius 0.1] [--pgd-steps 7] [--robust-test 1000]
//                         [--maps 100] [--columns 8] [--seed 0] [--png robust_saliency.png] [--fashion-mnist DIR]
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "explain/attack.h"
#include "explain/heatmap.h"
#include "explain/method.h"
#include "explain/registry.h"
#include "models/io/fashion_mnist.h"
#include "models/train/train.h"
#include "models/zoo.h"

using namespace xdnn;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Σ neighbour differences of |a| over Σ |a|; a: 28×28 row-major.
double total_variation(const std::vector<double>& a, int H, int W) {
  double tv = 0, mass = 0;
  for (int i = 0; i < H; ++i)
    for (int j = 0; j < W; ++j) {
      mass += a[i * W + j];
      if (j + 1 < W) tv += std::abs(a[i * W + j + 1] - a[i * W + j]);
      if (i + 1 < H) tv += std::abs(a[(i + 1) * W + j] - a[i * W + j]);
    }
  return mass > 0 ? tv / mass : 0;
}

// Sobel gradient magnitude of an image (zero padding).
std::vector<double> sobel(const float* img, int H, int W) {
  auto px = [&](int i, int j) {
    return i < 0 || j < 0 || i >= H || j >= W ? 0.0 : static_cast<double>(img[i * W + j]);
  };
  std::vector<double> out(static_cast<size_t>(H * W));
  for (int i = 0; i < H; ++i)
    for (int j = 0; j < W; ++j) {
      const double gx = px(i - 1, j + 1) + 2 * px(i, j + 1) + px(i + 1, j + 1) - px(i - 1, j - 1) - 2 * px(i, j - 1) -
                        px(i + 1, j - 1);
      const double gy = px(i + 1, j - 1) + 2 * px(i + 1, j) + px(i + 1, j + 1) - px(i - 1, j - 1) - 2 * px(i - 1, j) -
                        px(i - 1, j + 1);
      out[i * W + j] = std::sqrt(gx * gx + gy * gy);
    }
  return out;
}

double pearson(const std::vector<double>& a, const std::vector<double>& b) {
  const double n = static_cast<double>(a.size());
  double ma = 0, mb = 0;
  for (size_t i = 0; i < a.size(); ++i) ma += a[i] / n, mb += b[i] / n;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return saa > 0 && sbb > 0 ? sab / std::sqrt(saa * sbb) : 0;
}

struct MeanSd {
  double mean = 0, sd = 0;
};
MeanSd mean_sd(const std::vector<double>& v) {
  MeanSd r;
  for (double x : v) r.mean += x / static_cast<double>(v.size());
  for (double x : v) r.sd += (x - r.mean) * (x - r.mean) / static_cast<double>(std::max<size_t>(v.size() - 1, 1));
  r.sd = std::sqrt(r.sd);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"saliency of a standard vs an adversarially trained fashion-cnn"};
  int64_t n_train = 60000, robust_test = 1000, n_maps = 100, columns = 8, pgd_steps = 7;
  int epochs = 2;
  double radius = 0.1;
  uint64_t seed = 0;
  std::string png = "robust_saliency.png", data_dir;
  app.add_option("--train", n_train);
  app.add_option("--epochs", epochs);
  app.add_option("--radius", radius);
  app.add_option("--pgd-steps", pgd_steps);
  app.add_option("--robust-test", robust_test);
  app.add_option("--maps", n_maps);
  app.add_option("--columns", columns);
  app.add_option("--seed", seed);
  app.add_option("--png", png);
  app.add_option("--fashion-mnist", data_dir);
  CLI11_PARSE(app, argc, argv);
  try {
    const LabeledImages tr = load_fashion_mnist("train", data_dir, n_train);
    const LabeledImages te = load_fashion_mnist("test", data_dir, -1);
    const LabeledData train{tr.images, tr.labels}, test{te.images, te.labels};
    const AdversarialConfig pgd =
        explain::pgd_adversary(radius, pgd_steps, 2.5 * radius / static_cast<double>(pgd_steps));
    std::printf("fashion-cnn, %lld training images, %d epochs, seed %llu; attack: %s (random start)\n",
                static_cast<long long>(train.size()), epochs, static_cast<unsigned long long>(seed),
                pgd.describe().c_str());
    std::vector<Model> models;
    const char* names[2] = {"standard", "adversarial"};
    for (int k = 0; k < 2; ++k) {
      TrainConfig cfg;
      cfg.architecture = "fashion-cnn";
      cfg.epochs = epochs;
      cfg.seed = seed;
      cfg.progress = false;
      if (k == 1) cfg.adversarial = pgd;
      Model m = build_zoo_model(cfg.architecture, seed);
      const auto t0 = std::chrono::steady_clock::now();
      const auto r = train_model(m, train, {}, cfg);
      const double train_s = seconds_since(t0);
      const EvalResult clean = evaluate(m, test);
      const EvalResult robust = evaluate_adversarial(m, test.head(robust_test), pgd, 12345);
      std::printf(
          "%-12s training %.1f s  clean test accuracy %.4f (10000 images)  robust accuracy %.4f (%lld images)\n",
          names[k], train_s, clean.accuracy, robust.accuracy, static_cast<long long>(robust.count));
      std::fflush(stdout);
      models.push_back(std::move(m));
    }

    // Saliency of the true class on the first n_maps test images.
    const Tensor x = te.images.slice_batch(0, n_maps);
    std::vector<int64_t> labels(te.labels.data<int64_t>(), te.labels.data<int64_t>() + n_maps);
    const explain::MethodInfo& saliency = explain::find_method("saliency");
    std::vector<Tensor> maps;
    std::vector<explain::RgbImage> rows[3];
    for (int64_t n = 0; n < std::min(columns, n_maps); ++n)
      rows[0].push_back(explain::render_grey(x.slice_batch(n, n + 1).reshape({28, 28}), 4));
    std::printf(
        "\nsaliency |d logit_y / dx| on %lld test images   total variation (lower: smoother)   edge "
        "correlation (higher: follows the outline)\n",
        static_cast<long long>(n_maps));
    for (int k = 0; k < 2; ++k) {
      explain::ExplainRequest req;
      req.model = &models[k];
      req.input = x;
      req.targets = labels;
      req.options = explain::resolve_options(saliency, {});
      const Tensor a = saliency.run(req).values;  // (n_maps, 1, 28, 28)
      std::vector<double> tv, edge;
      for (int64_t n = 0; n < n_maps; ++n) {
        std::vector<double> abs_map(28 * 28);
        for (int i = 0; i < 28 * 28; ++i) abs_map[i] = std::abs(a.item(n * 784 + i));
        tv.push_back(total_variation(abs_map, 28, 28));
        edge.push_back(pearson(abs_map, sobel(x.data<float>() + n * 784, 28, 28)));
        if (n < columns) {
          explain::HeatmapOptions ho;
          ho.scale = 4;
          ho.percentile = 99.5;
          ho.image_weight = 0;
          rows[k + 1].push_back(explain::render_heatmap(a.slice_batch(n, n + 1).reshape({28, 28}), Tensor(), ho));
        }
      }
      const MeanSd t = mean_sd(tv), e = mean_sd(edge);
      std::printf("%-12s %.3f ± %.3f   %.3f ± %.3f\n", names[k], t.mean, t.sd, e.mean, e.sd);
    }
    // Three rows: stack the side-by-side strips vertically.
    std::vector<explain::RgbImage> strips;
    for (auto& r : rows) strips.push_back(explain::side_by_side(r, 2));
    explain::RgbImage grid;
    grid.width = strips[0].width;
    for (const auto& s : strips) {
      grid.height += s.height + 2;
      grid.rgb.insert(grid.rgb.end(), s.rgb.begin(), s.rgb.end());
      grid.rgb.insert(grid.rgb.end(), static_cast<size_t>(2 * grid.width * 3), uint8_t{255});
    }
    explain::save_png(png, grid);
    std::printf("wrote %s (rows: input, standard saliency, adversarial saliency)\n", png.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_robust_saliency: %s\n", e.what());
    return 1;
  }
  return 0;
}
