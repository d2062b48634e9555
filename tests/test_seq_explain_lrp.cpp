// CP-LRP (Ali et al. 2022, --transformer-rule cp, explain/lrp) against AttnLRP on small transformers, and the
// token-model explainers on the golden transformer (ONNX graph and its native twin).
#include <doctest/doctest.h>

#include "tests/seq_explain_fixtures.h"

namespace xdnn {

using namespace seq_test;

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
  // AttnLRP on the ONNX graph (layers/matmul.h uniform rule on q kᵀ and P v, layers/softmax.h Prop. 3.1)
  // is the native layers' AttnLRP. The graph scales q kᵀ by a Div node after the MatMul, the native layer
  // inside it: the same shares, ε applied to c·q kᵀ instead of q kᵀ.
  const Tensor attn_onnx = lrp_tokens(onnx, ids, "attn-lrp", 1e-6);
  diff = 0, norm = 0;
  for (int64_t i = 0; i < attn_onnx.numel(); ++i) {
    diff += std::pow(attn_onnx.item(i) - results["lrp attn-lrp"].item(i), 2);
    norm += std::pow(results["lrp attn-lrp"].item(i), 2);
  }
  MESSAGE("AttnLRP ONNX graph vs native twin: relative L2 " << std::sqrt(diff / norm));
  CHECK(norm > 0);
  CHECK(std::sqrt(diff / norm) < 1e-5);
  for (int64_t n = 0; n < N; ++n)
    MESSAGE("sample " << n << ": f_K " << la.item(n * 4 + K[n]) << ", CP-LRP sum " << sum_row(results["lrp cp"], n)
                      << ", AttnLRP sum " << sum_row(results["lrp attn-lrp"], n));
}

}  // namespace xdnn
