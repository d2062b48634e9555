// The method registry (explain/method.h) and typed option access.
#include "explain/registry.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>

#include "engine/error.h"
#include "models/io/npy.h"

namespace xdnn::explain {

namespace {

// A function-local static: registrations run during static initialisation of other translation units,
// in an order the language does not fix.
std::vector<MethodInfo>& registry() {
  static std::vector<MethodInfo> r;
  return r;
}

}  // namespace

void register_method(MethodInfo info) {
  auto& r = registry();
  // Keep the list sorted by name so listings and the CLI's option union do not depend on link order.
  auto pos = std::lower_bound(r.begin(), r.end(), info.name,
                              [](const MethodInfo& m, const std::string& n) { return m.name < n; });
  r.insert(pos, std::move(info));
}

const std::vector<MethodInfo>& methods() { return registry(); }

std::string method_names() {
  std::string s;
  for (const auto& m : registry()) s += (s.empty() ? "" : ", ") + m.name;
  return s;
}

const MethodInfo& find_method(const std::string& name) {
  for (const auto& m : registry())
    if (m.name == name) return m;
  throw Error("unknown explanation method '" + name + "'", "valid methods: " + method_names());
}

std::string Options::get(const std::string& name, const std::string& fallback) const {
  auto it = values.find(name);
  return it == values.end() ? fallback : it->second;
}

const Tensor& Options::array(const std::string& name) const {
  auto it = arrays.find(name);
  if (it == arrays.end())
    throw Error("--" + name + " " + get(name, "") + ": the file was not loaded",
                "callers load the files options name with load_option_files before running a method");
  return it->second;
}

void load_option_files(const MethodInfo& method, Options& options) { load_option_files(method.options, options); }

void load_option_files(const std::vector<OptionSpec>& specs, Options& options) {
  for (const OptionSpec& spec : specs) {
    const std::string value = options.get(spec.name, "");
    if (spec.names_file && !value.empty() && spec.names_file(value)) options.arrays[spec.name] = load_npy(value);
  }
}

double Options::get_double(const std::string& name, double fallback) const {
  auto it = values.find(name);
  if (it == values.end() || it->second.empty()) return fallback;
  const char* s = it->second.c_str();
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s, &end);
  if (end == s || *end != '\0' || errno == ERANGE)
    throw Error("option --" + name + ": expected a number, got '" + it->second + "'");
  return v;
}

int64_t Options::get_int(const std::string& name, int64_t fallback) const {
  auto it = values.find(name);
  if (it == values.end() || it->second.empty()) return fallback;
  const char* s = it->second.c_str();
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s, &end, 10);
  if (end == s || *end != '\0' || errno == ERANGE)
    throw Error("option --" + name + ": expected an integer, got '" + it->second + "'");
  return static_cast<int64_t>(v);
}

std::vector<OptionSpec> all_method_options() { return option_union(registry()); }

Options resolve_option_specs(const std::vector<OptionSpec>& specs, const std::string& owner,
                             const std::map<std::string, std::string>& given) {
  Options opt;
  for (const auto& spec : specs)
    if (!spec.default_value.empty()) opt.values[spec.name] = spec.default_value;
  for (const auto& [name, value] : given) {
    const std::string& option = name;  // clang 14 cannot capture a structured binding
    const bool known = std::any_of(specs.begin(), specs.end(), [&](const OptionSpec& s) { return s.name == option; });
    if (!known) {
      std::string accepted;
      for (const auto& s : specs) accepted += (accepted.empty() ? "--" : ", --") + s.name;
      throw Error("option --" + name + " does not apply to " + owner,
                  accepted.empty() ? "it takes no options" : "it takes: " + accepted);
    }
    opt.values[name] = value;
  }
  // Checked here, when the options are resolved, so that a missing --score or a typo in --similarity
  // fails before the attributions are computed, not after.
  for (const auto& spec : specs) {
    const std::string value = opt.get(spec.name, "");
    if (spec.required && value.empty()) throw Error("--" + spec.name + " is required by " + owner, spec.help);
    if (!value.empty()) check_option_value(spec, value);
  }
  return opt;
}

void check_option_value(const OptionSpec& spec, const std::string& value) {
  const std::string& type = spec.type;  // only declared types are enforced; inferred ones only label --help
  char* end = nullptr;
  if (type == "INT") {
    errno = 0;
    (void)std::strtoll(value.c_str(), &end, 10);
    if (end == value.c_str() || *end != '\0' || errno == ERANGE)
      throw Error("option --" + spec.name + ": expected an integer, got '" + value + "'");
  } else if (type == "FLOAT") {
    errno = 0;
    const double v = std::strtod(value.c_str(), &end);
    if (end == value.c_str() || *end != '\0' || errno == ERANGE || !std::isfinite(v))
      throw Error("option --" + spec.name + ": expected a finite number, got '" + value + "'");
  } else if (type.size() > 2 && type.front() == '{' && type.back() == '}') {
    const std::string members = type.substr(1, type.size() - 2);
    if (("," + members + ",").find("," + value + ",") == std::string::npos)
      throw Error("option --" + spec.name + " '" + value + "': expected one of " + members);
  }
}

Options resolve_options(const MethodInfo& method, const std::map<std::string, std::string>& given) {
  return resolve_option_specs(method.options, "method '" + method.name + "'", given);
}

Attribution run_in_chunks(const MethodInfo& method, const ExplainRequest& req, int64_t samples_per_pass) {
  if (samples_per_pass < 1) throw Error("run_in_chunks: samples_per_pass must be >= 1");
  const int64_t N = req.input.dim(0);
  if (N <= samples_per_pass || req.input.device() != Device::CPU || req.options.has("png-dir") ||
      req.options.has("summary"))
    return method.run(req);
  Attribution out;
  for (int64_t n0 = 0; n0 < N; n0 += samples_per_pass) {
    const int64_t n1 = std::min(N, n0 + samples_per_pass);
    ExplainRequest part = req;
    part.input = req.input.slice_batch(n0, n1).clone();
    part.targets.assign(req.targets.begin() + n0, req.targets.begin() + n1);
    part.first_sample = req.first_sample + n0;
    for (const OptionSpec& spec : method.options) {  // a per-sample --baseline: this chunk's rows
      auto it = part.options.arrays.find(spec.name);
      if (spec.rows_per_sample && it != part.options.arrays.end() && it->second.shape() == req.input.shape())
        it->second = it->second.slice_batch(n0, n1);
    }
    Attribution a = method.run(part);
    const Tensor values = a.values.to(Device::CPU);
    if (values.ndim() < 1 || values.dim(0) != n1 - n0)
      throw Error(method.name + ": attribution " + values.describe() + " does not have one row per sample");
    if (!out.values.defined()) {
      Shape s = values.shape();
      s[0] = N;
      out = a;
      out.values = Tensor(s, values.dtype());
    }
    if (Shape(values.shape().begin() + 1, values.shape().end()) !=
            Shape(out.values.shape().begin() + 1, out.values.shape().end()) ||
        values.dtype() != out.values.dtype())
      throw Error(method.name + ": attributions of two passes differ in shape or dtype");
    out.values.slice_batch(n0, n1).copy_from(values);
  }
  return out;
}

}  // namespace xdnn::explain
