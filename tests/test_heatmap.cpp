// Heatmap PNGs: colours at known positive / negative / zero spots, read back from the PNG with
// stb_image; percentile scaling; the grey blend; base64 (RFC 4648 test vectors); errors.
#include <doctest/doctest.h>
#include <stb/stb_image.h>

#include <unistd.h>
#include <array>
#include <cmath>
#include <filesystem>
#include <string>

#include "engine/random.h"
#include "explain/evaluate/table.h"
#include "explain/heatmap.h"
#include "explain/integrated_gradients.h"
#include "explain/lrp/composite.h"
#include "explain/report.h"
#include "explain/targets.h"
#include "layers/registry.h"
#include "models/zoo.h"
#include "tests/perturbation_fixtures.h"

using namespace xdnn;
using namespace xdnn::explain;

namespace {

// Decoded PNG pixels (RGB), via stb_image.
struct Decoded {
  int w = 0, h = 0, channels = 0;
  std::vector<uint8_t> rgb;
  std::array<int, 3> px(int x, int y) const {
    size_t i = (static_cast<size_t>(y) * w + x) * 3;
    return {rgb[i], rgb[i + 1], rgb[i + 2]};
  }
  // "r,g,b" of pixel (x, y): strings make failed checks readable.
  std::string at(int x, int y) const {
    std::array<int, 3> p = px(x, y);
    return std::to_string(p[0]) + "," + std::to_string(p[1]) + "," + std::to_string(p[2]);
  }
};

Decoded decode(const std::string& png) {
  Decoded d;
  stbi_uc* p = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(png.data()), static_cast<int>(png.size()), &d.w,
                                     &d.h, &d.channels, 3);
  REQUIRE(p != nullptr);
  d.rgb.assign(p, p + static_cast<size_t>(d.w) * d.h * 3);
  stbi_image_free(p);
  return d;
}

// The PNG behind <img alt="ALT" ... src="data:image/png;base64,...">, decoded (RFC 4648 base64).
Decoded image_in_page(const std::string& page, const std::string& alt) {
  const size_t at = page.find("alt=\"" + alt + "\"");
  REQUIRE(at != std::string::npos);
  const std::string tag = "base64,";
  const size_t from = page.find(tag, at) + tag.size(), to = page.find('"', from);
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes;
  uint32_t bits = 0;
  int count = 0;
  for (size_t i = from; i < to && page[i] != '='; ++i) {
    bits = (bits << 6) | static_cast<uint32_t>(alphabet.find(page[i]));
    if ((count += 6) >= 8) bytes += static_cast<char>((bits >> (count -= 8)) & 0xFF);
  }
  return decode(bytes);
}

std::string RGB(int r, int g, int b) { return std::to_string(r) + "," + std::to_string(g) + "," + std::to_string(b); }

}  // namespace

TEST_CASE("heatmap: diverging colours at positive, negative and zero spots survive PNG encoding") {
  // attribution (4, 5): +2 (the max |a|) at (x=2, y=1), -1 at (x=0, y=3), -2 at (x=4, y=0), 0 elsewhere.
  Tensor a = Tensor::zeros({4, 5});
  a.set_item(1 * 5 + 2, 2.0);
  a.set_item(3 * 5 + 0, -1.0);
  a.set_item(0 * 5 + 4, -2.0);
  HeatmapOptions opt;
  opt.scale = 3;
  opt.image_weight = 0;
  std::string path = (std::filesystem::temp_directory_path() / ("xdnn_heatmap_" + std::to_string(getpid()) + ".png"));
  save_png(path, render_heatmap(a, Tensor(), opt));
  int w = 0, h = 0, c = 0;
  stbi_uc* p = stbi_load(path.c_str(), &w, &h, &c, 3);
  REQUIRE(p != nullptr);
  Decoded d;
  d.w = w, d.h = h, d.channels = c;
  d.rgb.assign(p, p + static_cast<size_t>(w) * h * 3);
  stbi_image_free(p);
  std::filesystem::remove(path);
  CHECK(w == 15);
  CHECK(h == 12);
  CHECK(c == 3);
  // Every pixel of a 3x3 block has its input pixel's colour.
  for (int dy = 0; dy < 3; ++dy)
    for (int dx = 0; dx < 3; ++dx) {
      CHECK(d.at(2 * 3 + dx, 1 * 3 + dy) == RGB(255, 0, 0));      // +max: red
      CHECK(d.at(4 * 3 + dx, 0 * 3 + dy) == RGB(0, 0, 255));      // -max: blue
      CHECK(d.at(0 * 3 + dx, 3 * 3 + dy) == RGB(128, 128, 255));  // -max/2: half-way to white (127.5 rounds up)
      CHECK(d.at(1 * 3 + dx, 2 * 3 + dy) == RGB(255, 255, 255));  // zero: white
    }
  // Symmetric around zero: negating the map swaps red and blue.
  Tensor neg = Tensor::zeros({4, 5});
  for (int64_t i = 0; i < 20; ++i) neg.set_item(i, -a.item(i));
  Decoded dn = decode(png_bytes(render_heatmap(neg, Tensor(), opt)));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      std::array<int, 3> o = d.px(x, y), n = dn.px(x, y);
      REQUIRE(n == std::array<int, 3>{o[2], o[1], o[0]});
    }
}

TEST_CASE("heatmap: the grey image shows through with the given weight; (1, 1, H, W) inputs") {
  Tensor a = Tensor::from_vector({1, 1, 2, 2}, std::vector<float>{0.5f, 0.0f, -0.5f, 0.25f});
  Tensor img = Tensor::from_vector({1, 1, 2, 2}, std::vector<float>{1.0f, 0.2f, 0.0f, 2.0f});  // 2.0 clamps to 1
  HeatmapOptions opt;
  opt.scale = 1;
  opt.image_weight = 0.35;
  Decoded d = decode(png_bytes(render_heatmap(a, img, opt)));
  auto mix = [](double colour, double grey) {
    return static_cast<int>(std::lround(0.65 * colour + 0.35 * 255 * grey));
  };
  CHECK(d.at(0, 0) == RGB(mix(255, 1), mix(0, 1), mix(0, 1)));            // red over white
  CHECK(d.at(1, 0) == RGB(mix(255, 0.2), mix(255, 0.2), mix(255, 0.2)));  // zero over dark grey
  CHECK(d.at(0, 1) == RGB(mix(0, 0), mix(0, 0), mix(255, 0)));            // blue over black
  CHECK(d.at(1, 1) == RGB(mix(255, 1), mix(128, 1), mix(128, 1)));        // half red over (clamped) white
  // The plain grey image.
  Decoded g = decode(png_bytes(render_grey(img, 2)));
  CHECK(g.w == 4);
  CHECK(g.at(0, 0) == RGB(255, 255, 255));
  CHECK(g.at(3, 0) == RGB(51, 51, 51));
  CHECK(g.at(0, 3) == RGB(0, 0, 0));
}

TEST_CASE("heatmap: percentile scaling saturates the largest values") {
  Tensor a({10, 10}, DType::F64);
  for (int64_t i = 0; i < 100; ++i) a.set_item(i, static_cast<double>(i + 1));  // 1 .. 100
  CHECK(attribution_scale(a, 100) == 100);
  CHECK(attribution_scale(a, 90) == 90);
  CHECK(attribution_scale(a, 0.5) == 1);
  HeatmapOptions opt;
  opt.scale = 1;
  opt.image_weight = 0;
  opt.percentile = 90;
  Decoded d = decode(png_bytes(render_heatmap(a, Tensor(), opt)));
  CHECK(d.at(4, 4) == RGB(255, 128, 128));  // 45 / 90 = 0.5
  CHECK(d.at(9, 8) == RGB(255, 0, 0));      // 90: full red
  CHECK(d.at(9, 9) == RGB(255, 0, 0));      // 100: saturated
  // An all-zero map is white, not NaN.
  Decoded z = decode(png_bytes(render_heatmap(Tensor::zeros({2, 2}), Tensor(), opt)));
  CHECK(z.at(1, 1) == RGB(255, 255, 255));
}

TEST_CASE("heatmap: base64 follows RFC 4648 and PNGs embed as data URIs") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_encode("foob") == "Zm9vYg==");
  CHECK(base64_encode("fooba") == "Zm9vYmE=");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  CHECK(base64_encode(std::string("\xff\xfe\x00", 3)) == "//4A");
  std::string png = png_bytes(render_grey(Tensor::full({3, 3}, 0.5), 1));
  CHECK(png.substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));
  CHECK(base64_encode(png).rfind("iVBORw0KGgo", 0) == 0);
  CHECK(png == png_bytes(render_grey(Tensor::full({3, 3}, 0.5), 1)));  // deterministic bytes
}

TEST_CASE("heatmap: bad inputs are one-line errors") {
  Tensor a = Tensor::zeros({4, 4});
  CHECK_THROWS_AS(render_heatmap(Tensor::zeros({2, 4, 4}), Tensor()), Error);
  CHECK_THROWS_AS(render_heatmap(Tensor::zeros({4}), Tensor()), Error);
  CHECK_THROWS_AS(render_heatmap(Tensor::zeros({4, 4}, DType::I64), Tensor()), Error);
  CHECK_THROWS_AS(render_heatmap(a, Tensor::zeros({4, 5})), Error);
  Tensor nan = Tensor::zeros({4, 4});
  nan.set_item(5, std::nan(""));
  CHECK_THROWS_WITH_AS(render_heatmap(nan, Tensor()), doctest::Contains("non-finite value at index 5"), Error);
  HeatmapOptions bad;
  bad.scale = 0;
  CHECK_THROWS_WITH_AS(render_heatmap(a, Tensor(), bad), doctest::Contains("scale 0 must be in [1, 64]"), Error);
  bad = HeatmapOptions();
  bad.percentile = 0;
  CHECK_THROWS_AS(render_heatmap(a, Tensor(), bad), Error);
  bad = HeatmapOptions();
  bad.image_weight = 1.5;
  CHECK_THROWS_AS(render_heatmap(a, Tensor(), bad), Error);
  CHECK_THROWS_WITH_AS(save_png("/nonexistent/dir/h.png", render_grey(a, 1)),
                       doctest::Contains("/nonexistent/dir/h.png: cannot write"), Error);
  RgbImage broken;
  broken.width = 2, broken.height = 2;
  CHECK_THROWS_AS(png_bytes(broken), Error);
}

TEST_CASE("report: a cell whose map is zero everywhere says so") {
  // gradient × input of an all-black image is exactly zero; the saliency of an untrained CNN is not.
  Model model = build_zoo_model("fashion-cnn", 1);
  ReportRequest req;
  req.model = &model;
  req.input = Tensor({1, 1, 28, 28}, DType::F32);
  req.methods = {"saliency"};
  CHECK(render_report(req).find("all zero") == std::string::npos);
  req.methods = {"gradient-x-input"};
  const std::string page = render_report(req);
  CHECK(page.find("all zero") != std::string::npos);
  CHECK(page.find("width=\"112\" height=\"112\"") != std::string::npos);  // 28x28 cells drawn at 4x
}

TEST_CASE("report: a registered choice an option names is described from its registry") {
  Model model = build_zoo_model("fashion-cnn", 1);
  ReportRequest req;
  req.model = &model;
  req.input = Tensor({1, 1, 28, 28}, DType::F32);
  req.methods = {"lrp", "integrated-gradients"};
  req.options = {{"composite", "epsilon-gamma-box"}, {"steps", "4"}};
  const std::string page = render_report(req);
  const std::string lrp_line =
      "composite=epsilon-gamma-box [" + explain::lrp::composites().find("epsilon-gamma-box").description;
  const std::string ig_line =
      "integration=gauss-legendre [" + explain::integration_rules().find("gauss-legendre").description;
  CHECK(page.find(lrp_line) != std::string::npos);
  CHECK(page.find(ig_line) != std::string::npos);
}

TEST_CASE("report: --metrics adds an evaluation section with the numbers of `xdnn evaluate`") {
  Model model = build_zoo_model("fashion-cnn", 1);
  model.to(DType::F64);
  Rng rng(3);
  ReportRequest req;
  req.model = &model;
  req.input = random_tensor({3, 1, 28, 28}, rng, 0.0, 1.0);
  req.methods = {"saliency", "gradient-x-input"};
  req.metrics = {"deletion", "insertion"};
  req.metric_options = {{"score", "prob"}, {"steps", "7"}};
  const std::string page = render_report(req);
  REQUIRE(page.find("<h2>Evaluation</h2>") != std::string::npos);
  CHECK(page.find("alt=\"mean curves\"") != std::string::npos);
  // The cells equal what evaluate_table (the code of `xdnn evaluate --methods`) gives for the same batch.
  const Tensor x = req.input.to(DType::F64);
  const std::vector<int64_t> targets = resolve_targets(model, x, -1);
  std::vector<AttributionSource> sources;
  for (const auto& m : req.methods) sources.push_back(method_source(model, x, targets, m, {}));
  MetricRequest context;
  context.model = &model;
  context.input = x;
  context.targets = targets;
  const EvaluationTable t = evaluate_table(context, sources, resolve_metrics(req.metrics, req.metric_options), false);
  CHECK(page.find(t.html()) != std::string::npos);
  CHECK(t.html().find("<td>saliency</td>") != std::string::npos);

  // Metric options are checked before any work: a missing --steps, an option no metric takes, token inputs.
  req.metric_options = {{"score", "prob"}};
  CHECK_THROWS_WITH_AS(render_report(req), "--steps is required by metric 'deletion'", Error);
  req.metric_options = {{"score", "prob"}, {"steps", "7"}, {"sigma", "2"}};
  CHECK_THROWS_WITH_AS(render_report(req), "option --sigma does not apply to metric deletion, insertion", Error);
  req.input = Tensor({1, 4}, DType::I64);
  CHECK_THROWS_WITH_AS(render_report(req), doctest::Contains("this model takes token ids"), Error);
}

TEST_CASE("heatmap: side_by_side puts images left to right, top-aligned, white in the gaps and below") {
  explain::RgbImage a, b;
  a.width = 2, a.height = 1, a.rgb = {1, 2, 3, 4, 5, 6};     // two pixels in one row
  b.width = 1, b.height = 2, b.rgb = {7, 8, 9, 10, 11, 12};  // one pixel in each of two rows
  const explain::RgbImage all = explain::side_by_side({a, b}, 1);
  CHECK(all.width == 4);
  CHECK(all.height == 2);
  const std::vector<uint8_t> want = {1,   2,   3,   4,   5,   6,   255, 255, 255, 7,  8,  9,    // row 0: a, gap, b
                                     255, 255, 255, 255, 255, 255, 255, 255, 255, 10, 11, 12};  // row 1
  CHECK(all.rgb == want);
  CHECK(explain::side_by_side({}, 4).width == 0);
}

TEST_CASE("report: every perturbation method runs; grouping methods draw their group boundaries; anchors its rule") {
  Model model = build_zoo_model("fashion-cnn", 1);
  Rng rng(3);
  ReportRequest req;
  req.model = &model;
  req.input = Tensor({1, 1, 28, 28}, DType::F32);
  for (int64_t i = 0; i < 28 * 28; ++i) req.input.set_item(i, rng.uniform());
  req.methods = {"feature-ablation",
                 "shapley-values",
                 "shapley-sampling",
                 "kernel-shap",
                 "lime",
                 "rise",
                 "expected-gradients",
                 "gradient-shap",
                 "deeplift-shap",
                 "saliency",
                 "meaningful-perturbation",
                 "extremal-perturbation",
                 "prediction-difference",
                 "perceptual-ball",
                 "anchors"};
  // grid:14: 4 cells of 14x14 pixels (exact Shapley values take at most 14 groups), few samples and steps.
  req.options = {{"feature-mask", "grid:14"},
                 {"samples", "4"},
                 {"masks", "20"},
                 {"steps", "3"},
                 {"window", "7"},
                 {"stride", "7"},
                 {"batch-size", "10"},
                 {"max-samples", "400"}};
  const std::string page = render_report(req);
  // Rendered at 4x: the boundary after pixel column / row 13 is image column / row 55.
  for (const char* method :
       {"feature-ablation", "shapley-values", "shapley-sampling", "kernel-shap", "lime", "anchors"}) {
    CAPTURE(method);
    const Decoded img = image_in_page(page, std::string(method) + " 0");
    CHECK(img.at(55, 10) == RGB(0, 0, 0));
    CHECK(img.at(10, 55) == RGB(0, 0, 0));
    CHECK(img.at(10, 10) !=
          RGB(0, 0, 0));  // inside a cell: the heatmap (never black: white and colours blend with grey)
  }
  for (const char* method :
       {"saliency", "rise", "prediction-difference", "perceptual-ball"}) {  // no feature groups: no lines
    CAPTURE(method);
    const Decoded img = image_in_page(page, std::string(method) + " 0");
    CHECK(img.at(55, 10) != RGB(0, 0, 0));
  }
  CHECK(page.find("black lines: the feature groups") != std::string::npos);
  // The anchor's rule beside its map: predicates over the grid cells, the predicted class, precision and coverage.
  const size_t rule = page.find("<div class=\"rule\">IF ");
  REQUIRE(rule != std::string::npos);
  CHECK(page.find(" THEN ", rule) != std::string::npos);
  CHECK(page.find("coverage", rule) != std::string::npos);
}

TEST_CASE("report: anchors on a token model highlights the anchor's token and writes its word in the rule") {
  const Model model = testing::trigger_token_model(6);
  ReportRequest req;
  req.model = &model;
  req.input = Tensor::from_vector({1, 6}, std::vector<int64_t>{1, 2, 5, 3, 4, 6});
  req.vocabulary = {"<pad>", "the", "cat", "sat", "on", "trigger", "mat", "x"};
  req.class_names = {"quiet", "fired"};
  req.methods = {"anchors"};
  req.options = {{"pad-id", "0"}};
  const std::string page = render_report(req);
  CHECK(page.find("IF &quot;trigger&quot; at position 2 THEN fired") != std::string::npos);
  // The kept token is drawn red (mask 1 at the anchor's position), the others white.
  CHECK(page.find("background:#ff0000;color:#fff\" title=\"relevance 1\">trigger</span>") != std::string::npos);
  CHECK(page.find("background:#ffffff\" title=\"relevance 0\">cat</span>") != std::string::npos);
}
