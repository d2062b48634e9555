#include "layers/layer.h"

#include "engine/ops.h"
#include "layers/lrp_rules.h"

namespace xdnn {

Tensors Layer::relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule) {
  switch (relevance_pass()) {
    case RelevancePass::PassThrough:
      return {relevance_y.at(0)};
    case RelevancePass::Backward:
      return backward(relevance_y, saved, BackwardOptions{});
    case RelevancePass::Own:
      break;
  }
  if (const LinearLike* lin = as_linear()) return {linear_relevance(*lin, saved, relevance_y.at(0), rule)};
  std::string have;
  for (const auto& r : relevance_rules()) have += (have.empty() ? "" : ", ") + r;
  throw Error(std::string("layer kind ") + kind() + " has no LRP rule '" + rule.name + "'" +
              (have.empty() ? " (it has no relevance pass)" : "; it has: " + have));
}

std::vector<std::string> Layer::relevance_rules() const {
  if (relevance_pass() != RelevancePass::Own) return {"pass"};
  if (as_linear()) return linear_rule_names();
  return {};
}

// The R-operator of a linear-like layer y = W ⋆ x + b (Pearlmutter 1994, eqs. for a weighted sum):
//   R{y}   = W ⋆ R{x} + V_W ⋆ x + V_b
//   R{g_x} = Wᵀ ⋆ R{g_y} + V_Wᵀ ⋆ g_y
//   R{g_W} = gradW(R{g_y}, x) + gradW(g_y, R{x}),   R{g_b} = Σ R{g_y}
// The weight gradient is bilinear in (g_y, x), so the layer's own backward pass (ParamGrad::Accumulate)
// evaluates both of its terms; Param::grad is restored afterwards.
namespace {
struct LinearParams {
  int weight = -1, bias = -1;
};
LinearParams linear_params(const Layer& layer, const LinearLike& lin) {
  // Which parameter is the weight: the same storage (pointers compared on any device, nothing read).
  LinearParams lp;
  const auto ps = layer.read_params();
  for (size_t i = 0; i < ps.size(); ++i) {
    if (ps[i]->value.raw_device_data() == lin.weight().raw_device_data())
      lp.weight = static_cast<int>(i);
    else if (lin.bias().defined() && ps[i]->value.raw_device_data() == lin.bias().raw_device_data())
      lp.bias = static_cast<int>(i);
    else
      throw Error(std::string("layer kind ") + layer.kind() + ": R-operator: parameter '" + ps[i]->name +
                  "' is neither the weight nor the bias");
  }
  return lp;
}
const Tensor& entry(const Tensors& v, int i) {
  static const Tensor none;
  return i >= 0 && i < static_cast<int>(v.size()) ? v[i] : none;
}
[[noreturn]] void no_r_operator(const Layer& layer) {
  throw Error(std::string("layer kind ") + layer.kind() +
              " has no R-operator (forward-mode derivative), so exact Hessian-vector products cannot pass it");
}
}  // namespace

Tensors Layer::r_forward(const Tensors& rx, const Tensors& v, const Saved& saved) {
  const ROperator op = r_operator();
  if (op == ROperator::LinearInInput || op == ROperator::ElementwisePiecewiseLinear) {
    if (rx.empty() || !rx[0].defined()) return {Tensor()};
    if (op == ROperator::ElementwisePiecewiseLinear) return backward({rx[0]}, saved, BackwardOptions{});
    Saved scratch;
    return forward({rx[0]}, scratch, ForwardOptions{});
  }
  const LinearLike* lin = as_linear();
  if (!lin) no_r_operator(*this);
  const LinearParams lp = linear_params(*this, *lin);
  const Tensor& x = lin->saved_input(saved);
  const Tensor& VW = entry(v, lp.weight);
  const Tensor& Vb = entry(v, lp.bias);
  Tensor Ry;
  if (VW.defined() || Vb.defined())
    Ry = lin->linear_forward(
        x, VW.defined() ? VW : Tensor(lin->weight().shape(), lin->weight().dtype(), lin->weight().device()), Vb);
  if (!rx.empty() && rx[0].defined()) {
    Tensor t = lin->linear_forward(rx[0], lin->weight(), Tensor());
    if (Ry.defined())
      ops::add_inplace(Ry, t);
    else
      Ry = t;
  }
  return {Ry};
}

Tensors Layer::r_backward(const Tensors& gy, const Tensors& rgy, const Tensors& rx, const Tensors& v,
                          const Saved& saved, Tensors& rg_params) {
  if (r_operator() != ROperator::None) {  // no curvature term: R{g_x} = backward(R{g_y})
    rg_params.clear();
    return backward({rgy.empty() ? Tensor() : rgy[0]}, saved, BackwardOptions{});
  }
  const LinearLike* lin = as_linear();
  if (!lin) no_r_operator(*this);
  const LinearParams lp = linear_params(*this, *lin);
  const Tensor& x = lin->saved_input(saved);
  auto ps = params();
  Tensors kept;
  for (Param* p : ps) kept.push_back(p->grad);
  rg_params.assign(ps.size(), Tensor());
  BackwardOptions acc;
  acc.param_grad = ParamGrad::Accumulate;
  Tensor Rgx;
  if (!rgy.empty() && rgy[0].defined()) {
    for (Param* p : ps) p->grad = Tensor();
    Rgx = backward({rgy[0]}, saved, acc).at(0);  // Wᵀ ⋆ R{g_y}; gradW(R{g_y}, x), Σ R{g_y}
    for (size_t i = 0; i < ps.size(); ++i) rg_params[i] = ps[i]->grad;
  }
  const Tensor& g = gy.empty() ? Tensor() : gy[0];
  if (g.defined() && !rx.empty() && rx[0].defined() && lp.weight >= 0) {
    for (Param* p : ps) p->grad = Tensor();
    Saved s;
    forward({rx[0]}, s, ForwardOptions{});
    backward({g}, s, acc);  // gradW(g_y, R{x}) (its bias part is not a term of R{g_b})
    Tensor& w = rg_params[lp.weight];
    if (w.defined())
      ops::add_inplace(w, ps[lp.weight]->grad);
    else
      w = ps[lp.weight]->grad;
  }
  const Tensor& VW = entry(v, lp.weight);
  if (g.defined() && VW.defined()) {
    Tensor t = lin->linear_backward_input(g, VW, x.shape());
    if (Rgx.defined())
      ops::add_inplace(Rgx, t);
    else
      Rgx = t;
  }
  for (size_t i = 0; i < ps.size(); ++i) ps[i]->grad = kept[i];
  return {Rgx};
}

std::vector<const Param*> Layer::read_params() const {
  const std::vector<Param*> ps = const_cast<Layer*>(this)->params();
  return {ps.begin(), ps.end()};
}

Tensor LinearLike::weight_positive_part() const { return ops::unary(ops::Unary::PositivePart, weight()); }
Tensor LinearLike::weight_negative_part() const { return ops::unary(ops::Unary::NegativePart, weight()); }

Tensor grad_or_zeros(const Tensor& g, const Tensor& like) {
  if (g.defined()) return g;
  if (!like.defined()) throw Error("internal: missing gradient with no shape to default to");
  return Tensor(like.shape(), like.dtype(), like.device());
}

}  // namespace xdnn
