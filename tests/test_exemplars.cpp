// Filter and data views (explain/global/receptive_field.h, exemplars.h): receptive fields against a hand
// computation and against the support of the input gradient; top-k activations against a direct search;
// class exemplars against brute force; first-layer weights; bad input.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/random.h"
#include "explain/global/exemplars.h"
#include "explain/global/section.h"
#include "explain/svcca.h"
#include "layers/avgpool2d.h"
#include "layers/conv2d.h"
#include "layers/tanh.h"
#include "models/zoo.h"

using namespace xdnn;
using namespace xdnn::explain;

namespace {

// input (N, 1, 20, 20) → conv1 3×3 pad 1 → tanh → avgpool 2 → conv2 3×3 stride 2 dilation 2 pad 2 → tanh.
// Smooth activations and average pooling: the gradient of a unit reaches every pixel of its field.
Model smooth_cnn(Rng& rng) {
  Model m;
  m.add_input("input");
  auto c1 = std::make_shared<Conv2d>("conv1", 1, 2, 3, 3, Conv2dOptions::same(1, 1), DType::F64);
  c1->init(rng);
  Conv2dOptions o = Conv2dOptions::same(2, 2, 2);
  auto c2 = std::make_shared<Conv2d>("conv2", 2, 3, 3, 3, o, DType::F64);
  c2->init(rng);
  m.append("conv1", c1);
  m.append("tanh1", std::make_shared<Tanh>());
  m.append("pool1", std::make_shared<AvgPool2d>(2));
  m.append("conv2", c2);
  m.append("tanh2", std::make_shared<Tanh>());
  m.to(DType::F64);
  return m;
}

Tensor random_images(int64_t n, int64_t h, int64_t w, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> v(static_cast<size_t>(n * h * w));
  for (double& x : v) x = rng.uniform();
  return Tensor::from_vector({n, 1, h, w}, v);
}

}  // namespace

TEST_CASE("receptive field: fashion-cnn by hand") {
  // conv1 3×3 pad 1: (j 1, r 3, s −1); pool1 2×2: (2, 4, −1); conv2 3×3 pad 1: (2, 4 + 2·2, −1 − 2) = (2, 8, −3);
  // relu2 the same; pool2: (4, 8 + 1·2, −3) = (4, 10, −3); flatten and fc see everything.
  const Model m = build_zoo_model("fashion-cnn", 0);
  auto expect = [&](const std::string& name, int64_t j, int64_t r, int64_t s) {
    const ReceptiveField rf = receptive_field(m, name);
    CHECK(rf.spatial);
    CHECK(rf.jump_h == j);
    CHECK(rf.jump_w == j);
    CHECK(rf.size_h == r);
    CHECK(rf.size_w == r);
    CHECK(rf.start_h == s);
    CHECK(rf.start_w == s);
  };
  expect("conv1", 1, 3, -1);
  expect("pool1", 2, 4, -1);
  expect("relu2", 2, 8, -3);
  expect("pool2", 4, 10, -3);
  CHECK_FALSE(receptive_field(m, "fc").spatial);
  // Position (0, 0) of pool2 sees rows [−3, 7) clipped to [0, 7); (6, 6) sees [21, 31) clipped to [21, 28).
  const PixelBox a = receptive_box(receptive_field(m, "pool2"), 0, 0, 28, 28);
  CHECK((a.top == 0 && a.bottom == 7 && a.left == 0 && a.right == 7));
  const PixelBox b = receptive_box(receptive_field(m, "pool2"), 6, 6, 28, 28);
  CHECK((b.top == 21 && b.bottom == 28));
  CHECK_THROWS_WITH_AS(receptive_field(m, "conv9"), doctest::Contains("conv9"), Error);
}

TEST_CASE("receptive field: equals the support of the input gradient (stride, dilation, padding, avg-pool)") {
  Rng rng(4);
  const Model m = smooth_cnn(rng);
  // By hand: conv1 (1, 3, −1); pool1 (2, 4, −1); conv2 k3 s2 d2 p2: (4, 4 + 2·2·2, −1 − 2·2) = (4, 12, −5).
  const ReceptiveField rf = receptive_field(m, "tanh2");
  CHECK((rf.jump_h == 4 && rf.size_h == 12 && rf.start_h == -5 && rf.size_w == 12 && rf.start_w == -5));
  const Tensor x = random_images(1, 20, 20, 9);
  const Tape tape = m.forward({x});
  const int id = m.value_id("tanh2");
  const Tensor& y = tape.values[id];  // (1, 3, 5, 5)
  REQUIRE(y.dim(2) == 5);
  // Every unit's gradient support lies in its field; away from the border (where a field reaches pixels
  // only through an intermediate layer's padding) it is the whole field.
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t oy = 0; oy < 5; ++oy)
      for (int64_t ox = 0; ox < 5; ++ox) {
        Tensor seed = Tensor::zeros(y.shape(), DType::F64);
        seed.set_item((c * 5 + oy) * 5 + ox, 1.0);
        const Tensor g = m.backward(tape, {{id, seed}})[m.inputs()[0]];
        int64_t top = 20, left = 20, bottom = 0, right = 0;
        for (int64_t i = 0; i < 20; ++i)
          for (int64_t j = 0; j < 20; ++j)
            if (g.item(i * 20 + j) != 0.0) {
              top = std::min(top, i), bottom = std::max(bottom, i + 1);
              left = std::min(left, j), right = std::max(right, j + 1);
            }
        const PixelBox box = receptive_box(rf, oy, ox, 20, 20);
        CHECK((top >= box.top && left >= box.left && bottom <= box.bottom && right <= box.right));
        if (oy >= 1 && oy <= 3 && ox >= 1 && ox <= 3)
          CHECK((top == box.top && left == box.left && bottom == box.bottom && right == box.right));
      }
}

TEST_CASE("top activations: the k largest per-example maxima, at their positions, in any chunking") {
  Rng rng(2);
  const Model m = smooth_cnn(rng);
  const Tensor x = random_images(23, 20, 20, 5);
  const Tensor act = layer_activation(m, x, "conv2");  // (23, 3, 5, 5)
  const auto top = top_activations(m, x, "conv2", {2, 0}, 5, 7);
  REQUIRE(top.size() == 2);
  for (size_t ci = 0; ci < 2; ++ci) {
    const int64_t c = ci == 0 ? 2 : 0;
    std::vector<std::pair<double, int64_t>> maxima;
    for (int64_t n = 0; n < 23; ++n) {
      double best = -1e300;
      for (int64_t p = 0; p < 25; ++p) best = std::max(best, act.item((n * 3 + c) * 25 + p));
      maxima.push_back({-best, n});
    }
    std::sort(maxima.begin(), maxima.end());
    REQUIRE(top[ci].size() == 5);
    for (size_t k = 0; k < 5; ++k) {
      CHECK(top[ci][k].sample == maxima[k].second);
      CHECK(top[ci][k].value == -maxima[k].first);
      CHECK(act.item((top[ci][k].sample * 3 + c) * 25 + top[ci][k].y * 5 + top[ci][k].x) == top[ci][k].value);
    }
  }
  CHECK(top == top_activations(m, x, "conv2", {2, 0}, 5, 23));  // one chunk: the same answer
  CHECK_THROWS_WITH_AS(top_activations(m, x, "conv2", {3}, 5),
                       doctest::Contains("channel 3 of layer 'conv2' is out of range: it has 3 channels"), Error);
  CHECK_THROWS_WITH_AS(top_activations(m, x, "no-such-layer", {0}, 5), doctest::Contains("no-such-layer"), Error);
  // The patches: one row per channel, k cells of the 12 × 12 field.
  const RgbImage grid = patch_grid(x, receptive_field(m, "conv2"), top, 2);
  CHECK(grid.width == 3 + 5 * (24 + 3));
  CHECK(grid.height == 3 + 2 * (24 + 3));
}

TEST_CASE("class exemplars: nearest to each class mean; first-layer weights") {
  // Class 0 around (0, 0), class 1 around (10, 0); the point nearest each mean is known.
  const Tensor a = Tensor::from_vector({6, 2}, std::vector<double>{0, 1, 0, -1, 0.1, 0, 10, 3, 10, -2, 9, 0});
  const Tensor labels = Tensor::from_vector({6}, std::vector<int64_t>{0, 0, 0, 1, 1, 1});
  const auto ex = class_exemplars(a, labels, 2);
  REQUIRE(ex.size() == 2);
  // Mean of class 0: (0.0333, 0): nearest is #2 (0.1, 0), then #0 / #1 tie → #0.
  CHECK(ex[0].nearest == std::vector<int64_t>{2, 0});
  // Mean of class 1: (9.667, 0.333): nearest #5 (9, 0), then #4 (10, −2) at 2.36 vs #3 (10, 3) at 2.69.
  CHECK(ex[1].nearest == std::vector<int64_t>{5, 4});
  CHECK(ex[1].distance[0] == doctest::Approx(std::hypot(0.6667, 0.3333)).epsilon(1e-3));
  CHECK_THROWS_AS(class_exemplars(a, Tensor::zeros({5}, DType::I64), 2), Error);
  // Nearest to one example's activation (xdnn exemplars --nearest-to): itself first, then by distance.
  const std::vector<double> row3 = {10, 3};
  CHECK(nearest_rows(a, row3, 3) == std::vector<int64_t>{3, 5, 4});  // distances² 0, 10, 25

  const FirstLayerWeights cnn = first_layer_weights(build_zoo_model("fashion-cnn", 0));
  CHECK(cnn.node == "conv1");
  CHECK(cnn.weight.shape() == Shape{8, 1, 3, 3});
  const FirstLayerWeights mlp = first_layer_weights(build_zoo_model("fashion-mlp", 0));
  CHECK(mlp.weight.shape() == Shape{64, 1, 28, 28});
  const RgbImage img = filter_grid(cnn.weight, 4);  // 8 grey filters in one row of 8 cells
  CHECK(img.width == 2 + 8 * (12 + 2));
  CHECK(img.height == 2 + 1 * (12 + 2));
}

TEST_CASE("global report: the views' sections render their pictures and tables") {
  const Model m = build_zoo_model("fashion-cnn", 1);
  GlobalReportRequest req;
  req.context.model = &m;
  req.context.model_label = "fashion-cnn";
  req.context.data = random_images(40, 28, 28, 3).to(DType::F32);
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < 40; ++i) labels.push_back(i % 4);
  req.context.labels = Tensor::from_vector({40}, labels);
  req.sections = {"filters", "top-activations", "class-exemplars", "projection"};
  req.options = {{"iterations", "50"}, {"channels", "0,1"}, {"top", "3"}};
  const std::string page = render_global_report(req);
  size_t images = 0;
  for (size_t at = page.find("<img"); at != std::string::npos; at = page.find("<img", at + 1)) ++images;
  CHECK(images == 5);                                                    // filters, patches, exemplars, PCA, t-SNE
  CHECK(page.find("Channels of &#39;conv2&#39;") == std::string::npos);  // quotes are not entities
  CHECK(page.find("Channels of 'conv2' (2 of 16)") != std::string::npos);
  CHECK(page.find("nearest (Euclidean) to the class's mean activation at 'flatten'") != std::string::npos);
  req.options = {{"layer", "conv9"}};
  CHECK_THROWS_WITH_AS(render_global_report(req), doctest::Contains("conv9"), Error);
}

TEST_CASE("filter and data views on the Strict device: the CPU's maxima, exemplars and pictures") {
  // The maxima, the class means and the distances run through ops:: on Strict (memory host code may not
  // read); only the small results and the drawn examples come back.
  Rng rng(2);
  const Model cpu_model = smooth_cnn(rng);
  Rng rng_again(2);
  Model strict_model = smooth_cnn(rng_again);
  strict_model.to(Device::Strict);
  const Tensor x = random_images(23, 20, 20, 5);
  const auto top = top_activations(cpu_model, x, "conv2", {2, 0, 1}, 4, 7);
  CHECK(top_activations(strict_model, x.to(Device::Strict), "conv2", {2, 0, 1}, 4, 7) == top);
  const RgbImage patches = patch_grid(x, receptive_field(cpu_model, "conv2"), top, 2);
  CHECK(patch_grid(x.to(Device::Strict), receptive_field(cpu_model, "conv2"), top, 2).rgb == patches.rgb);

  const Tensor act = layer_activation(cpu_model, x, "conv2");
  const Tensor rows = act.reshape({23, act.numel() / 23});
  std::vector<int64_t> label_values;
  for (int64_t i = 0; i < 23; ++i) label_values.push_back((i * 7) % 3);
  const Tensor labels = Tensor::from_vector({23}, label_values);
  const auto ex = class_exemplars(rows, labels, 4);
  const auto ex_strict = class_exemplars(rows.to(Device::Strict), labels.to(Device::Strict), 4);
  REQUIRE(ex_strict.size() == ex.size());
  for (size_t c = 0; c < ex.size(); ++c) {
    CHECK(ex_strict[c].label == ex[c].label);
    CHECK(ex_strict[c].nearest == ex[c].nearest);
    CHECK(ex_strict[c].distance == ex[c].distance);
  }
  const std::vector<double> centre(static_cast<size_t>(rows.dim(1)), 0.25);
  CHECK(nearest_rows(rows.to(Device::Strict), centre, 5) == nearest_rows(rows, centre, 5));
  const Tensor w = first_layer_weights(cpu_model).weight;
  CHECK(filter_grid(w.to(Device::Strict), 3).rgb == filter_grid(w, 3).rgb);
  CHECK(example_grid(x.to(Device::Strict), {{3, 1}, {0}}, 2).rgb == example_grid(x, {{3, 1}, {0}}, 2).rgb);
}
