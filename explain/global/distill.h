// Distillation of a network into a decision tree and a rule list (Craven & Shavlik 1996; Frosst & Hinton
// 2017): CART (decision_tree.h) fitted to the network's predictions, soft (its softmax) or hard (a one-hot of
// its argmax), on a seeded share of the data; on the held-out rest, fidelity = the share of rows where the
// tree (or the rule list) gives the network's argmax, accuracy = the share where it gives the true label.
// Features: the model's input flattened (pixels, or the columns of tabular data) or a named layer's values
// flattened (N, C·h·w).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "explain/global/decision_tree.h"
#include "models/model.h"

namespace xdnn::explain {

struct DistillData {
  Tensor features;                         // (N, F) float64
  Tensor teacher;                          // (N, K) float64: the network's softmax per row
  std::vector<int64_t> labels;             // (N) true classes, or empty (then no accuracy)
  std::vector<std::string> feature_names;  // (F) or empty
  std::vector<std::string> class_names;    // (K) or empty
};

struct DistillOptions {
  TreeOptions tree;
  bool soft = true;       // fit p(class) of the network; false: a one-hot of its argmax
  double held_out = 0.3;  // share of the rows kept out of the fit, in (0, 1)
  uint64_t seed = 0;      // the split's shuffle
  // When given, exactly these rows are held out (held_out and seed are not used): a split made earlier,
  // e.g. the one the network was trained on.
  std::vector<int64_t> test_rows;
};

struct DistillResult {
  DecisionTree tree;
  RuleList rules;
  std::vector<std::string> feature_names, class_names;
  int64_t train_rows = 0, test_rows = 0;
  double tree_fidelity_train = 0, tree_fidelity = 0, rules_fidelity = 0;  // held-out unless "_train"
  // Held-out accuracy against the labels; −1 without labels.
  double tree_accuracy = -1, rules_accuracy = -1, network_accuracy = -1;
};

DistillResult distill(const DistillData& data, const DistillOptions& options);

// Features and teacher from `model` on `x` (N, ...): layer empty = the input itself; the teacher is the
// softmax of the model's output (N, K), computed in chunks of 256 rows.
DistillData distill_data_from_model(const Model& model, const Tensor& x, const std::vector<int64_t>& labels,
                                    const std::string& layer);

// The numbers as a small text table ("tree: depth 4, 16 leaves; fidelity 0.93 ...").
std::string distill_summary(const DistillResult& r);

}  // namespace xdnn::explain
