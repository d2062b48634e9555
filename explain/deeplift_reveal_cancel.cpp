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

#include "engine/dispatch.h"
#include "engine/ops.h"
#include "explain/deeplift.h"

namespace xdnn::explain {
namespace {

constexpr double kMinDelta = 1e-10;

bool is_elementwise_nonlinearity(const std::string& kind) {
  return kind == "ReLU" || kind == "Sigmoid" || kind == "Tanh" || kind == "LeakyReLU" || kind == "ELU" ||
         kind == "Softplus";
}

// Element-wise map of one or two tensors of the same shape and dtype.
template <class Fn>
Tensor map2(const Tensor& a, const Tensor& b, Fn fn) {
  Tensor out(a.shape(), a.dtype());
  dispatch_float(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pa = a.data<T>();
    const T* pb = b.defined() ? b.data<T>() : pa;
    T* o = out.data<T>();
    for (int64_t i = 0, i_end = out.numel(); i < i_end; ++i) o[i] = static_cast<T>(fn(double(pa[i]), double(pb[i])));
  });
  return out;
}

// where(|dz| ≥ 1e-10, num / dz, fallback)
Tensor ratio_or(const Tensor& num, const Tensor& dz, const Tensor& fallback) {
  Tensor q = map2(num, dz, [](double n, double d) { return std::abs(d) >= kMinDelta ? n / d : 0.0; });
  Tensor use = map2(dz, Tensor(), [](double d, double) { return std::abs(d) >= kMinDelta ? 1.0 : 0.0; });
  return ops::add(ops::mul(q, use), ops::mul(fallback, ops::sub(Tensor::full(use.shape(), 1.0, use.dtype()), use)));
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
  const Tensor Wp = map2(W, Tensor(), [](double w, double) { return w > 0 ? w : 0.0; });
  const Tensor Wn = map2(W, Tensor(), [](double w, double) { return w < 0 ? w : 0.0; });
  const Tensor dxp = map2(dx, Tensor(), [](double d, double) { return d > 0 ? d : 0.0; });
  const Tensor dxn = map2(dx, Tensor(), [](double d, double) { return d < 0 ? d : 0.0; });
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
  Tensor out(xs, x.dtype());
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pd = dx.data<T>();
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* o = out.data<T>();
    for (int64_t i = 0, i_end = out.numel(); i < i_end; ++i)
      o[i] = pd[i] > 0 ? pa[i] : pd[i] < 0 ? pb[i] : (pa[i] + pb[i]) / T(2);
  });
  return out;
}

}  // namespace xdnn::explain
