// xdnn errors. Library code throws xdnn::Error and never exits; the CLI catches it, prints one line
// (plus optional "hint:" lines) and returns a non-zero status.
#pragma once
#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace xdnn {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what, std::string hint = {}) : std::runtime_error(what), hint_(std::move(hint)) {}
  const std::string& hint() const { return hint_; }
  // Where a check() failed ("engine/x.cpp:12", engine/check.h); empty for a plain throw.
  const std::string& where() const { return where_; }
  Error& at(std::string where) {
    where_ = std::move(where);
    return *this;
  }

 private:
  std::string hint_;
  std::string where_;
};

// Up to `max` characters of s with non-printable bytes escaped (\xNN), so that names and values read
// from a malformed file keep an error message on one line.
inline std::string printable(std::string_view s, size_t max = 80) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 32 && c < 127) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > max) out += "...";
  return out;
}

}  // namespace xdnn
