// Fairness (explain/fairness/): every group metric by hand on tiny prediction vectors (fairlearn's
// definitions: between-group max − min, min / max, zero_division 0), reweighing weights by hand, group
// thresholds that equalise TPR on a constructed case, the R data-frame reader on hand-built objects and on
// Debian's r-cran-cardata, the tabular encoding, weighted training, and the one-line errors.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/parallel.h"
#include "explain/fairness/metrics.h"
#include "explain/fairness/tabular.h"
#include "models/io/data_frame.h"

using namespace xdnn;
using namespace xdnn::fairness;
using V = std::vector<int64_t>;

namespace {

rdata::RObject attrs(std::vector<std::string> tags, std::vector<rdata::RObject> items) {
  rdata::RObject a;
  a.type = rdata::LISTSXP;
  a.tags = std::move(tags);
  a.items = std::move(items);
  return a;
}
rdata::RObject strs(std::vector<std::string> s) {
  rdata::RObject o;
  o.type = rdata::STRSXP;
  o.strings = std::move(s);
  o.is_na.assign(o.strings.size(), 0);
  return o;
}
rdata::RObject factor(std::vector<int32_t> codes, std::vector<std::string> levels) {
  rdata::RObject o;
  o.type = rdata::INTSXP;
  o.ints = std::move(codes);
  o.attributes.push_back(attrs({"levels", "class"}, {strs(std::move(levels)), strs({"factor"})}));
  return o;
}
rdata::RObject ints(std::vector<int32_t> v) {
  rdata::RObject o;
  o.type = rdata::INTSXP;
  o.ints = std::move(v);
  return o;
}
rdata::RObject frame(std::vector<std::string> names, std::vector<rdata::RObject> cols) {
  rdata::RObject o;
  o.type = rdata::VECSXP;
  o.items = std::move(cols);
  o.attributes.push_back(attrs({"names", "class"}, {strs(std::move(names)), strs({"data.frame"})}));
  return o;
}

// A 6-row frame: outcome (No/Yes), group (a/b), one integer feature.
tabular::DataFrame tiny_frame() {
  return tabular::data_frame_from_r(
      frame({"outcome", "group", "age"}, {factor({2, 1, 2, 2, 1, 1}, {"No", "Yes"}),
                                          factor({1, 1, 1, 2, 2, 2}, {"a", "b"}), ints({20, 30, 40, 20, 30, 40})}),
      "test::tiny");
}

}  // namespace

TEST_CASE("fairness: group rates and between-group metrics by hand") {
  // group 0: y 1 1 0 0, ŷ 1 0 1 0 → sel 2/4, TPR 1/2, FPR 1/2, FNR 1/2, acc 2/4
  // group 1: y 1 1 1 0, ŷ 1 1 1 1 → sel 4/4, TPR 1,   FPR 1,   FNR 0,   acc 3/4
  const V y = {1, 1, 0, 0, 1, 1, 1, 0}, p = {1, 0, 1, 0, 1, 1, 1, 1}, g = {0, 0, 0, 0, 1, 1, 1, 1};
  const FairnessReport r = fairness_report(y, p, g, {"a", "b"});
  REQUIRE(r.groups.size() == 2);
  CHECK(r.groups[0].selection_rate == 0.5);
  CHECK(r.groups[0].tpr == 0.5);
  CHECK(r.groups[0].fpr == 0.5);
  CHECK(r.groups[0].fnr == 0.5);
  CHECK(r.groups[0].accuracy == 0.5);
  CHECK(r.groups[1].selection_rate == 1.0);
  CHECK(r.groups[1].tpr == 1.0);
  CHECK(r.groups[1].fpr == 1.0);
  CHECK(r.groups[1].fnr == 0.0);
  CHECK(r.groups[1].base_rate == 0.75);
  CHECK(r.overall.accuracy == 5.0 / 8);
  CHECK(r.demographic_parity_difference == 0.5);
  CHECK(r.demographic_parity_ratio == 0.5);
  CHECK(r.equal_opportunity_difference == 0.5);
  CHECK(r.fpr_difference == 0.5);
  CHECK(r.fnr_difference == 0.5);
  CHECK(r.equalised_odds_difference == 0.5);
}

TEST_CASE("fairness: equalised odds takes the worse of the TPR and FPR gaps; empty conditioning sets give 0") {
  // group 0: y 1 0 0, ŷ 1 0 0 → TPR 1, FPR 0; group 1: y 1 0 0, ŷ 1 1 1 → TPR 1, FPR 1
  const FairnessReport r = fairness_report({1, 0, 0, 1, 0, 0}, {1, 0, 0, 1, 1, 1}, {0, 0, 0, 1, 1, 1}, {"a", "b"});
  CHECK(r.equal_opportunity_difference == 0.0);
  CHECK(r.fpr_difference == 1.0);
  CHECK(r.equalised_odds_difference == 1.0);
  CHECK(r.demographic_parity_ratio == doctest::Approx(1.0 / 3).epsilon(1e-15));
  // A group with no positive: its TPR and FNR are 0 (zero_division = 0), not NaN.
  const FairnessReport z = fairness_report({0, 0, 1}, {1, 0, 1}, {0, 0, 1}, {"a", "b"});
  CHECK(z.groups[0].tpr == 0.0);
  CHECK(z.groups[0].fnr == 0.0);
  CHECK(z.groups[0].fpr == 0.5);
  // No one selected anywhere: the ratio is 0, as fairlearn reports it.
  CHECK(fairness_report({1, 0}, {0, 0}, {0, 1}, {"a", "b"}).demographic_parity_ratio == 0.0);
}

TEST_CASE("fairness: bad vectors are one-line errors naming the argument") {
  CHECK_THROWS_WITH(fairness_report({1, 2}, {1, 0}, {0, 1}, {"a", "b"}), "y_true[1] is 2, expected 0 or 1");
  CHECK_THROWS_WITH(fairness_report({1, 0}, {1, 0}, {0, 2}, {"a", "b"}), "group[1] is 2, expected 0..1");
  CHECK_THROWS_WITH(fairness_report({1, 0}, {1}, {0, 1}, {"a", "b"}), "fairness: 1 predictions for 2 labels");
}

TEST_CASE("fairness: reweighing weights w(g, y) = P(g) P(y) / P(g, y) by hand (Kamiran & Calders 2012)") {
  // n = 8; group 0: y = 1 1 1 0, group 1: y = 1 0 0 0. P(g) = 1/2, P(y=1) = 1/2.
  // w(0,1) = (1/2)(1/2)/(3/8) = 2/3, w(0,0) = (1/4)/(1/8) = 2, w(1,1) = 2, w(1,0) = 2/3.
  const V y = {1, 1, 1, 0, 1, 0, 0, 0}, g = {0, 0, 0, 0, 1, 1, 1, 1};
  const std::vector<double> w = reweighing_weights(y, g, 2);
  const std::vector<double> want = {2.0 / 3, 2.0 / 3, 2.0 / 3, 2.0, 2.0, 2.0 / 3, 2.0 / 3, 2.0 / 3};
  for (size_t i = 0; i < w.size(); ++i) CHECK(w[i] == doctest::Approx(want[i]).epsilon(1e-15));
  // Defining property: in the weighted data P_w(y = 1 | g) is the same for both groups.
  double pos[2] = {0, 0}, tot[2] = {0, 0};
  for (size_t i = 0; i < w.size(); ++i) pos[g[i]] += w[i] * double(y[i]), tot[g[i]] += w[i];
  CHECK(pos[0] / tot[0] == doctest::Approx(pos[1] / tot[1]).epsilon(1e-15));
}

TEST_CASE("fairness: group thresholds equalise TPR on a constructed case") {
  // Group 0 scores high, group 1 low; within each group positives score above negatives. One common
  // threshold of 0.5 gives TPR 1 vs 0; the chosen group thresholds reach TPR 1 in both groups with no error.
  const std::vector<double> s = {0.9, 0.8, 0.7, 0.6, 0.55, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.01};
  const V y = {1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0}, g = {0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1};
  const V common = apply_group_thresholds(s, g, {0.5, 0.5});
  CHECK(fairness_report(y, common, g, {"a", "b"}).equal_opportunity_difference == 1.0);
  const GroupThresholds t = choose_group_thresholds(s, y, g, 2, threshold_criteria().find("tpr"));
  CHECK(t.thresholds[0] == 0.6);
  CHECK(t.thresholds[1] == 0.1);
  CHECK(t.accuracy == 1.0);
  const FairnessReport r = fairness_report(y, apply_group_thresholds(s, g, t.thresholds), g, {"a", "b"});
  CHECK(r.equal_opportunity_difference == 0.0);
  CHECK(r.overall.accuracy == 1.0);
  // Selection-rate criterion: both groups select the same fraction (4 of 6).
  const GroupThresholds d = choose_group_thresholds(s, y, g, 2, threshold_criteria().find("selection-rate"));
  const FairnessReport rd = fairness_report(y, apply_group_thresholds(s, g, d.thresholds), g, {"a", "b"});
  CHECK(rd.demographic_parity_difference == 0.0);
  CHECK(rd.groups[0].selection_rate == doctest::Approx(4.0 / 6).epsilon(1e-15));
  CHECK_THROWS_WITH(threshold_criteria().find("fpr"), "unknown threshold criterion 'fpr'");
  CHECK_THROWS_WITH(choose_group_thresholds({0.5, 0.4}, {1, 0}, {0, 1}, 2, threshold_criteria().find("tpr")),
                    "group thresholds (tpr): group 1 has no positive sample in the data the thresholds are chosen on");
}

TEST_CASE("fairness: R data frames from hand-built objects; encoding; errors") {
  const tabular::DataFrame df = tiny_frame();
  CHECK(df.rows == 6);
  REQUIRE(df.columns.size() == 3);
  CHECK(df.columns[0].levels == std::vector<std::string>{"No", "Yes"});
  CHECK(df.columns[0].values == std::vector<double>{1, 0, 1, 1, 0, 0});
  CHECK(df.columns[2].values[2] == 40);
  CHECK_THROWS_WITH(df.column("colour", "protected attribute"),
                    "test::tiny has no column 'colour' (protected attribute)");
  CHECK_THROWS_WITH(tabular::data_frame_from_r(frame({"f"}, {factor({3}, {"a", "b"})}), "x"),
                    "x column 'f': factor code 3 outside its 2 levels");
  CHECK_THROWS_WITH(tabular::data_frame_from_r(frame({"f", "g"}, {ints({1, 2}), ints({1})}), "x"),
                    "x column 'g': 1 rows, expected 2 as the first column");
  CHECK_THROWS_WITH(tabular::data_frame_from_r(ints({1}), "x"),
                    "x: expected an R data frame (a list of class data.frame), got INTSXP");
  CHECK_THROWS_WITH(tabular::data_frame_from_r(frame({"f"}, {strs({"a"})}), "x"),
                    "x column 'f': expected a numeric, logical or factor column, got STRSXP");

  // Encoding: statistics from rows 0..2 only (ages 20, 30, 40: mean 30, population sd √(200/3)).
  const TabularTask t = encode_task(df, "outcome", "Yes", "group", false, {0, 1, 2});
  CHECK(t.feature_names == std::vector<std::string>{"group=a", "group=b", "age"});
  CHECK(t.y == V{1, 0, 1, 1, 0, 0});
  CHECK(t.group == V{0, 0, 0, 1, 1, 1});
  CHECK(t.x.data<float>()[3 * 3 + 0] == 0.0f);
  CHECK(t.x.data<float>()[3 * 3 + 1] == 1.0f);
  CHECK(t.x.data<float>()[2 * 3 + 2] == doctest::Approx(10.0 / std::sqrt(200.0 / 3)).epsilon(1e-6));
  CHECK(encode_task(df, "outcome", "Yes", "group", true, {0, 1, 2}).feature_names == std::vector<std::string>{"age"});
  CHECK_THROWS_WITH(encode_task(df, "outcome", "Yes", "race", false, {0}),
                    "test::tiny has no column 'race' (protected attribute)");
  CHECK_THROWS_WITH(encode_task(df, "outcome", "Maybe", "group", false, {0}),
                    "test::tiny column 'outcome' has no level 'Maybe'");
  CHECK_THROWS_WITH(encode_task(df, "outcome", "Yes", "group", false, {0}),
                    "test::tiny column 'age' is constant on the training rows");
}

TEST_CASE("fairness: seeded split is a partition; weighted training is thread-count independent") {
  const RowSplit s = split_rows(10, 0.2, 0.3, 7);
  CHECK(s.test.size() == 3);
  CHECK(s.validation.size() == 2);
  CHECK(s.train.size() == 5);
  std::vector<int> seen(10, 0);
  for (const auto* part : {&s.train, &s.validation, &s.test})
    for (int64_t i : *part) seen[static_cast<size_t>(i)]++;
  CHECK(seen == std::vector<int>(10, 1));
  CHECK(split_rows(10, 0.2, 0.3, 7).test == s.test);

  const tabular::DataFrame df = tiny_frame();
  const TabularTask t = encode_task(df, "outcome", "Yes", "group", false, {0, 1, 2, 3, 4, 5});
  MlpConfig cfg;
  cfg.hidden = 4;
  cfg.epochs = 3;
  cfg.batch_size = 4;
  const int saved_threads = num_threads();
  auto train_with = [&](int threads, const std::vector<double>& w) {
    set_num_threads(threads);
    Model m = build_tabular_mlp(t, cfg);
    train_tabular_mlp(m, t, w, cfg);
    return positive_scores(m, t.x);
  };
  const std::vector<double> w = reweighing_weights(t.y, t.group, 2);
  const std::vector<double> a = train_with(1, w), b = train_with(2, w), plain = train_with(1, {});
  set_num_threads(saved_threads);
  CHECK(a == b);
  CHECK(a != plain);  // the weights reach the loss
  for (double p : a) CHECK((p > 0 && p < 1));
  CHECK_THROWS_WITH(train_tabular_mlp(*std::make_unique<Model>(build_tabular_mlp(t, cfg)), t, {1.0}, cfg),
                    "sample weights: 1 for 6 rows");
}

TEST_CASE("fairness: attributions per group are mean |gradient x input| of the favourable class by hand") {
  // An MLP made linear: fc1 = I with bias 10 (every ReLU open for x > −10), fc2 row 1 = w, row 0 = 0. Then
  // logit_1 = w·(x + 10), its gradient is w, and gradient × input = w ⊙ x.
  const TabularTask t = encode_task(tiny_frame(), "outcome", "Yes", "group", false, {0, 1, 2, 3, 4, 5});
  const int64_t d = t.x.dim(1);  // group=a, group=b, age
  MlpConfig cfg;
  cfg.hidden = d;
  Model m = build_tabular_mlp(t, cfg);
  const std::vector<float> w = {0.5f, -2.0f, 3.0f};
  for (Param* p : m.params()) {
    float* v = p->value.data<float>();
    for (int64_t i = 0; i < p->value.numel(); ++i) v[i] = 0.0f;
    if (p->name == "fc1.weight")
      for (int64_t j = 0; j < d; ++j) v[j * d + j] = 1.0f;
    if (p->name == "fc1.bias")
      for (int64_t j = 0; j < d; ++j) v[j] = 10.0f;
    if (p->name == "fc2.weight")
      for (int64_t j = 0; j < d; ++j) v[d + j] = w[static_cast<size_t>(j)];
  }
  const Tensor a = attribution_by_group(m, t, "gradient-x-input");
  REQUIRE(a.shape() == Shape{2, d});
  for (int64_t g = 0; g < 2; ++g)
    for (int64_t j = 0; j < d; ++j) {
      double want = 0;
      for (int64_t i = 0; i < 6; ++i)
        if (t.group[static_cast<size_t>(i)] == g)
          want += std::fabs(w[static_cast<size_t>(j)] * t.x.data<float>()[i * d + j]);
      CHECK(a.data<double>()[g * d + j] == doctest::Approx(want / 3).epsilon(1e-6));
    }
  CHECK(a.data<double>()[0 * d + 1] == 0.0);  // group a never has group=b set
}

TEST_CASE("fairness: Debian's r-cran-cardata Arrests through the R reader") {
  const TabularDataset& d = tabular_datasets().find("arrests");
  const std::string dir = "/usr/lib/R/site-library/carData/data";
  if (!std::filesystem::exists(dir + "/Rdata.rdx")) {
    MESSAGE("SKIPPED: r-cran-cardata not installed (" << dir << "/Rdata.rdx missing)");
    return;
  }
  const tabular::DataFrame df = load_tabular_dataset(d);
  CHECK(df.rows == 5226);
  CHECK(df.column_names() ==
        std::vector<std::string>{"released", "colour", "year", "age", "sex", "employed", "citizen", "checks"});
  // R: table(Arrests$colour, Arrests$released) = Black 333 No / 955 Yes, White 559 / 3379; head(Arrests, 1):
  // Yes, White, 2002, 21, Male, Yes, Yes, 3.
  const TabularTask t = encode_task(df, d.target, d.positive, d.protected_attribute, false, {0, 1, 2, 3, 4, 5, 6, 7});
  int64_t cell[2][2] = {{0, 0}, {0, 0}};
  for (size_t i = 0; i < t.y.size(); ++i) cell[t.group[i]][t.y[i]]++;
  CHECK(t.group_names == std::vector<std::string>{"Black", "White"});
  CHECK(cell[0][0] == 333);
  CHECK(cell[0][1] == 955);
  CHECK(cell[1][0] == 559);
  CHECK(cell[1][1] == 3379);
  CHECK(df.column("year", "").values[0] == 2002);
  CHECK(df.column("checks", "").values[0] == 3);
  CHECK(df.column("sex", "").levels[static_cast<size_t>(df.column("sex", "").values[0])] == "Male");
  CHECK_THROWS_WITH(encode_task(df, d.target, d.positive, "race", false, {0, 1}),
                    "carData::Arrests has no column 'race' (protected attribute)");
  CHECK_THROWS_WITH(load_tabular_dataset(d, "/nonexistent"),
                    "R data base not found at /nonexistent/Rdata.rdx: install the Debian package r-cran-cardata");
}
