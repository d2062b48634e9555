// libFuzzer harness for the safetensors parser. Property: for any bytes, parse_safetensors either
// returns tensors or throws xdnn::Error with a one-line message; anything else (a crash, a sanitizer
// report, another exception type) is a bug. Accepted inputs must also survive a write/read round trip.
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/error.h"
#include "models/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  xdnn::TensorList tensors;
  xdnn::Metadata metadata;
  try {
    tensors = xdnn::parse_safetensors(bytes, "fuzz.safetensors", &metadata);
  } catch (const xdnn::Error& e) {
    const std::string msg = e.what();
    if (msg.empty() || msg.find('\n') != std::string::npos) __builtin_trap();  // messages are one line
    return 0;
  }
  // Whatever parsed must write and read back to the same tensors, order and metadata.
  xdnn::Metadata metadata2;
  xdnn::TensorList again =
      xdnn::parse_safetensors(xdnn::safetensors_bytes(tensors, metadata), "roundtrip.safetensors", &metadata2);
  if (again.size() != tensors.size() || metadata2 != metadata) __builtin_trap();
  for (size_t i = 0; i < again.size(); ++i)
    if (again[i].first != tensors[i].first || !xdnn::bitwise_equal(again[i].second, tensors[i].second))
      __builtin_trap();
  return 0;
}
