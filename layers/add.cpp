#include "layers/add.h"

#include "engine/ops.h"
#include "layers/lrp_rules.h"

namespace xdnn {

// saved: "a", "b" (the summands: backward sums gradients back to their shapes, LRP splits by them)
Tensors Add::forward(const Tensors& x, Saved& saved, const ForwardOptions&) {
  if (x.size() != 2) throw Error("Add: expected 2 inputs, got " + std::to_string(x.size()));
  ops::expect_float(x[0], "Add input a");
  ops::expect_float(x[1], "Add input b");
  ops::expect_same_dtype(x[0], x[1], "Add inputs");
  saved.put("a", x[0]);
  saved.put("b", x[1]);
  return {ops::add(x[0], x[1])};
}

Tensors Add::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions&) {
  const Tensor& g = grad_y.at(0);
  if (!g.defined()) return {Tensor(), Tensor()};
  const Tensor& a = saved.tensor("a");
  const Tensor& b = saved.tensor("b");
  // sum_to_shape returns g itself when no axis was broadcast; clone so the two grads never alias.
  Tensor ga = ops::sum_to_shape(g, a.shape()), gb = ops::sum_to_shape(g, b.shape());
  if (a.shape() == g.shape() && b.shape() == g.shape()) gb = gb.clone();
  return {ga, gb};
}

Tensors Add::relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule) {
  bool known = rule.name == "norm" || rule.name == "proportional";
  for (const auto& n : linear_rule_names()) known = known || rule.name == n;
  if (!known) throw Error("layer kind Add has no LRP rule '" + rule.name + "'; it has: norm, proportional");
  const Tensor& a = saved.tensor("a");
  const Tensor& b = saved.tensor("b");
  const Tensor& R = relevance_y.at(0);
  if (!R.defined()) return {Tensor(a.shape(), a.dtype(), a.device()), Tensor(b.shape(), b.dtype(), b.device())};
  const Tensor s = ops::div(R, ops::stabilize(ops::add(a, b), rule.stabilizer));
  return {ops::sum_to_shape(ops::mul(a, s), a.shape()), ops::sum_to_shape(ops::mul(b, s), b.shape())};
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration add_same{{"Add/same-shape", [](Rng& rng) {
                                     Tensor a = random_tensor({2, 3, 4}, rng), b = random_tensor({2, 3, 4}, rng);
                                     return LayerExample{std::make_shared<Add>(), {a, b}};
                                   }}};
LayerExampleRegistration add_broadcast{{"Add/broadcast", [](Rng& rng) {
                                          Tensor a = random_tensor({2, 3, 4}, rng), b = random_tensor({3, 1}, rng);
                                          return LayerExample{std::make_shared<Add>(), {a, b}};
                                        }}};
}  // namespace
}  // namespace xdnn

namespace xdnn {

// R-operator (Pearlmutter 1994): y = a + b is linear, so R{y} = R{a} + R{b} and R{g} = backward(R{g_y}).
Tensors Add::r_forward(const Tensors& rx, const Tensors&, const Saved& saved) {
  const Tensor& a = saved.tensor("a");
  const Tensor& b = saved.tensor("b");
  const bool ra = rx.size() > 0 && rx[0].defined(), rb = rx.size() > 1 && rx[1].defined();
  if (!ra && !rb) return {Tensor()};
  Saved scratch;
  return forward(
      {ra ? rx[0] : Tensor(a.shape(), a.dtype(), a.device()), rb ? rx[1] : Tensor(b.shape(), b.dtype(), b.device())},
      scratch, ForwardOptions{});
}

}  // namespace xdnn
