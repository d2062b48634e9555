#include "layers/dropout.h"

#include "engine/ops.h"

namespace xdnn {

Dropout::Dropout(double p) : p_(p) {
  if (!(p >= 0.0 && p <= 1.0)) throw Error("Dropout: probability " + std::to_string(p) + " is outside [0, 1]");
}

// saved: "mask", the scaled keep mask in training; undefined in evaluation (the identity)
Tensors Dropout::forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) {
  ops::expect_float(x.at(0), "Dropout input");
  saved.put("mask", Tensor());
  if (!opt.training || p_ == 0.0) return {x[0]};
  if (!opt.rng) throw Error("Dropout: training mode needs ForwardOptions::rng for the dropout mask");
  // Drawn serially on the host from opt.rng (the same mask on every device and for any thread count) and
  // copied to the input's device, as ops::fill_uniform_inplace does for parameters.
  Tensor mask = ops::dropout_mask(x[0].shape(), p_, *opt.rng, x[0].dtype()).to(x[0].device());
  saved.put("mask", mask);
  return {ops::mul(x[0], mask)};
}

Tensors Dropout::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions&) {
  const Tensor &g = grad_y.at(0), &mask = saved.tensor("mask");
  if (!g.defined() || !mask.defined()) return {g};
  return {ops::mul(g, mask)};
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration dropout_train{{"Dropout/training-p0.4", [](Rng& rng) {
                                          LayerExample ex{std::make_shared<Dropout>(0.4), {random_tensor({4, 6}, rng)}};
                                          ex.forward_options.training = true;
                                          return ex;
                                        }}};
LayerExampleRegistration dropout_eval{
    {"Dropout/eval", [](Rng& rng) {
       return LayerExample{std::make_shared<Dropout>(0.4), {random_tensor({4, 6}, rng)}};
     }}};
}  // namespace
}  // namespace xdnn
