// Linear probes (explain/global/linear_probe.h) by their defining properties: a probe recovers a feature
// planted linearly in a layer, and does not recover one that is absent; Hewitt & Liang's control task
// (random labels fixed per type) scores near chance on held-out types and high on seen ones; training is
// bit-identical for 1 and 2 threads and the same bytes on the Strict device (token models too); bad layer
// names are one-line errors.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <map>

#include "engine/error.h"
#include "engine/ops_fill.h"
#include "engine/parallel.h"
#include "engine/random.h"
#include "explain/global/linear_probe.h"
#include "explain/global/section.h"
#include "layers/embedding.h"
#include "layers/linear.h"
#include "layers/token_pooling.h"
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

// The bit patterns of a float64 tensor's elements (on any device), for same-bytes checks.
std::vector<uint64_t> bits(const Tensor& t) {
  std::vector<uint64_t> out;
  for (double v : ops::value_vector(t)) out.push_back(std::bit_cast<uint64_t>(v));
  return out;
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
  CHECK(bits(one.weight) == bits(two.weight));
  CHECK(bits(one.bias) == bits(two.bias));
}

TEST_CASE("probe: a fit and the layer probes of a token model give the CPU's bytes on Strict") {
  // fit_linear_probe: standardisation, Adam steps and predictions through ops:: on the features' device.
  const Planted data = planted_rows(300, 40, 1.0, 6);
  ProbeOptions opt;
  opt.epochs = 2;
  opt.batch_size = 64;
  const LinearProbe cpu = fit_linear_probe(data.x, data.labels, 2, iota(250), opt);
  const LinearProbe strict = fit_linear_probe(data.x.to(Device::Strict), data.labels, 2, iota(250), opt);
  CHECK(strict.weight.device() == Device::Strict);
  CHECK(bits(strict.weight) == bits(cpu.weight));
  CHECK(bits(strict.bias) == bits(cpu.bias));
  CHECK(bits(strict.mean) == bits(cpu.mean));
  CHECK(bits(strict.scale) == bits(cpu.scale));
  CHECK(strict.predict(data.x.to(Device::Strict)) == cpu.predict(data.x));
  // probe_token_layers: the embeddings' valid positions gathered as rows; each position labelled by whether
  // its token is odd, which the embedding row of that token carries.
  Rng rng(8);
  Model m;
  m.add_input("ids");
  auto emb = std::make_shared<Embedding>("emb", 9, 8, DType::F64);  // 9 points in 8-D: any labelling is linear
  emb->init(rng);
  m.add_node("emb", emb, {"ids"}, {"e"});
  m.add_node("pool", std::make_shared<MeanTokenPooling>(), {"e"}, {"pooled"});
  auto fc = std::make_shared<Linear>("fc", 8, 2, true, DType::F64);
  fc->init(rng);
  m.add_node("fc", fc, {"pooled"}, {"logits"});
  m.set_outputs({"logits"});
  const int64_t N = 40, T = 5;
  std::vector<int64_t> ids, lengths, labels;
  for (int64_t n = 0; n < N; ++n) {
    lengths.push_back(1 + static_cast<int64_t>(rng.below(T)));
    for (int64_t t = 0; t < T; ++t) {
      ids.push_back(static_cast<int64_t>(rng.below(9)));
      if (t < lengths.back()) labels.push_back(ids.back() % 2);
    }
  }
  const Tensor x = Tensor::from_vector({N, T}, ids);
  ProbeOptions token_opt;
  token_opt.min_steps = 20;
  const std::vector<ProbeScore> on_cpu = probe_token_layers(m, x, lengths, labels, {}, token_opt);
  m.to(Device::Strict);
  const std::vector<ProbeScore> on_strict = probe_token_layers(m, x.to(Device::Strict), lengths, labels, {}, token_opt);
  REQUIRE(on_cpu.size() == 1);
  CHECK(on_cpu[0].layer == "e");
  CHECK(on_cpu[0].train_accuracy > 0.9);  // each token type is one embedding row: its parity is linear in them
  REQUIRE(on_strict.size() == 1);
  CHECK(on_strict[0].train_accuracy == on_cpu[0].train_accuracy);
  CHECK(on_strict[0].accuracy == on_cpu[0].accuracy);
  CHECK(on_strict[0].control_accuracy == on_cpu[0].control_accuracy);
  CHECK(on_strict[0].majority == on_cpu[0].majority);
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
