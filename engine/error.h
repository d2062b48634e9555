// xdnn errors. Library code throws xdnn::Error and never exits; the CLI catches it, prints one line
// (plus optional "hint:" lines) and returns a non-zero status.
#pragma once
#include <stdexcept>
#include <string>

namespace xdnn {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what, std::string hint = {}) : std::runtime_error(what), hint_(std::move(hint)) {}
  const std::string& hint() const { return hint_; }

 private:
  std::string hint_;
};

}  // namespace xdnn
