// TCAV (explain/global/tcav.h) by its defining properties: on a network whose class logit rises with one
// hidden direction, a concept planted along that direction gets TCAV score ~1 and a significant t-test,
// while a random concept and a concept planted along a direction the logit ignores do not; the t-test
// against scipy.stats.ttest_ind (pooled variance) and by hand; the CPU's bytes on the Strict device; bad input
// as one-line errors.
#include <doctest/doctest.h>

#include <unistd.h>
#include <cmath>
#include <filesystem>
#include <string>

#include "engine/error.h"
#include "engine/ops_fill.h"
#include "engine/random.h"
#include "explain/global/section.h"
#include "explain/global/tcav.h"
#include "model_fixtures.h"
#include "models/io/npy.h"

using namespace xdnn;
using namespace xdnn::explain;

namespace {

// x → fc1 (identity, 6 → 6) → ReLU → fc2: logit 1 = relu(h)·(1, 0.3, −0.3, 0.2, 0, 0), logit 0 = 0.
Model planted_model() {
  Rng rng(1);
  Model m = testing::mlp_f64(rng, "x", 6, 6, 2);
  Tensor& w1 = m.find_param("fc1.weight")->value;
  w1.fill(0.0);
  for (int64_t i = 0; i < 6; ++i) w1.set_item(i * 6 + i, 1.0);
  m.find_param("fc1.bias")->value.fill(0.0);
  Tensor& w2 = m.find_param("fc2.weight")->value;
  w2.fill(0.0);
  const double row1[6] = {1.0, 0.3, -0.3, 0.2, 0.0, 0.0};
  for (int64_t j = 0; j < 6; ++j) w2.set_item(6 + j, row1[j]);
  m.find_param("fc2.bias")->value.fill(0.0);
  return m;
}

// N rows of N(0, 1) noise plus `shift` along feature `axis` (axis < 0: none).
Tensor examples(int64_t N, int axis, double shift, uint64_t seed) {
  Rng rng(seed);
  Tensor x = Tensor::zeros({N, 6}, DType::F64);
  for (int64_t n = 0; n < N; ++n)
    for (int j = 0; j < 6; ++j) x.set_item(n * 6 + j, rng.normal() + (j == axis ? shift : 0.0));
  return x;
}

Tensor cav(const std::vector<double>& v) { return Tensor::from_vector({static_cast<int64_t>(v.size())}, v); }

}  // namespace

TEST_CASE("tcav: the planted concept is found, a random one and an ignored one are not") {
  const Model model = planted_model();
  const Tensor class_inputs = examples(200, 0, 2.0, 1);
  const Tensor pool = examples(400, -1, 0.0, 2);
  TcavOptions opt;
  opt.runs = 10;
  const TcavResult planted = tcav(model, class_inputs, 1, "fc1", examples(40, 0, 4.0, 3), pool, opt);
  CHECK(planted.mean > 0.9);
  for (double a : planted.cav_accuracy) CHECK(a > 0.85);
  CHECK(planted.significant);
  CHECK(planted.test.p < 0.01);
  CHECK(planted.random_scores.size() == 10);
  const TcavResult random = tcav(model, class_inputs, 1, "fc1", examples(40, -1, 0.0, 4), pool, opt);
  CHECK(!random.significant);
  // Feature 4 does not reach logit 1: the CAV is well defined (accurate) but the logit ignores it.
  const TcavResult ignored = tcav(model, class_inputs, 1, "fc1", examples(40, 4, 4.0, 5), pool, opt);
  for (double a : ignored.cav_accuracy) CHECK(a > 0.85);
  CHECK(!ignored.significant);
  CHECK(std::abs(ignored.mean - planted.mean) > 0.2);
  // Same seed, same bits.
  const TcavResult again = tcav(model, class_inputs, 1, "fc1", examples(40, 0, 4.0, 3), pool, opt);
  CHECK(again.concept_scores == planted.concept_scores);
  CHECK(again.random_scores == planted.random_scores);
}

TEST_CASE("tcav: the directional derivative's sign is the gradient's projection on the CAV") {
  const Model model = planted_model();
  const Tensor inputs = examples(50, 0, 2.0, 7);
  const Tensor g = logit_gradients_at(model, inputs, "fc1", 1);
  REQUIRE(g.dim(1) == 6);
  // ∂ logit1 / ∂ h = relu'(h) ⊙ (1, 0.3, −0.3, 0.2, 0, 0) with h = x.
  for (int64_t n = 0; n < 50; ++n) CHECK(g.item(n * 6) == (inputs.item(n * 6) > 0 ? 1.0 : 0.0));
  CHECK(tcav_score(g, cav({0, 0, 0, 0, 1, 0})) == 0.0);  // no gradient along feature 4: S = 0 is not > 0
  CHECK(tcav_score(g, cav({-1, 0, 0, 0, 0, 0})) == 0.0);
  int64_t positive = 0;  // feature 0's gradient is 1 exactly where x_0 > 0
  for (int64_t n = 0; n < 50; ++n) positive += inputs.item(n * 6) > 0;
  CHECK(tcav_score(g, cav({1, 0, 0, 0, 0, 0})) == static_cast<double>(positive) / 50.0);
}

TEST_CASE("tcav: the CAVs, the scores and the test give the CPU's bytes on Strict") {
  Model model = planted_model();
  const Tensor class_inputs = examples(60, 0, 2.0, 1), concept_x = examples(30, 0, 4.0, 3);
  const std::vector<Tensor> sets = {examples(30, -1, 0.0, 4), examples(30, -1, 0.0, 5), examples(30, -1, 0.0, 6)};
  TcavOptions opt;
  opt.min_examples = 10;
  const TcavResult cpu = tcav_with_sets(model, class_inputs, 1, "fc1", concept_x, sets, opt);
  const Tensor concept_acts = collect_activations(model, concept_x, {"fc1"})[0];
  const Tensor random_acts = collect_activations(model, sets[1], {"fc1"})[0];
  double accuracy_cpu = 0, accuracy_strict = 0;
  const Tensor v_cpu = concept_activation_vector(concept_acts, random_acts, opt.classifier, &accuracy_cpu);
  model.to(Device::Strict);
  std::vector<Tensor> strict_sets;
  for (const Tensor& s : sets) strict_sets.push_back(s.to(Device::Strict));
  const TcavResult strict =
      tcav_with_sets(model, class_inputs.to(Device::Strict), 1, "fc1", concept_x.to(Device::Strict), strict_sets, opt);
  const Tensor v_strict = concept_activation_vector(concept_acts.to(Device::Strict), random_acts.to(Device::Strict),
                                                    opt.classifier, &accuracy_strict);
  CHECK(v_strict.device() == Device::Strict);
  CHECK(ops::value_vector(v_strict) == ops::value_vector(v_cpu));
  CHECK(accuracy_strict == accuracy_cpu);
  CHECK(cpu.mean > 0.9);  // the planted concept, as in the first case
  CHECK(strict.concept_scores == cpu.concept_scores);
  CHECK(strict.random_scores == cpu.random_scores);
  CHECK(strict.cav_accuracy == cpu.cav_accuracy);
  CHECK(strict.test.t == cpu.test.t);
}

TEST_CASE("tcav: the two-sample t-test matches scipy.stats.ttest_ind and the hand computation") {
  // a = {1, 2, 3}, b = {4, 5, 6}: means 2 and 5, pooled variance 1, t = −3 / sqrt(2/3), ν = 4.
  TTest r = two_sample_t_test({1, 2, 3}, {4, 5, 6});
  CHECK(r.t == doctest::Approx(-3.0 / std::sqrt(2.0 / 3.0)).epsilon(1e-12));
  CHECK(r.dof == 4.0);
  CHECK(r.p == doctest::Approx(0.021311641128756713).epsilon(1e-9));  // scipy 1.x
  r = two_sample_t_test({0.9, 1.0, 0.8, 1.0, 0.95}, {0.4, 0.6, 0.55, 0.3, 0.5, 0.7, 0.45});
  CHECK(r.t == doctest::Approx(6.367750435910245).epsilon(1e-12));
  CHECK(r.p == doctest::Approx(8.163307231213594e-05).epsilon(1e-9));
  r = two_sample_t_test({0.52, 0.48, 0.61, 0.39, 0.5}, {0.47, 0.55, 0.43, 0.58, 0.49});
  CHECK(r.t == doctest::Approx(-0.08975742177303765).epsilon(1e-10));
  CHECK(r.p == doctest::Approx(0.9306864731337677).epsilon(1e-9));
  // Both samples constant: equal means p = 1, different p = 0.
  CHECK(two_sample_t_test({1, 1}, {1, 1}).p == 1.0);
  CHECK(two_sample_t_test({1, 1}, {0, 0}).p == 0.0);
  // I_x(1, 1) = x; I_x(a, b) + I_{1−x}(b, a) = 1.
  CHECK(regularized_incomplete_beta(0.3, 1, 1) == doctest::Approx(0.3).epsilon(1e-14));
  CHECK(regularized_incomplete_beta(0.7, 2.5, 0.5) + regularized_incomplete_beta(0.3, 0.5, 2.5) ==
        doctest::Approx(1.0).epsilon(1e-13));
}

TEST_CASE("tcav: an unknown layer, a too small concept set, a class out of range are one-line errors") {
  const Model model = planted_model();
  const Tensor inputs = examples(20, 0, 2.0, 1), pool = examples(100, -1, 0.0, 2);
  TcavOptions opt;
  CHECK_THROWS_WITH_AS(tcav(model, inputs, 1, "conv9", examples(20, 0, 3.0, 3), pool, opt), doctest::Contains("conv9"),
                       Error);
  CHECK_THROWS_WITH_AS(tcav(model, inputs, 1, "fc1", examples(4, 0, 3.0, 3), pool, opt),
                       doctest::Contains("concept set has 4 examples, expected at least 10"), Error);
  CHECK_THROWS_WITH_AS(tcav(model, inputs, 7, "fc1", examples(20, 0, 3.0, 3), pool, opt),
                       doctest::Contains("class 7 out of range"), Error);
  CHECK_THROWS_WITH_AS(tcav(model, inputs, 1, "fc1", examples(20, 0, 3.0, 3), examples(10, -1, 0.0, 2), opt),
                       doctest::Contains("random pool has 10"), Error);
}

TEST_CASE("tcav: the report's tcav section loads its example files and shows the test") {
  const Model model = planted_model();
  const std::string dir =
      std::filesystem::temp_directory_path() / ("xdnn-test-tcav-section-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  save_npy(dir + "/concept.npy", examples(40, 0, 4.0, 3));
  save_npy(dir + "/random.npy", examples(400, -1, 0.0, 2));
  GlobalReportRequest req;
  req.context.model = &model;
  req.context.model_label = "planted";
  req.context.data = examples(200, 0, 2.0, 1);
  req.context.labels = Tensor::from_vector({200}, std::vector<int64_t>(200, 1));
  req.sections = {"tcav"};
  req.options = {{"layer", "fc1"}, {"class", "1"}, {"concept", dir + "/concept.npy"}, {"random", dir + "/random.npy"}};
  const std::string page = render_global_report(req);
  CHECK(page.find("<h2 id=\"tcav\">TCAV") != std::string::npos);
  CHECK(page.find("yes (p &lt; 0.05)") != std::string::npos);
  req.options["layer"] = "conv9";
  CHECK_THROWS_WITH_AS(render_global_report(req), doctest::Contains("conv9"), Error);
  std::filesystem::remove_all(dir);
}
