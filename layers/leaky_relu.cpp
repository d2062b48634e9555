#include "layers/leaky_relu.h"

#include "engine/ops.h"

namespace xdnn {

std::vector<Tensor> LeakyReLU::forward(const std::vector<Tensor>& x, Saved& saved, const ForwardOptions&) {
  ops::expect_float(x.at(0), "LeakyReLU input");
  saved.put("x", x[0]);  // the sign of x picks the slope in backward
  return {ops::leaky_relu(x[0], slope_)};
}

std::vector<Tensor> LeakyReLU::backward(const std::vector<Tensor>& grad_y, const Saved& saved,
                                        const BackwardOptions& opt) {
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

std::vector<Tensor> LeakyReLU::relevance(const std::vector<Tensor>& relevance_y, const Saved&, const Rule&) {
  return {relevance_y.at(0)};
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
