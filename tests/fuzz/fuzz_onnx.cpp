// libFuzzer harness for the ONNX importer. Property: for any bytes, parsing + import + one forward
// pass on a zero input of the declared shape either succeeds or throws xdnn::Error with a one-line
// message; a crash, a sanitizer report or another exception type is a bug.
// Seed corpus: tests/golden/models/*.onnx and the libonnx-testdata models (see README.md).
#include <onnx/onnx_pb.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/error.h"
#include "models/onnx/import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  onnx::ModelProto proto;
  if (!proto.ParseFromArray(data, static_cast<int>(size))) return 0;  // the file reader reports this case
  try {
    xdnn::Model model = xdnn::import_onnx_model(proto, "fuzz.onnx");
    xdnn::Shape shape = model.input_shape;
    int64_t numel = 1;
    for (auto& d : shape) {
      if (d < 0) d = 1;
      numel *= d;
    }
    if (numel > (1 << 16)) return 0;  // keep each run small
    shape.insert(shape.begin(), 1);
    model.predict(xdnn::Tensor(shape, model.input_dtype));
  } catch (const xdnn::Error& e) {
    const std::string msg = e.what();
    if (msg.empty() || msg.find('\n') != std::string::npos) __builtin_trap();  // messages are one line
  }
  return 0;
}
