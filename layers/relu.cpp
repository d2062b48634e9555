#include "layers/relu.h"

#include "engine/ops.h"

namespace xdnn {

// saved: "x", and "mask": in training mode the bit mask [x > 0] (ops::relu_with_mask), which the backward
// pass reads instead of x (a bit per element instead of a float); undefined otherwise.
Tensors ReLU::forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) {
  if (!opt.training || !x.at(0).is_float()) {
    saved.put("x", x.at(0));
    saved.put("mask", Tensor());
    return {ops::unary(ops::Unary::Relu, x[0])};
  }
  Tensor mask;
  Tensor y = ops::relu_with_mask(x[0], mask);
  saved.put("x", x[0]);
  saved.put("mask", mask);
  return {y};
}

Tensors ReLU::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) {
  const Tensor &x = saved.tensor("x"), &mask = saved.tensor("mask");
  const Tensor& g = grad_y.at(0);
  if (!g.defined()) return {Tensor()};
  const bool has_mask = mask.defined() && g.shape() == x.shape();
  switch (opt.mode) {
    // One fused pass each: ReLU is the leaky ReLU of slope 0 (from the training forward's mask, same bits).
    case BackwardMode::Gradient:
      if (has_mask) return {ops::relu_backward_mask(mask, g, /*positive_grad_only=*/false)};
      return {ops::leaky_relu_backward(x, g, 0.0, /*positive_grad_only=*/false)};
    case BackwardMode::GuidedBackprop:
      if (has_mask) return {ops::relu_backward_mask(mask, g, /*positive_grad_only=*/true)};
      return {ops::leaky_relu_backward(x, g, 0.0, /*positive_grad_only=*/true)};
    case BackwardMode::DeconvNet:
      return {ops::unary(ops::Unary::PositivePart, g)};
  }
  return {Tensor()};
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration relu_example{{"ReLU",
                                       [](Rng& rng) {
                                         return LayerExample{std::make_shared<ReLU>(), {random_tensor({3, 7}, rng)}};
                                       },
                                       /*has_kinks=*/true}};
}  // namespace
}  // namespace xdnn
