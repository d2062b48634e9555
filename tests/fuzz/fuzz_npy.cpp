// libFuzzer harness for the .npy parser. Property: for any bytes, parse_npy either returns a tensor
// or throws xdnn::Error with a one-line message; anything else (a crash, a sanitizer report, another
// exception type) is a bug. Accepted inputs must also survive a write/read round trip.
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/error.h"
#include "models/io/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  xdnn::Tensor t;
  try {
    t = xdnn::parse_npy(bytes, "fuzz.npy");
  } catch (const xdnn::Error& e) {
    const std::string msg = e.what();
    if (msg.empty() || msg.find('\n') != std::string::npos) __builtin_trap();  // messages are one line
    return 0;
  }
  // Whatever parsed must write and read back to the same tensor.
  if (!xdnn::bitwise_equal(xdnn::parse_npy(xdnn::npy_bytes(t), "roundtrip.npy"), t)) __builtin_trap();
  return 0;
}
