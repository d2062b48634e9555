#include "layers/global_avg_pool.h"

#include "engine/ops.h"
#include "layers/lrp_rules.h"

namespace xdnn {
namespace {

// x viewed as (N, C, 1, S) with one window covering all S positions.
Tensor as_4d(const Tensor& x) {
  if (!x.defined() || !x.is_float() || x.ndim() < 3)
    throw Error("GlobalAvgPool: expected input (N, C, H, W) or (N, C, L), got " +
                (x.defined() ? x.describe() : std::string("an undefined tensor")));
  int64_t S = 1;  // explicit, not -1: an empty batch has no size to infer it from
  for (int i = 2; i < x.ndim(); ++i) S *= x.dim(i);
  return x.reshape({x.dim(0), x.dim(1), 1, S});
}

ops::Pool2dGeometry whole(const Tensor& x4) {
  ops::Pool2dGeometry g;
  g.kernel_w = x4.dim(3);
  return g;
}

Shape out_shape(const Tensor& x) {
  Shape s = x.shape();
  for (size_t i = 2; i < s.size(); ++i) s[i] = 1;
  return s;
}

}  // namespace

// saved: "x" (its shape for backward; its values for the LRP norm rule)
Tensors GlobalAvgPool::forward(const Tensors& x, Saved& saved, const ForwardOptions&) {
  const Tensor x4 = as_4d(x.at(0));
  saved.put("x", x[0]);
  return {ops::avgpool2d_forward(x4, whole(x4), ops::PoolDivisor::WindowExcludingPad).reshape(out_shape(x[0]))};
}

Tensors GlobalAvgPool::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions&) {
  if (!grad_y.at(0).defined()) return {Tensor()};
  const Tensor& x = saved.tensor("x");
  const Tensor x4 = as_4d(x);
  return {ops::avgpool2d_backward(grad_y[0].reshape({x4.dim(0), x4.dim(1), 1, 1}), x4.shape(), whole(x4),
                                  ops::PoolDivisor::WindowExcludingPad)
              .reshape(x.shape())};
}

Tensors GlobalAvgPool::relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule) {
  const Tensor& x = saved.tensor("x");
  bool known = rule.name == "norm";
  for (const auto& n : linear_rule_names()) known = known || rule.name == n;
  if (!known) throw Error("layer kind GlobalAvgPool has no LRP rule '" + rule.name + "'; it has: norm");
  if (!relevance_y.at(0).defined()) return {Tensor(x.shape(), x.dtype(), x.device())};
  const Tensor x4 = as_4d(x);
  const ops::Pool2dGeometry g = whole(x4);
  const Tensor z = ops::avgpool2d_forward(x4, g, ops::PoolDivisor::WindowExcludingPad);  // P x: (N, C, 1, 1)
  const Tensor s = ops::div(relevance_y[0].reshape(z.shape()), ops::stabilize(z, rule.stabilizer));
  return {
      ops::mul(x4, ops::avgpool2d_backward(s, x4.shape(), g, ops::PoolDivisor::WindowExcludingPad)).reshape(x.shape())};
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration gap_2d{
    {"GlobalAvgPool/2d", [](Rng& rng) {
       return LayerExample{std::make_shared<GlobalAvgPool>(), {random_tensor({2, 3, 4, 5}, rng)}};
     }}};
LayerExampleRegistration gap_1d{
    {"GlobalAvgPool/1d", [](Rng& rng) {
       return LayerExample{std::make_shared<GlobalAvgPool>(), {random_tensor({2, 3, 7}, rng)}};
     }}};
}  // namespace
}  // namespace xdnn
