// Parsing option text that Options' typed accessors (explain/method.h) do not cover: integer lists.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace xdnn::explain {

// "1,5,5" -> {1, 5, 5}; throws naming --option on malformed text.
std::vector<int64_t> parse_int_list(const std::string& option, const std::string& text);

}  // namespace xdnn::explain
