// The `lrp` method: library functions (explain/lrp/lrp.h) and the registry entry.
#include "explain/lrp/lrp.h"
#include "engine/check.h"

#include <algorithm>

#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "explain/lrp/canonizer.h"
#include "explain/method.h"
#include "explain/point.h"
#include "explain/targets.h"

namespace xdnn::explain::lrp {

std::vector<Rule> rules_for(const Model& model, const LrpConfig& config) {
  if (!config.rule.empty() && !config.composite.empty())
    throw Error("LRP: give either --rule or --composite, not both (--rule-map refines either)");
  std::vector<Rule> rules = config.composite.empty()
                                ? uniform_rules(model, config.rule.empty() ? "epsilon" : config.rule, config.params)
                                : composite_rules(model, config.composite, config.params);
  if (config.transformer_rule == "cp") {
    // CP-LRP replaces the rule of every node that offers it (attention layers, and MatMuls that ONNX import
    // marked as multiplying a Softmax output: layers/matmul.h); a rule map can still override single nodes.
    const Rule cp = make_rule("cp", config.params);
    bool any = false;
    for (size_t k = 0; k < rules.size(); ++k) {
      const auto own = model.nodes()[k].layer->relevance_rules();
      if (std::find(own.begin(), own.end(), "cp") == own.end()) continue;
      rules[k] = cp;
      any = true;
    }
    if (!any)
      throw Error("LRP --transformer-rule cp: no layer of this model has a CP-LRP rule",
                  "it applies to attention layers (MultiheadAttention, TransformerEncoderLayer) and to "
                  "MatMul nodes that multiply a Softmax output (ONNX exports)");
  } else if (config.transformer_rule != "attn-lrp") {
    throw Error("LRP --transformer-rule '" + config.transformer_rule + "': expected attn-lrp or cp");
  }
  if (!config.rule_map.empty()) apply_rule_map(model, config.rule_map, config.params, rules);
  return rules;
}

Tensor logit_seed(const Tensor& logits, const std::vector<int64_t>& targets) {
  check(logits.ndim() == 2, "LRP: expected logits (N, classes), got " + logits.describe());
  const int64_t N = logits.dim(0), K = logits.dim(1);
  if (static_cast<int64_t>(targets.size()) != N)
    throw Error("LRP: " + std::to_string(targets.size()) + " targets for " + std::to_string(N) + " samples");
  for (int64_t n = 0; n < N; ++n)
    if (targets[n] < 0 || targets[n] >= K)
      throw Error("LRP: target " + std::to_string(targets[n]) + " is out of range for " + std::to_string(K) +
                  " classes");
  // R = f_K at each row's target logit, +0 elsewhere.
  return ops::keep_targets(logits, target_tensor(targets, logits.device()));
}

Tensor unit_seed(const Tensor& value, int64_t unit, const std::string& value_name) {
  if (!value.defined() || !value.is_float() || value.ndim() < 2)
    throw Error("LRP --from " + value_name + ": expected a float value (N, C, ...), got " +
                (value.defined() ? value.describe() : std::string("nothing")));
  const int64_t C = value.dim(1);
  if (unit < 0 || unit >= C)
    throw Error("LRP --unit " + std::to_string(unit) + " is out of range for value '" + value_name + "' " +
                value.describe() + " (units/channels 0.." + std::to_string(C - 1) + " along axis 1)");
  // The value on channel `unit` (axis 1), +0 on every other channel: select by a one-hot (1, C, 1, ...).
  Shape channel(value.ndim(), 1);
  channel[1] = C;
  const Tensor on = ops::one_hot(target_tensor({unit}, value.device()), C, value.dtype()).reshape(channel);
  return ops::where(on, value, Tensor({1}, value.dtype(), value.device()));
}

LrpResult lrp_pass(const Model& model, const Tensor& input, const LrpConfig& config, const LrpQuery& query) {
  LrpResult r{config.canonize ? fold_batchnorm(model) : model, {}, {}};
  const std::vector<Rule> rules = rules_for(r.model, config);
  r.tape = r.model.forward({input});
  int seed_id;
  Tensor seed;
  if (query.from.empty()) {
    check(query.unit < 0, "LRP: --unit needs --from VALUE (the value whose unit starts the relevance)");
    seed_id = logits_id(r.model);
    seed = logit_seed(tape_logits(r.model, r.tape), query.targets);
  } else {
    if (query.unit < 0) throw Error("LRP --from " + query.from + ": give --unit C (unit or channel along axis 1)");
    seed_id = r.model.value_id(query.from);
    seed = unit_seed(r.tape.values.at(seed_id), query.unit, query.from);
  }
  r.relevance = r.model.relevance(r.tape, {{seed_id, seed}}, [&](int k) { return rules[k]; });
  return r;
}

Tensor lrp_attribution(const Model& model, const Tensor& input, const LrpConfig& config, const LrpQuery& query) {
  LrpResult r = lrp_pass(model, input, config, query);
  auto at_or_zeros = [&](int id) {
    const Tensor& v = r.tape.values.at(id);
    if (!v.defined() || !v.is_float())
      throw Error("LRP: value '" + r.model.value_name(id) + "' holds no float tensor to take relevance at");
    return r.relevance.at(id).defined() ? r.relevance[id] : Tensor(v.shape(), v.dtype(), v.device());
  };
  if (!query.at.empty()) return at_or_zeros(r.model.value_id(query.at));
  // The input, or for token ids the embedding output summed over d (explain/point.h).
  Point point = attribution_point(r.model, input);
  return finish_attribution(point, at_or_zeros(point.value_id));
}

namespace {

Attribution run_lrp(const ExplainRequest& req) {
  const Options& o = req.options;
  LrpConfig config;
  config.rule = o.get("rule", "");
  config.composite = o.get("composite", "");
  config.rule_map = o.get("rule-map", "");
  config.params.epsilon = o.get_double("epsilon", 1e-6);
  config.params.gamma = o.get_double("gamma", 0.25);
  config.params.alpha = o.get_double("alpha", 2.0);
  config.params.beta = o.get_double("beta", 1.0);
  config.params.low = o.get_double("low", 0.0);
  config.params.high = o.get_double("high", 1.0);
  config.params.bias_out = o.get("bias-out", "false") == "true";
  config.transformer_rule = o.get("transformer-rule", "attn-lrp");
  LrpQuery query;
  query.targets = req.targets;
  query.from = o.get("from", "");
  query.unit = o.get_int("unit", -1);
  query.at = o.get("at", "");
  const Tensor x = model_input(req);
  Attribution a;
  a.values = lrp_attribution(*req.model, x, config, query);
  a.method = "lrp";
  a.parameters = o.values;
  if (config.rule.empty() && config.composite.empty()) a.parameters["rule"] = "epsilon";
  return a;
}

MethodRegistration reg{{
    "lrp",
    "layer-wise relevance propagation (rules, composites, rule maps; batch norm folded)",
    {
        {"rule", "",
         "one rule for every Conv/Linear: zero, epsilon, zplus, gamma, alpha-beta, box, w2, flat "
         "(default epsilon when no --composite)",
         "NAME"},
        {"composite", "", composites().names(", "), "NAME"},
        {"epsilon", "1e-6", "epsilon of the epsilon rule", "FLOAT"},
        {"gamma", "0.25", "gamma of the gamma rule", "FLOAT"},
        {"alpha", "2", "alpha of the alpha-beta rule (alpha - beta = 1)", "FLOAT"},
        {"beta", "1", "beta of the alpha-beta rule", "FLOAT"},
        {"low", "0", "lower input bound of the box rule (epsilon-gamma-box)", "FLOAT"},
        {"high", "1", "upper input bound of the box rule (epsilon-gamma-box)", "FLOAT"},
        {"rule-map", "", "per-layer rules: 'conv1=zb,conv*=gamma:0.25,fc*=epsilon:1e-6' (first match wins)",
         "LAYER=RULE,..."},
        {"bias-out", "false", "leave biases out of the LRP denominators (exact conservation)"},
        {"at", "", "return the relevance at this named value instead of the input", "TENSOR"},
        {"from", "", "start from a hidden value (with --unit) instead of the target logit", "TENSOR"},
        {"unit", "", "unit / channel (axis 1) of --from to start from", "INT"},
        {"transformer-rule", "attn-lrp",
         "attention layers: attn-lrp (AttnLRP, relevance through softmax and q k^T) or cp (CP-LRP, attention "
         "probabilities constant)",
         "{attn-lrp,cp}"},
    },
    run_lrp,
}};

}  // namespace
}  // namespace xdnn::explain::lrp
