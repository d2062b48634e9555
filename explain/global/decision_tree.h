// A classification tree grown by CART (Breiman et al. 1984) on soft targets, as distillation needs it
// (Craven & Shavlik 1996, "Extracting tree-structured representations of trained networks"; Frosst &
// Hinton 2017, "Distilling a neural network into a soft decision tree"): each training row carries a class
// distribution t_i (the network's softmax, or a one-hot of its argmax), a node's distribution is
// p = Σ_{i∈node} t_i / |node|, its impurity Gini(p) = 1 − Σ_k p_k², and a split x_f ≤ θ is the one that
// most lowers |node|·Gini; θ is the midpoint between two consecutive distinct values of x_f. With one-hot
// targets this is ordinary CART. A leaf predicts argmax p (ties: the lowest class).
//
// The tree read as an ordered rule list: one rule per leaf (its path's conditions, with the conditions on
// one feature merged into the tightest bound), the rules of the most frequent leaf class replaced by a
// final default rule; since the leaves are disjoint, the first rule that matches gives the tree's answer.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace xdnn::explain {

struct TreeOptions {
  int64_t max_depth = 4;  // ≥ 1; the root is depth 0
  int64_t min_leaf = 5;   // ≥ 1 rows on each side of a split
};

struct TreeNode {
  int64_t feature = -1;  // −1: a leaf
  double threshold = 0;  // go left when x[feature] ≤ threshold
  int64_t left = -1, right = -1;
  int64_t rows = 0;                  // training rows that reach the node
  std::vector<double> distribution;  // p: mean target of those rows (K)
  int64_t predicted = 0;             // argmax p
};

struct DecisionTree {
  std::vector<TreeNode> nodes;  // nodes[0] is the root
  int64_t num_features = 0, num_classes = 0;
  int64_t leaf_of(const double* x) const;  // node index of the leaf x falls into
  // features: (N, F) float; one class per row.
  std::vector<int64_t> predict(const Tensor& features) const;
  int64_t depth() const;
  int64_t leaves() const;
};

// features: (N, F) float, finite; targets: (N, K) float, each row a distribution (non-negative).
DecisionTree fit_tree(const Tensor& features, const Tensor& targets, const TreeOptions& options);

struct Condition {
  int64_t feature = 0;
  bool greater = false;  // x[feature] > threshold; else x[feature] ≤ threshold
  double threshold = 0;
};

struct Rule {
  std::vector<Condition> conditions;  // all must hold
  int64_t predicted = 0;
  int64_t rows = 0;       // training rows it covers
  double confidence = 0;  // p[predicted] of its leaf
};

struct RuleList {
  std::vector<Rule> rules;  // first match wins; ordered by rows covered, then confidence
  int64_t default_class = 0;
  int64_t predict(const double* x) const;
  std::vector<int64_t> predict(const Tensor& features) const;
};

RuleList rules_from_tree(const DecisionTree& tree);

// "if pixel(13,9) > 0.2471 and ... then T-shirt  [412 rows, 0.93]" lines, ending with "else CLASS".
// Names may be empty (then "x[f]" and the class index).
std::string format_rules(const RuleList& rules, const std::vector<std::string>& feature_names,
                         const std::vector<std::string>& class_names);
// The tree as indented "if x ≤ θ:" lines.
std::string format_tree(const DecisionTree& tree, const std::vector<std::string>& feature_names,
                        const std::vector<std::string>& class_names);

}  // namespace xdnn::explain
