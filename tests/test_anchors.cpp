// Anchors (explain/anchors.cpp) on hand-built models with a known answer: a tabular model that predicts
// class 1 iff feature 2 > 0.5 must be explained by exactly that predicate; a token model that fires on one
// token by that token; an image model that reads one grid cell by that cell. KL-LUCB's bounds against a
// direct computation; determinism under the seed and for 1 vs 2 threads; bad options as one-line errors.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include "engine/parallel.h"
#include "explain/kl_lucb.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "models/io/npy.h"
#include "tests/explain_run.h"
#include "tests/file_fixtures.h"
#include "tests/perturbation_fixtures.h"

using namespace xdnn;
using namespace xdnn::explain;
using namespace xdnn::testing;

namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("xdnn-anchors-" + std::to_string(getpid()) + "-" + name)).string();
}

// x (N, D) -> Linear(D, 2): logits (0, 10 (x_2 − 0.5)), so class 1 iff x_2 > 0.5 (class 0 on the tie).
Model feature2_model(int64_t D) {
  Model m;
  m.add_input("x");
  auto fc = std::make_shared<Linear>("fc", D, 2, true, DType::F64);
  for (int64_t i = 0; i < 2 * D; ++i) fc->params()[0]->value.set_item(i, 0.0);
  fc->params()[0]->value.set_item(D + 2, 10.0);  // weight (2, D): row 1, column 2
  fc->params()[1]->value.set_item(0, 0.0);
  fc->params()[1]->value.set_item(1, -5.0);
  m.append("fc", fc);
  m.to(DType::F64);
  return m;
}

// Background (101, D): column d holds 0, 0.01, ..., 1 in a column-specific order, so the columns are
// independent and their quartiles are exactly 0.25, 0.5, 0.75.
std::string background_file(int64_t D) {
  std::vector<float> v(101 * D);
  for (int64_t j = 0; j < 101; ++j)
    for (int64_t d = 0; d < D; ++d) v[j * D + d] = static_cast<float>((j * (7 + 2 * d)) % 101) / 100.0f;
  const std::string path = temp_path("background.npy");
  save_npy(path, Tensor::from_vector({101, D}, v));
  return path;
}

nlohmann::json rules_of(const Attribution& a) { return nlohmann::json::parse(a.parameters.at("rules")); }

}  // namespace

TEST_CASE("KL-LUCB bounds: KL divergence, and the bounds against a direct search over q") {
  CHECK(bernoulli_kl(0.5, 0.25) == doctest::Approx(0.5 * std::log(2.0) + 0.5 * std::log(0.5 / 0.75)).epsilon(1e-14));
  CHECK(bernoulli_kl(0.0, 0.3) == doctest::Approx(std::log(1.0 / 0.7)).epsilon(1e-14));
  CHECK(bernoulli_kl(1.0, 0.3) == doctest::Approx(std::log(1.0 / 0.3)).epsilon(1e-14));
  CHECK(std::isinf(bernoulli_kl(0.5, 1.0)));
  CHECK(bernoulli_kl(0.7, 0.7) == 0.0);
  for (double p : {0.0, 0.1, 0.5, 0.93, 1.0})
    for (double level : {0.001, 0.05, 0.5}) {
      CAPTURE(p);
      CAPTURE(level);
      // Direct: the largest / smallest q on a 1e-5 grid with KL(p ‖ q) ≤ level.
      double up = p, down = p;
      for (int i = 0; i <= 100000; ++i) {
        const double q = i * 1e-5;
        if (bernoulli_kl(p, q) <= level) up = q >= p ? std::max(up, q) : up, down = q <= p ? std::min(down, q) : down;
      }
      const double U = kl_upper_bound(p, level), L = kl_lower_bound(p, level);
      CHECK(U >= p);
      CHECK(L <= p);
      CHECK(std::abs(U - up) <= 1e-5);
      CHECK(std::abs(L - down) <= 1e-5);
      if (U < 1) CHECK(bernoulli_kl(p, U) == doctest::Approx(level).epsilon(1e-9));
      if (L > 0) CHECK(bernoulli_kl(p, L) == doctest::Approx(level).epsilon(1e-9));
    }
  // β(t, δ) = log(k A t^α / δ) + log log(k A t^α / δ), k = 405.5, α = 1.1.
  const double a = std::log(405.5 * 7 * std::pow(3.0, 1.1) / 0.1);
  CHECK(kl_lucb_beta(7, 3, 0.1) == doctest::Approx(a + std::log(a)).epsilon(1e-14));
}

TEST_CASE("anchors: tabular model 'class 1 iff feature 2 > 0.5' is explained by exactly that predicate") {
  const Model m = feature2_model(4);
  const std::string bg = background_file(4);
  const Tensor x = Tensor::from_vector({2, 4}, std::vector<double>{0.3, 0.9, 0.6, 0.1, 0.7, 0.05, 0.2, 0.95});
  const Attribution a = run("anchors", m, x, {1, 0}, {{"background", bg}, {"seed", "3"}});
  const nlohmann::json rules = rules_of(a);
  REQUIRE(rules.size() == 2);
  // Sample 0: x_2 = 0.6 lies in the bin (0.5, 0.75]; the anchor is "feature 2 > 0.5", coverage 50 / 101.
  const nlohmann::json& r0 = rules[0];
  REQUIRE(r0["predicates"].size() == 1);
  CHECK(r0["predicates"][0]["feature"] == 2);
  CHECK(r0["predicates"][0]["op"] == ">");
  CHECK(r0["predicates"][0]["value"].get<double>() == doctest::Approx(0.5).epsilon(1e-6));
  CHECK(r0["precision"].get<double>() >= 0.95);
  CHECK(r0["precision_met"] == true);
  CHECK(r0["coverage"].get<double>() == doctest::Approx(50.0 / 101.0));
  CHECK(r0["rule"] == "IF feature 2 > 0.5 THEN class 1");
  // Sample 1: x_2 = 0.2 (class 0) lies in the first bin (−inf, 0.25]: the anchor is "feature 2 <= 0.25".
  const nlohmann::json& r1 = rules[1];
  REQUIRE(r1["predicates"].size() == 1);
  CHECK(r1["predicates"][0]["feature"] == 2);
  CHECK(r1["predicates"][0]["op"] == "<=");
  CHECK(r1["precision"].get<double>() >= 0.95);
  // The mask: 1 on column 2 only.
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t d = 0; d < 4; ++d) CHECK(a.values.item(n * 4 + d) == (d == 2 ? 1.0 : 0.0));
  // Every count is bounded by --max-samples.
  CHECK(r0["samples"].get<int64_t>() <= 100000);
  CHECK(r0["anchor_samples"].get<int64_t>() >= 100);
}

TEST_CASE("anchors: a token model that fires on one token is explained by that token") {
  const Model m = trigger_token_model(8);
  const Tensor ids = Tensor::from_vector({1, 8}, std::vector<int64_t>{1, 2, 5, 3, 4, 6, 7, 2});
  const Attribution a = run("anchors", m, ids, {1}, {{"pad-id", "0"}});
  const nlohmann::json r = rules_of(a)[0];
  REQUIRE(r["predicates"].size() == 1);
  CHECK(r["predicates"][0]["feature"] == 2);
  CHECK(r["predicates"][0]["token_id"] == 5);
  CHECK(r["precision"].get<double>() == 1.0);
  CHECK(r["coverage"].get<double>() == 0.5);  // (1 − replace-prob)^1
  CHECK(a.values.shape() == Shape{1, 8});
  for (int64_t t = 0; t < 8; ++t) CHECK(a.values.item(t) == (t == 2 ? 1.0 : 0.0));
  // Replaced by an UNK id (7) while the sequence is padded with 0: the padding is never a predicate.
  const Tensor padded = Tensor::from_vector({1, 8}, std::vector<int64_t>{1, 5, 3, 0, 0, 0, 0, 0});
  const nlohmann::json u = rules_of(run("anchors", m, padded, {1}, {{"pad-id", "7"}, {"padding-id", "0"}}))[0];
  REQUIRE(u["predicates"].size() == 1);
  CHECK(u["predicates"][0]["feature"] == 1);
  CHECK(u["precision"].get<double>() == 1.0);
}

TEST_CASE("anchors: an image model that reads one grid cell is explained by that cell") {
  // x (1, 1, 4, 4), grid:2 = 4 cells; logits (0, Σ of cell 3 (rows 2-3, columns 2-3) − 1).
  Model m;
  m.add_input("x");
  auto fc = std::make_shared<Linear>("fc", 16, 2, true, DType::F64);
  for (int64_t i = 0; i < 32; ++i) fc->params()[0]->value.set_item(i, 0.0);
  for (int64_t p : {10, 11, 14, 15}) fc->params()[0]->value.set_item(16 + p, 1.0);
  fc->params()[1]->value.set_item(0, 0.0);
  fc->params()[1]->value.set_item(1, -1.0);
  m.append("flat", std::make_shared<Flatten>());
  m.append("fc", fc);
  m.to(DType::F64);
  const Tensor x = Tensor::full({1, 1, 4, 4}, 1.0, DType::F64);
  const Attribution a = run("anchors", m, x, {1}, {{"feature-mask", "grid:2"}});
  const nlohmann::json r = rules_of(a)[0];
  REQUIRE(r["predicates"].size() == 1);
  CHECK(r["predicates"][0]["feature"] == 3);
  CHECK(r["features"] == "grid:2");
  for (int64_t p = 0; p < 16; ++p) CHECK(a.values.item(p) == ((p == 10 || p == 11 || p == 14 || p == 15) ? 1.0 : 0.0));
}

TEST_CASE("anchors: the same seed gives the same bits, for 1 and 2 threads; the batch split does not matter") {
  const Model m = feature2_model(4);
  const std::string bg = background_file(4);
  const Tensor x = Tensor::from_vector({2, 4}, std::vector<double>{0.3, 0.9, 0.52, 0.1, 0.7, 0.05, 0.48, 0.95});
  const int saved = num_threads();
  set_num_threads(1);
  const Attribution one = run("anchors", m, x, {1, 0}, {{"background", bg}, {"seed", "11"}, {"beam-width", "3"}});
  set_num_threads(2);
  const Attribution two = run("anchors", m, x, {1, 0}, {{"background", bg}, {"seed", "11"}, {"beam-width", "3"}});
  set_num_threads(saved);
  CHECK(one.parameters.at("rules") == two.parameters.at("rules"));
  for (int64_t i = 0; i < 8; ++i) CHECK(one.values.item(i) == two.values.item(i));
  // Sample 1 alone (first_sample = 1) draws the same numbers as in the batch.
  ExplainRequest req;
  req.model = &m;
  req.input = x.slice_batch(1, 2).clone();
  req.targets = {0};
  req.first_sample = 1;
  req.options = resolve_options(find_method("anchors"), {{"background", bg}, {"seed", "11"}, {"beam-width", "3"}});
  load_option_files(find_method("anchors"), req.options);
  const nlohmann::json alone = rules_of(find_method("anchors").run(req))[0];
  CHECK(alone.dump() == rules_of(one)[1].dump());
  // Another seed draws other samples (the counts differ), yet finds the same rule.
  const Attribution other = run("anchors", m, x, {1, 0}, {{"background", bg}, {"seed", "12"}, {"beam-width", "3"}});
  CHECK(rules_of(other)[0]["rule"] == rules_of(one)[0]["rule"]);
}

TEST_CASE("anchors: bad options fail with one line naming the option, before any forward pass") {
  const Model m = feature2_model(4);
  const std::string bg = background_file(4);
  const std::string narrow = temp_path("narrow.npy");
  save_npy(narrow, Tensor::full({5, 3}, 0.5, DType::F32));
  const Tensor x = Tensor::full({1, 4}, 0.6, DType::F64);
  const auto fails = [&](std::map<std::string, std::string> opts, const std::string& what) {
    const std::string msg = error_of([&] { run("anchors", m, x, {1}, opts); });
    CAPTURE(msg);
    CHECK(msg.find(what) != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
  };
  fails({{"background", bg}, {"threshold", "0"}}, "--threshold");
  fails({{"background", bg}, {"threshold", "1.5"}}, "--threshold");
  fails({{"background", bg}, {"threshold", "nan"}}, "--threshold");
  fails({{"background", bg}, {"beam-width", "0"}}, "--beam-width");
  fails({{"background", bg}, {"batch-size", "0"}}, "--batch-size");
  fails({{"background", bg}, {"max-samples", "0"}}, "--max-samples");
  fails({{"background", bg}, {"delta", "1"}}, "--delta");
  fails({{"background", bg}, {"lucb-epsilon", "-0.1"}}, "--lucb-epsilon");
  fails({{"background", bg}, {"bins", "1"}}, "--bins");
  fails({{"background", bg}, {"replace-prob", "0"}}, "--replace-prob");
  fails({{"background", bg}, {"feature-names", "a,b"}}, "--feature-names");
  fails({}, "--background");
  fails({{"background", narrow}}, "(M, 4)");
  fails({{"background", bg}, {"baseline", "0"}}, "--baseline");
  fails({{"background", bg}, {"padding-id", "0"}}, "--padding-id");
  const Model t = trigger_token_model(4);
  const std::string msg = error_of([&] { run("anchors", t, Tensor::full({1, 4}, 1, DType::I64), {1}, {}); });
  CHECK(msg.find("--pad-id") != std::string::npos);
}

TEST_CASE("anchors: a budget too small to decide reports it; feature names appear in the rule") {
  const Model m = feature2_model(4);
  const std::string bg = background_file(4);
  const Tensor x = Tensor::from_vector({1, 4}, std::vector<double>{0.3, 0.9, 0.6, 0.1});
  const nlohmann::json r = rules_of(run("anchors", m, x, {1}, {{"background", bg}, {"max-samples", "150"}}))[0];
  CHECK(r["samples"].get<int64_t>() <= 150);
  CHECK(r["budget_exhausted"] == true);
  const nlohmann::json named =
      rules_of(run("anchors", m, x, {1}, {{"background", bg}, {"feature-names", "age,height,score,weight"}}))[0];
  CHECK(named["rule"] == "IF score > 0.5 THEN class 1");
}
