// Evaluation metrics (explain/evaluate/) and SVCCA (explain/svcca.h) against answers known by
// construction: a model that reads one pixel (a perfect attribution reaches the deletion floor after one
// step), a model that sums its input (every curve point is a partial sum), the exact tie order and the
// points k_i = ⌈i·D/n⌉, per-pixel attributions covering all channels, stable scores, batch independence
// across model-call chunks; SVCCA of a layer against an invertible linear map of itself (all ones), a
// shared neuron (top correlation 1), the (N·h·w, C) layout of conv activations. The golden cases
// (tests/golden/evaluate-*, svcca-*) check agreement with the reference computation. Sanity checks,
// similarities, the plot and the planted-patch task: test_evaluate_checks.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <memory>

#include "engine/random.h"
#include "explain/evaluate/curve.h"
#include "explain/evaluate/metric.h"
#include "explain/evaluate/score.h"
#include "explain/evaluate/table.h"
#include "explain/svcca.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/registry.h"
#include "models/model.h"
#include "tests/gradcheck.h"

using namespace xdnn;
using namespace xdnn::explain;

namespace {

// f(x) = W x on (N, D) (after a Flatten for image inputs), float64, W given row-major (classes, D).
Model linear_model(int64_t D, const std::vector<double>& W, bool flatten = false) {
  const int64_t classes = static_cast<int64_t>(W.size()) / D;
  Model m;
  m.add_input("x");
  if (flatten) m.append("flat", std::make_shared<Flatten>());
  auto fc = std::make_shared<Linear>("fc", D, classes, false, DType::F64);
  m.append("fc", fc);
  m.to(DType::F64);
  Tensor& w = fc->params()[0]->value;
  for (int64_t i = 0; i < w.numel(); ++i) w.set_item(i, W[i]);
  return m;
}

MetricResult run_metric(const std::string& name, const Model& m, const Tensor& x, const Tensor& a,
                        std::vector<int64_t> targets, std::map<std::string, std::string> opts) {
  MetricRequest req;
  req.model = &m;
  req.input = x;
  req.attribution = a;
  req.targets = std::move(targets);
  const MetricInfo& info = find_metric(name);
  req.options = resolve_metric_options(info, opts);
  return info.run(req);
}

Tensor tensor(Shape s, std::vector<double> v) { return Tensor::from_vector(std::move(s), v); }

Tensor ops_neg(const Tensor& a) {
  Tensor out = a.clone();
  for (int64_t i = 0; i < out.numel(); ++i) out.set_item(i, -out.item(i));
  return out;
}

// n weights uniform in [-1, 1), drawn in order from rng.
std::vector<double> random_weights(Rng& rng, int64_t n) {
  std::vector<double> W(n);
  for (auto& w : W) w = rng.uniform() * 2 - 1;
  return W;
}

double squared_norm(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x * x;
  return s;
}

}  // namespace

TEST_CASE("metric registry: deletion and insertion are registered; unknown names and options fail") {
  CHECK(find_metric("deletion").name == "deletion");
  CHECK(find_metric("insertion").name == "insertion");
  CHECK_THROWS_AS(find_metric("deletion-auc"), Error);
  CHECK_THROWS_AS(resolve_metric_options(find_metric("deletion"), {{"window", "3"}}), Error);
}

TEST_CASE("order: largest first, ties (including -0 and +0) by lower index") {
  const double a[] = {0.0, -0.0, 1.0, 0.0, 1.0, -2.0, 0.5};
  CHECK(order_largest_first(a, 7) == std::vector<int64_t>{2, 4, 6, 0, 1, 3, 5});
}

TEST_CASE("deletion on a model that reads one pixel: a perfect attribution hits the floor after one step") {
  const int64_t D = 9, p = 5;
  std::vector<double> W(2 * D, 0.0);
  W[p] = 1.0;      // class 0 reads pixel p
  W[D + 0] = 1.0;  // class 1 reads pixel 0 (irrelevant here)
  Model m = linear_model(D, W);
  Rng rng(3);
  Tensor x = random_tensor({1, D}, rng, 0.5, 1.0).to(DType::F64);
  Tensor perfect({1, D}, DType::F64);
  perfect.set_item(p, 1.0);
  const MetricResult del = run_metric("deletion", m, x, perfect, {0}, {{"score", "logit"}, {"steps", "9"}});
  CHECK(del.values.shape() == Shape{1, D + 1});
  CHECK(del.values.item(0) == x.item(p));
  for (int64_t i = 1; i <= D; ++i) CHECK(del.values.item(i) == 0.0);  // the floor (baseline 0)
  CHECK(del.summary[0] == doctest::Approx(x.item(p) / (2.0 * D)));
  // The worst attribution (pixel p ranked last) keeps the score until the last step.
  Tensor worst = Tensor::full({1, D}, 1.0, DType::F64);
  worst.set_item(p, -1.0);
  const MetricResult bad = run_metric("deletion", m, x, worst, {0}, {{"score", "logit"}, {"steps", "9"}});
  for (int64_t i = 0; i < D; ++i) CHECK(bad.values.item(i) == x.item(p));
  CHECK(bad.values.item(D) == 0.0);
  CHECK(bad.summary[0] > del.summary[0]);
  // Insertion mirrors it: the perfect attribution restores the whole score at the first step.
  const MetricResult ins =
      run_metric("insertion", m, x, perfect, {0}, {{"score", "logit"}, {"steps", "3"}, {"baseline", "0"}});
  CHECK(ins.values.item(0) == 0.0);
  for (int64_t i = 1; i <= 3; ++i) CHECK(ins.values.item(i) == x.item(p));
}

TEST_CASE("curve points k_i = ceil(i D / n) and the baseline, on a model that sums its input") {
  Model m = linear_model(5, {1, 1, 1, 1, 1});
  Tensor x = tensor({1, 5}, {1, 2, 4, 8, 16});
  Tensor a = x.clone();  // order: 16, 8, 4, 2, 1
  // n = 3: k = 0, 2, 4, 5.
  MetricResult del = run_metric("deletion", m, x, a, {0}, {{"score", "logit"}, {"steps", "3"}});
  CHECK(del.values.to(DType::F64).data<double>()[0] == 31.0);
  const double expect_del[] = {31, 7, 1, 0};
  for (int i = 0; i < 4; ++i) CHECK(del.values.item(i) == expect_del[i]);
  // Baseline 0.5: removed features count 0.5 each.
  del = run_metric("deletion", m, x, a, {0}, {{"score", "logit"}, {"steps", "3"}, {"baseline", "0.5"}});
  const double expect_b[] = {31, 8, 3, 2.5};
  for (int i = 0; i < 4; ++i) CHECK(del.values.item(i) == expect_b[i]);
  const MetricResult ins = run_metric("insertion", m, x, a, {0}, {{"score", "logit"}, {"steps", "3"}});
  const double expect_ins[] = {0, 24, 30, 31};
  for (int i = 0; i < 4; ++i) CHECK(ins.values.item(i) == expect_ins[i]);
  CHECK(ins.summary[0] == doctest::Approx((12 + 27 + 30.5) / 3.0));
  // More steps than features: k_i repeats (n = 7, D = 5: 0, 1, 2, 3, 3, 4, 5, 5).
  del = run_metric("deletion", m, x, a, {0}, {{"score", "logit"}, {"steps", "7"}});
  const double expect7[] = {31, 15, 7, 3, 3, 1, 0, 0};
  for (int i = 0; i < 8; ++i) CHECK(del.values.item(i) == expect7[i]);
}

TEST_CASE("per-pixel attributions cover every channel of their pixel") {
  // x (1, 2, 1, 3): channel 0 = 1, 2, 4; channel 1 = 8, 16, 32; f = sum.
  Model m = linear_model(6, std::vector<double>(6, 1.0), true);
  Tensor x = tensor({1, 2, 1, 3}, {1, 2, 4, 8, 16, 32});
  Tensor per_pixel = tensor({1, 1, 1, 3}, {0.0, 3.0, 3.0});  // pixel 1, then pixel 2 (tie), then 0
  const MetricResult del = run_metric("deletion", m, x, per_pixel, {0}, {{"score", "logit"}, {"steps", "3"}});
  const double expect[] = {63, 63 - 18, 63 - 18 - 36, 0};
  for (int i = 0; i < 4; ++i) CHECK(del.values.item(i) == expect[i]);
  // The full-shape form ranks elements, not pixels.
  Tensor full = tensor({1, 2, 1, 3}, {0, 0, 0, 0, 0, 1});
  const MetricResult d2 = run_metric("deletion", m, x, full, {0}, {{"score", "logit"}, {"steps", "6"}});
  CHECK(d2.values.item(1) == 31.0);
}

TEST_CASE("scores: prob and log-prob are stable for large logits") {
  Tensor logits = tensor({2, 3}, {1000.0, 0.0, -1000.0, 0.0, std::log(3.0), 0.0});
  CHECK(target_scores(logits, {0, 1}, ScoreKind::Logit) == std::vector<double>{1000.0, std::log(3.0)});
  const auto p = target_scores(logits, {0, 1}, ScoreKind::Prob);
  CHECK(p[0] == 1.0);
  CHECK(p[1] == doctest::Approx(0.6).epsilon(1e-15));
  const auto lp = target_scores(logits, {1, 0}, ScoreKind::LogProb);
  CHECK(lp[0] == -1000.0);
  CHECK(lp[1] == doctest::Approx(std::log(0.2)).epsilon(1e-14));
  CHECK_THROWS_AS(parse_score("probability"), Error);
}

TEST_CASE("curves: samples are independent of the batch and of the model-call chunks") {
  Rng rng(5);
  const int64_t D = 12;
  const std::vector<double> W = random_weights(rng, 3 * D);
  Model m = linear_model(D, W);
  Tensor x = random_tensor({3, D}, rng, 0.0, 1.0).to(DType::F64);
  Tensor a = random_tensor({3, D}, rng, -1.0, 1.0).to(DType::F64);
  // 3 samples × 21 points = 63 rows: two model calls of 32 rows and one of 1 row.
  const std::map<std::string, std::string> opts{{"score", "prob"}, {"steps", "20"}, {"baseline", "0.3"}};
  const MetricResult all = run_metric("insertion", m, x, a, {0, 1, 2}, opts);
  for (int64_t n = 0; n < 3; ++n) {
    const MetricResult one =
        run_metric("insertion", m, x.slice_batch(n, n + 1).clone(), a.slice_batch(n, n + 1).clone(), {n}, opts);
    for (int64_t i = 0; i <= 20; ++i) CHECK(one.values.item(i) == all.values.item(n * 21 + i));
  }
}

TEST_CASE("evaluate: bad requests throw one-line errors") {
  Model m = linear_model(4, {1, 1, 1, 1});
  Tensor x = tensor({1, 4}, {1, 2, 3, 4});
  Tensor a = x.clone();
  const std::map<std::string, std::string> ok{{"score", "logit"}, {"steps", "2"}};
  CHECK_NOTHROW(run_metric("deletion", m, x, a, {0}, ok));
  CHECK_THROWS_AS(run_metric("deletion", m, x, a, {0}, {{"score", "logit"}, {"steps", "0"}}), Error);
  CHECK_THROWS_AS(run_metric("deletion", m, x, a, {0}, {{"score", "logit"}}), Error);  // no --steps
  CHECK_THROWS_AS(run_metric("deletion", m, x, a, {0}, {{"steps", "2"}}), Error);      // no --score
  CHECK_THROWS_AS(run_metric("deletion", m, x, a, {0}, {{"score", "odds"}, {"steps", "2"}}), Error);
  CHECK_THROWS_AS(run_metric("deletion", m, x, tensor({1, 3}, {1, 2, 3}), {0}, ok), Error);  // wrong shape
  CHECK_THROWS_AS(run_metric("deletion", m, x, tensor({2, 4}, {1, 2, 3, 4, 1, 2, 3, 4}), {0}, ok), Error);
  Tensor nan = a.clone();
  nan.set_item(2, std::nan(""));
  CHECK_THROWS_WITH_AS(run_metric("deletion", m, x, nan, {0}, ok),
                       "attribution: element 2 is NaN, expected finite values", Error);
  Tensor inf = a.clone();
  inf.set_item(3, -std::numeric_limits<double>::infinity());
  CHECK_THROWS_WITH_AS(run_metric("insertion", m, x, inf, {0}, ok),
                       "attribution: element 3 is infinite, expected finite values", Error);
  CHECK_THROWS_AS(run_metric("insertion", m, x, a, {0}, {{"score", "logit"}, {"steps", "2"}, {"baseline", "x"}}),
                  Error);
}

TEST_CASE("SVCCA: an invertible linear map of a layer gives all ones; a shared neuron gives a top 1") {
  Rng rng(9);
  const int64_t N = 200, F = 5;
  Tensor A = random_tensor({N, F}, rng, -1.0, 1.0).to(DType::F64);
  Tensor M = random_tensor({F, F}, rng, -1.0, 1.0).to(DType::F64);
  for (int64_t i = 0; i < F; ++i) M.set_item(i * F + i, M.item(i * F + i) + 3.0);  // diagonally dominant
  Tensor B({N, F}, DType::F64);                                                    // B = A M + 7
  for (int64_t n = 0; n < N; ++n)
    for (int64_t j = 0; j < F; ++j) {
      double s = 7.0;
      for (int64_t i = 0; i < F; ++i) s += A.item(n * F + i) * M.item(i * F + j);
      B.set_item(n * F + j, s);
    }
  const SvccaResult r = svcca(A, B, 1.0);
  CHECK(r.kept_a == F);
  CHECK(r.kept_b == F);
  REQUIRE(r.correlations.size() == static_cast<size_t>(F));
  for (double rho : r.correlations) CHECK(rho == doctest::Approx(1.0).epsilon(1e-10));
  // A and C share neuron 0 only: the largest correlation is 1, the others those of independent noise.
  Tensor C = random_tensor({N, 3}, rng, -1.0, 1.0).to(DType::F64);
  for (int64_t n = 0; n < N; ++n) C.set_item(n * 3, A.item(n * F));
  const SvccaResult s = svcca(A, C, 1.0);
  REQUIRE(s.correlations.size() == 3);
  CHECK(s.correlations[0] == doctest::Approx(1.0).epsilon(1e-10));
  CHECK(s.correlations[1] < 0.5);
  CHECK(s.correlations[1] >= s.correlations[2]);
  // κ < 1 keeps fewer directions (at least one).
  const SvccaResult t = svcca(A, B, 0.3);
  CHECK(t.kept_a >= 1);
  CHECK(t.kept_a < F);
}

TEST_CASE("SVCCA: conv activations are (N·h·w, C); mismatched rows and bad --keep fail") {
  Rng rng(13);
  const int64_t N = 6, C = 3, h = 2, w = 4;
  Tensor conv = random_tensor({N, C, h, w}, rng, -1.0, 1.0).to(DType::F64);
  Tensor rows({N * h * w, C}, DType::F64);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t q = 0; q < h * w; ++q) rows.set_item((n * h * w + q) * C + c, conv.item((n * C + c) * h * w + q));
  Tensor other = random_tensor({N * h * w, 4}, rng, -1.0, 1.0).to(DType::F64);
  const SvccaResult a = svcca(conv, other, 0.9);
  const SvccaResult b = svcca(rows, other, 0.9);
  CHECK(a.rows == N * h * w);
  CHECK(a.kept_a == b.kept_a);
  REQUIRE(a.correlations.size() == b.correlations.size());
  for (size_t i = 0; i < a.correlations.size(); ++i)
    CHECK(a.correlations[i] == doctest::Approx(b.correlations[i]).epsilon(1e-12));
  CHECK_THROWS_AS(svcca(conv, random_tensor({N, 4}, rng, -1.0, 1.0), 0.9), Error);  // 48 vs 6 rows
  CHECK_THROWS_AS(svcca(conv, other, 0.0), Error);
  CHECK_THROWS_AS(svcca(conv, other, 1.5), Error);
  CHECK_THROWS_AS(svcca(Tensor::full({N, 2}, 1.0, DType::F64), random_tensor({N, 2}, rng), 0.9), Error);  // constant
  Model m = linear_model(4, {1, 1, 1, 1});
  CHECK_THROWS_AS(layer_activation(m, Tensor::full({2, 4}, 1.0, DType::F64), "no-such-tensor"), Error);
  CHECK(layer_activation(m, Tensor::full({2, 4}, 1.0, DType::F64), "fc").item(1) == 4.0);
}

TEST_CASE("AOPC over the MoRF and LeRF curves, on a model that sums its input") {
  Model m = linear_model(5, {1, 1, 1, 1, 1});
  Tensor x = tensor({1, 5}, {1, 2, 4, 8, 16});
  // MoRF: 31, 7, 1, 0 -> (0 + 24 + 30 + 31) / 4; LeRF (1, 2, 4, 8, 16 first): 31, 28, 16, 0 -> (0 + 3 + 15 + 31) / 4.
  const MetricResult morf = run_metric("aopc", m, x, x, {0}, {{"score", "logit"}, {"steps", "3"}});
  CHECK(morf.summary[0] == 21.25);
  const MetricResult lerf = run_metric("aopc", m, x, x, {0}, {{"score", "logit"}, {"steps", "3"}, {"order", "lerf"}});
  const double expect[] = {31, 28, 16, 0};
  for (int i = 0; i < 4; ++i) CHECK(lerf.values.item(i) == expect[i]);
  CHECK(lerf.summary[0] == 12.25);
  CHECK_THROWS_AS(run_metric("aopc", m, x, x, {0}, {{"score", "logit"}, {"steps", "3"}, {"order", "up"}}), Error);
}

TEST_CASE("faithfulness correlation: gradient x input of a linear model correlates exactly") {
  Rng rng(17);
  const int64_t D = 20;
  const std::vector<double> W = random_weights(rng, 2 * D);
  Model m = linear_model(D, W);
  Tensor x = random_tensor({2, D}, rng, 0.0, 1.0).to(DType::F64);
  const std::vector<int64_t> t{0, 1};
  // Removing S (baseline 0) drops the logit by Σ_{i∈S} w_i x_i: exactly the mass of gradient x input.
  Tensor gxi({2, D}, DType::F64);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t i = 0; i < D; ++i) gxi.set_item(n * D + i, W[t[n] * D + i] * x.item(n * D + i));
  const std::map<std::string, std::string> opts{{"score", "logit"}, {"samples", "50"}, {"subset-size", "6"}};
  const MetricResult r = run_metric("faithfulness-correlation", m, x, gxi, t, opts);
  for (double c : r.summary) CHECK(c == doctest::Approx(1.0).epsilon(1e-12));
  const MetricResult neg = run_metric("faithfulness-correlation", m, x, ops_neg(gxi), t, opts);
  for (double c : neg.summary) CHECK(c == doctest::Approx(-1.0).epsilon(1e-12));
  // A constant attribution has the same mass on every subset: the correlation is undefined, reported 0.
  const MetricResult flat =
      run_metric("faithfulness-correlation", m, x, Tensor::full({2, D}, 0.5, DType::F64), t, opts);
  for (double c : flat.summary) CHECK(c == 0.0);
  CHECK_THROWS_AS(run_metric("faithfulness-correlation", m, x, gxi, t,
                             {{"score", "logit"}, {"samples", "50"}, {"subset-size", "21"}}),
                  Error);
}

TEST_CASE("infidelity: 0 for the gradient of a linear model; E[(wᵀI)²] = σ²‖w‖² for a zero attribution") {
  Rng rng(19);
  const int64_t D = 10;
  const std::vector<double> W = random_weights(rng, D);
  const double w2 = squared_norm(W);
  Model m = linear_model(D, W);
  Tensor x = random_tensor({1, D}, rng, 0.0, 1.0).to(DType::F64);
  Tensor grad({1, D}, DType::F64);
  for (int64_t i = 0; i < D; ++i) grad.set_item(i, W[i]);
  const MetricResult r =
      run_metric("infidelity", m, x, grad, {0}, {{"score", "logit"}, {"samples", "20"}, {"noise-std", "0.3"}});
  CHECK(r.summary[0] < 1e-24);
  const MetricResult z = run_metric("infidelity", m, x, Tensor({1, D}, DType::F64), {0},
                                    {{"score", "logit"}, {"samples", "4000"}, {"noise-std", "0.3"}});
  CHECK(z.summary[0] == doctest::Approx(0.09 * w2).epsilon(0.1));  // Monte Carlo: ~2 % standard error
}

TEST_CASE("max-sensitivity: saliency of a linear model is 0; gradient x input moves by at most r‖w‖") {
  Rng rng(23);
  const int64_t D = 8;
  const std::vector<double> W = random_weights(rng, D);
  const double w2 = squared_norm(W);
  Model m = linear_model(D, W);
  Tensor x = random_tensor({2, D}, rng, 0.0, 1.0).to(DType::F64);
  const std::vector<int64_t> t{0, 0};
  const auto metrics = resolve_metrics({"max-sensitivity"}, {{"radius", "0.05"}});
  const AttributionSource sal = method_source(m, x, t, "saliency", {});
  const AttributionSource gxi = method_source(m, x, t, "gradient-x-input", {});
  MetricRequest context;
  context.model = &m;
  context.input = x;
  context.targets = t;
  const EvaluationTable table = evaluate_table(context, {sal, gxi}, metrics, false);
  for (double v : table.cells[0][0].summary) CHECK(v == 0.0);
  for (double v : table.cells[1][0].summary) {
    CHECK(v > 0.0);
    CHECK(v <= 0.05 * std::sqrt(w2) + 1e-15);
  }
  CHECK(table.format().find("gradient-x-input") != std::string::npos);
  // From a file there is no method to re-run.
  CHECK_THROWS_AS(run_metric("max-sensitivity", m, x, gxi.values, t, {}), Error);
  // An option none of the chosen metrics takes.
  CHECK_THROWS_AS(resolve_metrics({"deletion", "max-sensitivity"}, {{"subset-size", "3"}}), Error);
  CHECK_THROWS_AS(resolve_metrics({}, {}), Error);
}

TEST_CASE("ground-truth metrics: pointing game, relevance mass and rank, rationale F1 by hand") {
  Model m = linear_model(5, {1, 1, 1, 1, 1});  // not run: these metrics read only the maps
  Tensor x = Tensor({2, 5}, DType::F64);
  // Sample 0: position 4 is ignored (padding) although it holds the largest value; the tie 0.9 / 0.9 goes
  // to position 1 (not relevant). Sample 1: a perfect map.
  Tensor a = tensor({2, 5}, {0.5, 0.9, 0.9, -2.0, 5.0, 1, 0, 0, 0, 0});
  Tensor g = tensor({2, 5}, {0, 0, 1, 1, -1, 1, 0, 0, 0, 0});
  auto run_gt = [&](const std::string& name, std::map<std::string, std::string> opts) {
    MetricRequest req;
    req.model = &m;
    req.input = x;
    req.attribution = a;
    req.targets = {0, 0};
    req.ground_truth = g;
    req.options = resolve_metric_options(find_metric(name), opts);
    return find_metric(name).run(req).summary;
  };
  CHECK(run_gt("pointing-game", {}) == std::vector<double>{0.0, 1.0});
  const auto mass = run_gt("relevance-mass", {});
  CHECK(mass[0] == doctest::Approx(0.9 / 2.3).epsilon(1e-15));
  CHECK(mass[1] == 1.0);
  CHECK(run_gt("relevance-mass", {{"relevance", "absolute"}})[0] == doctest::Approx(2.9 / 4.3).epsilon(1e-15));
  CHECK(run_gt("relevance-rank", {}) == std::vector<double>{0.5, 1.0});
  CHECK(run_gt("rationale-f1", {}) == std::vector<double>{0.5, 1.0});
  CHECK(run_gt("rationale-f1", {{"top-k", "1"}})[0] == 0.0);
  CHECK(run_gt("rationale-f1", {{"top-k", "3"}})[0] == doctest::Approx(0.4).epsilon(1e-15));
  CHECK_THROWS_AS(run_gt("relevance-mass", {{"relevance", "signed"}}), Error);
  g.set_item(0, 2.0);  // not -1/0/1
  CHECK_THROWS_AS(run_gt("pointing-game", {}), Error);
  g = tensor({2, 5}, {0, 0, 0, 0, -1, 1, 0, 0, 0, 0});  // sample 0 marks nothing relevant
  CHECK_THROWS_AS(run_gt("relevance-rank", {}), Error);
  g = tensor({1, 5}, {1, 0, 0, 0, 0});  // wrong shape
  CHECK_THROWS_AS(run_gt("relevance-rank", {}), Error);
  g = Tensor();  // neither a tensor nor --ground-truth
  CHECK_THROWS_AS(run_gt("pointing-game", {}), Error);
}

TEST_CASE("SVCCA activations of a static-batch export are gathered chunk by chunk, in input order") {
  Model m = linear_model(4, {1, 2, 3, 4, 0, 1, 0, 1});
  Rng rng(47);
  Tensor x = random_tensor({5, 4}, rng, -1.0, 1.0).to(DType::F64);
  const Tensor whole = layer_activation(m, x, "fc");
  m.exported_batch = 2;  // chunks of 2, 2, 1
  const Tensor chunked = layer_activation(m, x, "fc");
  CHECK(chunked.shape() == Shape{5, 2});
  CHECK(testing::max_rel_diff(whole, chunked) == 0.0);
}
