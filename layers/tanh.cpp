#include "layers/tanh.h"

#include "engine/ops.h"

namespace xdnn {

// saved: "y" (backward needs only the output)
Tensors Tanh::forward(const Tensors& x, Saved& saved, const ForwardOptions&) {
  ops::expect_float(x.at(0), "Tanh input");
  Tensor y = ops::unary(ops::Unary::Tanh, x[0]);
  saved.put("y", y);
  return {y};
}

Tensors Tanh::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions&) {
  if (!grad_y.at(0).defined()) return {Tensor()};
  return {ops::tanh_backward(saved.tensor("y"), grad_y[0])};
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration tanh_example{
    {"Tanh", [](Rng& rng) {
       return LayerExample{std::make_shared<Tanh>(), {random_tensor({2, 3, 4}, rng, -3.0, 3.0)}};
     }}};
}  // namespace
}  // namespace xdnn
