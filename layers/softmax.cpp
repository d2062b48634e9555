#include "layers/softmax.h"

#include "engine/ops.h"

namespace xdnn {

// saved: "y" (for backward), "x" (the logits, for the LRP rule)
Tensors Softmax::forward(const Tensors& x, Saved& saved, const ForwardOptions&) {
  ops::expect_float(x.at(0), "Softmax input");
  Tensor y = ops::softmax(x[0], axis_);
  saved.put("y", y);
  saved.put("x", x[0]);
  return {y};
}

Tensors Softmax::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions&) {
  if (!grad_y.at(0).defined()) return {Tensor()};
  return {ops::softmax_backward(saved.tensor("y"), grad_y[0], axis_)};
}

Tensors Softmax::relevance(const Tensors& ry, const Saved& saved, const Rule& rule) {
  if (rule.name != "epsilon")
    throw Error("layer kind Softmax has no LRP rule '" + rule.name + "'; it has: epsilon (AttnLRP, Prop. 3.1)");
  if (!ry.at(0).defined()) return {Tensor()};
  const Tensor &y = saved.tensor("y"), &x = saved.tensor("x");
  Shape reduced = y.shape();
  reduced.at(static_cast<size_t>(axis_ < 0 ? axis_ + y.ndim() : axis_)) = 1;
  const Tensor sumR = ops::sum_to_shape(ry[0], reduced);  // Σ_axis R_y, broadcast back below
  const Tensor R_x = ops::mul(x, ops::sub(ry[0], ops::mul(y, sumR)));
  // An entry masked to −∞ before the softmax (y = 0, R_y = 0) gets 0, not −∞ · 0 = NaN.
  return {ops::where(y, R_x, Tensor(y.shape(), y.dtype(), y.device()))};
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration softmax_last{
    {"Softmax/last-axis", [](Rng& rng) {
       return LayerExample{std::make_shared<Softmax>(), {random_tensor({3, 5}, rng, -3.0, 3.0)}};
     }}};
LayerExampleRegistration softmax_middle{
    {"Softmax/axis1-of-3d", [](Rng& rng) {
       return LayerExample{std::make_shared<Softmax>(1), {random_tensor({2, 4, 3}, rng, -3.0, 3.0)}};
     }}};
}  // namespace
}  // namespace xdnn
