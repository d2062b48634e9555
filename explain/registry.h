// Helpers around the method registry (explain/method.h) for callers that take options from users: the
// union of all methods' options (what the CLI declares), and resolving one method's options (defaults
// filled in, options of other methods rejected with a one-line error).
//
// Flag convention: an OptionSpec whose default_value is "false" is a boolean switch (`--upsample`); the
// CLI declares it without a value and stores "true" when it is given.
#pragma once
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "explain/method.h"

namespace xdnn::explain {

inline bool is_flag(const OptionSpec& spec) { return spec.default_value == "false"; }

// Every option of every registered method, each name once (the first method's spec wins), sorted.
std::vector<OptionSpec> all_method_options();

// Every option of `entries` (methods or metrics: anything with .options), each name once (the first
// entry's spec wins), sorted by name.
template <class Entries>
std::vector<OptionSpec> option_union(const Entries& entries) {
  std::vector<OptionSpec> out;
  std::set<std::string> seen;
  for (const auto& e : entries)
    for (const auto& o : e.options)
      if (seen.insert(o.name).second) out.push_back(o);
  std::sort(out.begin(), out.end(), [](const OptionSpec& a, const OptionSpec& b) { return a.name < b.name; });
  return out;
}

// Throws naming the option when `value` does not match the option's declared type: INT, FLOAT (finite),
// or a set {a,b,c}. Other types (FILE, NAME, ...) are the method's to check.
void check_option_value(const OptionSpec& spec, const std::string& value);

// The options an entry with `specs` runs with: their defaults, overridden by `given`. Throws naming the
// option and `owner` ("method 'lrp'", "metric 'deletion'") when `given` holds one it does not take.
// Also throws when a required option is missing or a value does not match its declared type.
Options resolve_option_specs(const std::vector<OptionSpec>& specs, const std::string& owner,
                             const std::map<std::string, std::string>& given);

// The options `method` runs with: its defaults, overridden by `given`. Throws naming the option when
// `given` holds an option this method does not take.
Options resolve_options(const MethodInfo& method, const std::map<std::string, std::string>& given);

// Loads the .npy files that `options` name (the options whose OptionSpec::names_file says so) into
// options.arrays. Callers (the CLI, the library API, the report) do this once, before running the method:
// the method computes on the arrays and reads no files. A missing or malformed file is load_npy's
// one-line error naming it.
void load_option_files(const MethodInfo& method, Options& options);
// The same for any option list (the metrics' options: --ground-truth G.npy).
void load_option_files(const std::vector<OptionSpec>& specs, Options& options);

// Comma-separated names of the registered methods ("cam, deconvnet, ...").
std::string method_names();

// `method` on `samples_per_pass` input rows at a time, the attributions stitched along axis 0 (in the dtype
// of the method's output, on the CPU): peak memory stays flat in the number of inputs (integrated gradients
// on 2,000 Fashion-MNIST images held every step's activations for all of them at once). Each pass gets
// first_sample = req.first_sample + its first row, so stochastic methods draw the same numbers as in one
// pass: the result is bit-identical to method.run(req) for every per-sample method. One pass when the input
// is not on the CPU, or when an option writes files per sample (attention --png-dir, erasure-flip --summary).
// The returned metadata (parameters, seed) are the first pass's.
Attribution run_in_chunks(const MethodInfo& method, const ExplainRequest& req, int64_t samples_per_pass = 256);

}  // namespace xdnn::explain
