#include "layers/gelu.h"

#include "engine/ops.h"

namespace xdnn {

Tensors GELU::forward(const Tensors& x, Saved& saved, const ForwardOptions&) {
  ops::expect_float(x.at(0), "GELU input");
  saved.put("x", x[0]);  // GELU'(x) for backward
  return {ops::gelu(x[0], tanh_)};
}

Tensors GELU::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions&) {
  if (!grad_y.at(0).defined()) return {Tensor()};
  return {ops::mul(grad_y[0], ops::gelu_derivative(saved.tensor("x"), tanh_))};
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration gelu_exact{
    {"GELU/erf", [](Rng& rng) {
       return LayerExample{std::make_shared<GELU>(false), {random_tensor({3, 6}, rng, -3.0, 3.0)}};
     }}};
LayerExampleRegistration gelu_tanh{
    {"GELU/tanh", [](Rng& rng) {
       return LayerExample{std::make_shared<GELU>(true), {random_tensor({3, 6}, rng, -3.0, 3.0)}};
     }}};
}  // namespace
}  // namespace xdnn
