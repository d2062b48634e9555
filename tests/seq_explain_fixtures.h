// Models and helpers shared by the token-model explainer tests (tests/test_seq_explain.cpp,
// tests/test_seq_explain_lrp.cpp).
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "explain/attention.h"
#include "explain/lrp/lrp.h"
#include "explain/registry.h"
#include "explain/report.h"
#include "explain/targets.h"
#include "layers/embedding.h"
#include "layers/linear.h"
#include "layers/multihead_attention.h"
#include "layers/positional_embedding.h"
#include "layers/token_pooling.h"
#include "layers/transformer_encoder.h"
#include "models/io/npy.h"
#include "models/io/safetensors.h"
#include "models/onnx/import.h"

namespace xdnn::seq_test {

using explain::Attribution;

inline const std::string kGolden = XDNN_TESTS_DIR "/golden/";

inline void set_param(Model& m, const std::string& name, const std::vector<double>& v) {
  Param* p = m.find_param(name);
  REQUIRE_MESSAGE(p != nullptr, name);
  REQUIRE(static_cast<int64_t>(v.size()) == p->value.numel());
  p->value = Tensor::from_vector(p->value.shape(), v).to(p->value.dtype());
}

inline Attribution run_method(const std::string& name, const Model& m, const Tensor& ids,
                              const std::map<std::string, std::string>& options = {},
                              std::vector<int64_t> targets = {}) {
  const explain::MethodInfo& method = explain::find_method(name);
  explain::ExplainRequest req;
  req.model = &m;
  req.input = ids;
  req.targets = targets.empty() ? explain::resolve_targets(m, ids, -1) : targets;
  req.options = explain::resolve_options(method, options);
  explain::load_option_files(method, req.options);
  return method.run(req);
}

inline Tensor ids_of(int64_t N, int64_t T, const std::vector<int64_t>& v) { return Tensor::from_vector({N, T}, v); }

// Embedding(V, d) -> MultiheadAttention(d, heads) [-> MultiheadAttention] -> mean over tokens -> Linear(d, K),
// all biases zero, F64. Attention projections are the identity (q = k = v = x, out = x) unless set later.
inline Model attention_model(int64_t V, int64_t d, int64_t heads, int64_t layers, int64_t K, Rng& rng) {
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
inline std::vector<double> self_attention_by_hand(const std::vector<double>& x, int64_t T, int64_t d) {
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

inline std::vector<double> embedded(const Model& m, const Tensor& ids, int64_t n) {
  const Tensor& W = const_cast<Model&>(m).find_param("emb.weight")->value;
  const int64_t T = ids.dim(1), d = W.dim(1);
  std::vector<double> x(T * d);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < d; ++k) x[t * d + k] = W.item(static_cast<int64_t>(ids.item(n * T + t)) * d + k);
  return x;
}

// Bag of words: Embedding(V, 2) -> mean over tokens -> Linear(2, 2) with W = I, b = 0, so the logits
// are the mean embedding. Token 0 embeds to 0 (a padding row).
inline Model bag_of_words(const std::vector<double>& table) {
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

inline double log_softmax_at(double a, double b, int k) {
  const double mx = std::max(a, b), lse = mx + std::log(std::exp(a - mx) + std::exp(b - mx));
  return (k == 0 ? a : b) - lse;
}

inline Tensor lrp_tokens(const Model& m, const Tensor& ids, const std::string& transformer_rule, double eps) {
  explain::lrp::LrpConfig config;
  config.params.epsilon = eps;
  config.transformer_rule = transformer_rule;
  explain::lrp::LrpQuery query;
  query.targets = explain::resolve_targets(m, ids, -1);
  return explain::lrp::lrp_attribution(m, ids, config, query);
}

inline void randomize(Model& m, Rng& rng, bool zero_biases) {
  for (Param* p : m.params()) {
    const bool bias = p->name.size() >= 4 && p->name.substr(p->name.size() - 4) == "bias";
    for (int64_t i = 0; i < p->value.numel(); ++i)
      p->value.set_item(i, bias && zero_biases ? 0.0 : p->value.item(i) + rng.uniform(-0.5, 0.5));
  }
}

// Embedding -> [positions] -> TransformerEncoderLayer -> mean over tokens -> Linear, F64.
inline Model encoder_model(int64_t V, int64_t d, int64_t heads, int64_t ff, int64_t K, int64_t max_len, bool positions,
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

inline double sum_row(const Tensor& a, int64_t n) {
  double s = 0;
  for (int64_t t = 0; t < a.dim(1); ++t) s += a.item(n * a.dim(1) + t);
  return s;
}

}  // namespace xdnn::seq_test
