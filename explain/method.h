// Explanation methods: one method per file in explain/, each registered by name. The CLI (`xdnn
// explain`), the HTML report and the benchmarks find methods only through this registry, and methods
// see models only through Model / Layer (never a concrete layer).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "models/model.h"

namespace xdnn::explain {

// One option a method accepts, e.g. {"steps", "50", "number of integration steps"}.
struct OptionSpec {
  std::string name;           // without dashes; the CLI exposes it as --name
  std::string default_value;  // as text; empty = no default (required or optional flag)
  std::string help;
  // What --help shows as the value's type; empty: read from the default ("32" INT, "0.25" FLOAT, else TEXT).
  std::string type = {};
  // Set for options that may name a .npy file (--baseline B.npy): true for the non-empty values that are
  // file names. The caller loads those files (load_option_files, explain/registry.h) into
  // Options::arrays before the method runs: methods compute, they never read files.
  std::function<bool(const std::string& value)> names_file = {};
  // A required option has no default: resolving the options without it fails before any work.
  bool required = false;
  // For an array option (names_file) that may hold one row per sample, i.e. the input's full shape (a
  // per-sample --baseline): run_in_chunks gives each chunk of samples the matching rows.
  bool rows_per_sample = false;
};

// An option without a default that must be given, e.g. required_option({"steps", "", "curve steps", "INT"}).
inline OptionSpec required_option(OptionSpec spec) {
  spec.required = true;
  return spec;
}

// names_file of options whose every non-empty value is a file (--baselines, --coalitions).
inline bool any_value_names_file(const std::string& value) { return !value.empty(); }

// Option values as given on the command line (or by a caller), with typed accessors that fail with
// one-line errors naming the option and what was expected.
class Options {
 public:
  std::map<std::string, std::string> values;
  bool has(const std::string& name) const { return values.count(name) > 0; }
  std::string get(const std::string& name, const std::string& fallback) const;
  double get_double(const std::string& name, double fallback) const;
  int64_t get_int(const std::string& name, int64_t fallback) const;

  // The arrays of the options whose value names a .npy file, by option name, loaded by the caller.
  std::map<std::string, Tensor> arrays;
  // arrays[name]; an Error naming the option and its file when the caller did not load it.
  const Tensor& array(const std::string& name) const;
};

struct ExplainRequest {
  const Model* model = nullptr;
  Tensor input;                  // (N, ...) float32 images or int64 token ids
  std::vector<int64_t> targets;  // one class per sample (filled by the caller: --target or argmax)
  Options options;               // method options, including the shared ones (seed, ...)
  bool progress = false;         // long-running methods may draw a progress bar on stderr
  // Index of input row 0 in the whole batch when a caller splits a batch into chunks (run_in_chunks,
  // explain/registry.h). A method that draws random numbers per sample draws those of sample
  // first_sample + n for row n, so that chunked and unchunked runs give the same bits.
  int64_t first_sample = 0;
};

// An attribution carries what is needed to reproduce it.
struct Attribution {
  Tensor values;  // shape of the input (images), (N, T) for token models, (N, 1, h, w) for CAMs
  std::string method;
  std::map<std::string, std::string> parameters;
  uint64_t seed = 0;
};

struct MethodInfo {
  std::string name;         // "integrated-gradients"
  std::string description;  // one line, for --help and the report
  std::vector<OptionSpec> options;
  std::function<Attribution(const ExplainRequest&)> run;
};

void register_method(MethodInfo info);
const std::vector<MethodInfo>& methods();
// Throws an Error listing the registered names when `name` is unknown.
const MethodInfo& find_method(const std::string& name);

struct MethodRegistration {
  explicit MethodRegistration(MethodInfo info) { register_method(std::move(info)); }
};

}  // namespace xdnn::explain
