// The torchvision classification zoo and text models of tests/zoo/ (made by tests/zoo/make_zoo.py with
// PyTorch's two exporters at default settings): one test case per architecture family. For each file:
//   - it loads (a file that does not load fails the case: never a silent pass);
//   - `run` matches PyTorch's float64 logits to 1e-5 relative (max |y − y_ref| / max |y_ref|);
//   - every registered explainer that applies to the family runs and gives finite values of the right
//     shape, plus its cheap defining property where one exists (integrated-gradients completeness,
//     Grad-CAM ≥ 0, LRP-ε conservation on a bias-free, ReLU-only model is checked in test_lrp*.cpp);
//   - every other registered explainer refuses the model with an xdnn::Error (one line naming why), never
//     a crash or a wrong-shaped answer. The README's architectures × methods table is this test's lists.
// A family whose files do not load yet is skipped with its reason (kSkipped, printed by the first case,
// which fails once the family loads). Run the skipped ones anyway with --no-skip.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "explain/method.h"
#include "explain/registry.h"
#include "models/io/npy.h"
#include "models/load.h"

using namespace xdnn;
using namespace xdnn::explain;

namespace {

const std::string kZoo = std::string(XDNN_TESTS_DIR) + "/zoo/";

// Methods every family runs, images and tokens alike: gradients, occlusion, LRP, feature-group perturbations.
const std::set<std::string> kCommonMethods = {"saliency",
                                              "gradient-x-input",
                                              "smoothgrad",
                                              "integrated-gradients",
                                              "guided-backprop",
                                              "deconvnet",
                                              "deeplift",
                                              "occlusion",
                                              "lrp",
                                              "feature-ablation",
                                              "shapley-values",
                                              "shapley-sampling",
                                              "kernel-shap",
                                              "lime",
                                              "anchors"};

std::set<std::string> with(std::set<std::string> s, const std::set<std::string>& more) {
  s.insert(more.begin(), more.end());
  return s;
}

// Methods every image family runs (CNNs and vision transformers alike): the common ones, masks and baselines.
const std::set<std::string> kImageMethods =
    with(kCommonMethods, {"rise", "expected-gradients", "deeplift-shap", "gradient-shap", "meaningful-perturbation",
                          "extremal-perturbation", "prediction-difference", "perceptual-ball"});
// Methods every token family runs (attributions at the embedding output, or by token removal).
const std::set<std::string> kTokenMethods = with(kCommonMethods, {"erasure", "erasure-flip"});

struct Family {
  std::string name;             // file stem in tests/zoo/
  bool tokens = false;          // int64 token-id input
  std::set<std::string> extra;  // methods beyond kImageMethods / kTokenMethods that apply
};

double max_abs(const Tensor& t) {
  double m = 0;
  for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::abs(t.item(i)));
  return m;
}

double min_value(const Tensor& t) {
  double m = INFINITY;
  for (int64_t i = 0; i < t.numel(); ++i) m = std::min(m, t.item(i));
  return m;
}

bool all_finite(const Tensor& t) {
  for (int64_t i = 0; i < t.numel(); ++i)
    if (!std::isfinite(t.item(i))) return false;
  return true;
}

std::set<std::string> applicable(const Family& f) {
  std::set<std::string> s = f.tokens ? kTokenMethods : kImageMethods;
  s.insert(f.extra.begin(), f.extra.end());
  return s;
}

// Two baseline samples (2, 3, 32, 32) for the baseline-set methods: 0 and 0.5 everywhere.
std::string baselines_file() {
  const std::string path = (std::filesystem::temp_directory_path() / "xdnn_test_zoo_baselines.npy").string();
  Tensor b({2, 3, 32, 32}, DType::F32);
  for (int64_t i = 3 * 32 * 32; i < b.numel(); ++i) b.set_item(i, 0.5);
  save_npy(path, b);
  return path;
}

// Options that keep every method fast on a (1, 3, 32, 32) image or (1, 8) tokens: few steps and samples,
// 16 feature groups (8x8-pixel cells) for images, one group per token.
std::map<std::string, std::string> fast_options(const std::string& method, bool tokens) {
  // Grouping methods: 16 groups (8x8-pixel cells) for images; for tokens one group per token, removed
  // tokens replaced by id 0.
  auto grouped = [&](std::map<std::string, std::string> o, const char* grid) {
    o[tokens ? "pad-id" : "feature-mask"] = tokens ? "0" : grid;
    return o;
  };
  // IG from the constant 0.5 image: from 0, ConvNeXt's LayerNorm after its bias-free stem makes f(α·x)
  // constant for α ≫ 1e-3, so the whole f(x) − f(0) sits in α < 1e-3, beyond any 32-node quadrature.
  if (method == "integrated-gradients")
    return tokens ? std::map<std::string, std::string>{{"steps", "32"}}
                  : std::map<std::string, std::string>{{"steps", "32"}, {"baseline", "0.5"}};
  if (method == "smoothgrad") return {{"samples", "4"}};
  if (method == "occlusion")
    return tokens ? std::map<std::string, std::string>{{"window", "1"}}
                  : std::map<std::string, std::string>{{"window", "3,8,8"}, {"stride", "3,8,8"}};
  if (method == "feature-ablation") return grouped({}, "grid:8");
  if (method == "shapley-values") return grouped({}, "grid:16");  // exact: 2^G forwards, so 4 image groups
  if (method == "shapley-sampling") return grouped({{"samples", "2"}}, "grid:8");
  if (method == "kernel-shap" || method == "lime") return grouped({{"samples", "64"}}, "grid:8");
  if (method == "rise") return {{"masks", "16"}, {"cell", "8"}};
  if (method == "anchors") return grouped({{"batch-size", "8"}, {"max-samples", "400"}}, "grid:8");
  if (method == "expected-gradients") return {{"baselines", baselines_file()}, {"steps", "4"}};
  if (method == "deeplift-shap") return {{"baselines", baselines_file()}};
  if (method == "gradient-shap") return {{"baselines", baselines_file()}, {"samples", "4"}};
  // 16 patches of 8x8 pixels, conditioned on nothing (the Gaussian fitted on the image's own patches).
  if (method == "prediction-difference") return {{"window", "8"}, {"stride", "8"}, {"frame", "0"}, {"samples", "2"}};
  if (method == "perceptual-ball") return {{"steps", "3"}};
  return {};
}

// Σ_r f_{K}(x_r) of the model's logits.
double target_logit(const Model& m, const Tensor& x, int64_t k) {
  const Tensor y = m.predict(x);
  return y.item(k);
}

void check_file(const Family& f, const std::string& exporter) {
  const std::string path = kZoo + f.name + "." + exporter + ".onnx";
  CAPTURE(path);
  REQUIRE(std::ifstream(path).good());
  Model m;
  try {
    m = load_onnx(path);
  } catch (const Error& e) {
    FAIL_CHECK("does not load: " << std::string(e.what()));
    return;
  }
  const Tensor x = load_npy(kZoo + f.name + ".input.npy");
  const Tensor ref = load_npy(kZoo + f.name + ".output.npy");  // PyTorch in float64
  const Tensor y = m.predict(x);
  REQUIRE(y.shape() == ref.shape());
  const Tensor diff = ops::sub(y.to(DType::F64), ref);
  const double rel = max_abs(diff) / max_abs(ref);
  CAPTURE(rel);
  CHECK(rel <= 1e-5);

  int64_t target = 0;  // the predicted class
  for (int64_t k = 1; k < ref.dim(1); ++k)
    if (ref.item(k) > ref.item(target)) target = k;
  const std::set<std::string> expected = applicable(f);
  const Shape attribution_shape = f.tokens ? Shape{1, x.dim(1)} : x.shape();
  for (const MethodInfo& method : methods()) {
    CAPTURE(method.name);
    ExplainRequest req;
    req.model = &m;
    req.input = x;
    req.targets = {target};
    req.options = resolve_options(method, fast_options(method.name, f.tokens));
    load_option_files(method, req.options);
    if (!expected.count(method.name)) {
      CHECK_THROWS_AS(method.run(req), Error);  // a clear refusal, never a crash or a wrong shape
      continue;
    }
    Attribution a;
    try {
      a = method.run(req);
    } catch (const Error& e) {
      FAIL_CHECK("method fails: " << std::string(e.what()));
      continue;
    }
    CHECK(all_finite(a.values));
    if (method.name == "cam" || method.name == "grad-cam" || method.name == "rise" ||
        method.name == "perceptual-ball" ||
        method.name.find("-perturbation") != std::string::npos) {  // one map per sample
      CHECK(a.values.dim(0) == 1);
      CHECK(a.values.dim(1) == 1);
      CHECK(a.values.ndim() >= 3);
      if (method.name == "grad-cam") CHECK(min_value(a.values) >= 0.0);  // ReLU of eq. 2
      continue;
    }
    CHECK(a.values.shape() == attribution_shape);
    if (method.name == "shapley-values" && !f.tokens) {
      // Efficiency (Shapley 1953): the exact values φ_g of the four 16x16 cells (each element of a cell holds
      // its cell's value; read at each cell's first pixel) sum to f(x) − f(all removed = 0).
      const double gap = target_logit(m, x, target) - target_logit(m, ops::scale(x, 0.0), target);
      const double phi = a.values.item(0) + a.values.item(16) + a.values.item(16 * 32) + a.values.item(16 * 32 + 16);
      CHECK(std::abs(phi - gap) <= 1e-4 * std::max(1.0, std::abs(gap)));
    }
    if (method.name == "integrated-gradients" && !f.tokens) {
      // Completeness (Sundararajan et al. 2017, prop. 1): Σ attribution = f(x) − f(0.5), up to the quadrature
      // error of 32 Gauss–Legendre nodes on a piecewise-smooth path.
      const Tensor half = ops::add_scalar(ops::scale(x, 0.0), 0.5);
      const double gap = target_logit(m, x, target) - target_logit(m, half, target);
      const double total = ops::sum_all(a.values);
      CAPTURE(gap);
      CAPTURE(total);
      CHECK(std::abs(total - gap) <= 0.02 * std::abs(gap) + 1e-3);
    }
  }
}

void check_family(const Family& f) {
  for (const char* exporter : {"dynamo", "torchscript"}) {
    SUBCASE(exporter) { check_file(f, exporter); }
  }
}

// Families that main cannot import yet, and why: doctest skips their cases (the `skip` decorators below
// name the same reason); the case after this table prints the reasons and fails as soon as every file
// of a skipped family loads, so that no skip outlives its cause.
struct Skipped {
  const char* family;
  const char* reason;
};
const Skipped kSkipped[] = {
    {"swin", "ScatterND is unsupported (36 nodes of both exports: the shifted-window attention mask)"},
};

}  // namespace

TEST_CASE("zoo: every skipped family still has a file that does not load (reasons printed)") {
  for (const Skipped& s : kSkipped) {
    MESSAGE("zoo family " << s.family << " skipped: " << s.reason);
    int failing = 0;
    for (const char* exporter : {"dynamo", "torchscript"}) {
      try {
        load_onnx(kZoo + s.family + "." + exporter + ".onnx");
      } catch (const Error&) {
        ++failing;
      }
    }
    CAPTURE(s.family);
    CHECK(failing > 0);  // both load now: remove the family from kSkipped and its case's skip decorator
  }
}

TEST_CASE("zoo ResNet (BasicBlock and Bottleneck)") {
  check_family({"resnet-basic", false, {"cam", "grad-cam", "guided-grad-cam"}});
  check_family({"resnet-bottleneck", false, {"cam", "grad-cam", "guided-grad-cam"}});
}
TEST_CASE("zoo VGG with batch norm") { check_family({"vgg-bn", false, {"grad-cam", "guided-grad-cam"}}); }
TEST_CASE("zoo MobileNetV2") { check_family({"mobilenet-v2", false, {"cam", "grad-cam", "guided-grad-cam"}}); }
TEST_CASE("zoo MobileNetV3") { check_family({"mobilenet-v3", false, {"grad-cam", "guided-grad-cam"}}); }
TEST_CASE("zoo EfficientNet") { check_family({"efficientnet", false, {"cam", "grad-cam", "guided-grad-cam"}}); }
TEST_CASE("zoo DenseNet") { check_family({"densenet", false, {"cam", "grad-cam", "guided-grad-cam"}}); }
TEST_CASE("zoo SqueezeNet") { check_family({"squeezenet", false, {"grad-cam", "guided-grad-cam"}}); }
TEST_CASE("zoo ShuffleNetV2") { check_family({"shufflenet-v2", false, {"grad-cam", "guided-grad-cam"}}); }
TEST_CASE("zoo MnasNet") { check_family({"mnasnet", false, {"cam", "grad-cam", "guided-grad-cam"}}); }
TEST_CASE("zoo RegNet") { check_family({"regnet", false, {"cam", "grad-cam", "guided-grad-cam"}}); }
TEST_CASE("zoo ConvNeXt") { check_family({"convnext", false, {"grad-cam", "guided-grad-cam"}}); }
TEST_CASE("zoo VisionTransformer") { check_family({"vit", false, {"grad-cam", "guided-grad-cam"}}); }
TEST_CASE("zoo Swin Transformer" * doctest::skip()) { check_family({"swin", false, {"grad-cam", "guided-grad-cam"}}); }
TEST_CASE("zoo text: stacked bidirectional nn.LSTM") { check_family({"text-lstm", true, {}}); }
TEST_CASE("zoo text: stacked bidirectional nn.GRU") { check_family({"text-gru", true, {}}); }
TEST_CASE("zoo text: 1-D CNN (Conv1d over time)") {
  check_family({"text-cnn", true, {"cam", "grad-cam", "guided-grad-cam"}});
}
TEST_CASE("zoo text: nn.TransformerEncoder with positions from arange") {
  check_family({"text-transformer", true, {"attention", "attention-rollout"}});
}
