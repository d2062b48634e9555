// CART on soft targets and its rule list: see decision_tree.h.
#include "explain/global/decision_tree.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>

#include "engine/check.h"
#include "engine/error.h"

namespace xdnn::explain {

namespace {

struct Grower {
  const double* x;  // (N, F)
  const double* t;  // (N, K)
  int64_t F, K;
  TreeOptions opt;
  DecisionTree tree;

  // N·Gini(p) = N − Σ_k s_k² / N for class sums s over N rows.
  static double weighted_gini(const std::vector<double>& sums, double n) {
    double sq = 0.0;
    for (double s : sums) sq += s * s;
    return n - sq / n;
  }

  int64_t make_node(const std::vector<int64_t>& rows) {
    TreeNode node;
    node.rows = static_cast<int64_t>(rows.size());
    node.distribution.assign(static_cast<size_t>(K), 0.0);
    for (int64_t i : rows)
      for (int64_t k = 0; k < K; ++k) node.distribution[k] += t[i * K + k];
    for (double& p : node.distribution) p /= static_cast<double>(rows.size());
    node.predicted = std::max_element(node.distribution.begin(), node.distribution.end()) - node.distribution.begin();
    tree.nodes.push_back(node);
    return static_cast<int64_t>(tree.nodes.size()) - 1;
  }

  // The best split of `rows`: the feature and threshold with the largest impurity decrease, ties to the
  // lowest feature and the lowest threshold (deterministic). Returns false when no split helps.
  bool best_split(const std::vector<int64_t>& rows, int64_t& feature, double& threshold) {
    const int64_t n = static_cast<int64_t>(rows.size());
    std::vector<double> total(static_cast<size_t>(K), 0.0);
    for (int64_t i : rows)
      for (int64_t k = 0; k < K; ++k) total[k] += t[i * K + k];
    const double parent = weighted_gini(total, static_cast<double>(n));
    double best = parent * 1e-12 + 1e-15;  // a split must lower the impurity by more than rounding
    bool found = false;
    std::vector<int64_t> order(rows);
    std::vector<double> left(static_cast<size_t>(K)), right(static_cast<size_t>(K));
    for (int64_t f = 0; f < F; ++f) {
      std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        const double va = x[a * F + f], vb = x[b * F + f];
        return va < vb || (va == vb && a < b);
      });
      if (x[order.front() * F + f] == x[order.back() * F + f]) continue;  // constant here
      std::fill(left.begin(), left.end(), 0.0);
      for (int64_t j = 0; j + 1 < n; ++j) {
        const int64_t i = order[j];
        for (int64_t k = 0; k < K; ++k) left[k] += t[i * K + k];
        const double v = x[i * F + f], next = x[order[j + 1] * F + f];
        const int64_t nl = j + 1, nr = n - nl;
        if (v == next || nl < opt.min_leaf || nr < opt.min_leaf) continue;
        for (int64_t k = 0; k < K; ++k) right[k] = total[k] - left[k];
        const double gain =
            parent - weighted_gini(left, static_cast<double>(nl)) - weighted_gini(right, static_cast<double>(nr));
        if (gain > best) {
          best = gain;
          feature = f;
          threshold = v + 0.5 * (next - v);
          found = true;
        }
      }
    }
    return found;
  }

  int64_t grow(const std::vector<int64_t>& rows, int64_t depth) {
    const int64_t id = make_node(rows);
    if (depth >= opt.max_depth || static_cast<int64_t>(rows.size()) < 2 * opt.min_leaf) return id;
    int64_t feature = -1;
    double threshold = 0.0;
    if (!best_split(rows, feature, threshold)) return id;
    std::vector<int64_t> l, r;
    for (int64_t i : rows) (x[i * F + feature] <= threshold ? l : r).push_back(i);
    const int64_t left = grow(l, depth + 1);
    const int64_t right = grow(r, depth + 1);
    TreeNode& node = tree.nodes[id];  // after the recursion: push_back may have moved the vector
    node.feature = feature;
    node.threshold = threshold;
    node.left = left;
    node.right = right;
    return id;
  }
};

std::string feature_name(const std::vector<std::string>& names, int64_t f) {
  return f < static_cast<int64_t>(names.size()) ? names[f] : "x[" + std::to_string(f) + "]";
}
std::string class_name(const std::vector<std::string>& names, int64_t k) {
  return k < static_cast<int64_t>(names.size()) ? names[k] : "class " + std::to_string(k);
}
std::string number(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4g", v);
  return b;
}

void check_features(const Tensor& features, int64_t num_features) {
  check(features.defined() && features.is_float() && features.ndim() == 2 && features.dim(1) == num_features,
        "decision tree: expected float features (N, " + std::to_string(num_features) + "), got " +
            (features.defined() ? features.describe() : std::string("nothing")));
}

// Merges the path's conditions on one feature into the tightest bound (x ≤ a and x ≤ b → x ≤ min(a, b)).
std::vector<Condition> merged(const std::vector<Condition>& path) {
  std::map<std::pair<int64_t, bool>, double> bound;
  std::vector<std::pair<int64_t, bool>> order;
  for (const Condition& c : path) {
    const auto key = std::make_pair(c.feature, c.greater);
    auto it = bound.find(key);
    if (it == bound.end()) {
      bound[key] = c.threshold;
      order.push_back(key);
    } else {
      it->second = c.greater ? std::max(it->second, c.threshold) : std::min(it->second, c.threshold);
    }
  }
  std::vector<Condition> out;
  for (const auto& key : order) out.push_back({key.first, key.second, bound[key]});
  return out;
}

void collect_rules(const DecisionTree& tree, int64_t id, std::vector<Condition>& path, std::vector<Rule>& out) {
  const TreeNode& n = tree.nodes[id];
  if (n.feature < 0) {
    out.push_back({merged(path), n.predicted, n.rows, n.distribution[n.predicted]});
    return;
  }
  path.push_back({n.feature, false, n.threshold});
  collect_rules(tree, n.left, path, out);
  path.back().greater = true;
  collect_rules(tree, n.right, path, out);
  path.pop_back();
}

}  // namespace

DecisionTree fit_tree(const Tensor& features, const Tensor& targets, const TreeOptions& options) {
  if (options.max_depth < 1 || options.max_depth > 64)
    throw Error("decision tree: max-depth " + std::to_string(options.max_depth) + ": expected 1..64");
  if (options.min_leaf < 1)
    throw Error("decision tree: min-leaf " + std::to_string(options.min_leaf) + ": expected ≥ 1");
  if (!features.defined() || !features.is_float() || features.ndim() != 2 || features.dim(0) < 1)
    throw Error("decision tree: expected float features (N, F) with N ≥ 1, got " +
                (features.defined() ? features.describe() : std::string("nothing")));
  if (!targets.defined() || !targets.is_float() || targets.ndim() != 2 || targets.dim(0) != features.dim(0) ||
      targets.dim(1) < 1)
    throw Error("decision tree: expected float targets (" + std::to_string(features.dim(0)) + ", K), got " +
                (targets.defined() ? targets.describe() : std::string("nothing")));
  const Tensor x = features.to(DType::F64), t = targets.to(DType::F64);
  for (int64_t i = 0; i < x.numel(); ++i)
    if (!std::isfinite(x.data<double>()[i]))
      throw Error("decision tree: feature " + std::to_string(i % x.dim(1)) + " of row " + std::to_string(i / x.dim(1)) +
                  " is not finite");
  for (int64_t i = 0; i < t.numel(); ++i)
    if (!(t.data<double>()[i] >= 0.0) || !std::isfinite(t.data<double>()[i]))
      throw Error("decision tree: target row " + std::to_string(i / t.dim(1)) +
                  " is not a distribution (negative or NaN)");
  Grower g{x.data<double>(), t.data<double>(), x.dim(1), t.dim(1), options, {}};
  g.tree.num_features = x.dim(1);
  g.tree.num_classes = t.dim(1);
  std::vector<int64_t> rows(static_cast<size_t>(x.dim(0)));
  std::iota(rows.begin(), rows.end(), 0);
  g.grow(rows, 0);
  return g.tree;
}

int64_t DecisionTree::leaf_of(const double* x) const {
  int64_t id = 0;
  while (nodes[id].feature >= 0) id = x[nodes[id].feature] <= nodes[id].threshold ? nodes[id].left : nodes[id].right;
  return id;
}

std::vector<int64_t> DecisionTree::predict(const Tensor& features) const {
  check_features(features, num_features);
  const Tensor x = features.to(DType::F64);
  std::vector<int64_t> out;
  for (int64_t n = 0; n < x.dim(0); ++n) out.push_back(nodes[leaf_of(x.data<double>() + n * num_features)].predicted);
  return out;
}

int64_t DecisionTree::depth() const {
  std::vector<int64_t> d(nodes.size(), 0);
  int64_t deepest = 0;
  for (size_t i = 0; i < nodes.size(); ++i) {  // children always come after their parent
    deepest = std::max(deepest, d[i]);
    if (nodes[i].feature >= 0) d[nodes[i].left] = d[nodes[i].right] = d[i] + 1;
  }
  return deepest;
}

int64_t DecisionTree::leaves() const {
  return std::count_if(nodes.begin(), nodes.end(), [](const TreeNode& n) { return n.feature < 0; });
}

RuleList rules_from_tree(const DecisionTree& tree) {
  check(!tree.nodes.empty(), "rules_from_tree: empty tree");
  std::vector<Rule> all;
  std::vector<Condition> path;
  collect_rules(tree, 0, path, all);
  // The default: the class whose leaves cover the most training rows (ties: the lowest class).
  std::vector<int64_t> covered(static_cast<size_t>(tree.num_classes), 0);
  for (const Rule& r : all) covered[r.predicted] += r.rows;
  RuleList list;
  list.default_class = std::max_element(covered.begin(), covered.end()) - covered.begin();
  for (const Rule& r : all)
    if (r.predicted != list.default_class) list.rules.push_back(r);
  std::stable_sort(list.rules.begin(), list.rules.end(), [](const Rule& a, const Rule& b) {
    return a.rows > b.rows || (a.rows == b.rows && a.confidence > b.confidence);
  });
  return list;
}

int64_t RuleList::predict(const double* x) const {
  for (const Rule& r : rules) {
    bool holds = true;
    for (const Condition& c : r.conditions)
      holds = holds && (c.greater ? x[c.feature] > c.threshold : x[c.feature] <= c.threshold);
    if (holds) return r.predicted;
  }
  return default_class;
}

std::vector<int64_t> RuleList::predict(const Tensor& features) const {
  check(features.defined() && features.is_float() && features.ndim() == 2, "rule list: expected float features (N, F)");
  const Tensor x = features.to(DType::F64);
  std::vector<int64_t> out;
  for (int64_t n = 0; n < x.dim(0); ++n) out.push_back(predict(x.data<double>() + n * x.dim(1)));
  return out;
}

std::string format_rules(const RuleList& rules, const std::vector<std::string>& feature_names,
                         const std::vector<std::string>& class_names) {
  std::string s;
  for (size_t i = 0; i < rules.rules.size(); ++i) {
    const Rule& r = rules.rules[i];
    s += i == 0 ? "if " : "else if ";
    for (size_t j = 0; j < r.conditions.size(); ++j) {
      const Condition& c = r.conditions[j];
      s += (j ? " and " : "") + feature_name(feature_names, c.feature) + (c.greater ? " > " : " <= ") +
           number(c.threshold);
    }
    s += " then " + class_name(class_names, r.predicted) + "  [" + std::to_string(r.rows) + " rows, " +
         number(r.confidence) + "]\n";
  }
  s += (rules.rules.empty() ? "always " : "else ") + class_name(class_names, rules.default_class) + "\n";
  return s;
}

std::string format_tree(const DecisionTree& tree, const std::vector<std::string>& feature_names,
                        const std::vector<std::string>& class_names) {
  std::string s;
  struct Item {
    int64_t id, depth;
    std::string prefix;
  };
  std::vector<Item> stack = {{0, 0, ""}};
  while (!stack.empty()) {
    const Item it = stack.back();
    stack.pop_back();
    const TreeNode& n = tree.nodes[it.id];
    const std::string indent(static_cast<size_t>(2 * it.depth), ' ');
    if (n.feature < 0) {
      s += indent + it.prefix + class_name(class_names, n.predicted) + "  [" + std::to_string(n.rows) + " rows, " +
           number(n.distribution[n.predicted]) + "]\n";
      continue;
    }
    s += indent + it.prefix + feature_name(feature_names, n.feature) + " <= " + number(n.threshold) + "?\n";
    stack.push_back({n.right, it.depth + 1, "no: "});
    stack.push_back({n.left, it.depth + 1, "yes: "});
  }
  return s;
}

}  // namespace xdnn::explain
