// Text from a file (an ONNX node name, a decoder's message quoting a chunk type) as it may appear in a
// one-line error: control characters become \xNN, so hostile bytes cannot split the message.
#pragma once
#include <string>

namespace xdnn {

inline std::string printable_name(const std::string& name) {
  std::string out;
  for (unsigned char c : name) {
    if (c >= 0x20 && c != 0x7f) {
      out += static_cast<char>(c);
    } else {
      const char* hex = "0123456789abcdef";
      out += std::string("\\x") + hex[c >> 4] + hex[c & 15];
    }
  }
  return out;
}

}  // namespace xdnn
