#include "explain/finite.h"

#include "engine/ops_onnx.h"

namespace xdnn::explain {

// On the tensor's device (engine/ops_onnx.h): only the index comes back.
int64_t first_nonfinite(const Tensor& t) {
  if (!t.defined() || !t.is_float()) return -1;
  return ops::first_nonfinite(t);
}

}  // namespace xdnn::explain
