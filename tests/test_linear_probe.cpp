// Linear probes (explain/global/linear_probe.h) by their defining properties: a probe recovers a feature
// planted linearly in a layer, and does not recover one that is absent; Hewitt & Liang's control task
// (random labels fixed per type) scores near chance on held-out types and high on seen ones; training is
// bit-identical for 1 and 2 threads; bad layer names are one-line errors.
#include <doctest/doctest.h>

#include <cmath>
#include <map>

#include "engine/error.h"
#include "engine/parallel.h"
#include "engine/random.h"
#include "explain/global/linear_probe.h"
#include "explain/global/section.h"
#include "model_fixtures.h"

using namespace xdnn;
using namespace xdnn::explain;

namespace {

// x = noise + (2y − 1)·d: the label is planted along direction d of the input (N, D), y balanced.
struct Planted {
  Tensor x;
  std::vector<int64_t> labels;
};

Planted planted_rows(int64_t N, int64_t D, double strength, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> d(static_cast<size_t>(D));
  for (double& v : d) v = rng.normal();
  double norm = 0.0;
  for (double v : d) norm += v * v;
  for (double& v : d) v /= std::sqrt(norm);
  Planted p{Tensor::zeros({N, D}, DType::F64), {}};
  double* xp = p.x.data<double>();
  for (int64_t n = 0; n < N; ++n) {
    const int64_t y = n % 2;
    p.labels.push_back(y);
    for (int64_t j = 0; j < D; ++j) xp[n * D + j] = rng.normal() + (2.0 * y - 1.0) * strength * d[j];
  }
  return p;
}

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < n; ++i) v.push_back(i);
  return v;
}

}  // namespace

TEST_CASE(
    "probe: a feature planted linearly in a layer is recovered; the control task and an absent feature score near "
    "chance") {
  Rng rng(3);
  Model model = testing::mlp_f64(rng, "x", 12, 32, 3);
  const Planted data = planted_rows(1200, 12, 2.5, 11);  // the classes are 5 std apart along d
  ProbeOptions opt;
  opt.epochs = 20;
  opt.batch_size = 32;
  opt.learning_rate = 0.01;
  const std::vector<ProbeScore> scores = probe_layers(model, data.x, data.labels, {"x", "fc1"}, opt);
  REQUIRE(scores.size() == 2);
  for (const ProbeScore& s : scores) {
    CAPTURE(s.layer);
    // fc1 is an invertible-enough linear map of x (32 ≥ 12 rows of a random matrix): the planted direction
    // stays linear there. Bayes accuracy is Φ(2.5) = 0.994.
    CHECK(s.accuracy > 0.97);
    CHECK(s.majority == doctest::Approx(0.5).epsilon(0.15));
    // Every row is its own type: control labels are coin flips, unpredictable on held-out rows.
    CHECK(std::abs(s.control_accuracy - 0.5) < 0.1);
    CHECK(s.selectivity > 0.35);
  }
  CHECK(scores[1].features == 32);
  // The same data with labels the input does not determine: nothing to read.
  std::vector<int64_t> coin;
  Rng flip(5);
  for (size_t i = 0; i < data.labels.size(); ++i) coin.push_back(static_cast<int64_t>(flip.below(2)));
  const ProbeScore absent = probe_layers(model, data.x, coin, {"fc1"}, opt)[0];
  CHECK(std::abs(absent.accuracy - 0.5) < 0.1);
}

TEST_CASE("probe: control labels are fixed per type, drawn from the label distribution, and memorisable") {
  // 40 types, each seen 30 times; the types carry no information about the task labels.
  const int64_t types_n = 40, reps = 30, N = types_n * reps;
  std::vector<int64_t> types, labels;
  for (int64_t i = 0; i < N; ++i) {
    types.push_back(i % types_n);
    labels.push_back((i / types_n) % 10 < 7 ? 0 : 1);  // 70 % zeros, by repetition, not by type
  }
  const std::vector<int64_t> control = control_task_labels(types, labels, 9);
  std::map<int64_t, int64_t> first;
  int64_t zeros = 0;
  for (int64_t i = 0; i < N; ++i) {
    auto [it, fresh] = first.emplace(types[i], control[i]);
    CHECK(it->second == control[i]);  // one label per type
    if (fresh) zeros += control[i] == 0;
  }
  CHECK(zeros >= 20);  // ~28 of 40 types expected at 70 %; P(< 20) < 1 %
  CHECK(control == control_task_labels(types, labels, 9));
  CHECK(control != control_task_labels(types, labels, 10));
  // One-hot type features, rows of one type in train and test alike (groups = rows): a linear probe can
  // memorise the type -> label table, so the control task is learnable here (what selectivity guards).
  Tensor x = Tensor::zeros({N, types_n}, DType::F32);
  for (int64_t i = 0; i < N; ++i) x.set_item(i * types_n + types[i], 1.0);
  ProbeOptions opt;
  opt.epochs = 30;
  opt.learning_rate = 0.05;
  const ProbeScore s = probe_features(x, labels, types, iota(N), opt, "one-hot");
  CHECK(s.control_accuracy > 0.95);
  CHECK(s.accuracy < 0.8);  // the task labels are not a function of the type: ~70 % at best
}

TEST_CASE("probe: the split keeps groups together and training is bit-identical for 1 and 2 threads") {
  std::vector<int64_t> groups;
  for (int64_t i = 0; i < 100; ++i) groups.push_back(i / 4);
  const ProbeSplit split = split_probe_rows(groups, 0.2, 1);
  CHECK(split.test.size() == 20);
  for (int64_t r : split.test)
    for (int64_t q : split.train) CHECK(groups[r] != groups[q]);
  CHECK_THROWS_AS(split_probe_rows(std::vector<int64_t>(5, 0), 0.2, 1), Error);

  const Planted data = planted_rows(700, 300, 1.0, 4);
  const int saved = num_threads();
  ProbeOptions opt;
  opt.epochs = 2;
  set_num_threads(1);
  const LinearProbe one = fit_linear_probe(data.x, data.labels, 2, iota(600), opt);
  set_num_threads(2);
  const LinearProbe two = fit_linear_probe(data.x, data.labels, 2, iota(600), opt);
  set_num_threads(saved);
  CHECK(one.weight == two.weight);
  CHECK(one.bias == two.bias);
}

TEST_CASE("probe: an unknown layer or one without a row per sample is a one-line error") {
  Rng rng(3);
  Model model = testing::mlp_f64(rng, "x", 4, 5, 2);
  const Planted data = planted_rows(20, 4, 1.0, 1);
  CHECK_THROWS_WITH_AS(probe_layers(model, data.x, data.labels, {"conv9"}, {}), doctest::Contains("conv9"), Error);
  CHECK_THROWS_WITH_AS(probe_layers(model, data.x, std::vector<int64_t>(20, 0), {"fc1"}, {}),
                       doctest::Contains("at least two classes"), Error);
  CHECK_THROWS_WITH_AS(probe_layers(model, data.x, {0, 1}, {"fc1"}, {}), doctest::Contains("one per sample"), Error);
}

TEST_CASE("probe: the report's probes section shows a row per layer and refuses data without labels") {
  Rng rng(3);
  Model model = testing::mlp_f64(rng, "x", 12, 32, 3);
  const Planted data = planted_rows(300, 12, 2.5, 11);
  GlobalReportRequest req;
  req.context.model = &model;
  req.context.model_label = "mlp";
  req.context.data = data.x;
  req.context.labels = Tensor::from_vector({300}, data.labels);
  req.sections = {"probes"};
  req.options = {{"layers", "x,fc1"}};
  const std::string page = render_global_report(req);
  CHECK(page.find("Linear probes") != std::string::npos);
  CHECK(page.find("<td>fc1</td><td>32</td>") != std::string::npos);
  CHECK(page.find("data:image/png;base64,") != std::string::npos);  // the plot (two layers)
  req.context.labels = Tensor();
  CHECK_THROWS_WITH_AS(render_global_report(req), doctest::Contains("the data have no labels"), Error);
}
