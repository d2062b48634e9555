// The evaluation's independent tasks run side by side (explain/evaluate/tasks.h): max-sensitivity's
// perturbed re-runs, the perturbation curves' model calls, the table's methods. Each must give exactly
// the numbers of the sequential code it replaced, for 1 and 2 threads: the oracles below are that code,
// written out (draws one after another, 32-row chunks one after another, methods one after another).
// Also: --option METHOD.NAME=VALUE reaches that method alone, and names a chosen method and its option.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "engine/ops_fill.h"
#include "engine/parallel.h"
#include "engine/random.h"
#include "explain/evaluate/curve.h"
#include "explain/evaluate/table.h"
#include "explain/evaluate/tasks.h"
#include "explain/inference_graph.h"
#include "explain/registry.h"
#include "explain/targets.h"
#include "models/zoo.h"

using namespace xdnn;
using namespace xdnn::explain;

namespace {

// fashion-cnn (random init) in float64 and 6 noise images.
struct Setup {
  Model model = build_zoo_model("fashion-cnn", 3);
  Tensor x = Tensor({6, 1, 28, 28}, DType::F64);
  std::vector<int64_t> targets = {0, 1, 2, 3, 4, 5};
  Setup() {
    model.to(DType::F64);
    Rng rng(11);
    for (int64_t i = 0; i < x.numel(); ++i) x.set_item(i, rng.uniform());
  }
};

// Max-sensitivity as it was computed before its draws ran side by side (max_sensitivity.cpp's loop).
std::vector<double> max_sensitivity_sequential(const Setup& s, const AttributionSource& src, int64_t runs, double r) {
  const int64_t N = s.x.dim(0), E = s.x.numel() / N;
  const std::vector<double> a = ops::value_vector(src.values);
  std::vector<double> worst(N, 0.0);
  for (int64_t j = 0; j < runs; ++j) {
    const std::vector<double> u = max_sensitivity_noise(0, j, r, E);
    Tensor y(s.x.shape(), DType::F64);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t e = 0; e < E; ++e) y.data<double>()[n * E + e] = s.x.data<double>()[n * E + e] + u[e];
    const std::vector<double> d = row_distances(ops::value_vector(src.explain(s.model, y, s.targets)), a, N);
    for (int64_t n = 0; n < N; ++n) worst[n] = std::max(worst[n], d[n]);
  }
  return worst;
}

}  // namespace

TEST_CASE("evaluate tasks: max-sensitivity of random methods equals its draws run one after another") {
  const Setup s;
  const int saved = num_threads();
  const auto metrics = resolve_metrics({"max-sensitivity"}, {{"samples", "5"}, {"radius", "0.05"}});
  MetricRequest context;
  context.model = &s.model;
  context.input = s.x;
  context.targets = s.targets;
  for (const char* method : {"smoothgrad", "rise", "shapley-sampling"}) {
    CAPTURE(method);
    const AttributionSource src =
        method_source(s.model, s.x, s.targets, method, {{"samples", "3"}, {"masks", "16"}, {"feature-mask", "grid:7"}});
    const std::vector<double> expected = max_sensitivity_sequential(s, src, 5, 0.05);
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      const EvaluationTable t = evaluate_table(context, {src}, metrics, false);
      CHECK(t.cells[0][0].summary == expected);
    }
  }
  set_num_threads(saved);
}

TEST_CASE("evaluate tasks: score_rows gives the scores of its 32-row chunks run one after another") {
  const Setup s;
  const int saved = num_threads();
  const int64_t rows = 6 * 13 + 5;  // 83: two full chunks and a short one
  const Shape sample_shape{1, 28, 28};
  auto fill = [&](int64_t r, double* row) {
    const double* xs = s.x.data<double>() + (r % 6) * 784;
    for (int64_t e = 0; e < 784; ++e) row[e] = xs[e] * static_cast<double>(r % 13) / 12.0;
  };
  auto target_of = [](int64_t r) { return r % 10; };
  std::vector<double> expected;
  for (int64_t r0 = 0; r0 < rows; r0 += 32) {
    const int64_t R = std::min<int64_t>(32, rows - r0);
    Tensor batch({R, 1, 28, 28}, DType::F64);
    std::vector<int64_t> t;
    for (int64_t r = 0; r < R; ++r) fill(r0 + r, batch.data<double>() + r * 784), t.push_back(target_of(r0 + r));
    const Tape tape = s.model.forward({batch});
    for (double v : target_scores(tape_logits(s.model, tape), t, ScoreKind::LogProb)) expected.push_back(v);
  }
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    auto make_rows = [&](int64_t r0, int64_t R) {
      Shape shape{R};
      shape.insert(shape.end(), sample_shape.begin(), sample_shape.end());
      Tensor batch(shape, DType::F64);
      for (int64_t r = 0; r < R; ++r) fill(r0 + r, batch.data<double>() + r * 784);
      return batch;
    };
    CHECK(score_rows(s.model, rows, ScoreKind::LogProb, make_rows, target_of) == expected);
  }
  set_num_threads(saved);
}

TEST_CASE("evaluate tasks: method_sources equals method_source one after another; METHOD.NAME options") {
  const Setup s;
  const int saved = num_threads();
  const std::vector<std::string> methods = {"smoothgrad", "rise", "integrated-gradients", "feature-ablation"};
  const std::map<std::string, std::string> options = {{"samples", "3"},
                                                      {"masks", "10"},
                                                      {"rise.masks", "12"},
                                                      {"steps", "8"},
                                                      {"feature-ablation.feature-mask", "grid:14"}};
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    const std::vector<AttributionSource> got = method_sources(s.model, s.x, s.targets, methods, options, false);
    REQUIRE(got.size() == methods.size());
    CHECK(
        bitwise_equal(got[0].values, method_source(s.model, s.x, s.targets, "smoothgrad", {{"samples", "3"}}).values));
    // rise.masks=12 wins over masks=10 for rise; 12 masks differ from 10.
    CHECK(bitwise_equal(got[1].values, method_source(s.model, s.x, s.targets, "rise", {{"masks", "12"}}).values));
    CHECK_FALSE(bitwise_equal(got[1].values, method_source(s.model, s.x, s.targets, "rise", {{"masks", "10"}}).values));
    CHECK(bitwise_equal(got[2].values,
                        method_source(s.model, s.x, s.targets, "integrated-gradients", {{"steps", "8"}}).values));
    CHECK(bitwise_equal(
        got[3].values,
        method_source(s.model, s.x, s.targets, "feature-ablation", {{"feature-mask", "grid:14"}}).values));
  }
  set_num_threads(saved);
  // A METHOD.NAME key names a method that is evaluated, and an option it takes; checked before any work.
  CHECK_THROWS_WITH_AS(method_sources(s.model, s.x, s.targets, {"saliency"}, {{"lime.samples", "5"}}, false),
                       doctest::Contains("'lime' is not one of the methods evaluated"), Error);
  CHECK_THROWS_WITH_AS(method_sources(s.model, s.x, s.targets, {"rise"}, {{"rise.bogus", "1"}}, false),
                       doctest::Contains("method rise takes no option 'bogus'"), Error);
  // A required option of one method (occlusion's --window) fails before the others run.
  CHECK_THROWS_WITH_AS(method_sources(s.model, s.x, s.targets, {"saliency", "occlusion"}, {}, false),
                       doctest::Contains("--window is required by method 'occlusion'"), Error);
}

TEST_CASE("evaluate tasks: methods run in passes of a few samples give the bits of one pass") {
  const Setup s;
  const std::map<std::string, std::string> options = {{"smoothgrad.samples", "3"},
                                                      {"rise.masks", "12"},
                                                      {"shapley-sampling.samples", "2"},
                                                      {"feature-mask", "grid:7"},
                                                      {"anchors.max-samples", "300"},
                                                      {"expected-gradients.steps", "4"},
                                                      {"meaningful-perturbation.steps", "3"},
                                                      {"prediction-difference.stride", "4"},
                                                      {"prediction-difference.sampling", "marginal"},
                                                      {"prediction-difference.samples", "2"}};
  Tensor y = s.x.clone();  // a perturbed batch, as max-sensitivity's re-runs get
  for (int64_t i = 0; i < y.numel(); ++i) y.set_item(i, y.item(i) * 0.9 + 0.05);
  for (const char* method : {"smoothgrad", "rise", "shapley-sampling", "anchors", "expected-gradients",
                             "meaningful-perturbation", "prediction-difference"}) {
    const std::string name = method;
    CAPTURE(name);
    const AttributionSource whole = method_source(s.model, s.x, s.targets, method, options, 256);
    const AttributionSource passes = method_source(s.model, s.x, s.targets, method, options, 2);
    CHECK(bitwise_equal(passes.values, whole.values));
    CHECK(bitwise_equal(passes.explain(s.model, y, s.targets), whole.explain(s.model, y, s.targets)));
  }
  // Prediction difference without --background draws patches from the other samples of the batch: cut
  // into passes it would give other numbers, so method_source keeps its batch whole.
  const MethodInfo& pd = find_method("prediction-difference");
  ExplainRequest req;
  req.model = &s.model;
  req.input = s.x;
  req.targets = s.targets;
  req.options = resolve_options(pd, {{"stride", "4"}, {"samples", "2"}, {"sampling", "marginal"}});
  CHECK_FALSE(bitwise_equal(run_in_chunks(pd, req, 2).values, pd.run(req).values));
}

TEST_CASE("evaluate tasks: an error of one task is the error of the lowest index, whatever the timing") {
  const int saved = num_threads();
  set_num_threads(2);
  for (int round = 0; round < 5; ++round)
    CHECK_THROWS_WITH_AS(run_tasks(8,
                                   [](int64_t i) {
                                     if (i == 3 || i == 6) throw Error("task " + std::to_string(i));
                                   }),
                         doctest::Contains("task 3"), Error);
  set_num_threads(saved);
}

// The table runs each method on the graph `xdnn explain` gives it and scores the metrics' rows on the
// "run" graph (explain/inference_graph.h). On fashion-cnn (no BatchNorm) that route must give the plain
// route's bits, for 1 and 2 threads: the oracle is the method run on the model as loaded, and the table
// with the plain model as its scoring model.
TEST_CASE("evaluate tasks: the inference-graph route gives the plain route's bits on fashion-cnn") {
  const Setup s;
  const int saved = num_threads();
  const std::map<std::string, std::string> options = {
      {"rise.masks", "12"}, {"feature-mask", "grid:7"}, {"steps", "4"}, {"grad-cam.upsample", "true"}};
  const auto metrics = resolve_metrics({"deletion", "faithfulness-correlation", "max-sensitivity"},
                                       {{"score", "prob"}, {"steps", "7"}, {"samples", "3"}});
  Tensor y = s.x.clone();
  for (int64_t i = 0; i < y.numel(); ++i) y.set_item(i, y.item(i) * 0.9 + 0.05);
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (const char* method : {"rise", "integrated-gradients", "grad-cam"}) {
      const std::string name = method;
      CAPTURE(name);
      CAPTURE(threads);
      const AttributionSource src = method_source(s.model, s.x, s.targets, method, options);
      const MethodInfo& info = find_method(method);
      ExplainRequest plain;
      plain.model = &s.model;
      plain.input = s.x;
      plain.targets = s.targets;
      std::map<std::string, std::string> given;
      for (const auto& spec : info.options)
        if (options.count(name + "." + spec.name))
          given[spec.name] = options.at(name + "." + spec.name);
        else if (options.count(spec.name))
          given[spec.name] = options.at(spec.name);
      plain.options = resolve_options(info, given);
      CHECK(bitwise_equal(src.values, run_in_chunks(info, plain, kEvaluateSamplesPerPass).values));
      plain.input = y;
      CHECK(bitwise_equal(src.explain(s.model, y, s.targets),
                          run_in_chunks(info, plain, kEvaluateSamplesPerPass).values));
      MetricRequest context;
      context.model = &s.model;
      context.input = s.x;
      context.targets = s.targets;
      const EvaluationTable graph_route = evaluate_table(context, {src}, metrics, false);
      context.function_model = &s.model;  // the plain model scores the rows
      const EvaluationTable plain_route = evaluate_table(context, {src}, metrics, false);
      for (size_t j = 0; j < metrics.size(); ++j)
        CHECK(bitwise_equal(graph_route.cells[0][j].values, plain_route.cells[0][j].values));
    }
  }
  set_num_threads(saved);
}

// With BatchNorm the graph differs from the model as loaded (folded: the same outputs to rounding), so
// this shows which one each run uses: the method and its re-runs on `model` run on the folded graph, a
// sanity check's other model as it is.
TEST_CASE("evaluate tasks: a method and its re-runs use the inference graph, other models run as they are") {
  Model model = build_zoo_model("fashion-resnet", 5);
  model.to(DType::F64);
  Tensor x({3, 1, 28, 28}, DType::F64);
  Rng rng(2);
  for (int64_t i = 0; i < x.numel(); ++i) x.set_item(i, rng.uniform());
  const std::vector<int64_t> targets = {1, 4, 7};
  const AttributionSource src = method_source(model, x, targets, "saliency", {});
  const MethodInfo& info = find_method("saliency");
  const Model folded = inference_graph(model, "saliency");
  ExplainRequest req;
  req.model = &folded;
  req.input = x;
  req.targets = targets;
  req.options = resolve_options(info, {});
  const Tensor on_graph = run_in_chunks(info, req, kEvaluateSamplesPerPass).values;
  req.model = &model;
  const Tensor on_model = run_in_chunks(info, req, kEvaluateSamplesPerPass).values;
  REQUIRE_FALSE(bitwise_equal(on_graph, on_model));  // folding rounds differently: the test can tell them apart
  CHECK(bitwise_equal(src.values, on_graph));
  CHECK(bitwise_equal(src.explain(model, x, targets), on_graph));
  const Model copy = model;  // another model object, as the sanity checks pass
  CHECK(bitwise_equal(src.explain(copy, x, targets), on_model));
}

// Faithfulness correlation's rows do not depend on the attribution: a table scores them once and every
// attribution reads them (RowScoreMemo). Each cell must equal the metric run alone, for 1 and 2 threads.
TEST_CASE("evaluate tasks: faithfulness rows shared by a table's attributions give each one's own bits") {
  const Setup s;
  const int saved = num_threads();
  const auto metrics =
      resolve_metrics({"faithfulness-correlation", "deletion"}, {{"score", "prob"}, {"samples", "5"}, {"steps", "4"}});
  std::vector<AttributionSource> sources;
  for (const char* method : {"saliency", "gradient-x-input", "rise"})
    sources.push_back(method_source(s.model, s.x, s.targets, method, {{"masks", "8"}}));
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    MetricRequest context;
    context.model = &s.model;
    context.input = s.x;
    context.targets = s.targets;
    context.row_scores = std::make_shared<RowScoreMemo>();
    const EvaluationTable t = evaluate_table(context, sources, metrics, false);
    CHECK(context.row_scores->scores.size() == 1);  // one set of rows for the three attributions
    for (size_t i = 0; i < sources.size(); ++i) {
      MetricRequest alone = context;
      alone.row_scores = nullptr;
      alone.attribution = sources[i].values;
      alone.options = metrics[0].second;
      CHECK(bitwise_equal(t.cells[i][0].values, metrics[0].first->run(alone).values));
    }
  }
  set_num_threads(saved);
}
