#include "layers/leaky_relu.h"

#include "engine/ops.h"

namespace xdnn {

Tensors LeakyReLU::forward(const Tensors& x, Saved& saved, const ForwardOptions&) {
  ops::expect_float(x.at(0), "LeakyReLU input");
  saved.put("x", x[0]);  // the sign of x picks the slope in backward
  return {ops::leaky_relu(x[0], slope_)};
}

Tensors LeakyReLU::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) {
  const Tensor& x = saved.tensor("x");
  const Tensor& g = grad_y.at(0);
  if (!g.defined()) return {Tensor()};
  switch (opt.mode) {
    case BackwardMode::Gradient:
      return {ops::leaky_relu_backward(x, g, slope_, false)};
    case BackwardMode::GuidedBackprop:
      return {ops::leaky_relu_backward(x, g, slope_, true)};
    case BackwardMode::DeconvNet:
      return {ops::unary(ops::Unary::PositivePart, g)};
  }
  return {Tensor()};
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration leaky_relu_example{
    {"LeakyReLU/slope0.2",
     [](Rng& rng) {
       return LayerExample{std::make_shared<LeakyReLU>(0.2), {random_tensor({3, 7}, rng)}};
     },
     /*has_kinks=*/true}};
}  // namespace
}  // namespace xdnn
