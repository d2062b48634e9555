// check(ok, message): the one-line validation of user-facing input. When `ok` is false it throws
// xdnn::Error(message, hint) and records where the check stands (file:line, from std::source_location),
// which the CLI appends to its error line in debug builds (NDEBUG undefined) so a developer finds the
// place; release builds print the user's one line only.
//
//   check(steps >= 1, "--steps must be >= 1");
//   check(x.ndim() == 4, "grad-cam: expected (N, C, H, W), got " + x.describe());
//
// A message given as a string literal costs nothing when the check passes; a built message (concatenated
// strings) is built every time, so inside element loops keep `if (!ok) throw Error(...)`.
#pragma once
#include <source_location>
#include <string>
#include <utility>

#include "engine/error.h"

namespace xdnn {

// A message and the place it was written. The implicit constructors take std::source_location::current()
// as a default argument, which is evaluated where the caller writes the message (the check's line).
class CheckMessage {
 public:
  CheckMessage(const char* literal, std::source_location where = std::source_location::current())
      : literal_(literal), where_(where) {}
  CheckMessage(std::string text, std::source_location where = std::source_location::current())
      : text_(std::move(text)), where_(where) {}
  std::string text() const { return literal_ ? std::string(literal_) : text_; }
  // "explain/attack.cpp:42": the path below the source root (build folders see "../explain/...").
  std::string place() const;

 private:
  const char* literal_ = nullptr;
  std::string text_;
  std::source_location where_;
};

[[noreturn]] void fail(const CheckMessage& message, std::string hint = {});

inline void check(bool ok, const CheckMessage& message) {
  if (!ok) fail(message);
}
inline void check(bool ok, const CheckMessage& message, std::string hint) {
  if (!ok) fail(message, std::move(hint));
}

}  // namespace xdnn
