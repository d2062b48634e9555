// LRP composites: which Rule each node of a model gets (Montavon et al. 2019, §10.2 "which rule where";
// Zennit's composites). A composite looks at each node only through the layer interface:
//
//   Conv   a LinearLike layer whose weight has rank ≥ 3 (Conv1d/2d kernels (O, C, [KH,] KW))
//   Dense  a LinearLike layer whose weight has rank 2 (fully connected, Gemm)
//   other  every other node keeps the rule its layer names first in relevance_rules() — ReLU "pass",
//          MaxPool "wta", AvgPool/Add "norm", Flatten "pass", LSTM "epsilon" — with the run's
//          parameters (ε, δ) attached. A LinearLike layer of another rank (a per-channel affine map,
//          e.g. a BatchNorm left unfolded) gets the epsilon rule (under --rule zero: zero).
//
// Composites (the table of ../../shared/golden/README.md "LRP"):
//
//   name                  first Conv     other Convs     Dense      first Conv/Dense overall
//   epsilon-plus          zplus          zplus           epsilon
//   epsilon-alpha2-beta1  alpha-beta2,1  alpha-beta2,1   epsilon
//   epsilon-gamma-box     box(low,high)  gamma           epsilon
//   epsilon-plus-flat     zplus          zplus           epsilon    flat (replaces the above)
//
// "First" means nearest the input in topological order; epsilon-gamma-box looks only at Conv nodes (a
// model without convolutions gets no box rule).
//
// Rule maps ('conv1=zb,conv*=gamma:0.25,fc*=epsilon:1e-6') override per node: each entry is
// PATTERN=RULE[:P1[:P2]], '*' and '?' wildcards, first matching entry wins. A pattern is matched against
// the node name and against the node's parameter prefix ("conv1" for "conv1.weight"), so the PyTorch
// names work for ONNX models whose node names are "/conv1/Conv". Parameters: epsilon:E, gamma:G,
// alpha-beta:A:B, box:L:H (alias zb); zplus (alias z+), zero, w2, flat and the non-linear rules take none.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "explain/choices.h"
#include "layers/layer.h"
#include "models/model.h"

namespace xdnn::explain::lrp {

// The parameters of one LRP run (CLI --epsilon --gamma --alpha --beta --low --high --bias-out).
struct RuleParams {
  double epsilon = 1e-6;
  double gamma = 0.25;
  double alpha = 2.0, beta = 1.0;
  double low = 0.0, high = 1.0;
  bool bias_out = false;  // true: biases stay out of every denominator (Rule::bias_in_denominator)
};

enum class NodeClass { Conv, Dense, OtherLinear, Other };
NodeClass classify(const Layer& layer);

// One composite: a name, a line for --help, and the rule of every node of a model (indexed like
// model.nodes()). The built-in four are the table above; add your own with composites().add(...).
struct CompositeInfo {
  std::string name;
  std::string description;
  std::function<std::vector<Rule>(const Model& model, const RuleParams& p)> rules;
};
ChoiceRegistry<CompositeInfo>& composites();

// The built-in composites' shape: Conv nodes get `conv_rule` (the first Conv `first_conv_rule` when
// given), Dense nodes epsilon, the first Conv/Dense overall `first_linear_rule` when given, other nodes
// their own default.
std::vector<Rule> conv_dense_rules(const Model& model, const RuleParams& p, const std::string& conv_rule,
                                   const std::string& first_conv_rule, const std::string& first_linear_rule);

// A Rule named `name` carrying the run's parameters. Validates name and parameters (unknown rule,
// α − β ≠ 1, negative γ or ε, low > high) with one-line errors.
Rule make_rule(const std::string& name, const RuleParams& p);
// "gamma:0.5", "alpha-beta:2:1", "zb:-1:1" -> Rule (parameters after ':' override p's).
Rule parse_rule(const std::string& text, const RuleParams& p);

// One Rule per node (indexed like model.nodes()).
// Every Conv/Dense node gets `rule_name`; other nodes their own default (see above).
std::vector<Rule> uniform_rules(const Model& model, const std::string& rule_name, const RuleParams& p);
// A registered composite's rules; throws listing the registered names when unknown.
std::vector<Rule> composite_rules(const Model& model, const std::string& composite, const RuleParams& p);
// Applies a rule map on top of `rules`. Throws on a malformed entry, an unknown or invalid rule, a
// pattern that matches no node, or a node whose layer lacks the rule (naming the node and its rules).
void apply_rule_map(const Model& model, const std::string& spec, const RuleParams& p, std::vector<Rule>& rules);

// Glob match with '*' (any run) and '?' (one character).
bool wildcard_match(const std::string& pattern, const std::string& text);

}  // namespace xdnn::explain::lrp
