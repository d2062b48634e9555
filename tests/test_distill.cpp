// Distillation (explain/global/distill.h, decision_tree.h) by its defining property: a network that *is* a
// decision tree (axis-aligned steps built from ReLUs) distils into a tree of fidelity 1 on held-out rows,
// and its rule list answers as the tree does everywhere; CART's threshold is the midpoint by hand; a
// network that is not axis-aligned loses fidelity at depth 1 (the check can fail); bad input is one line.
#include <doctest/doctest.h>

#include <memory>

#include "engine/error.h"
#include "engine/random.h"
#include "explain/global/distill.h"
#include "layers/linear.h"
#include "layers/relu.h"
#include "models/model.h"

using namespace xdnn;
using namespace xdnn::explain;

namespace {

void set_linear(Model& m, const std::string& name, const std::vector<double>& w, const std::vector<double>& b) {
  Param* pw = m.find_param(name + ".weight");
  Param* pb = m.find_param(name + ".bias");
  REQUIRE(pw != nullptr);
  REQUIRE(pb != nullptr);
  pw->value = Tensor::from_vector(pw->value.shape(), w);
  pb->value = Tensor::from_vector(pb->value.shape(), b);
}

// The tree "x0 ≤ 0.5 → class 0; else x1 ≤ 0.3 → class 1; else class 2" as a ReLU network: steps
// s = clamp(20·u + 1/2, 0, 1) = ReLU(20u + 1/2) − ReLU(20u − 1/2), exact 0 / 1 for |u| ≥ 0.025, then
// logits l0 = 1 − s0, l1 = s0 − s1, l2 = s0 + s1 − 1.5 (argmax: 0 when s0 = 0; 1 when s0 = 1, s1 = 0; else 2).
Model tree_network() {
  Model m;
  m.add_input("x");
  m.append("steps", std::make_shared<Linear>("steps", 2, 4, true, DType::F64));
  m.append("relu", std::make_shared<ReLU>());
  m.append("clamp", std::make_shared<Linear>("clamp", 4, 2, true, DType::F64));
  m.append("logits", std::make_shared<Linear>("logits", 2, 3, true, DType::F64));
  m.to(DType::F64);
  set_linear(m, "steps", {20, 0, 20, 0, 0, 20, 0, 20}, {-10 + 0.5, -10 - 0.5, -6 + 0.5, -6 - 0.5});
  set_linear(m, "clamp", {1, -1, 0, 0, 0, 0, 1, -1}, {0, 0});
  set_linear(m, "logits", {-1, 0, 1, -1, 1, 1}, {1, 0, -1.5});
  return m;
}

int64_t true_class(double x0, double x1) { return x0 <= 0.5 ? 0 : x1 <= 0.3 ? 1 : 2; }

// n points uniform in [0, 1]², none within 0.05 of a threshold (where the steps are not yet 0 / 1).
Tensor tree_points(int64_t n, Rng& rng) {
  std::vector<double> v;
  while (static_cast<int64_t>(v.size()) < 2 * n) {
    const double a = rng.uniform(), b = rng.uniform();
    if (std::abs(a - 0.5) < 0.05 || std::abs(b - 0.3) < 0.05) continue;
    v.push_back(a);
    v.push_back(b);
  }
  return Tensor::from_vector({n, 2}, v);
}

}  // namespace

TEST_CASE("distill: a network that is a tree distils with fidelity 1 on held-out rows") {
  const Model net = tree_network();
  Rng rng(8);
  const Tensor x = tree_points(500, rng);
  std::vector<int64_t> labels;
  for (int64_t n = 0; n < 500; ++n) labels.push_back(true_class(x.data<double>()[2 * n], x.data<double>()[2 * n + 1]));
  const DistillData data = distill_data_from_model(net, x, labels, "");
  for (int64_t n = 0; n < 500; ++n) {  // the network is the tree
    const double* p = data.teacher.data<double>() + 3 * n;
    REQUIRE(std::max_element(p, p + 3) - p == labels[n]);
  }
  for (const bool soft : {true, false}) {
    CAPTURE(soft);
    DistillOptions o;
    o.soft = soft;
    o.tree.min_leaf = 1;
    const DistillResult r = distill(data, o);
    CHECK(r.test_rows == 150);
    CHECK(r.tree_fidelity == 1.0);
    CHECK(r.rules_fidelity == 1.0);
    CHECK(r.tree_fidelity_train == 1.0);
    CHECK(r.tree_accuracy == 1.0);
    CHECK(r.network_accuracy == 1.0);
    // On the argmax CART finds the tree itself (no split beyond the two true ones); on the softmax the
    // greedy order may split x1 first, which costs one leaf more.
    CHECK(r.tree.leaves() == (soft ? 4 : 3));
    CHECK(r.rules.rules.size() == r.tree.leaves() - 1 - (soft ? 1 : 0));
    const std::string rules = format_rules(r.rules, {"a", "b"}, {"zero", "one", "two"});
    CHECK(rules.find("then") != std::string::npos);
    CHECK(rules.find("else ") != std::string::npos);
  }
}

TEST_CASE("distill: the rule list answers as the tree everywhere; CART splits at the midpoint") {
  // One feature, rows 0, 1, 2, 3 with classes 0, 0, 1, 1: the split is x ≤ 1.5.
  const Tensor x = Tensor::from_vector({4, 1}, std::vector<double>{0, 1, 2, 3});
  const Tensor t = Tensor::from_vector({4, 2}, std::vector<double>{1, 0, 1, 0, 0, 1, 0, 1});
  const DecisionTree small = fit_tree(x, t, {3, 1});
  REQUIRE(small.nodes.size() == 3);
  CHECK(small.nodes[0].feature == 0);
  CHECK(small.nodes[0].threshold == 1.5);
  CHECK(small.depth() == 1);
  // A deeper tree on random soft targets: rules and tree agree on fresh points.
  Rng rng(3);
  std::vector<double> xv, tv;
  for (int64_t n = 0; n < 300; ++n) {
    const double a = rng.uniform(), b = rng.uniform(), c = rng.uniform();
    xv.insert(xv.end(), {a, b, c});
    const double p = a + b > 1.0 ? 0.8 : 0.1 + 0.3 * c;
    tv.insert(tv.end(), {p, 1 - p});
  }
  const DecisionTree tree = fit_tree(Tensor::from_vector({300, 3}, xv), Tensor::from_vector({300, 2}, tv), {5, 3});
  const RuleList rules = rules_from_tree(tree);
  const Tensor fresh = tree_points(400, rng);
  std::vector<double> f3;
  for (int64_t n = 0; n < 400; ++n)
    f3.insert(f3.end(), {fresh.data<double>()[2 * n], fresh.data<double>()[2 * n + 1], rng.uniform()});
  const Tensor probe = Tensor::from_vector({400, 3}, f3);
  CHECK(rules.predict(probe) == tree.predict(probe));
  CHECK(tree.depth() <= 5);
  CHECK(format_tree(tree, {}, {}).find("x[0] <= ") != std::string::npos);
}

TEST_CASE("distill: a diagonal boundary is not a depth-1 tree (fidelity below 1)") {
  // logits (0, x0 + x1 − 1): class 1 above the diagonal; no single axis-aligned split reproduces it.
  Model m;
  m.add_input("x");
  m.append("logits", std::make_shared<Linear>("logits", 2, 2, true, DType::F64));
  m.to(DType::F64);
  set_linear(m, "logits", {0, 0, 1, 1}, {0, -1});
  Rng rng(5);
  const Tensor x = tree_points(400, rng);
  DistillOptions o;
  o.tree.max_depth = 1;
  const DistillResult r = distill(distill_data_from_model(m, x, {}, ""), o);
  CHECK(r.tree_fidelity < 0.9);
  CHECK(r.tree_accuracy == -1.0);  // no labels: no accuracy
}

TEST_CASE("distill: bad input is a one-line error") {
  const Model net = tree_network();
  Rng rng(1);
  const Tensor x = tree_points(20, rng);
  CHECK_THROWS_WITH_AS(distill_data_from_model(net, x, {}, "nope"), doctest::Contains("nope"), Error);
  const DistillData d = distill_data_from_model(net, x, {}, "");
  DistillOptions o;
  o.held_out = 1.5;
  CHECK_THROWS_WITH_AS(distill(d, o), doctest::Contains("held-out"), Error);
  o.held_out = 0.3;
  o.tree.max_depth = 0;
  CHECK_THROWS_WITH_AS(distill(d, o), doctest::Contains("max-depth"), Error);
  DistillData bad = d;
  bad.features = d.features.to(DType::F64);
  bad.features.data<double>()[3] = std::nan("");
  o.tree.max_depth = 3;
  CHECK_THROWS_WITH_AS(distill(bad, o), doctest::Contains("not finite"), Error);
  bad = d;
  bad.labels = {1, 2};
  CHECK_THROWS_WITH_AS(distill(bad, o), doctest::Contains("2 labels for 20 rows"), Error);
}
