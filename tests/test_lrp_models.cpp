// LRP on whole models: batch-norm folding (a test-local batch norm, the layers' BatchNorm2d, the zoo's
// fashion-resnet), an ONNX graph with BatchNormalization / AveragePool / Add / GlobalAveragePool against a
// hand-folded native twin, and a token model (Embedding, LSTM) through the method.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/ops.h"
#include "explain/lrp/canonizer.h"
#include "explain/lrp/composite.h"
#include "explain/lrp/lrp.h"
#include "explain/targets.h"
#include "layers/batchnorm2d.h"
#include "layers/embedding.h"
#include "layers/global_avg_pool.h"
#include "layers/lstm.h"
#include "models/onnx/import.h"
#include "models/zoo.h"
#include "tests/gradcheck.h"
#include "tests/lrp_fixtures.h"

using namespace xdnn;
using namespace xdnn::explain::lrp;
using namespace xdnn::lrp_test;
using testing::max_rel_diff;

namespace {

// Test-local batch norm (inference): y = γ (x − mean)/sqrt(var + eps) + β along axis 1. Its kind makes
// the canonizer treat it as a BatchNorm; it is used until the real BatchNorm2d exists in every build.
class TestBatchNorm : public Layer {
 public:
  TestBatchNorm(int64_t C, Rng& rng) {
    g_ = random_tensor({C}, rng, 0.5, 1.5);
    b_ = random_tensor({C}, rng, -0.5, 0.5);
    mean_ = random_tensor({C}, rng, -0.5, 0.5);
    var_ = random_tensor({C}, rng, 0.2, 2.0);
    p_ = {"bn.weight", g_, {}};
  }
  const char* kind() const override { return "BatchNorm2d"; }
  std::vector<Param*> params() override { return {&p_}; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x, Saved&, const ForwardOptions&) override {
    const Tensor& in = x.at(0);
    const int64_t C = in.dim(1), S = in.numel() / (in.dim(0) * C);
    if (C != g_.numel()) throw Error("TestBatchNorm: channel mismatch");
    Tensor y(in.shape(), in.dtype());
    for (int64_t i = 0; i < in.numel(); ++i) {
      int64_t c = (i / S) % C;
      y.set_item(i, g_.item(c) * (in.item(i) - mean_.item(c)) / std::sqrt(var_.item(c) + 1e-5) + b_.item(c));
    }
    return {y};
  }
  std::vector<Tensor> backward(const std::vector<Tensor>&, const Saved&, const BackwardOptions&) override {
    throw Error("TestBatchNorm: no backward");
  }
  double k(int64_t c) const { return g_.item(c) / std::sqrt(var_.item(c) + 1e-5); }

 private:
  Tensor g_, b_, mean_, var_;
  Param p_;
};

}  // namespace

TEST_CASE("lrp canonizer: batch norm folded into the preceding Conv / Linear keeps the outputs") {
  Rng rng(10);
  Model m;
  m.add_input("input");
  m.append("conv1", make_conv("conv1", 1, 3, true, rng));
  m.append("bn1", std::make_shared<TestBatchNorm>(3, rng));
  m.append("relu1", std::make_shared<ReLU>());
  m.append("conv2", make_conv("conv2", 3, 2, false, rng));  // bias-free conv: b = 0 in the fold
  m.append("bn2", std::make_shared<TestBatchNorm>(2, rng));
  m.append("pool", std::make_shared<MaxPool2d>(2));
  m.append("bn3", std::make_shared<TestBatchNorm>(2, rng));  // after a pool: not foldable
  m.append("flatten", std::make_shared<Flatten>());
  m.append("fc", make_linear("fc", 8, 4, true, rng));
  m.append("bn4", std::make_shared<TestBatchNorm>(4, rng));
  m.to(DType::F64);
  Tensor x = random_tensor({3, 1, 4, 4}, rng, 0, 1);
  CanonizeReport rep;
  Model f = fold_batchnorm(m, &rep);
  CHECK(rep.folded == std::vector<std::string>{"bn1 into conv1", "bn2 into conv2", "bn4 into fc"});
  CHECK(rep.unfolded == std::vector<std::string>{"bn3"});
  CHECK(testing::rel_l2(f.predict(x), m.predict(x)) < 1e-12);
  CHECK(std::string(m.nodes()[1].layer->kind()) == "BatchNorm2d");  // the original is untouched
  // Folded weights: W' = k W along the output axis.
  auto* bn1 = dynamic_cast<TestBatchNorm*>(m.nodes()[1].layer.get());
  const Tensor& W = m.nodes()[0].layer->as_linear()->weight();
  const Tensor& W2 = f.nodes()[0].layer->as_linear()->weight();
  for (int64_t i = 0; i < W.numel(); ++i) CHECK(std::abs(W2.item(i) - bn1->k(i / 9) * W.item(i)) < 1e-12);
  // The composite sees the folded Conv as a Conv, the unfolded BN as an affine map (epsilon).
  auto rules = composite_rules(f, "epsilon-plus", RuleParams{});
  CHECK(rules[0].name == "zplus");
  CHECK(rules[1].name == "pass");
  CHECK(rules[6].name == "epsilon");
  // LRP-0 without bias still conserves relevance through the folded and the affine batch norms.
  LrpConfig cfg;
  cfg.rule = "zero";
  cfg.params.bias_out = true;
  LrpQuery q;
  q.targets = {0, 1, 2};
  Tensor R = lrp_attribution(m, x, cfg, q);
  Tensor logits = m.predict(x);
  for (int64_t n = 0; n < 3; ++n)
    CHECK(std::abs(sample_sum(R, n) - logits.item(n * 4 + n)) < 1e-9 * std::max(1.0, std::abs(logits.item(n * 4 + n))));
}

TEST_CASE("lrp canonizer: the layers' BatchNorm2d (eval statistics) folds and keeps the outputs") {
  Rng rng(14);
  auto bn = std::make_shared<BatchNorm2d>("bn1", 3, 1e-5, 0.1, DType::F64);
  bn->weight_param().value = random_tensor({3}, rng, 0.5, 1.5);
  bn->bias_param().value = random_tensor({3}, rng, -0.5, 0.5);
  bn->running_mean_param().value = random_tensor({3}, rng, -0.5, 0.5);
  bn->running_var_param().value = random_tensor({3}, rng, 0.2, 2.0);
  Model m;
  m.add_input("input");
  m.append("conv1", make_conv("conv1", 2, 3, true, rng));
  m.append("bn1", bn);
  m.append("relu1", std::make_shared<ReLU>());
  m.append("flatten", std::make_shared<Flatten>());
  m.append("fc", make_linear("fc", 48, 4, true, rng));
  m.to(DType::F64);
  Tensor x = random_tensor({2, 2, 4, 4}, rng, 0, 1);
  CanonizeReport rep;
  Model f = fold_batchnorm(m, &rep);
  REQUIRE(rep.folded.size() == 1);
  CHECK(testing::rel_l2(f.predict(x), m.predict(x)) < 1e-12);
  // W' = k W, b' = k (b − mean) + β with the layer's own statistics.
  const LinearLike* c0 = m.nodes()[0].layer->as_linear();
  const LinearLike* c1 = f.nodes()[0].layer->as_linear();
  for (int64_t o = 0; o < 3; ++o) {
    const double k = bn->gamma().item(o) / std::sqrt(bn->running_var().item(o) + bn->eps());
    CHECK(std::abs(c1->bias().item(o) - (k * (c0->bias().item(o) - bn->running_mean().item(o)) + bn->beta().item(o))) <
          1e-12);
    CHECK(std::abs(c1->weight().item(o * 18 + 5) - k * c0->weight().item(o * 18 + 5)) < 1e-12);
  }
}

TEST_CASE("lrp on fashion-resnet (four batch norms folded, residual block): outputs kept, exact conservation") {
  Rng rng(15);
  Model m = build_zoo_model("fashion-resnet", 4);
  m.to(DType::F64);
  for (const Node& node : m.nodes()) {  // non-trivial statistics (the zoo starts at mean 0, var 1)
    if (!is_batchnorm(*node.layer)) continue;
    for (Param* p : node.layer->params()) p->value = random_tensor(p->value.shape(), rng, 0.5, 1.5);
    for (Param* b : node.layer->buffers()) b->value = random_tensor(b->value.shape(), rng, 0.2, 1.2);
  }
  Tensor x = random_tensor({2, 1, 28, 28}, rng, 0, 1);
  CanonizeReport rep;
  Model f = fold_batchnorm(m, &rep);
  CHECK(rep.folded.size() == 4);
  CHECK(rep.unfolded.empty());
  Tensor y = m.predict(x);
  CHECK(testing::rel_l2(f.predict(x), y) < 1e-12);
  const std::vector<int64_t> targets = explain::argmax_rows(y);
  Tensor R = lrp0_exact(f, x, targets, /*bias_out=*/true);
  for (int64_t n = 0; n < 2; ++n) {
    const double fk = y.item(n * 10 + targets[n]);
    CHECK(std::abs(sample_sum(R, n) - fk) < 1e-9 * std::max(1.0, std::abs(fk)));
  }
  // The method folds by itself: epsilon-plus on the unfolded model runs and gives finite relevance.
  LrpConfig cfg;
  cfg.composite = "epsilon-plus";
  LrpQuery q;
  q.targets = targets;
  Tensor Rc = lrp_attribution(m, x, cfg, q);
  CHECK(std::isfinite(ops::dot_all(Rc, Rc)));
}

namespace {

void onnx_ints(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(v.size() == 1 && name == "transB" ? onnx::AttributeProto::INT : onnx::AttributeProto::INTS);
  if (a->type() == onnx::AttributeProto::INT)
    a->set_i(v[0]);
  else
    for (int64_t x : v) a->add_ints(x);
}

void onnx_init(onnx::ModelProto& m, const std::string& name, const Tensor& t) {
  auto* p = m.mutable_graph()->add_initializer();
  p->set_name(name);
  p->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : t.shape()) p->add_dims(d);
  for (int64_t i = 0; i < t.numel(); ++i) p->add_float_data(static_cast<float>(t.item(i)));
}

onnx::NodeProto* onnx_node(onnx::ModelProto& m, const std::string& op, const std::vector<std::string>& ins,
                           const std::string& out) {
  auto* n = m.mutable_graph()->add_node();
  n->set_op_type(op);
  n->set_name("/" + out + "/" + op);
  for (const auto& i : ins) n->add_input(i);
  n->add_output(out);
  return n;
}

}  // namespace

TEST_CASE("lrp through ONNX import: BatchNormalization folded, AveragePool / Add / GlobalAveragePool norm rules") {
  // x (N,2,6,6) -> Conv 3x3 p1 -> BatchNormalization -> Relu -> AveragePool 2 -> Conv 3x3 p1 -> Relu
  //   -> Add(with the pool output) -> GlobalAveragePool -> Flatten -> Gemm(transB) -> logits (N,3)
  // The same network built natively with the batch norm folded by hand (in double) must give the same
  // relevance under every composite: the method folds BatchNormalization before choosing rules.
  Rng rng(17);
  auto f32 = [&](const Shape& s, double lo, double hi) { return random_tensor(s, rng, lo, hi).to(DType::F32); };
  Tensor w1 = f32({4, 2, 3, 3}, -0.5, 0.5), b1 = f32({4}, -0.2, 0.2), w2 = f32({4, 4, 3, 3}, -0.5, 0.5),
         b2 = f32({4}, -0.2, 0.2), wf = f32({3, 4}, -1, 1), bf = f32({3}, -0.2, 0.2);
  Tensor g = f32({4}, 0.5, 1.5), be = f32({4}, -0.3, 0.3), mu = f32({4}, -0.3, 0.3), var = f32({4}, 0.3, 1.5);
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  auto* in = m.mutable_graph()->add_input();
  in->set_name("input");
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  tt->mutable_shape()->add_dim()->set_dim_param("N");
  for (int64_t d : {2, 6, 6}) tt->mutable_shape()->add_dim()->set_dim_value(d);
  for (auto& [name, t] : std::vector<std::pair<std::string, Tensor>>{{"conv1.weight", w1},
                                                                     {"conv1.bias", b1},
                                                                     {"conv2.weight", w2},
                                                                     {"conv2.bias", b2},
                                                                     {"fc.weight", wf},
                                                                     {"fc.bias", bf},
                                                                     {"bn.weight", g},
                                                                     {"bn.bias", be},
                                                                     {"bn.running_mean", mu},
                                                                     {"bn.running_var", var}})
    onnx_init(m, name, t);
  onnx_ints(onnx_node(m, "Conv", {"input", "conv1.weight", "conv1.bias"}, "c1"), "pads", {1, 1, 1, 1});
  onnx_node(m, "BatchNormalization", {"c1", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"}, "bn1");
  onnx_node(m, "Relu", {"bn1"}, "r1");
  onnx_ints(onnx_node(m, "AveragePool", {"r1"}, "p1"), "kernel_shape", {2, 2});
  m.mutable_graph()->mutable_node()->rbegin()->add_attribute()->CopyFrom([] {
    onnx::AttributeProto a;
    a.set_name("strides");
    a.set_type(onnx::AttributeProto::INTS);
    a.add_ints(2);
    a.add_ints(2);
    return a;
  }());
  onnx_ints(onnx_node(m, "Conv", {"p1", "conv2.weight", "conv2.bias"}, "c2"), "pads", {1, 1, 1, 1});
  onnx_node(m, "Relu", {"c2"}, "r2");
  onnx_node(m, "Add", {"r2", "p1"}, "sum");
  onnx_node(m, "GlobalAveragePool", {"sum"}, "gap");
  onnx_node(m, "Flatten", {"gap"}, "flat");
  onnx_ints(onnx_node(m, "Gemm", {"flat", "fc.weight", "fc.bias"}, "logits"), "transB", {1});
  m.mutable_graph()->add_output()->set_name("logits");
  Model onnx_model = import_onnx_model(m, "lrp-test.onnx");

  // Native twin with conv1 ∘ bn folded in double.
  Model nat;
  nat.add_input("input");
  auto c1 = std::make_shared<Conv2d>("conv1", 2, 4, 3, 3, Conv2dOptions::same(1, 1), DType::F32);
  for (int64_t o = 0; o < 4; ++o) {
    const double k = g.item(o) / std::sqrt(var.item(o) + 1e-5);
    for (int64_t i = 0; i < 18; ++i) c1->weight_param().value.set_item(o * 18 + i, k * w1.item(o * 18 + i));
    c1->bias_param().value.set_item(o, k * (b1.item(o) - mu.item(o)) + be.item(o));
  }
  auto c2 = std::make_shared<Conv2d>("conv2", 4, 4, 3, 3, Conv2dOptions::same(1, 1), DType::F32);
  c2->weight_param().value = w2.clone();
  c2->bias_param().value = b2.clone();
  auto fc = std::make_shared<Linear>("fc", 4, 3, true, DType::F32);
  fc->params()[0]->value = wf.clone();
  fc->params()[1]->value = bf.clone();
  nat.append("c1", c1);
  nat.append("r1", std::make_shared<ReLU>());
  nat.append("p1", std::make_shared<AvgPool2d>(2));
  nat.append("c2", c2);
  nat.append("r2", std::make_shared<ReLU>());
  nat.add_node("add", std::make_shared<Add>(), {"r2", "p1"}, {"sum"});
  nat.append("gap", std::make_shared<GlobalAvgPool>());
  nat.append("flat", std::make_shared<Flatten>());
  nat.append("fc", fc);

  Tensor x = f32({3, 2, 6, 6}, 0, 1);
  CHECK(testing::rel_l2(onnx_model.predict(x), nat.predict(x)) < 1e-5);
  LrpQuery q;
  q.targets = {0, 1, 2};
  for (const char* comp : {"epsilon-plus", "epsilon-gamma-box", "epsilon-alpha2-beta1"}) {
    LrpConfig cfg;
    cfg.composite = comp;
    INFO(std::string(comp));
    Tensor a = lrp_attribution(onnx_model, x, cfg, q), b = lrp_attribution(nat, x, cfg, q);
    CHECK(testing::rel_l2(a, b) < 1e-4);
    CHECK(ops::dot_all(b, b) > 0);
    // The test can tell: without folding, the bias shares of zplus / alpha-beta differ (the box rule is
    // invariant to a positive per-channel scale and shift, so epsilon-gamma-box cannot tell).
    cfg.canonize = false;
    if (std::string(comp) != "epsilon-gamma-box")
      CHECK(testing::rel_l2(lrp_attribution(onnx_model, x, cfg, q), b) > 1e-2);
  }
}

TEST_CASE("lrp on a token model (Embedding, LSTM, Linear): relevance at the embedding output summed over d") {
  Rng rng(16);
  auto emb = std::make_shared<Embedding>("emb", 20, 6, DType::F64);
  emb->init(rng);
  RecurrentConfig rc;
  rc.input_size = 6;
  rc.hidden_size = 5;
  auto lstm = std::make_shared<LSTM>("lstm", rc, DType::F64);
  lstm->init(rng);
  Model m;
  m.add_input("tokens");
  m.append("emb", emb);
  m.add_node("lstm", lstm, {"emb"}, {"y", "h_n", "c_n"});
  m.add_node("flatten", std::make_shared<Flatten>(), {"h_n"}, {"flat"});
  m.append("fc", make_linear("fc", 5, 3, true, rng));
  m.set_outputs({"fc"});
  m.to(DType::F64);
  Tensor ids = Tensor::from_vector({2, 7}, std::vector<int64_t>{1, 4, 9, 19, 0, 3, 3, 2, 2, 8, 11, 17, 5, 6});
  LrpConfig cfg;
  cfg.rule = "epsilon";
  cfg.params.epsilon = 1e-3;
  LrpQuery q;
  q.targets = {0, 2};
  auto rules = rules_for(m, cfg);
  CHECK(rules[1].name == "epsilon");  // the LSTM takes --rule epsilon with its ε
  CHECK(rules[1].epsilon == 1e-3);
  Tensor R = lrp_attribution(m, ids, cfg, q);
  REQUIRE(R.shape() == Shape{2, 7});
  q.at = "emb";
  Tensor Re = lrp_attribution(m, ids, cfg, q);
  REQUIRE(Re.shape() == Shape{2, 7, 6});
  for (int64_t t = 0; t < 14; ++t) {
    double s = 0;
    for (int64_t d = 0; d < 6; ++d) s += Re.item(t * 6 + d);
    CHECK(std::abs(R.item(t) - s) < 1e-12);
  }
  CHECK(ops::dot_all(R, R) > 0);
}
