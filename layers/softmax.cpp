#include "layers/softmax.h"

#include "engine/ops.h"

namespace xdnn {

// saved: {y}
std::vector<Tensor> Softmax::forward(const std::vector<Tensor>& x, Saved& saved, const ForwardOptions&) {
  ops::expect_float(x.at(0), "Softmax input");
  Tensor y = ops::softmax(x[0], axis_);
  saved.tensors = {y};
  return {y};
}

std::vector<Tensor> Softmax::backward(const std::vector<Tensor>& grad_y, const Saved& saved, const BackwardOptions&) {
  if (!grad_y.at(0).defined()) return {Tensor()};
  return {ops::softmax_backward(saved.tensors.at(0), grad_y[0], axis_)};
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
