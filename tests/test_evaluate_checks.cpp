// Evaluation checks that re-run explanation methods on changed models or compare maps (explain/evaluate/):
// the sanity checks of Adebayo et al. 2018 (an edge detector that ignores the model is flagged, saliency is
// not), the similarity measures by hand (Spearman with ties, SSIM, HOG of a ramp), data randomisation, the
// curve plot and the planted-patch task. Metric-by-metric known answers are in test_evaluate.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>

#include "engine/random.h"
#include "explain/evaluate/metric.h"
#include "explain/evaluate/planted_patch.h"
#include "explain/evaluate/plot.h"
#include "explain/evaluate/sanity.h"
#include "explain/evaluate/table.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/registry.h"
#include "layers/relu.h"
#include "models/model.h"
#include "models/zoo.h"
#include "tests/gradcheck.h"

using namespace xdnn;
using namespace xdnn::explain;

namespace {

// x (N, 1, 16, 16) -> Flatten -> Linear(256, 8) -> ReLU -> Linear(8, 3), the same weights on every call.
Model image_mlp() {
  Rng rng(31);
  Model m;
  m.add_input("x");
  m.append("flat", std::make_shared<Flatten>());
  auto fc1 = std::make_shared<Linear>("fc1", 256, 8, true, DType::F64);
  fc1->init(rng);
  m.append("fc1", fc1);
  m.append("relu", std::make_shared<ReLU>());
  auto fc2 = std::make_shared<Linear>("fc2", 8, 3, true, DType::F64);
  fc2->init(rng);
  m.append("fc2", fc2);
  m.to(DType::F64);
  return m;
}

// |horizontal difference| of the input: an "edge detector" that never looks at the model.
Tensor edges(const Tensor& x) {
  Tensor e(x.shape(), DType::F64);
  const int64_t W = x.dim(-1);
  for (int64_t i = 0; i < x.numel(); ++i) e.set_item(i, i % W + 1 < W ? std::abs(x.item(i + 1) - x.item(i)) : 0.0);
  return e;
}

}  // namespace

TEST_CASE("sanity checks: an edge detector that ignores the model is flagged; saliency is not") {
  Model m = image_mlp();
  Rng rng(37);
  Tensor x = random_tensor({2, 1, 16, 16}, rng, 0.0, 1.0).to(DType::F64);
  const std::vector<int64_t> t{0, 2};
  MetricRequest context;
  context.model = &m;
  context.input = x;
  context.targets = t;
  context.fresh_model = image_mlp;
  AttributionSource edge{"edges", edges(x),
                         [](const Model&, const Tensor& in, const std::vector<int64_t>&) { return edges(in); }};
  const AttributionSource sal = method_source(m, x, t, "saliency", {});
  for (const char* sim : {"spearman", "ssim", "hog"}) {
    const auto metrics = resolve_metrics({"cascading-randomisation", "independent-randomisation"},
                                         {{"similarity", sim}, {"hog-cell", "4"}});
    const EvaluationTable table = evaluate_table(context, {edge, sal}, metrics, false);
    for (int j = 0; j < 2; ++j) {
      CHECK(table.cells[0][j].values.shape() == Shape{2, 2});  // 2 samples x 2 parameterised layers
      for (double v : table.cells[0][j].summary) CHECK(v == doctest::Approx(1.0).epsilon(1e-12));  // flagged
    }
    // Saliency of a randomised network is another random map: far from the original after both layers.
    for (double v : table.cells[1][0].summary) CHECK(std::abs(v) < 0.5);
  }
  // Without the method (an attribution file) there is nothing to re-run; ssim / hog need image maps.
  MetricRequest req = context;
  req.attribution = sal.values;
  req.options = resolve_metric_options(find_metric("cascading-randomisation"), {});
  CHECK_THROWS_AS(find_metric("cascading-randomisation").run(req), Error);
  req.explain = sal.explain;
  req.attribution = sal.values.reshape({2, 256});
  req.options = resolve_metric_options(find_metric("cascading-randomisation"), {{"similarity", "ssim"}});
  CHECK_THROWS_AS(find_metric("cascading-randomisation").run(req), Error);
}

TEST_CASE("similarities: Spearman with tied ranks, SSIM of equal maps, HOG of a ramp") {
  CHECK(spearman({1, 2, 2, 3}, {1, 2, 3, 4}) == doctest::Approx(4.5 / std::sqrt(22.5)).epsilon(1e-14));
  CHECK(spearman({-3, 1, 2}, {3, 1, 2}) == doctest::Approx(1.0));  // absolute values
  CHECK(spearman({1, 1, 1}, {1, 2, 3}) == 0.0);                    // undefined: reported 0
  std::vector<double> a(64), b(64);
  Rng rng(41);
  for (size_t i = 0; i < a.size(); ++i) a[i] = rng.uniform(), b[i] = rng.uniform();
  CHECK(ssim(a, a, 8, 8) == doctest::Approx(1.0).epsilon(1e-14));
  CHECK(ssim(a, b, 8, 8) < 0.5);
  CHECK(ssim(a, b, 8, 8) == doctest::Approx(ssim(b, a, 8, 8)).epsilon(1e-14));
  CHECK_THROWS_AS(ssim(a, b, 4, 16), Error);
  // A horizontal ramp: every inner gradient points along x (orientation 0°, bin 0). Each 2x2-cell block
  // holds four equal bin-0 entries: 0.5 after L2, clipped to 0.2, 0.5 again after the second L2.
  std::vector<double> ramp(64);
  for (int64_t i = 0; i < 64; ++i) ramp[i] = static_cast<double>(i % 8);
  const std::vector<double> f = hog_features(ramp, 8, 8, 4);
  REQUIRE(f.size() == 36);  // one block of 2x2 cells x 9 bins
  for (size_t i = 0; i < f.size(); ++i) CHECK(f[i] == doctest::Approx(i % 9 == 0 ? 0.5 : 0.0).epsilon(1e-9));
  CHECK_THROWS_AS(hog_features(ramp, 8, 8, 8), Error);  // one cell only
}

TEST_CASE("curve plot: one panel per metric, lines in the legend colours, text drawn") {
  const RgbImage img =
      plot_curves({{"deletion", {"a", "b"}, {{1.0, 0.5, 0.0}, {1.0, 1.0, 0.0}}}, {"aopc", {"a"}, {{0, 1}}}});
  CHECK(img.width == 720);
  CHECK(img.height == 260);
  auto count = [&](int r, int g, int b) {
    int64_t n = 0;
    for (size_t i = 0; i < img.rgb.size(); i += 3) n += img.rgb[i] == r && img.rgb[i + 1] == g && img.rgb[i + 2] == b;
    return n;
  };
  CHECK(count(31, 119, 180) > 200);                              // first line (two panels) and its swatches
  CHECK(count(255, 127, 14) > 100);                              // second line
  CHECK(count(0, 0, 0) > 50);                                    // titles and axis numbers
  CHECK_THROWS_AS(plot_curves({{"x", {"a"}, {{1.0}}}}), Error);  // a curve needs two points
}

TEST_CASE("planted-patch task: the patch decides the class and is the ground truth") {
  const PlantedPatchTask t = make_planted_patch_task(50, 3);
  CHECK(t.images.shape() == Shape{50, 1, 28, 28});
  for (int64_t n = 0; n < 50; ++n) {
    const int64_t label = t.labels.data<int64_t>()[n];
    REQUIRE(label >= 0);
    REQUIRE(label < 4);
    int64_t y0 = 28, x0 = 28, inside = 0;
    for (int64_t i = 0; i < 784; ++i)
      if (t.ground_truth.item(n * 784 + i) == 1.0) y0 = std::min(y0, i / 28), x0 = std::min(x0, i % 28), ++inside;
    CHECK(inside == 36);
    for (int64_t y = 0; y < 6; ++y)
      for (int64_t x = 0; x < 6; ++x)
        CHECK(t.images.item(n * 784 + (y0 + y) * 28 + x0 + x) == (patch_pixel(label, y, x) ? 1.0 : 0.0));
  }
  const PlantedPatchTask again = make_planted_patch_task(50, 3);
  CHECK(testing::max_rel_diff(t.images, again.images) == 0.0);
  CHECK_THROWS_AS(make_planted_patch_task(0, 3), Error);
}

TEST_CASE("data randomisation: maps under a differently trained model; the edge detector is flagged") {
  Model m = build_zoo_model("fashion-mlp", 5);  // "trained": another seed than the zoo name's seed-0 init
  m.to(DType::F64);
  Rng rng(43);
  Tensor x = random_tensor({2, 1, 28, 28}, rng, 0.0, 1.0).to(DType::F64);
  const std::vector<int64_t> t{1, 3};
  MetricRequest context;
  context.model = &m;
  context.input = x;
  context.targets = t;
  AttributionSource edge{"edges", edges(x),
                         [](const Model&, const Tensor& in, const std::vector<int64_t>&) { return edges(in); }};
  const AttributionSource sal = method_source(m, x, t, "saliency", {});
  const auto metrics = resolve_metrics({"data-randomisation"}, {{"random-model", "fashion-mlp"}});
  const EvaluationTable table = evaluate_table(context, {edge, sal}, metrics, false);
  for (double v : table.cells[0][0].summary) CHECK(v == doctest::Approx(1.0).epsilon(1e-12));
  for (double v : table.cells[1][0].summary) CHECK(std::abs(v) < 0.5);
  CHECK_THROWS_AS(resolve_metrics({"data-randomisation"}, {{"seed", "3"}}), Error);  // takes no seed
  MetricRequest req = context;
  req.attribution = sal.values;
  req.explain = sal.explain;
  CHECK_THROWS_WITH_AS(resolve_metric_options(find_metric("data-randomisation"), {}),  // no --random-model
                       "--random-model is required by metric 'data-randomisation'", Error);
  req.options = Options{};  // options built by hand, not resolved: the metric's own check still holds
  CHECK_THROWS_AS(find_metric("data-randomisation").run(req), Error);
}
