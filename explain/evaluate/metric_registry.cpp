// The metric registry (explain/evaluate/metric.h): kept sorted by name so that listings and the CLI's
// option union do not depend on link order.
#include <algorithm>

#include "engine/error.h"
#include "explain/evaluate/metric.h"
#include "explain/registry.h"

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

std::vector<OptionSpec> all_metric_options() { return option_union(metric_registry()); }

Options resolve_metric_options(const MetricInfo& metric, const std::map<std::string, std::string>& given) {
  return resolve_option_specs(metric.options, "metric '" + metric.name + "'", given);
}

}  // namespace xdnn::explain
