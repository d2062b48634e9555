// Explainers for token models that read the sequence layers: representation erasure and its greedy flip
// set (explain/erasure.cpp), attention maps and rollout (explain/attention.*), attention images and the
// report's attention section. CP-LRP: tests/test_seq_explain_lrp.cpp.
#include <doctest/doctest.h>

#include <unistd.h>

#include "explain/point.h"
#include "tests/seq_explain_fixtures.h"

namespace xdnn {

using namespace seq_test;

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
  const std::string summary =
      (std::filesystem::temp_directory_path() / ("xdnn-erasure-flip-" + std::to_string(::getpid()) + ".json")).string();
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
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("xdnn-seq-explain-png-" + std::to_string(::getpid()))).string();
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
  const std::string bow_page = explain::render_report(req);
  CHECK(bow_page.find("<h2>Attention</h2>") == std::string::npos);
  // The most relevant token's cell is saturated (|t| = 1): light text on it.
  CHECK(bow_page.find(";color:#fff\"") != std::string::npos);
}

}  // namespace xdnn
