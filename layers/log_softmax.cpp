#include "layers/log_softmax.h"

#include "engine/ops.h"

namespace xdnn {

// saved: "y" (backward needs only the output)
Tensors LogSoftmax::forward(const Tensors& x, Saved& saved, const ForwardOptions&) {
  ops::expect_float(x.at(0), "LogSoftmax input");
  Tensor y = ops::log_softmax(x[0], axis_);
  saved.put("y", y);
  return {y};
}

Tensors LogSoftmax::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions&) {
  if (!grad_y.at(0).defined()) return {Tensor()};
  return {ops::log_softmax_backward(saved.tensor("y"), grad_y[0], axis_)};
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration log_softmax_last{
    {"LogSoftmax/last-axis", [](Rng& rng) {
       return LayerExample{std::make_shared<LogSoftmax>(), {random_tensor({3, 5}, rng, -3.0, 3.0)}};
     }}};
LayerExampleRegistration log_softmax_middle{
    {"LogSoftmax/axis1-of-3d", [](Rng& rng) {
       return LayerExample{std::make_shared<LogSoftmax>(1), {random_tensor({2, 4, 3}, rng, -3.0, 3.0)}};
     }}};
}  // namespace
}  // namespace xdnn
