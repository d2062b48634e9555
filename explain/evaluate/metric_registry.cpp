// The metric registry (explain/evaluate/metric.h): kept sorted by name so that listings and the CLI's
// option union do not depend on link order.
#include <algorithm>
#include <set>

#include "engine/error.h"
#include "explain/evaluate/metric.h"

namespace xdnn::explain {

namespace {

// A function-local static: registrations run during static initialisation of other translation units,
// in an order the language does not fix.
std::vector<MetricInfo>& metric_registry() {
  static std::vector<MetricInfo> r;
  return r;
}

}  // namespace

void register_metric(MetricInfo info) {
  auto& r = metric_registry();
  auto pos = std::lower_bound(r.begin(), r.end(), info.name,
                              [](const MetricInfo& m, const std::string& n) { return m.name < n; });
  r.insert(pos, std::move(info));
}

const std::vector<MetricInfo>& metrics() { return metric_registry(); }

std::string metric_names() {
  std::string s;
  for (const auto& m : metric_registry()) s += (s.empty() ? "" : ", ") + m.name;
  return s;
}

const MetricInfo& find_metric(const std::string& name) {
  for (const auto& m : metric_registry())
    if (m.name == name) return m;
  throw Error("unknown metric '" + name + "'", "valid metrics: " + metric_names());
}

std::vector<OptionSpec> all_metric_options() {
  std::vector<OptionSpec> out;
  std::set<std::string> seen;
  for (const auto& m : metric_registry())
    for (const auto& o : m.options)
      if (seen.insert(o.name).second) out.push_back(o);
  std::sort(out.begin(), out.end(), [](const OptionSpec& a, const OptionSpec& b) { return a.name < b.name; });
  return out;
}

Options resolve_metric_options(const MetricInfo& metric, const std::map<std::string, std::string>& given) {
  Options opt;
  for (const auto& spec : metric.options)
    if (!spec.default_value.empty()) opt.values[spec.name] = spec.default_value;
  for (const auto& [name, value] : given) {
    const std::string& option = name;  // clang 14 cannot capture a structured binding
    const bool known = std::any_of(metric.options.begin(), metric.options.end(),
                                   [&](const OptionSpec& s) { return s.name == option; });
    if (!known) {
      std::string accepted;
      for (const auto& s : metric.options) accepted += (accepted.empty() ? "--" : ", --") + s.name;
      throw Error("option --" + name + " does not apply to metric '" + metric.name + "'",
                  accepted.empty() ? "it takes no options" : "it takes: " + accepted);
    }
    opt.values[name] = value;
  }
  return opt;
}

}  // namespace xdnn::explain
