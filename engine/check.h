// check(ok, message): the one-line validation of user-facing input. When `ok` is false it throws
// xdnn::Error(message, hint) and records where the check stands (file:line, from __builtin_FILE/LINE),
// which the CLI appends to its error line in debug builds (NDEBUG undefined) so a developer finds the
// place; release builds print the user's one line only.
//
//   check(steps >= 1, "--steps must be >= 1");
//   check(x.ndim() == 4, "grad-cam: expected (N, C, H, W), got " + x.describe());
//
// A message given as a string literal costs nothing when the check passes; a built message (concatenated
// strings) is built every time, so inside element loops keep `if (!ok) throw Error(...)`.
#pragma once
#include <string>
#include <utility>

#include "engine/error.h"

namespace xdnn {

// A message and the place it was written. The implicit constructors take __builtin_FILE() and
// __builtin_LINE() as default arguments, which are evaluated where the caller writes the message (the
// check's line). Not std::source_location: clang 14 (the fuzzing build) cannot compile libstdc++ 12's
// <source_location>, while both compilers have had these builtins for years.
class CheckMessage {
 public:
  CheckMessage(const char* literal, const char* file = __builtin_FILE(), int line = __builtin_LINE())
      : literal_(literal), file_(file), line_(line) {}
  CheckMessage(std::string text, const char* file = __builtin_FILE(), int line = __builtin_LINE())
      : text_(std::move(text)), file_(file), line_(line) {}
  std::string text() const { return literal_ ? std::string(literal_) : text_; }
  // "explain/attack.cpp:42": the path below the source root (build folders see "../explain/...").
  std::string place() const;

 private:
  const char* literal_ = nullptr;
  std::string text_;
  const char* file_;
  int line_;
};

[[noreturn]] void fail(const CheckMessage& message, std::string hint = {});

inline void check(bool ok, const CheckMessage& message) {
  if (!ok) fail(message);
}
inline void check(bool ok, const CheckMessage& message, std::string hint) {
  if (!ok) fail(message, std::move(hint));
}

}  // namespace xdnn
