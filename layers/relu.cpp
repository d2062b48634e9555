#include "layers/relu.h"

#include "engine/ops.h"

namespace xdnn {

std::vector<Tensor> ReLU::forward(const std::vector<Tensor>& x, Saved& saved, const ForwardOptions&) {
  saved.tensors = {x.at(0)};
  return {ops::unary(ops::Unary::Relu, x[0])};
}

std::vector<Tensor> ReLU::backward(const std::vector<Tensor>& grad_y, const Saved& saved, const BackwardOptions& opt) {
  const Tensor& x = saved.tensors.at(0);
  const Tensor& g = grad_y.at(0);
  if (!g.defined()) return {Tensor()};
  switch (opt.mode) {
    // One fused pass each: ReLU is the leaky ReLU of slope 0.
    case BackwardMode::Gradient:
      return {ops::leaky_relu_backward(x, g, 0.0, /*positive_grad_only=*/false)};
    case BackwardMode::GuidedBackprop:
      return {ops::leaky_relu_backward(x, g, 0.0, /*positive_grad_only=*/true)};
    case BackwardMode::DeconvNet:
      return {ops::unary(ops::Unary::PositivePart, g)};
  }
  return {Tensor()};
}

std::vector<Tensor> ReLU::relevance(const std::vector<Tensor>& relevance_y, const Saved&, const Rule&) {
  return {relevance_y.at(0)};
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

namespace xdnn {

// R-operator (Pearlmutter 1994): ReLU is piecewise linear, so a.e. it has no curvature term and both
// R-passes multiply by the forward mask [x > 0] — which is what the (diagonal) backward pass does.
std::vector<Tensor> ReLU::r_forward(const std::vector<Tensor>& rx, const std::vector<Tensor>&, const Saved& saved) {
  if (rx.empty() || !rx[0].defined()) return {Tensor()};
  return backward({rx[0]}, saved, BackwardOptions{});
}

std::vector<Tensor> ReLU::r_backward(const std::vector<Tensor>&, const std::vector<Tensor>& rgy,
                                     const std::vector<Tensor>&, const std::vector<Tensor>&, const Saved& saved,
                                     std::vector<Tensor>& rg_params) {
  return r_backward_by_backward(rgy, saved, rg_params);
}

}  // namespace xdnn
