#include "explain/lrp/composite.h"
#include "engine/check.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "layers/lrp_rules.h"

namespace xdnn::explain::lrp {
namespace {

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// Rules of the non-linear layers (implemented by the layers themselves).
const std::vector<std::string>& other_rule_names() {
  static const std::vector<std::string> names = {"pass", "wta", "proportional", "norm", "reshape", "cp"};
  return names;
}

std::vector<std::string> known_rule_names() {
  std::vector<std::string> v = linear_rule_names();
  for (const auto& n : other_rule_names()) v.push_back(n);
  return v;
}

std::string canonical(const std::string& name) {
  if (name == "zb" || name == "zbox" || name == "z-box") return "box";
  if (name == "z+" || name == "plus") return "zplus";
  if (name == "lrp0" || name == "lrp-0") return "zero";
  return name;
}

double parse_number(const std::string& s, const std::string& what) {
  const char* c = s.c_str();
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(c, &end);
  if (s.empty() || end == c || *end != '\0' || errno == ERANGE || !std::isfinite(v))
    throw Error("LRP rule '" + what + "': expected a number, got '" + s + "'");
  return v;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string::npos ? std::string::npos : pos - start));
    if (pos == std::string::npos) break;
    start = pos + 1;
  }
  return out;
}

std::string num(double v) {  // shortest readable form: 0.25, -1, 1e-06
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

// The default rule of a non-Conv/Dense node: the first rule its layer names, with the run's parameters.
Rule default_rule(const Layer& layer, NodeClass cls, const RuleParams& p) {
  if (cls == NodeClass::OtherLinear) return make_rule("epsilon", p);
  Rule r = make_rule("pass", p);
  auto names = layer.relevance_rules();
  if (!names.empty()) r.name = names.front();
  return r;
}

// Index of the first node (topological order = nearest the input) of class `cls`, -1 if none.
int first_of(const Model& model, NodeClass a, NodeClass b) {
  const auto& nodes = model.nodes();
  for (size_t k = 0; k < nodes.size(); ++k) {
    NodeClass c = classify(*nodes[k].layer);
    if (c == a || c == b) return static_cast<int>(k);
  }
  return -1;
}

// "conv1" for a node whose first parameter is "conv1.weight"; empty when it has none.
std::string param_prefix(const Node& node) {
  const auto params = node.layer->read_params();
  if (params.empty()) return {};
  const std::string& n = params.front()->name;
  size_t dot = n.rfind('.');
  return dot == std::string::npos ? n : n.substr(0, dot);
}

}  // namespace

NodeClass classify(const Layer& layer) {
  const LinearLike* lin = layer.as_linear();
  if (!lin) return NodeClass::Other;
  const int rank = lin->weight().ndim();
  if (rank >= 3) return NodeClass::Conv;
  if (rank == 2) return NodeClass::Dense;
  return NodeClass::OtherLinear;
}

ChoiceRegistry<CompositeInfo>& composites() {
  auto conv_dense = [](std::string conv, std::string first_conv, std::string first_linear) {
    return [=](const Model& model, const RuleParams& p) {
      return conv_dense_rules(model, p, conv, first_conv, first_linear);
    };
  };
  static ChoiceRegistry<CompositeInfo> registry(
      "LRP composite",
      {
          {"epsilon-plus", "zplus on Conv, epsilon on Dense", conv_dense("zplus", "", "")},
          {"epsilon-alpha2-beta1", "alpha2-beta1 on Conv, epsilon on Dense", conv_dense("alpha2-beta1", "", "")},
          {"epsilon-gamma-box", "box on the first Conv, gamma on the other Convs, epsilon on Dense",
           conv_dense("gamma", "box", "")},
          {"epsilon-plus-flat", "flat on the first Conv/Dense, then as epsilon-plus", conv_dense("zplus", "", "flat")},
      });
  return registry;
}

Rule make_rule(const std::string& raw_name, const RuleParams& p) {
  const std::string name = canonical(raw_name);
  Rule r;
  if (name == "alpha2-beta1" || name == "alpha1-beta0") {
    r.name = "alpha-beta";
    r.alpha = name == "alpha2-beta1" ? 2.0 : 1.0;
    r.beta = name == "alpha2-beta1" ? 1.0 : 0.0;
  } else {
    auto known = known_rule_names();
    if (std::find(known.begin(), known.end(), name) == known.end())
      throw Error("unknown LRP rule '" + raw_name + "'; known rules: " + join(known) + " (aliases zb, z+)");
    r.name = name;
    r.alpha = p.alpha;
    r.beta = p.beta;
  }
  r.epsilon = p.epsilon;
  r.gamma = p.gamma;
  r.low = p.low;
  r.high = p.high;
  r.bias_in_denominator = !p.bias_out;
  check(r.epsilon >= 0, "LRP: epsilon must be >= 0, got " + num(r.epsilon));
  check(r.gamma >= 0, "LRP: gamma must be >= 0, got " + num(r.gamma));
  if (r.name == "alpha-beta") {
    if (std::abs(r.alpha - r.beta - 1.0) > 1e-12)
      throw Error("LRP alpha-beta rule needs alpha - beta = 1 (relevance conservation), got alpha " + num(r.alpha) +
                  ", beta " + num(r.beta));
    if (r.beta < 0) throw Error("LRP alpha-beta rule needs beta >= 0, got " + num(r.beta));
  }
  if (r.name == "box" && !(r.low <= r.high))
    throw Error("LRP box rule needs low <= high, got low " + num(r.low) + ", high " + num(r.high));
  return r;
}

Rule parse_rule(const std::string& text, const RuleParams& p) {
  auto parts = split(trim(text), ':');
  const std::string name = canonical(parts[0]);
  RuleParams q = p;
  const size_t n = parts.size() - 1;
  auto arg = [&](size_t i) { return parse_number(parts[i], text); };
  auto need = [&](size_t lo, size_t hi, const char* form) {
    if (n < lo || n > hi) throw Error("LRP rule '" + text + "': expected " + form);
  };
  if (name == "epsilon") {
    need(0, 1, "epsilon or epsilon:E");
    if (n == 1) q.epsilon = arg(1);
  } else if (name == "gamma") {
    need(0, 1, "gamma or gamma:G");
    if (n == 1) q.gamma = arg(1);
  } else if (name == "alpha-beta") {
    need(0, 2, "alpha-beta, alpha-beta:A (β = A − 1) or alpha-beta:A:B");
    if (n >= 1) q.alpha = arg(1);
    q.beta = n == 2 ? arg(2) : (n == 1 ? q.alpha - 1.0 : q.beta);
  } else if (name == "box") {
    need(0, 2, "box:L:H (or zb:L:H)");
    if (n == 1) throw Error("LRP rule '" + text + "': expected box:L:H (both bounds)");
    if (n == 2) q.low = arg(1), q.high = arg(2);
  } else {
    need(0, 0, "no parameters for this rule");
  }
  return make_rule(name, q);
}

std::vector<Rule> uniform_rules(const Model& model, const std::string& rule_name, const RuleParams& p) {
  const Rule linear = make_rule(rule_name, p);
  auto lin_names = linear_rule_names();
  if (std::find(lin_names.begin(), lin_names.end(), linear.name) == lin_names.end())
    throw Error("--rule " + rule_name + " is not a rule for Conv/Linear layers (" + join(lin_names) +
                "); give other layers' rules with --rule-map, e.g. 'pool*=" + linear.name + "'");
  std::vector<Rule> rules;
  for (const auto& node : model.nodes()) {
    NodeClass c = classify(*node.layer);
    if (c == NodeClass::Conv || c == NodeClass::Dense) {
      rules.push_back(linear);
      continue;
    }
    // A non-linear node that itself offers the chosen rule (an LSTM under --rule epsilon) takes it; a
    // per-channel affine map takes zero/epsilon when chosen, epsilon otherwise.
    Rule r = default_rule(*node.layer, c, p);
    auto own = node.layer->relevance_rules();
    if (c == NodeClass::Other && std::find(own.begin(), own.end(), linear.name) != own.end()) r = linear;
    if (c == NodeClass::OtherLinear && (linear.name == "zero" || linear.name == "epsilon")) r = linear;
    rules.push_back(r);
  }
  return rules;
}

std::vector<Rule> composite_rules(const Model& model, const std::string& composite, const RuleParams& p) {
  return composites().find(composite).rules(model, p);
}

std::vector<Rule> conv_dense_rules(const Model& model, const RuleParams& p, const std::string& conv_rule,
                                   const std::string& first_conv_rule, const std::string& first_linear_rule) {
  const int first_conv = first_conv_rule.empty() ? -1 : first_of(model, NodeClass::Conv, NodeClass::Conv);
  const int first_linear = first_linear_rule.empty() ? -1 : first_of(model, NodeClass::Conv, NodeClass::Dense);
  const auto& nodes = model.nodes();
  std::vector<Rule> rules;
  for (size_t k = 0; k < nodes.size(); ++k) {
    const int ki = static_cast<int>(k);
    NodeClass c = classify(*nodes[k].layer);
    if (ki == first_linear)
      rules.push_back(make_rule(first_linear_rule, p));
    else if (ki == first_conv)
      rules.push_back(make_rule(first_conv_rule, p));
    else if (c == NodeClass::Conv)
      rules.push_back(make_rule(conv_rule, p));
    else if (c == NodeClass::Dense)
      rules.push_back(make_rule("epsilon", p));
    else
      rules.push_back(default_rule(*nodes[k].layer, c, p));
  }
  return rules;
}

bool wildcard_match(const std::string& pattern, const std::string& text) {
  // Iterative glob with backtracking to the last '*'.
  size_t p = 0, t = 0, star = std::string::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p, ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++, mark = t;
    } else if (star != std::string::npos) {
      p = star + 1, t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

void apply_rule_map(const Model& model, const std::string& spec, const RuleParams& p, std::vector<Rule>& rules) {
  struct Entry {
    std::string pattern;
    Rule rule;
    bool used = false;
  };
  std::vector<Entry> entries;
  for (const auto& raw : split(spec, ',')) {
    std::string item = trim(raw);
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
      throw Error("--rule-map entry '" + item + "': expected PATTERN=RULE[:PARAMS]");
    entries.push_back({trim(item.substr(0, eq)), parse_rule(item.substr(eq + 1), p)});
  }
  check(!entries.empty(), "--rule-map '" + spec + "' has no entries; expected PATTERN=RULE,...");
  const auto& nodes = model.nodes();
  check(rules.size() == nodes.size(), "internal: rule list does not match the model's nodes");
  for (size_t k = 0; k < nodes.size(); ++k) {
    const std::string prefix = param_prefix(nodes[k]);
    for (auto& e : entries) {
      if (!wildcard_match(e.pattern, nodes[k].name) && (prefix.empty() || !wildcard_match(e.pattern, prefix))) continue;
      e.used = true;
      auto own = nodes[k].layer->relevance_rules();
      if (std::find(own.begin(), own.end(), e.rule.name) == own.end())
        throw Error("--rule-map '" + e.pattern + "=" + e.rule.name + "': node '" + nodes[k].name + "' (" +
                    nodes[k].layer->kind() + ") has no rule '" + e.rule.name +
                    "'; it has: " + (own.empty() ? std::string("none") : join(own)));
      rules[k] = e.rule;
      break;  // first match wins
    }
  }
  for (const auto& e : entries) {
    if (e.used) continue;
    std::vector<std::string> names;
    for (const auto& n : nodes)
      if (names.size() < 12) names.push_back(param_prefix(n).empty() ? n.name : n.name + " (" + param_prefix(n) + ")");
    throw Error("--rule-map pattern '" + e.pattern + "' matches no layer; layers: " + join(names));
  }
}

}  // namespace xdnn::explain::lrp
