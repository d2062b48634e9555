// Helpers around the method registry (explain/method.h) for callers that take options from users: the
// union of all methods' options (what the CLI declares), and resolving one method's options (defaults
// filled in, options of other methods rejected with a one-line error).
//
// Flag convention: an OptionSpec whose default_value is "false" is a boolean switch (`--upsample`); the
// CLI declares it without a value and stores "true" when it is given.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "explain/method.h"

namespace xdnn::explain {

inline bool is_flag(const OptionSpec& spec) { return spec.default_value == "false"; }

// Every option of every registered method, each name once (the first method's spec wins), sorted.
std::vector<OptionSpec> all_method_options();

// The options `method` runs with: its defaults, overridden by `given`. Throws naming the option when
// `given` holds an option this method does not take.
Options resolve_options(const MethodInfo& method, const std::map<std::string, std::string>& given);

// Comma-separated names of the registered methods ("cam, deconvnet, ...").
std::string method_names();

}  // namespace xdnn::explain
