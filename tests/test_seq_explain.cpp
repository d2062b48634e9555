// Explainers for token models that read the sequence layers: representation erasure and its greedy flip
// set (explain/erasure.cpp), attention maps and rollout (explain/attention.*), CP-LRP
// (--transformer-rule cp, explain/lrp), attention images and the report's attention section.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "explain/attention.h"
#include "explain/common.h"
#include "explain/lrp/lrp.h"
#include "explain/registry.h"
#include "explain/report.h"
#include "layers/embedding.h"
#include "layers/linear.h"
#include "layers/multihead_attention.h"
#include "layers/positional_embedding.h"
#include "layers/token_pooling.h"
#include "layers/transformer_encoder.h"
#include "models/npy.h"
#include "models/onnx/import.h"
#include "models/safetensors.h"

namespace xdnn {
namespace {

using explain::Attribution;

const std::string kGolden = XDNN_TESTS_DIR "/golden/";

void set_param(Model& m, const std::string& name, const std::vector<double>& v) {
  Param* p = m.find_param(name);
  REQUIRE_MESSAGE(p != nullptr, name);
  REQUIRE(static_cast<int64_t>(v.size()) == p->value.numel());
  p->value = Tensor::from_vector(p->value.shape(), v).to(p->value.dtype());
}

Attribution run_method(const std::string& name, const Model& m, const Tensor& ids,
                       const std::map<std::string, std::string>& options = {}, std::vector<int64_t> targets = {}) {
  const explain::MethodInfo& method = explain::find_method(name);
  explain::ExplainRequest req;
  req.model = &m;
  req.input = ids;
  req.targets = targets.empty() ? explain::resolve_targets(m, ids, -1) : targets;
  req.options = explain::resolve_options(method, options);
  return method.run(req);
}

Tensor ids_of(int64_t N, int64_t T, const std::vector<int64_t>& v) { return Tensor::from_vector({N, T}, v); }

// Embedding(V, d) -> MultiheadAttention(d, heads) [-> MultiheadAttention] -> mean over tokens -> Linear(d, K),
// all biases zero, F64. Attention projections are the identity (q = k = v = x, out = x) unless set later.
Model attention_model(int64_t V, int64_t d, int64_t heads, int64_t layers, int64_t K, Rng& rng) {
  Model m;
  m.add_input("input");
  auto emb = std::make_shared<Embedding>("emb", V, d, DType::F64);
  emb->init(rng);
  m.add_node("emb", emb, {"input"}, {"e"});
  std::string x = "e";
  for (int64_t l = 0; l < layers; ++l) {
    const std::string name = "attn" + std::to_string(l);
    auto a = std::make_shared<MultiheadAttention>(name, d, heads, true, false, DType::F64);
    std::vector<double> w_in(3 * d * d, 0.0), w_out(d * d, 0.0);
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t i = 0; i < d; ++i) w_in[(j * d + i) * d + i] = 1.0;
    for (int64_t i = 0; i < d; ++i) w_out[i * d + i] = 1.0;
    a->in_proj_weight().value = Tensor::from_vector({3 * d, d}, w_in);
    a->out_proj_weight().value = Tensor::from_vector({d, d}, w_out);
    m.add_node(name, a, {x}, {name + ".y", name + ".probs"});
    x = name + ".y";
  }
  m.add_node("pool", std::make_shared<MeanTokenPooling>(), {x}, {"pooled"});
  auto fc = std::make_shared<Linear>("fc", d, K, true, DType::F64);
  fc->init(rng);
  m.add_node("fc", fc, {"pooled"}, {"logits"});
  m.set_outputs({"logits"});
  m.to(DType::F64);
  return m;
}

// softmax(x xᵀ / √d) of the rows of x (T, d), by hand: (T, T).
std::vector<double> self_attention_by_hand(const std::vector<double>& x, int64_t T, int64_t d) {
  std::vector<double> p(T * T);
  for (int64_t i = 0; i < T; ++i) {
    double mx = -1e300;
    for (int64_t j = 0; j < T; ++j) {
      double s = 0;
      for (int64_t k = 0; k < d; ++k) s += x[i * d + k] * x[j * d + k];
      p[i * T + j] = s / std::sqrt(static_cast<double>(d));
      mx = std::max(mx, p[i * T + j]);
    }
    double z = 0;
    for (int64_t j = 0; j < T; ++j) z += p[i * T + j] = std::exp(p[i * T + j] - mx);
    for (int64_t j = 0; j < T; ++j) p[i * T + j] /= z;
  }
  return p;
}

std::vector<double> embedded(const Model& m, const Tensor& ids, int64_t n) {
  const Tensor& W = const_cast<Model&>(m).find_param("emb.weight")->value;
  const int64_t T = ids.dim(1), d = W.dim(1);
  std::vector<double> x(T * d);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < d; ++k) x[t * d + k] = W.item(static_cast<int64_t>(ids.item(n * T + t)) * d + k);
  return x;
}

// Bag of words: Embedding(V, 2) -> mean over tokens -> Linear(2, 2) with W = I, b = 0, so the logits
// are the mean embedding. Token 0 embeds to 0 (a padding row).
Model bag_of_words(const std::vector<double>& table) {
  Model m;
  m.add_input("input");
  const int64_t V = static_cast<int64_t>(table.size()) / 2;
  m.add_node("emb", std::make_shared<Embedding>("emb", V, 2, DType::F64), {"input"}, {"e"});
  m.add_node("pool", std::make_shared<MeanTokenPooling>(), {"e"}, {"p"});
  m.add_node("fc", std::make_shared<Linear>("fc", 2, 2, true, DType::F64), {"p"}, {"logits"});
  m.set_outputs({"logits"});
  set_param(m, "emb.weight", table);
  set_param(m, "fc.weight", {1, 0, 0, 1});
  m.to(DType::F64);
  return m;
}

double log_softmax_at(double a, double b, int k) {
  const double mx = std::max(a, b), lse = mx + std::log(std::exp(a - mx) + std::exp(b - mx));
  return (k == 0 ? a : b) - lse;
}

}  // namespace

TEST_CASE("seq-explain: the methods are registered") {
  for (const char* name : {"erasure", "erasure-flip", "attention", "attention-rollout"})
    CHECK_NOTHROW(explain::find_method(name));
}

TEST_CASE("attention rollout: one layer by hand is ½ A + ½ I; rows and the mean row") {
  Rng rng(3);
  Model m = attention_model(6, 2, 1, 1, 3, rng);
  const Tensor ids = ids_of(2, 4, {1, 2, 3, 4, 5, 1, 1, 2});
  for (int64_t n = 0; n < 2; ++n) {
    const std::vector<double> p = self_attention_by_hand(embedded(m, ids, n), 4, 2);
    const auto maps = explain::attention_maps(m, ids);
    REQUIRE(maps.size() == 1);
    CHECK(maps[0].node == "attn0");
    for (int64_t i = 0; i < 16; ++i) CHECK(maps[0].probs.item(n * 16 + i) == doctest::Approx(p[i]).epsilon(1e-12));
    const Tensor first = run_method("attention-rollout", m, ids, {{"query", "first"}}).values;
    const Tensor mean = run_method("attention-rollout", m, ids).values;
    const Tensor raw = run_method("attention", m, ids, {{"query", "2"}}).values;
    for (int64_t t = 0; t < 4; ++t) {
      CHECK(first.item(n * 4 + t) == doctest::Approx(0.5 * p[t] + (t == 0 ? 0.5 : 0.0)).epsilon(1e-6));
      double col = 0;
      for (int64_t i = 0; i < 4; ++i) col += 0.5 * p[i * 4 + t] + (i == t ? 0.5 : 0.0);
      CHECK(mean.item(n * 4 + t) == doctest::Approx(col / 4).epsilon(1e-6));
      CHECK(raw.item(n * 4 + t) == doctest::Approx(p[2 * 4 + t]).epsilon(1e-6));
    }
  }
}

TEST_CASE("attention rollout: two layers by hand is (½ A₂ + ½ I)(½ A₁ + ½ I); heads averaged") {
  Rng rng(5);
  Model m = attention_model(7, 4, 2, 2, 3, rng);
  const Tensor ids = ids_of(1, 3, {2, 5, 6});
  const int64_t T = 3, d = 4, dh = 2;
  const std::vector<double> x = embedded(m, ids, 0);
  // Per head: attention of the head's slice of the features; identity projections, so layer 1's output
  // row i is Σ_j P_h[i, j] x[j] on head h's slice.
  auto head_slice = [&](const std::vector<double>& v, int64_t h) {
    std::vector<double> s(T * dh);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t k = 0; k < dh; ++k) s[t * dh + k] = v[t * d + h * dh + k];
    return s;
  };
  std::vector<std::vector<double>> A1(2), A2(2);
  std::vector<double> y1(T * d, 0.0);
  for (int64_t h = 0; h < 2; ++h) {
    A1[h] = self_attention_by_hand(head_slice(x, h), T, dh);
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = 0; j < T; ++j)
        for (int64_t k = 0; k < dh; ++k) y1[i * d + h * dh + k] += A1[h][i * T + j] * x[j * d + h * dh + k];
  }
  for (int64_t h = 0; h < 2; ++h) A2[h] = self_attention_by_hand(head_slice(y1, h), T, dh);
  auto tilde = [&](const std::vector<std::vector<double>>& A) {
    std::vector<double> a(T * T);
    for (int64_t i = 0; i < T * T; ++i) a[i] = 0.25 * (A[0][i] + A[1][i]) + (i / T == i % T ? 0.5 : 0.0);
    return a;
  };
  const std::vector<double> a1 = tilde(A1), a2 = tilde(A2);
  const Tensor r = explain::attention_rollout(explain::attention_maps(m, ids));
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j < T; ++j) {
      double s = 0;
      for (int64_t k = 0; k < T; ++k) s += a2[i * T + k] * a1[k * T + j];
      CHECK(r.item(i * T + j) == doctest::Approx(s).epsilon(1e-10));
    }
  // One head of the first layer through the `attention` method.
  const Tensor h1 =
      run_method("attention", m, ids, {{"attention-layer", "0"}, {"head", "1"}, {"query", "last"}}).values;
  for (int64_t t = 0; t < T; ++t) CHECK(h1.item(t) == doctest::Approx(A1[1][2 * T + t]).epsilon(1e-6));
}

namespace {
// ids (N, T) int64 -> key-padding mask (N, T) int64, 1 where the id is 0. No gradient, no relevance.
class PadMask : public Layer {
 public:
  const char* kind() const override { return "PadMask"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x, Saved&, const ForwardOptions&) override {
    Tensor m(x.at(0).shape(), DType::I64);
    for (int64_t i = 0; i < m.numel(); ++i) m.set_item(i, x[0].item(i) == 0.0 ? 1.0 : 0.0);
    return {m};
  }
  std::vector<Tensor> backward(const std::vector<Tensor>&, const Saved&, const BackwardOptions&) override {
    return {Tensor()};
  }
};
}  // namespace

TEST_CASE("attention rollout with a key-padding mask: the mean runs over the non-padding rows, padding gets 0") {
  Rng rng(6);
  Model m;
  m.add_input("input");
  auto emb = std::make_shared<Embedding>("emb", 6, 4, DType::F64);
  emb->init(rng);
  m.add_node("emb", emb, {"input"}, {"e"});
  m.add_node("mask", std::make_shared<PadMask>(), {"input"}, {"mask"});
  auto a = std::make_shared<MultiheadAttention>("attn", 4, 2, true, false, DType::F64);
  a->init(rng);
  m.add_node("attn", a, {"e", "mask"}, {"y", "probs"});
  m.add_node("pool", std::make_shared<MeanTokenPooling>(), {"y"}, {"pooled"});
  m.add_node("fc", std::make_shared<Linear>("fc", 4, 3, true, DType::F64), {"pooled"}, {"logits"});
  m.set_outputs({"logits"});
  m.to(DType::F64);
  const Tensor ids = ids_of(2, 4, {3, 1, 0, 0, 2, 5, 4, 0});
  const auto maps = explain::attention_maps(m, ids);
  CHECK(explain::attended_tokens(maps) == std::vector<char>{1, 1, 0, 0, 1, 1, 1, 0});
  const Tensor r = explain::attention_rollout(maps);
  const Tensor mean = run_method("attention-rollout", m, ids).values;
  const int64_t valid[2] = {2, 3};
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t t = 0; t < 4; ++t) {
      double s = 0;
      for (int64_t i = 0; i < valid[n]; ++i) s += r.item((n * 4 + i) * 4 + t) / static_cast<double>(valid[n]);
      CHECK(mean.item(n * 4 + t) == doctest::Approx(s).epsilon(1e-6));
      if (t >= valid[n]) CHECK(mean.item(n * 4 + t) == 0.0);
    }
}

TEST_CASE("attention: bad input fails with one line") {
  Rng rng(1);
  Model m = attention_model(6, 2, 1, 1, 3, rng);
  const Tensor ids = ids_of(1, 3, {1, 2, 3});
  CHECK_THROWS_WITH_AS(run_method("attention", m, ids, {{"query", "7"}}), doctest::Contains("--query '7'"), Error);
  CHECK_THROWS_WITH_AS(run_method("attention", m, ids, {{"head", "1"}}), doctest::Contains("--head '1'"), Error);
  CHECK_THROWS_WITH_AS(run_method("attention", m, ids, {{"attention-layer", "1"}}),
                       doctest::Contains("--attention-layer 1 is out of range"), Error);
  CHECK_THROWS_WITH_AS(
      run_method("attention", m, ids, {{"png-dir", "/tmp/xdnn-seq-explain-x"}, {"vocab", "/nonexistent.json"}}),
      doctest::Contains("/nonexistent.json"), Error);
  // A model without attention.
  CHECK_THROWS_WITH_AS(run_method("attention-rollout", bag_of_words({0, 0, 1, 1, 2, 2, 3, 3}), ids),
                       doctest::Contains("no attention layer"), Error);
  CHECK_THROWS_WITH_AS(explain::attention_maps(m, Tensor({1, 3}, DType::F64)), doctest::Contains("int64 token ids"),
                       Error);
}

TEST_CASE("erasure: drop of the log-probability, by hand on a bag of words, for every erasure variant") {
  // Embeddings: 0 -> (0, 0) pad, 1 -> (3, 0), 2 -> (1, 0), 3 -> (0, 1), 4 -> (0.5, 2).
  Model m = bag_of_words({0, 0, 3, 0, 1, 0, 0, 1, 0.5, 2});
  const std::vector<std::vector<double>> e = {{0, 0}, {3, 0}, {1, 0}, {0, 1}, {0.5, 2}};
  const Tensor ids = ids_of(2, 4, {1, 2, 3, 4, 3, 3, 2, 4});
  const std::vector<int64_t> targets = {0, 1};
  for (const char* erase : {"zero", "pad", "remove"}) {
    for (const char* score : {"log-prob", "prob", "logit"}) {
      CAPTURE(erase);
      CAPTURE(score);
      const Tensor a = run_method("erasure", m, ids, {{"erase", erase}, {"score", score}}, targets).values;
      REQUIRE(a.shape() == Shape{2, 4});
      for (int64_t n = 0; n < 2; ++n) {
        double sum[2] = {0, 0};
        for (int64_t t = 0; t < 4; ++t)
          for (int k = 0; k < 2; ++k) sum[k] += e[static_cast<size_t>(ids.item(n * 4 + t))][k];
        auto S = [&](double a0, double a1) {
          const int k = static_cast<int>(targets[n]);
          const double lp = log_softmax_at(a0, a1, k);
          return std::string(score) == "logit" ? (k == 0 ? a0 : a1) : std::string(score) == "prob" ? std::exp(lp) : lp;
        };
        for (int64_t t = 0; t < 4; ++t) {
          const auto& et = e[static_cast<size_t>(ids.item(n * 4 + t))];
          // zero and pad (the pad row is 0) leave a mean over 4 tokens; remove a mean over the other 3.
          const double div = std::string(erase) == "remove" ? 3.0 : 4.0;
          const double expected = S(sum[0] / 4, sum[1] / 4) - S((sum[0] - et[0]) / div, (sum[1] - et[1]) / div);
          CHECK(a.item(n * 4 + t) == doctest::Approx(expected).epsilon(1e-12));
        }
      }
    }
  }
}

TEST_CASE("erasure --score logit --erase zero equals occlusion with a one-token window (golden transformer)") {
  Model m = import_onnx_file(kGolden + "models/transformer.onnx");
  m.to(DType::F64);
  const Tensor ids = load_npy(kGolden + "explain-transformer-saliency/input.npy");
  const Tensor a = run_method("erasure", m, ids, {{"score", "logit"}}).values;
  const Tensor b = run_method("occlusion", m, ids, {{"window", "1"}}).values;
  REQUIRE(a.shape() == b.shape());
  for (int64_t i = 0; i < a.numel(); ++i) CHECK(a.item(i) == doctest::Approx(b.item(i)).epsilon(1e-9));
}

TEST_CASE("erasure-flip: greedy set size and flipped class by hand; the reported set flips, one less does not") {
  // Logits = mean embedding: class 0 from the first feature, class 1 from the second.
  Model m = bag_of_words({0, 0, 3, 0, 1, 0, 0, 1, 0.5, 2});
  // Sample 0: mean (0.8, 0.4) -> class 0; erasing token 1 (3, 0) leaves (0.2, 0.4): flips after one step.
  // Sample 1: (1,1,3,3,3) -> mean (1.2, 0.6) -> class 0; one 1 erased: (0.6, 0.6) is a tie, argmax stays
  // 0 (first index); both erased: (0, 0.6) -> class 1 after two steps.
  // Sample 2: all padding except token 2: (0.2, 0) never becomes class 1 (erased: (0, 0), a tie -> 0).
  const Tensor ids = ids_of(3, 5, {1, 2, 3, 3, 0, 1, 1, 3, 3, 3, 2, 0, 0, 0, 0});
  const std::string summary = (std::filesystem::temp_directory_path() / "xdnn-erasure-flip.json").string();
  const Attribution a = run_method("erasure-flip", m, ids, {{"summary", summary}});
  CHECK(a.parameters.at("flip_set_size") == "1,2,-1");
  CHECK(a.parameters.at("flipped_class") == "1,1,-1");
  CHECK(a.parameters.at("search") == "greedy");
  // Ranks: sample 0 erased token 0 only; sample 1 erased positions 0 then 1.
  const std::vector<double> expected = {1, 0, 0, 0, 0, 2, 1, 0, 0, 0};
  for (int64_t i = 0; i < 10; ++i) CHECK(a.values.item(i) == expected[i]);
  std::ifstream f(summary);
  const nlohmann::json j = nlohmann::json::parse(f);
  CHECK(j["search"] == "greedy");
  CHECK(j["samples"][1]["set_size"] == 2);
  CHECK(j["samples"][1]["positions"] == nlohmann::json::array({0, 1}));
  CHECK(j["samples"][1]["token_ids"] == nlohmann::json::array({1, 1}));
  CHECK(j["samples"][2]["flipped_class"] == -1);
  std::filesystem::remove(summary);
}

TEST_CASE("erasure-flip on the golden transformer: erasing the reported set flips, the set minus its last does not") {
  Model m = import_onnx_file(kGolden + "models/transformer.onnx");
  m.to(DType::F64);
  const Tensor ids = load_npy(kGolden + "explain-transformer-saliency/input.npy");
  const int64_t N = ids.dim(0), T = ids.dim(1);
  const std::vector<int64_t> pred = explain::resolve_targets(m, ids, -1);
  const Attribution a = run_method("erasure-flip", m, ids);
  const explain::Point point = explain::attribution_point(m, ids);
  const Tensor e = m.forward({ids}).values.at(point.value_id);
  MESSAGE("golden transformer erasure-flip set sizes " << a.parameters.at("flip_set_size") << ", flipped classes "
                                                       << a.parameters.at("flipped_class") << ", positions "
                                                       << a.parameters.at("flip_positions"));
  for (int64_t n = 0; n < N; ++n) {
    int64_t k = 0;
    for (int64_t t = 0; t < T; ++t) k = std::max<int64_t>(k, static_cast<int64_t>(a.values.item(n * T + t)));
    REQUIRE(k >= 1);
    // Erase the ranks k..1 (the whole set), then all but the last one (rank 1), by hand.
    for (int64_t upto : {int64_t{1}, int64_t{2}}) {
      Tensor en({1, T, e.dim(2)}, DType::F64);  // a fresh copy: erasing must not touch e
      en.copy_from(e.slice_batch(n, n + 1));
      for (int64_t t = 0; t < T; ++t)
        if (a.values.item(n * T + t) >= static_cast<double>(upto))
          for (int64_t i = 0; i < e.dim(2); ++i) en.set_item(t * e.dim(2) + i, 0.0);
      const Tape tape = explain::forward_at(m, point, ids.slice_batch(n, n + 1), en);
      const int64_t c = explain::argmax_rows(explain::tape_logits(m, tape))[0];
      if (upto == 1) CHECK(c != pred[n]);
      if (upto == 2) CHECK(c == pred[n]);
    }
  }
}

TEST_CASE("erasure: bad input fails with one line") {
  Model m = bag_of_words({0, 0, 3, 0, 1, 0, 0, 1, 0.5, 2});
  const Tensor ids = ids_of(1, 3, {1, 2, 3});
  CHECK_THROWS_WITH_AS(run_method("erasure", m, ids, {{"score", "odds"}}), doctest::Contains("--score 'odds'"), Error);
  CHECK_THROWS_WITH_AS(run_method("erasure", m, ids, {{"erase", "mask"}}), doctest::Contains("--erase 'mask'"), Error);
  CHECK_THROWS_WITH_AS(run_method("erasure", m, ids, {{"erase", "pad"}, {"pad-id", "-2"}}),
                       doctest::Contains("--pad-id -2"), Error);
  CHECK_THROWS_WITH_AS(run_method("erasure", m, ids_of(1, 1, {2}), {{"erase", "remove"}}),
                       doctest::Contains("cannot remove every token"), Error);
  CHECK_THROWS_WITH_AS(run_method("erasure", m, Tensor({1, 3}, DType::F64), {}, {0}),
                       doctest::Contains("expected int64 token ids"), Error);
  CHECK_THROWS_WITH_AS(run_method("erasure", m, ids, {{"window", "1"}}), doctest::Contains("does not apply"), Error);
}

namespace {

Tensor lrp_tokens(const Model& m, const Tensor& ids, const std::string& transformer_rule, double eps) {
  explain::lrp::LrpConfig config;
  config.params.epsilon = eps;
  config.transformer_rule = transformer_rule;
  explain::lrp::LrpQuery query;
  query.targets = explain::resolve_targets(m, ids, -1);
  return explain::lrp::lrp_attribution(m, ids, config, query);
}

void randomize(Model& m, Rng& rng, bool zero_biases) {
  for (Param* p : m.params()) {
    const bool bias = p->name.size() >= 4 && p->name.substr(p->name.size() - 4) == "bias";
    for (int64_t i = 0; i < p->value.numel(); ++i)
      p->value.set_item(i, bias && zero_biases ? 0.0 : p->value.item(i) + rng.uniform(-0.5, 0.5));
  }
}

// Embedding -> [positions] -> TransformerEncoderLayer -> mean over tokens -> Linear, F64.
Model encoder_model(int64_t V, int64_t d, int64_t heads, int64_t ff, int64_t K, int64_t max_len, bool positions,
                    Rng& rng) {
  Model m;
  m.add_input("input");
  auto emb = std::make_shared<Embedding>("embedding", V, d, DType::F64);
  emb->init(rng);
  m.add_node("embedding", emb, {"input"}, {"e"});
  std::string x = "e";
  if (positions) {
    auto pos = std::make_shared<LearnedPositionalEmbedding>("pos", max_len, d, DType::F64);
    pos->init(rng);
    m.add_node("pos", pos, {"e"}, {"x"});
    x = "x";
  }
  auto enc = std::make_shared<TransformerEncoderLayer>("layers.0", TransformerEncoderConfig{d, heads, ff}, DType::F64);
  enc->init(rng);
  m.add_node("layers.0", enc, {x}, {"h"});
  m.add_node("pool", std::make_shared<MeanTokenPooling>(), {"h"}, {"pooled"});
  auto fc = std::make_shared<Linear>("fc", d, K, true, DType::F64);
  fc->init(rng);
  m.add_node("fc", fc, {"pooled"}, {"logits"});
  m.set_outputs({"logits"});
  m.to(DType::F64);
  return m;
}

double sum_row(const Tensor& a, int64_t n) {
  double s = 0;
  for (int64_t t = 0; t < a.dim(1); ++t) s += a.item(n * a.dim(1) + t);
  return s;
}

}  // namespace

TEST_CASE("CP-LRP: equals x ⊙ ∂f/∂x with the attention held constant, by hand (one attention layer, no biases)") {
  Rng rng(11);
  Model m = attention_model(8, 3, 1, 1, 2, rng);
  randomize(m, rng, true);
  const Tensor ids = ids_of(2, 4, {1, 2, 3, 4, 5, 6, 7, 1});
  const Tensor R = lrp_tokens(m, ids, "cp", 1e-12);
  const std::vector<int64_t> K = explain::resolve_targets(m, ids, -1);
  const auto maps = explain::attention_maps(m, ids);
  const Tensor &Wi = m.find_param("attn0.in_proj_weight")->value, &Wo = m.find_param("attn0.out_proj.weight")->value;
  const Tensor& Wfc = m.find_param("fc.weight")->value;
  const int64_t T = 4, d = 3;
  for (int64_t n = 0; n < 2; ++n) {
    const std::vector<double> x = embedded(m, ids, n);
    // w = W_fc[K] W_o W_v (d): the linear read-out of a value vector.
    std::vector<double> w(d, 0.0);
    for (int64_t c = 0; c < d; ++c)
      for (int64_t a = 0; a < d; ++a)
        for (int64_t b = 0; b < d; ++b)
          w[c] += Wfc.item(K[n] * d + a) * Wo.item(a * d + b) * Wi.item((2 * d + b) * d + c);
    for (int64_t j = 0; j < T; ++j) {
      double cj = 0, wx = 0;
      for (int64_t i = 0; i < T; ++i) cj += maps[0].probs.item((n * T + i) * T + j) / T;
      for (int64_t c = 0; c < d; ++c) wx += w[c] * x[j * d + c];
      CHECK(R.item(n * T + j) == doctest::Approx(cj * wx).epsilon(1e-9));
    }
  }
}

TEST_CASE("CP-LRP conserves the target logit on a transformer encoder without biases; AttnLRP differs") {
  Rng rng(21);
  Model m = encoder_model(10, 8, 2, 16, 3, 6, false, rng);
  randomize(m, rng, true);
  const Tensor ids = ids_of(3, 6, {1, 2, 3, 4, 5, 6, 9, 8, 7, 6, 5, 4, 2, 2, 3, 3, 1, 1});
  const Tensor logits = m.predict(ids);
  const std::vector<int64_t> K = explain::argmax_rows(logits);
  const Tensor cp = lrp_tokens(m, ids, "cp", 1e-12);
  const Tensor attn = lrp_tokens(m, ids, "attn-lrp", 1e-12);
  // Every rule on the path is an ε-rule of a bias-free linear map (LayerNorm with its std detached,
  // residual sums split in proportion, attention linear in v given P): conservation up to ε = 1e-12.
  for (int64_t n = 0; n < 3; ++n) {
    const double f = logits.item(n * 3 + K[n]);
    CHECK(sum_row(cp, n) == doctest::Approx(f).epsilon(1e-8));
    MESSAGE("sample " << n << ": f_K " << f << ", CP-LRP sum " << sum_row(cp, n) << ", AttnLRP sum "
                      << sum_row(attn, n));
  }
  double diff = 0, norm = 0;
  for (int64_t i = 0; i < cp.numel(); ++i)
    diff += std::pow(cp.item(i) - attn.item(i), 2), norm += cp.item(i) * cp.item(i);
  CHECK(std::sqrt(diff / norm) > 1e-3);
}

TEST_CASE("CP-LRP vs AttnLRP where they must differ: a token that acts only through the attention weights") {
  // d = 4, one head; v reads features 0, 1 only. Token 1 embeds to (0, 0, 1, -2): its value vector is 0,
  // it changes the output only through q and k. CP-LRP holds the attention constant, so it gets exactly 0;
  // AttnLRP passes relevance through the softmax and q kᵀ and gives it some.
  Rng rng(4);
  Model m = attention_model(4, 4, 1, 1, 2, rng);
  randomize(m, rng, true);
  Tensor& Wi = m.find_param("attn0.in_proj_weight")->value;
  for (int64_t r = 8; r < 12; ++r)
    for (int64_t c = 2; c < 4; ++c) Wi.set_item(r * 4 + c, 0.0);
  Tensor& E = m.find_param("emb.weight")->value;
  const std::vector<double> e1 = {0, 0, 1, -2};
  for (int64_t c = 0; c < 4; ++c) E.set_item(4 + c, e1[c]);
  const Tensor ids = ids_of(1, 4, {2, 1, 3, 2});
  const Tensor cp = lrp_tokens(m, ids, "cp", 1e-12);
  const Tensor attn = lrp_tokens(m, ids, "attn-lrp", 1e-12);
  double scale = 0;
  for (int64_t t = 0; t < 4; ++t) scale = std::max(scale, std::abs(cp.item(t)));
  CHECK(cp.item(1) == 0.0);
  CHECK(std::abs(attn.item(1)) > 1e-3 * scale);
}

TEST_CASE("CP-LRP: option errors") {
  Rng rng(2);
  Model m = attention_model(6, 2, 1, 1, 3, rng);
  const Tensor ids = ids_of(1, 3, {1, 2, 3});
  CHECK_THROWS_WITH_AS(lrp_tokens(m, ids, "cp-lrp", 1e-6), doctest::Contains("expected attn-lrp or cp"), Error);
  CHECK_THROWS_WITH_AS(lrp_tokens(bag_of_words({0, 0, 1, 1, 2, 2, 3, 3}), ids, "cp", 1e-6),
                       doctest::Contains("no layer of this model has a CP-LRP rule"), Error);
  // Through the registry: the default is attn-lrp (existing behaviour), cp is accepted.
  const Tensor a = run_method("lrp", m, ids).values;
  const Tensor b = run_method("lrp", m, ids, {{"transformer-rule", "attn-lrp"}}).values;
  for (int64_t i = 0; i < a.numel(); ++i) CHECK(a.item(i) == b.item(i));
  CHECK_NOTHROW(run_method("lrp", m, ids, {{"transformer-rule", "cp"}}));
}

namespace {

// The golden transformer rebuilt from native layers with the weights of transformer.safetensors.
Model golden_transformer_twin() {
  Rng rng(0);
  Model m = encoder_model(64, 16, 2, 32, 4, 12, true, rng);
  const auto weights = load_safetensors(kGolden + "models/transformer.safetensors");
  for (Param* p : m.params()) {
    REQUIRE_MESSAGE(weights.count(p->name), p->name);
    p->value = weights.at(p->name).to(DType::F64);
  }
  return m;
}

std::vector<int64_t> trigger_positions(const std::string& case_name) {
  std::ifstream f(kGolden + case_name + "/case.json");
  const nlohmann::json j = nlohmann::json::parse(f);
  return j.at("ground_truth").at("trigger_position").get<std::vector<int64_t>>();
}

int64_t argmax_row(const Tensor& a, int64_t n) {
  const int64_t T = a.dim(1);
  int64_t best = 0;
  for (int64_t t = 1; t < T; ++t)
    if (a.item(n * T + t) > a.item(n * T + best)) best = t;
  return best;
}

}  // namespace

TEST_CASE("golden transformer: ONNX Softmax attention == native twin's attention; numbers of every token method") {
  Model onnx = import_onnx_file(kGolden + "models/transformer.onnx");
  onnx.to(DType::F64);
  Model twin = golden_transformer_twin();
  const Tensor ids = load_npy(kGolden + "explain-transformer-saliency/input.npy");
  const int64_t N = ids.dim(0), T = ids.dim(1);
  const Tensor la = onnx.predict(ids), lb = twin.predict(ids);
  // The ONNX file stores LayerNorm's eps as a float32 attribute: agreement to ~1e-7, not 1e-12.
  for (int64_t i = 0; i < la.numel(); ++i) REQUIRE(la.item(i) == doctest::Approx(lb.item(i)).epsilon(1e-6));
  const auto ma = explain::attention_maps(onnx, ids), mb = explain::attention_maps(twin, ids);
  REQUIRE(ma.size() == 1);
  REQUIRE(mb.size() == 1);
  REQUIRE(ma[0].probs.shape() == Shape{N, 2, T, T});
  for (int64_t i = 0; i < ma[0].probs.numel(); ++i)
    CHECK(ma[0].probs.item(i) == doctest::Approx(mb[0].probs.item(i)).epsilon(1e-6));

  const std::vector<int64_t> trig = trigger_positions("explain-transformer-saliency");
  const std::vector<int64_t> K = explain::resolve_targets(twin, ids, -1);
  std::map<std::string, Tensor> results = {
      {"erasure", run_method("erasure", onnx, ids).values},
      {"attention-rollout", run_method("attention-rollout", onnx, ids).values},
      {"attention", run_method("attention", onnx, ids).values},
      {"lrp attn-lrp", lrp_tokens(twin, ids, "attn-lrp", 1e-6)},
      {"lrp cp", lrp_tokens(twin, ids, "cp", 1e-6)},
  };
  for (const auto& [name, a] : results) {
    int hits = 0;
    std::string row;
    for (int64_t n = 0; n < N; ++n) {
      hits += argmax_row(a, n) == trig[n];
      char buf[64];
      std::snprintf(buf, sizeof buf, " %.3g@%lld", a.item(n * T + trig[n]), static_cast<long long>(trig[n]));
      row += buf;
    }
    MESSAGE("golden transformer " << name << ": top token == trigger in " << hits << "/" << N
                                  << "; value at trigger:" << row);
    if (name == "erasure" || name == "lrp cp") CHECK(hits == N);
  }
  // CP-LRP on the ONNX graph (MatMul of a Softmax output: ε-rule to the value operand, explain/lrp) is the
  // native layers' CP-LRP: the same maps and rules, the in_proj bias split off by an Add node instead of
  // sitting in the ε-rule's denominator (the same share), LayerNorm's eps as float32 in the file.
  const Tensor cp_onnx = lrp_tokens(onnx, ids, "cp", 1e-6);
  double diff = 0, norm = 0;
  for (int64_t i = 0; i < cp_onnx.numel(); ++i) {
    diff += std::pow(cp_onnx.item(i) - results["lrp cp"].item(i), 2);
    norm += std::pow(results["lrp cp"].item(i), 2);
  }
  MESSAGE("CP-LRP ONNX graph vs native twin: relative L2 " << std::sqrt(diff / norm));
  CHECK(std::sqrt(diff / norm) < 1e-5);
  for (int64_t n = 0; n < N; ++n)
    MESSAGE("sample " << n << ": f_K " << la.item(n * 4 + K[n]) << ", CP-LRP sum " << sum_row(results["lrp cp"], n)
                      << ", AttnLRP sum " << sum_row(results["lrp attn-lrp"], n));
}

TEST_CASE("attention images: labels, colours, one PNG per sample x layer x (heads + mean)") {
  const Tensor m = Tensor::from_vector({3, 3}, std::vector<double>{0.5, 0.25, 0.25, 0, 1, 0, 0.2, 0.3, 0.5});
  const explain::RgbImage img = explain::render_attention(m, {"the", "<pad>", "12"}, "title", 10);
  REQUIRE(img.width > 30);
  REQUIRE(img.height > 30);
  int black = 0, red = 0;
  for (size_t i = 0; i + 2 < img.rgb.size(); i += 3) {
    black += img.rgb[i] == 0 && img.rgb[i + 1] == 0 && img.rgb[i + 2] == 0;
    red += img.rgb[i] == 255 && img.rgb[i + 1] == 0 && img.rgb[i + 2] == 0;
  }
  CHECK(black > 50);    // title and labels were drawn
  CHECK(red == 9 * 9);  // exactly the maximum cell (1.0) is saturated red (cell minus its grid line)
  CHECK_THROWS_AS(explain::render_attention(m, {"a"}, "t"), Error);

  Rng rng(8);
  Model model = attention_model(7, 4, 2, 2, 3, rng);
  const Tensor ids = ids_of(2, 3, {1, 2, 3, 4, 5, 6});
  const std::string dir = (std::filesystem::temp_directory_path() / "xdnn-seq-explain-png").string();
  std::filesystem::remove_all(dir);
  const std::string vocab = dir + "-vocab.json";
  std::ofstream(vocab) << R"({"format": "xdnn-vocabulary-1", "tokens": ["<pad>", "<unk>", "a", "b", "c", "d", "e"]})";
  run_method("attention", model, ids, {{"png-dir", dir}, {"vocab", vocab}});
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream f(entry.path(), std::ios::binary);
    char magic[4] = {};
    f.read(magic, 4);
    CHECK(std::string(magic + 1, 3) == "PNG");
    ++files;
  }
  CHECK(files == 2 * 2 * 3);
  CHECK(std::filesystem::exists(dir + "/attention-s1-l1-hmean.png"));
  CHECK(explain::token_labels(ids, 0, explain::load_vocabulary_tokens(vocab)) ==
        std::vector<std::string>{"<unk>", "a", "b"});
  std::ofstream(vocab) << R"({"tokens": [1, 2]})";
  CHECK_THROWS_WITH_AS(explain::load_vocabulary_tokens(vocab), doctest::Contains("is not a string"), Error);
  std::filesystem::remove_all(dir);
  std::filesystem::remove(vocab);
}

TEST_CASE("report: token models get an attention section with one image per layer and head (and the mean)") {
  Rng rng(9);
  Model model = attention_model(7, 4, 2, 2, 3, rng);
  explain::ReportRequest req;
  req.model = &model;
  req.input = ids_of(2, 3, {1, 2, 3, 4, 5, 6});
  req.methods = {"attention-rollout", "erasure"};
  req.vocabulary = {"<pad>", "<unk>", "alpha", "b&c"};
  const std::string page = explain::render_report(req);
  CHECK(page.find("<h2>Attention</h2>") != std::string::npos);
  size_t imgs = 0;
  for (size_t pos = page.find("alt=\"attention sample"); pos != std::string::npos;
       pos = page.find("alt=\"attention sample", pos + 1))
    ++imgs;
  CHECK(imgs == 2 * 2 * 3);
  CHECK(page.find(">alpha</span>") != std::string::npos);
  CHECK(page.find(">b&amp;c</span>") != std::string::npos);
  // No attention, no section.
  Model bow = bag_of_words({0, 0, 3, 0, 1, 0, 0, 1, 0.5, 2});
  req.model = &bow;
  req.input = ids_of(1, 3, {1, 2, 3});
  req.methods = {"erasure"};
  CHECK(explain::render_report(req).find("<h2>Attention</h2>") == std::string::npos);
}

}  // namespace xdnn
