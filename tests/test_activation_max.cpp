// Activation maximisation (explain/global/activation_max.h): the objective's gradient against float64 finite
// differences, the defining property (the maximised activation lies well above that of every example of a
// data set), bit-identical results for any thread count, and one-line errors for a bad layer or unit.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/error.h"
#include "engine/parallel.h"
#include "engine/random.h"
#include "explain/global/activation_max.h"
#include "explain/global/image_grid.h"
#include "explain/global/section.h"
#include "explain/global/vae.h"
#include "models/io/fashion_mnist.h"
#include "models/train/train.h"
#include "models/zoo.h"

using namespace xdnn;
using namespace xdnn::explain;

namespace {

// fashion-cnn after two epochs on 10,000 training images (test accuracy about 0.8): units that respond to
// clothing, not to noise.
const Model& trained_cnn() {
  static Model m = [] {
    Model model = build_zoo_model("fashion-cnn", 3);
    const LabeledImages train = load_fashion_mnist("train", "", 10000);
    TrainConfig cfg;
    cfg.architecture = "fashion-cnn";
    cfg.seed = 3;
    cfg.batch_size = 64;
    cfg.epochs = 2;
    cfg.progress = false;
    train_model(model, {train.images, train.labels},
                {train.images.slice_batch(0, 100), train.labels.slice_batch(0, 100)}, cfg);
    return model;
  }();
  return m;
}

double column_max(const Tensor& a, int64_t u) {
  double m = -INFINITY;
  for (int64_t n = 0; n < a.dim(0); ++n) m = std::max(m, a.data<double>()[n * a.dim(1) + u]);
  return m;
}

}  // namespace

TEST_CASE("activation maximisation: the objective's gradient matches float64 finite differences") {
  Model model = build_zoo_model("fashion-cnn", 5);
  model.to(DType::F64);
  VisualizeSettings s;
  s.l2 = 0.3;
  s.l1 = 0.2;
  s.tv = 0.7;
  Rng rng(9);
  for (const bool channel : {true, false}) {
    VisualizeTarget t;
    t.layer = channel ? "conv2" : "fc";
    t.channel = channel;
    t.units = channel ? std::vector<int64_t>{3, 11} : std::vector<int64_t>{7, 2};
    Tensor x({2, 1, 28, 28}, DType::F64);
    for (int64_t i = 0; i < x.numel(); ++i) x.data<double>()[i] = rng.uniform(0.2, 0.8);  // away from |x|'s kink
    const std::vector<std::pair<int64_t, int64_t>> shifts = {{1, -2}, {0, 3}};
    Tensor grad;
    visualize_objective(model, t, s, x, shifts, &grad);
    for (int k = 0; k < 24; ++k) {
      const int64_t i = static_cast<int64_t>(rng.below(static_cast<uint64_t>(x.numel())));
      const double h = 1e-6, keep = x.data<double>()[i];
      x.data<double>()[i] = keep + h;
      const std::vector<double> up = visualize_objective(model, t, s, x, shifts, nullptr);
      x.data<double>()[i] = keep - h;
      const std::vector<double> down = visualize_objective(model, t, s, x, shifts, nullptr);
      x.data<double>()[i] = keep;
      const int64_t row = i / 784;
      const double fd = (up[row] - down[row]) / (2 * h), g = grad.data<double>()[i];
      CHECK(std::abs(fd - g) <= 1e-6 * (1 + std::abs(g)));
    }
  }
}

TEST_CASE("activation maximisation raises each target well above every example of a data set") {
  const Model& model = trained_cnn();
  const Tensor data = load_fashion_mnist("test", "", 1000).images;
  VisualizeSettings s;
  s.steps = 256;
  for (const std::string layer : {"", "conv2"}) {
    VisualizeTarget t;
    t.layer = layer;
    t.units = layer.empty() ? std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9} : std::vector<int64_t>{0, 5, 10, 15};
    const VisualizeResult r = visualize(model, {1, 28, 28}, t, s);
    const Tensor a = unit_activations(model, data, t);
    for (size_t u = 0; u < t.units.size(); ++u) {
      const double best = column_max(a, static_cast<int64_t>(u));
      INFO(r.labels[u] << ": maximised " << r.activation[u] << ", data-set max " << best << ", start " << r.start[u]);
      CHECK(r.activation[u] > r.start[u]);
      // 20 % above the best of 1,000 examples (or more above a negative one); measured 25-50 % on this briefly
      // trained model, 2-3x on the class logits of the README's two-epoch model (bench/RESULTS.md).
      CHECK(r.activation[u] > best + 0.2 * std::abs(best));
    }
    bool in_box = true;
    for (int64_t i = 0; i < r.images.numel(); ++i) in_box = in_box && r.images.item(i) >= 0 && r.images.item(i) <= 1;
    CHECK(in_box);
  }
}

TEST_CASE("activation maximisation: same seed, same bits, for 1 and 2 threads; another seed differs") {
  const Model& model = trained_cnn();
  VisualizeTarget t;
  t.layer = "conv1";
  t.units = {0, 4, 7};
  VisualizeSettings s;
  s.steps = 20;
  s.lr = 0.005;  // small steps: the pixels stay off the box's faces, so the start's noise still shows
  s.jitter = 2;
  s.l1 = 0.01;
  const int saved = num_threads();
  set_num_threads(1);
  const VisualizeResult one = visualize(model, {1, 28, 28}, t, s);
  set_num_threads(2);
  const VisualizeResult two = visualize(model, {1, 28, 28}, t, s);
  set_num_threads(saved);
  s.seed = 1;
  const VisualizeResult other = visualize(model, {1, 28, 28}, t, s);
  bool same = true, differs = false;
  for (int64_t i = 0; i < one.images.numel(); ++i) {
    same = same && one.images.data<float>()[i] == two.images.data<float>()[i];
    differs = differs || one.images.data<float>()[i] != other.images.data<float>()[i];
  }
  CHECK(same);
  CHECK(differs);
  CHECK(one.activation == two.activation);
}

TEST_CASE("activation maximisation: unknown layer, unit out of range, token model: one-line errors") {
  const Model& model = trained_cnn();
  VisualizeTarget t;
  t.layer = "conv9";
  t.units = {0};
  CHECK_THROWS_WITH_AS(visualize(model, {1, 28, 28}, t, {}), doctest::Contains("--layer conv9"), Error);
  t.layer = "conv2";
  t.units = {16};
  CHECK_THROWS_WITH_AS(visualize(model, {1, 28, 28}, t, {}),
                       doctest::Contains("--units 16: tensor 'conv2' has 16 channels (0..15)"), Error);
  t.channel = false;
  t.units = {16 * 14 * 14};
  CHECK_THROWS_WITH_AS(visualize(model, {1, 28, 28}, t, {}), doctest::Contains("3136 units per sample"), Error);
  t.layer = "";
  t.channel = true;
  t.units = {-1};
  CHECK_THROWS_WITH_AS(visualize(model, {1, 28, 28}, t, {}), doctest::Contains("--units -1"), Error);
  CHECK_THROWS_WITH_AS(parse_units(model, {1, 28, 28}, t, "1,x"), doctest::Contains("--units 1,x"), Error);
  CHECK(parse_units(model, {1, 28, 28}, t, "all").size() == 10);
  t.units = {0};
  VisualizeSettings s;
  s.steps = 0;
  CHECK_THROWS_WITH_AS(visualize(model, {1, 28, 28}, t, s), doctest::Contains("--steps 0"), Error);
}

TEST_CASE("image grid: cells, captions and size") {
  Tensor images = Tensor::zeros({5, 1, 4, 6}, DType::F32);
  images.data<float>()[0] = 1.0f;  // picture 0, pixel (0, 0) white
  GridOptions opt;
  opt.columns = 2;
  opt.scale = 3;
  opt.gap = 2;
  const RgbImage g = image_grid(images, {}, opt);
  CHECK(g.width == 2 * 18 + 3 * 2);
  CHECK(g.height == 3 * 12 + 4 * 2);
  CHECK(g.rgb[(2 * g.width + 2) * 3] == 255);  // picture 0's white pixel at the first cell's corner
  CHECK(g.rgb[(2 * g.width + 5) * 3] == 0);    // its black neighbour
  const RgbImage captioned = image_grid(images, {"a", "b", "c", "d", "e\nf"}, opt);
  CHECK(captioned.height == 3 * (12 + 24) + 4 * 2);
  CHECK_THROWS_AS(image_grid(images, {"a"}, opt), Error);
}

TEST_CASE("activation maximisation: the 'visualize' section of the global report") {
  const Model& model = trained_cnn();
  GlobalReportRequest req;
  req.context.model = &model;
  req.context.model_label = "fashion-cnn";
  req.context.data = load_fashion_mnist("test", "", 50).images;
  req.sections = {"visualize"};
  req.options = {{"steps", "5"}, {"units", "2,7"}, {"tv", "0.01"}};
  const std::string page = render_global_report(req);
  CHECK(page.find("<h2 id=\"visualize\">Activation maximisation") != std::string::npos);
  CHECK(page.find("src=\"data:image/png;base64,") != std::string::npos);
  CHECK(page.find("largest over the 50 data-set examples") != std::string::npos);
  CHECK(page.find("class 7 Sneaker") != std::string::npos);
  req.options = {{"layer", "conv7"}};
  CHECK_THROWS_WITH_AS(render_global_report(req), doctest::Contains("--layer conv7"), Error);
}

TEST_CASE("activation maximisation on the Strict device: the CPU's images and activations, same bytes") {
  // Pixels (channel objective, every penalty, jitter) and a generator's latent (unit objective): the ascent,
  // the roll, the penalties and Adam run through ops:: on Strict, whose memory host code may not read.
  auto run = [](Device device, bool with_generator) {
    Model model = build_zoo_model("fashion-cnn", 4);
    model.to(device);
    Rng rng(6);
    Vae vae = build_vae({1, 28, 28}, 3, 16, rng);
    vae.decoder.to(device);
    VisualizeTarget t;
    t.layer = with_generator ? "fc" : "conv2";
    t.channel = !with_generator;
    t.units = {1, 6, 3};
    t.device = device;
    VisualizeSettings s;
    s.steps = 6;
    s.jitter = 2;
    s.l2 = 0.02;
    s.l1 = 0.01;
    s.tv = 0.05;
    return visualize(model, {1, 28, 28}, t, s, with_generator ? &vae.decoder : nullptr);
  };
  for (const bool with_generator : {false, true}) {
    INFO(std::string(with_generator ? "generator" : "pixels"));
    const VisualizeResult cpu = run(Device::CPU, with_generator), strict = run(Device::Strict, with_generator);
    CHECK(strict.images.device() == Device::CPU);
    CHECK(bitwise_equal(strict.images, cpu.images));
    CHECK(strict.start == cpu.start);
    CHECK(strict.activation == cpu.activation);
    CHECK(cpu.activation != cpu.start);  // the steps moved the images
  }
}
