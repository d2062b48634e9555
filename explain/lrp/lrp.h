// Layer-wise relevance propagation as a method (Bach et al. 2015; Montavon et al. 2019), registered as
// `lrp` in the explain registry. See README.md in this folder for the rules, the composites and the
// deep-Taylor view.
//
// One run: canonize (fold batch norm, explain/lrp/canonizer.h), pick a Rule per node (a composite, one
// rule for every Conv/Dense, or the default epsilon; then an optional rule map, explain/lrp/composite.h),
// forward, seed the relevance, walk back with Model::relevance, read the relevance where asked.
//
// Seeds: by default R = f_K(x) at logit K of the model's first output, 0 at the others (the convention of
// ../../shared/golden/README.md, Zennit's one_hot(K)·logits). From a hidden value `from` with a unit
// (index along axis 1: a neuron of (N, D), a channel of (N, C, H, W)): R = that unit's activation at
// every position, 0 elsewhere — the starting point of concept-relevance methods.
// Read-out: the relevance at the model input (shape of the input); for int64 token input at the
// embedding output summed over the embedding dim, (N, T); or at any named value `at` (its full shape).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "explain/lrp/composite.h"
#include "models/model.h"

namespace xdnn::explain::lrp {

struct LrpConfig {
  std::string rule;       // one rule for every Conv/Dense node ("" = none)
  std::string composite;  // a named composite ("" = none); rule and composite exclude each other
  std::string rule_map;   // per-node overrides
  RuleParams params;
  bool canonize = true;  // fold batch norm first
  // Attention layers (nodes whose layer offers the rule "cp"): "attn-lrp" (default, their epsilon rule:
  // AttnLRP, Achtibat et al. 2024) or "cp" (CP-LRP, Ali et al. 2022: attention probabilities constant).
  std::string transformer_rule = "attn-lrp";
};

struct LrpQuery {
  std::vector<int64_t> targets;  // one logit per sample (used when `from` is empty)
  std::string from;              // hidden value to start from ("" = the logits)
  int64_t unit = -1;             // with `from`: the unit/channel along axis 1
  std::string at;                // value to read the relevance at ("" = input / embedding output)
};

// The rules a config gives each node of `model` (indexed like model.nodes()).
std::vector<Rule> rules_for(const Model& model, const LrpConfig& config);

// Initial relevance at the logits: one_hot(K_n) · f(x_n), shape of `logits` (N, classes).
Tensor logit_seed(const Tensor& logits, const std::vector<int64_t>& targets);
// Initial relevance at a hidden value v (N, C, ...): v at unit/channel `unit`, 0 elsewhere.
Tensor unit_seed(const Tensor& value, int64_t unit, const std::string& value_name);

// Everything one LRP pass produced, on the canonized model.
struct LrpResult {
  Model model;                    // the canonized model the pass ran on
  Tape tape;                      // its forward pass
  std::vector<Tensor> relevance;  // by value id (undefined where nothing arrived)
};
// Runs the pass; `input` in the model's dtype (float) or int64 token ids.
LrpResult lrp_pass(const Model& model, const Tensor& input, const LrpConfig& config, const LrpQuery& query);

// The attribution: relevance at the input (images), summed embedding relevance (N, T) for token input, or
// the relevance at `query.at` (zeros of that value's shape when nothing reached it).
Tensor lrp_attribution(const Model& model, const Tensor& input, const LrpConfig& config, const LrpQuery& query);

}  // namespace xdnn::explain::lrp
