// Parsing option text that Options' typed accessors (explain/method.h) do not cover: integer lists, and
// numbers given outside an Options map (influence --lr lists, the library's influence options).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace xdnn::explain {

// "conv1,,fc1" -> {"conv1", "fc1"}: a comma-separated list of names, empty items dropped ("" -> {}).
std::vector<std::string> parse_name_list(const std::string& text);
// "1,5,5" -> {1, 5, 5}; throws naming --option on malformed text.
std::vector<int64_t> parse_int_list(const std::string& option, const std::string& text);

// The whole of `text` as a number (std::stod: decimal or hex, inf and nan allowed); otherwise an Error
// "WHAT: expected a number, got 'TEXT'".
double parse_number(const std::string& text, const std::string& what);

}  // namespace xdnn::explain
