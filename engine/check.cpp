#include "engine/check.h"

namespace xdnn {

std::string CheckMessage::place() const {
  std::string file = file_;
  // Meson compiles "../engine/x.cpp" from the build folder; an absolute path keeps its last two parts.
  while (file.rfind("../", 0) == 0) file.erase(0, 3);
  if (!file.empty() && file[0] == '/') {
    const size_t last = file.rfind('/');
    const size_t before = last == 0 ? std::string::npos : file.rfind('/', last - 1);
    if (before != std::string::npos) file.erase(0, before + 1);
  }
  return file + ":" + std::to_string(line_);
}

void fail(const CheckMessage& message, std::string hint) {
  throw Error(message.text(), std::move(hint)).at(message.place());
}

}  // namespace xdnn
