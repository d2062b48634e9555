#include "layers/prelu.h"

#include "engine/ops.h"

namespace xdnn {

Shape PRelu::slope_view(const Shape& x) const {
  const Shape& s = slope_.value.shape();
  // A 1-D per-channel slope against (N, C, ...): align it with axis 1.
  if (s.size() == 1 && x.size() > 2 && s[0] == x[1] && s[0] != x.back()) {
    Shape v(x.size() - 1, 1);
    v[0] = s[0];
    return v;
  }
  return s;
}

// saved: "x"
Tensors PRelu::forward(const Tensors& x, Saved& saved, const ForwardOptions&) {
  const Tensor& t = x.at(0);
  ops::expect_float(t, "PRelu input");
  ops::expect_same_dtype(t, slope_.value, "PRelu input vs slope");
  saved.put("x", t);
  const Tensor s = slope_.value.reshape(slope_view(t.shape()));
  return {ops::add(ops::unary(ops::Unary::PositivePart, t), ops::mul(s, ops::unary(ops::Unary::NegativePart, t)))};
}

Tensors PRelu::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) {
  const Tensor& x = saved.tensor("x");
  const Tensor& g = grad_y.at(0);
  if (!g.defined()) return {Tensor()};
  const Shape view = slope_view(x.shape());
  const Tensor s = slope_.value.reshape(view);
  const Tensor pos = ops::unary(ops::Unary::Step, x);
  const Tensor neg = ops::add_scalar(ops::scale(pos, -1.0), 1.0);  // [x ≤ 0]
  const Tensor gx = ops::mul(g, ops::add(pos, ops::mul(s, neg)));
  const Tensor gs_full = ops::mul(g, ops::unary(ops::Unary::NegativePart, x));
  if (opt.param_grad == ParamGrad::Accumulate) {
    Tensor gs = ops::sum_to_shape(gs_full, view).reshape(slope_.value.shape());
    if (!slope_.grad.defined()) slope_.grad = Tensor(slope_.value.shape(), slope_.value.dtype(), slope_.value.device());
    ops::add_inplace(slope_.grad, gs);
  } else if (opt.param_grad == ParamGrad::PerExample) {
    const int64_t N = x.dim(0);
    Shape ps = slope_.value.shape();
    ps.insert(ps.begin(), N);
    slope_.grad = Tensor(ps, x.dtype());
    for (int64_t n = 0; n < N; ++n)
      slope_.grad.slice_batch(n, n + 1).copy_from(
          ops::sum_to_shape(gs_full.slice_batch(n, n + 1), view).reshape(slope_.grad.slice_batch(n, n + 1).shape()));
  }
  return {gx};
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration prelu_channel{
    {"PRelu/per-channel",
     [](Rng& rng) {
       return LayerExample{std::make_shared<PRelu>(Param{"prelu.weight", random_tensor({3}, rng, 0.1, 0.5), {}}),
                           {random_tensor({2, 3, 4}, rng)}};
     },
     /*has_kinks=*/true}};
LayerExampleRegistration prelu_shared{{"PRelu/shared",
                                       [](Rng& rng) {
                                         return LayerExample{
                                             std::make_shared<PRelu>(Param{"a", random_tensor({1}, rng, 0.1, 0.5), {}}),
                                             {random_tensor({2, 5}, rng)}};
                                       },
                                       /*has_kinks=*/true}};
}  // namespace
}  // namespace xdnn
