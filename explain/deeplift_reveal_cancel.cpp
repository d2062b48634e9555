// DeepLIFT's RevealCancel rule (Shrikumar, Greenside & Kundaje 2017, §3.5.3, eq. 9-12) for an element-wise
// nonlinearity y = f(z) fed by a linear node z = W ⋆ x + b alone. The difference from reference of every
// z is split into the parts that positive and negative terms contribute (x̄, z̄, ȳ: the reference run):
//   Δz⁺ = Σ_i [w_i Δx_i > 0] w_i Δx_i = W⁺ ⋆ Δx⁺ + W⁻ ⋆ Δx⁻,   Δz⁻ = W⁻ ⋆ Δx⁺ + W⁺ ⋆ Δx⁻
// (W⁺ = max(W, 0), Δx⁺ = max(Δx, 0), ...; the bias cancels), and Δy is split by the average impact of each
// part added before and after the other (a two-player Shapley value):
//   Δy⁺ = ½ (f(z̄ + Δz⁺) − ȳ) + ½ (y − f(z̄ + Δz⁻)),   Δy⁻ = ½ (f(z̄ + Δz⁻) − ȳ) + ½ (y − f(z̄ + Δz⁺)),
// so Δy⁺ + Δy⁻ = y − ȳ exactly. Multipliers m⁺ = m_y Δy⁺/Δz⁺ and m⁻ = m_y Δy⁻/Δz⁻ (where |Δz^±| < 1e-10,
// the gradient m_y f'(z)), and back to x through the terms they came from:
//   m_x = W⁺ᵀ m⁺ + W⁻ᵀ m⁻  where Δx > 0,   W⁻ᵀ m⁺ + W⁺ᵀ m⁻  where Δx < 0,   ½ Wᵀ (m⁺ + m⁻)  where Δx = 0.
// Summation to delta holds: Σ_i m_x,i Δx_i = Σ_j m⁺_j Δz⁺_j + m⁻_j Δz⁻_j = Σ_j m_y,j Δy_j.
#include <cmath>
#include <string>

#include "engine/ops.h"
#include "explain/deeplift.h"

namespace xdnn::explain {
namespace {

constexpr double kMinDelta = 1e-10;

bool is_elementwise_nonlinearity(const std::string& kind) {
  return kind == "ReLU" || kind == "Sigmoid" || kind == "Tanh" || kind == "LeakyReLU" || kind == "ELU" ||
         kind == "Softplus";
}

// where(|dz| > 1e-10, num / dz, fallback), as q·use + fallback·(1 − use) with use = [|dz| > 1e-10]
// (|dz| − 1e-10 is 0 only at the threshold itself, where a host loop once divided).
Tensor ratio_or(const Tensor& num, const Tensor& dz, const Tensor& fallback) {
  const Tensor use = ops::unary(ops::Unary::Step, ops::add_scalar(ops::unary(ops::Unary::Abs, dz), -kMinDelta));
  const Tensor q = ops::where(use, ops::div(num, dz), Tensor({1}, num.dtype(), num.device()));
  return ops::add(ops::mul(q, use), ops::mul(fallback, ops::add_scalar(ops::scale(use, -1.0), 1.0)));
}

}  // namespace

int reveal_cancel_partner(const Model& model, int linear) {
  const Node& node = model.nodes()[linear];
  if (!node.layer->as_linear() || node.inputs.size() != 1 || node.outputs.size() != 1 || node.outputs[0] < 0) return -1;
  const int z = node.outputs[0];
  int consumer = -1, uses = 0;
  for (int k = 0; k < static_cast<int>(model.nodes().size()); ++k)
    for (int in : model.nodes()[k].inputs)
      if (in == z) consumer = k, ++uses;
  for (int out : model.outputs())
    if (out == z) ++uses;
  if (uses != 1 || consumer < 0) return -1;
  const Node& next = model.nodes()[consumer];
  if (!is_elementwise_nonlinearity(next.layer->kind()) || next.inputs.size() != 1 || next.outputs.size() != 1)
    return -1;
  return consumer;
}

Tensor reveal_cancel_multipliers(const Model& model, int linear, int nonlinear, const Tape& tape, const Tape& btape,
                                 const Tensor& m_y) {
  const Node& lin_node = model.nodes()[linear];
  const Node& act_node = model.nodes()[nonlinear];
  const LinearLike& lin = *lin_node.layer->as_linear();
  const Tensor& x = tape.values[lin_node.inputs[0]];
  const Tensor dx = ops::sub(x, btape.values[lin_node.inputs[0]]);
  const Tensor& W = lin.weight();
  const Tensor Wp = ops::unary(ops::Unary::PositivePart, W), Wn = ops::unary(ops::Unary::NegativePart, W);
  const Tensor dxp = ops::unary(ops::Unary::PositivePart, dx), dxn = ops::unary(ops::Unary::NegativePart, dx);
  const Tensor none;
  const Tensor dz_pos = ops::add(lin.linear_forward(dxp, Wp, none), lin.linear_forward(dxn, Wn, none));
  const Tensor dz_neg = ops::add(lin.linear_forward(dxp, Wn, none), lin.linear_forward(dxn, Wp, none));

  const Tensor& zb = btape.values[act_node.inputs[0]];
  const Tensor& y = tape.values[act_node.outputs[0]];
  const Tensor& yb = btape.values[act_node.outputs[0]];
  auto f = [&](const Tensor& z) {
    Saved scratch;
    return act_node.layer->forward({z}, scratch, ForwardOptions{}).at(0);
  };
  const Tensor f_pos = f(ops::add(zb, dz_pos)), f_neg = f(ops::add(zb, dz_neg));
  const Tensor dy_pos = ops::scale(ops::add(ops::sub(f_pos, yb), ops::sub(y, f_neg)), 0.5);
  const Tensor dy_neg = ops::scale(ops::add(ops::sub(f_neg, yb), ops::sub(y, f_pos)), 0.5);
  // The gradient m_y f'(z) where a part is (numerically) zero.
  const Tensor grad = act_node.layer->backward({m_y}, tape.saved[nonlinear], BackwardOptions{}).at(0);
  const Tensor m_pos = ratio_or(ops::mul(m_y, dy_pos), dz_pos, grad);
  const Tensor m_neg = ratio_or(ops::mul(m_y, dy_neg), dz_neg, grad);

  const Shape& xs = x.shape();
  const Tensor a = ops::add(lin.linear_backward_input(m_pos, Wp, xs), lin.linear_backward_input(m_neg, Wn, xs));
  const Tensor b = ops::add(lin.linear_backward_input(m_pos, Wn, xs), lin.linear_backward_input(m_neg, Wp, xs));
  // where(Δx > 0, a, Δx < 0, b, (a + b)/2): per element of x.
  const Tensor up = ops::unary(ops::Unary::Step, dx),
               down = ops::unary(ops::Unary::Step, ops::unary(ops::Unary::Neg, dx));
  const Tensor out = ops::where(up, a, ops::where(down, b, ops::scale(ops::add(a, b), 0.5)));
  return out;
}

}  // namespace xdnn::explain
