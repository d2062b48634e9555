// BatchNorm folded into the convolution before it for inference (models/fold_batchnorm.h) and the one
// place that decides who may use the folded graph (explain/inference_graph.h), issue 15:
//   - the folded forward equals the unfolded one: float64 within 1e-12 relative to the largest output
//     (the same sums, grouped differently); float32 within 1e-5 (each folded weight is k·w rounded once
//     (2^-24 relative), and the unfolded path rounds the convolution's output, then (y − μ), then the
//     product with k; over a few dozen taps with cancellation that stays far below 1e-5 of max |y|);
//   - which pairs fold (a dense, a depthwise and a bias-free 1x1 convolution) and which BatchNorms are kept
//     (after a pooling; a convolution whose output is also read by a residual Add);
//   - the original model is unchanged; saliency and integrated gradients on the folded graph equal the
//     unfolded (the consumers may_fold_batchnorm lets through), Grad-CAM and LRP are not let through.
#include <doctest/doctest.h>

#include <memory>

#include "engine/ops.h"
#include "engine/random.h"
#include "explain/inference_graph.h"
#include "layers/add.h"
#include "layers/batchnorm2d.h"
#include "layers/conv2d.h"
#include "layers/flatten.h"
#include "layers/global_avg_pool.h"
#include "layers/linear.h"
#include "layers/maxpool2d.h"
#include "layers/registry.h"
#include "layers/relu.h"
#include "tests/conv_fixtures.h"
#include "tests/explain_run.h"
#include "tests/gradcheck.h"

using namespace xdnn;

namespace {

// input (N, 3, 8, 8) -> conv1 3x3 -> bn1 -> relu -> dw depthwise 3x3 stride 2 (no bias) -> bn2 -> relu
//   -> pw 1x1 (no bias) -> bn3 -> [+ skip: conv4 1x1 of relu2, whose output is also read by bn4]
//   -> maxpool -> bn5 (after a pooling: kept) -> global pool -> flatten -> fc (5 classes)
Model small_net(Rng& rng) {
  Model m;
  m.add_input("input");
  m.add_node("conv1", testing::random_conv2d("conv1", 3, 4, 3, Conv2dOptions::same(1, 1), rng), {"input"}, {"c1"});
  m.add_node("bn1", testing::random_batchnorm2d("bn1", 4, rng), {"c1"}, {"b1"});
  m.add_node("relu1", std::make_shared<ReLU>(), {"b1"}, {"r1"});
  m.add_node("dw", testing::random_conv2d("dw", 4, 4, 3, Conv2dOptions::same(2, 1, 1, 4, false), rng), {"r1"}, {"c2"});
  m.add_node("bn2", testing::random_batchnorm2d("bn2", 4, rng), {"c2"}, {"b2"});
  m.add_node("relu2", std::make_shared<ReLU>(), {"b2"}, {"r2"});
  m.add_node("pw", testing::random_conv2d("pw", 4, 6, 1, Conv2dOptions::same(1, 0, 1, 1, false), rng), {"r2"}, {"c3"});
  m.add_node("bn3", testing::random_batchnorm2d("bn3", 6, rng), {"c3"}, {"b3"});
  m.add_node("conv4", testing::random_conv2d("conv4", 4, 6, 1, Conv2dOptions::same(1, 0), rng), {"r2"}, {"c4"});
  m.add_node("bn4", testing::random_batchnorm2d("bn4", 6, rng), {"c4"}, {"b4"});
  m.add_node("add", std::make_shared<Add>(), {"b3", "b4"}, {"s1"});
  m.add_node("add2", std::make_shared<Add>(), {"s1", "c4"}, {"s2"});  // c4 read twice: bn4 stays
  m.add_node("pool", std::make_shared<MaxPool2d>(2), {"s2"}, {"p"});
  m.add_node("bn5", testing::random_batchnorm2d("bn5", 6, rng), {"p"}, {"b5"});
  m.add_node("gap", std::make_shared<GlobalAvgPool>(), {"b5"}, {"g"});
  m.add_node("flatten", std::make_shared<Flatten>(), {"g"}, {"f"});
  auto fc = std::make_shared<Linear>("fc", 6, 5);
  fc->init(rng);
  m.add_node("fc", fc, {"f"}, {"logits"});
  m.set_outputs({"logits"});
  return m;
}

double max_abs(const Tensor& t) {
  double a = 0;
  for (int64_t i = 0; i < t.numel(); ++i) a = std::max(a, std::abs(t.item(i)));
  return a;
}

double max_abs_diff(const Tensor& a, const Tensor& b) { return max_abs(ops::sub(a, b)); }

}  // namespace

TEST_CASE("fold_batchnorm_for_inference: folds conv -> BN pairs, keeps the rest, forward equal to rounding") {
  Rng rng(21);
  Model unfolded = small_net(rng);
  const Tensor x32 = random_tensor({3, 3, 8, 8}, rng).to(DType::F32);
  const Tensor y_before = unfolded.predict(x32);
  BatchNormFoldReport report;
  const Model folded = fold_batchnorm_for_inference(unfolded, &report);
  REQUIRE(report.folded.size() == 3);
  CHECK(report.folded[0] == "bn1 into conv1");
  CHECK(report.folded[1] == "bn2 into dw");
  CHECK(report.folded[2] == "bn3 into pw");
  REQUIRE(report.kept.size() == 2);
  CHECK(report.kept[0].starts_with("bn4"));
  CHECK(report.kept[1].starts_with("bn5"));
  // The folded nodes: the convolution keeps its name and parameter names and gains a bias; the BN is an Identity.
  CHECK(std::string(folded.nodes()[1].layer->kind()) == "Identity");
  CHECK(std::string(unfolded.nodes()[1].layer->kind()) == "BatchNorm2d");  // the original is untouched
  CHECK(folded.nodes()[3].layer->params().size() == 2);
  CHECK(folded.nodes()[3].layer->params()[1]->name == "dw.bias");
  CHECK(folded.nodes().size() == unfolded.nodes().size());

  // float32: within 1e-5 of the largest logit (see the file comment)
  const Tensor y32 = folded.predict(x32);
  CHECK(max_abs_diff(unfolded.predict(x32), y_before) == 0.0);
  CHECK(max_abs_diff(y32, y_before) <= 1e-5 * max_abs(y_before));
  // Every folded BN's output value, too (the Identity passes the folded convolution's output on).
  const Tape tu = unfolded.forward({x32}), tf = folded.forward({x32});
  for (const char* v : {"b1", "b2", "b3", "s2"}) {
    CAPTURE(v);
    const Tensor& a = tf.values[folded.value_id(v)];
    const Tensor& b = tu.values[unfolded.value_id(v)];
    CHECK(max_abs_diff(a, b) <= 1e-5 * max_abs(b));
  }

  // float64: folded in float64 from the float64 parameters, within 1e-12
  Model unfolded64 = unfolded;
  unfolded64.to(DType::F64);
  const Model folded64 = fold_batchnorm_for_inference(unfolded64);
  const Tensor x64 = x32.to(DType::F64);
  const Tensor y64 = unfolded64.predict(x64);
  CHECK(max_abs_diff(folded64.predict(x64), y64) <= 1e-12 * max_abs(y64));
}

TEST_CASE("inference_graph: the consumers that may use the folded graph, and their results unchanged") {
  using explain::may_fold_batchnorm;
  CHECK(may_fold_batchnorm("run"));
  CHECK(may_fold_batchnorm("saliency"));
  CHECK(may_fold_batchnorm("integrated-gradients"));
  CHECK_FALSE(may_fold_batchnorm("grad-cam"));
  CHECK_FALSE(may_fold_batchnorm("lrp"));
  CHECK_FALSE(may_fold_batchnorm("deeplift"));
  CHECK_FALSE(may_fold_batchnorm("no-such-method"));
  explain::Options hidden;
  hidden.values["layer"] = "b1";
  CHECK(may_fold_batchnorm("prediction-difference"));
  CHECK_FALSE(may_fold_batchnorm("prediction-difference", hidden));

  Rng rng(22);
  Model unfolded = small_net(rng);
  unfolded.to(DType::F64);
  const Tensor x = random_tensor({2, 3, 8, 8}, rng).to(DType::F64);
  BatchNormFoldReport report;
  const Model folded = explain::inference_graph(unfolded, "saliency", {}, &report);
  CHECK(report.folded.size() == 3);
  for (const char* method : {"saliency", "integrated-gradients"}) {
    CAPTURE(method);
    const Tensor a = testing::run(method, folded, x, {1, 4}).values;
    const Tensor b = testing::run(method, unfolded, x, {1, 4}).values;
    CHECK(max_abs_diff(a, b) <= 1e-12 * max_abs(b));
  }
  // Grad-CAM names a BatchNorm's output: it gets the model as it is.
  BatchNormFoldReport none;
  explain::Options cam;
  cam.values["layer"] = "b2";
  const Model same = explain::inference_graph(unfolded, "grad-cam", cam, &none);
  CHECK(none.folded.empty());
  CHECK(std::string(same.nodes()[1].layer->kind()) == "BatchNorm2d");
}
