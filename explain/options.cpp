#include "explain/options.h"

#include <cerrno>
#include <cstdlib>
#include <exception>
#include <string>

#include "engine/error.h"

namespace xdnn::explain {

std::vector<int64_t> parse_int_list(const std::string& option, const std::string& text) {
  std::vector<int64_t> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    const char* s = item.c_str();
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(s, &end, 10);
    if (item.empty() || end == s || *end != '\0' || errno == ERANGE)
      throw Error("--" + option + " " + text + ": expected comma-separated integers such as 1,5,5");
    out.push_back(v);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

double parse_number(const std::string& text, const std::string& what) {
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  throw Error(what + ": expected a number, got '" + text + "'");
}

}  // namespace xdnn::explain
