// LRP rules for linear-like layers. Each rule is one short function over the layer's two maps
// (forward with substitute weights, input VJP), following the table in ../shared/golden/README.md:
//
//   zero/epsilon  z = Wx + b;  R_in = x ⊙ Wᵀ(R / stab_ε(z))                          (Bach et al. 2015)
//   zplus         z = W⁺x⁺ + W⁻x⁻ + b⁺;  R_in = x⁺ ⊙ W⁺ᵀs + x⁻ ⊙ W⁻ᵀs, s = R/stab_δ(z)   (Montavon et al. 2017)
//   alpha-beta    α(x⁺ ⊙ W⁺ᵀs + x⁻ ⊙ W⁻ᵀs) − β(x⁺ ⊙ W⁻ᵀt + x⁻ ⊙ W⁺ᵀt)                (Bach et al. 2015)
//   gamma         generalised form with W_γ± = W + γW± (Montavon et al. 2019, §10.2.3; Zennit's Gamma)
//   box (z^B)     z = Wx − W⁺L − W⁻H (+b − b⁺ − b⁻);  R_in = x ⊙ Wᵀs − L ⊙ W⁺ᵀs − H ⊙ W⁻ᵀs
//   w2            R_in = W²ᵀ(R / Σ_i W²)                                              (Montavon et al. 2017)
//   flat          R_in = 1ᵀ(R / Σ_i 1)                                                (Lapuschkin et al. 2019)
//
// Deep Taylor decomposition (Montavon et al. 2017) yields exactly zplus (for ReLU inputs, x ≥ 0) and
// box/z^B (for inputs bounded in [L, H]); they are its instances, not separate code.
// bias_in_denominator = false drops b (and b±) from every denominator: conservation becomes exact.
#include "layers/lrp_rules.h"

#include "engine/ops.h"
#include "engine/ops_fill.h"

namespace xdnn {
namespace {

using ops::Unary;

Tensor pos(const Tensor& t) { return t.defined() ? ops::unary(Unary::PositivePart, t) : Tensor(); }
Tensor neg(const Tensor& t) { return t.defined() ? ops::unary(Unary::NegativePart, t) : Tensor(); }

Tensor scaled_sum(const Tensor& a, double s, const Tensor& b) {  // a + s b (b may be undefined)
  if (!b.defined()) return a;
  if (!a.defined()) return ops::scale(b, s);
  return ops::add(a, ops::scale(b, s));
}

struct Maps {
  const LinearLike& layer;
  const Shape& x_shape;
  // The forward pass's own W ⋆ x + b when the layer kept it (Saved "z": Conv2d, Linear) and the rule's b is the
  // layer's bias; undefined otherwise. The same call made it, so reusing it changes no bit and saves one
  // product per rule that needs the plain pre-activation (epsilon, gamma, box).
  Tensor saved_z;
  Tensor fwd(const Tensor& x, const Tensor& W, const Tensor& b) const { return layer.linear_forward(x, W, b); }
  // W ⋆ x + b for the layer's own input, weight and bias (the rule's b): the kept value, or computed.
  Tensor plain(const Tensor& x, const Tensor& W, const Tensor& b) const {
    return saved_z.defined() ? saved_z : fwd(x, W, b);
  }
  Tensor vjp(const Tensor& s, const Tensor& W) const { return layer.linear_backward_input(s, W, x_shape); }
  // W⁺ and W⁻ of the layer's own weight as the layer gives them (a frozen Conv2d keeps them, and the flipped
  // forms its input gradient reads); of any other W, built here.
  Tensor pos_w(const Tensor& W) const { return &W == &layer.weight() ? layer.weight_positive_part() : pos(W); }
  Tensor neg_w(const Tensor& W) const { return &W == &layer.weight() ? layer.weight_negative_part() : neg(W); }
};

Tensor epsilon_rule(const Maps& m, const Tensor& x, const Tensor& W, const Tensor& b, const Tensor& R, double eps) {
  Tensor z = m.plain(x, W, b);
  Tensor s = ops::div(R, ops::stabilize(z, eps));
  return ops::mul(x, m.vjp(s, W));
}

// Inputs after a ReLU (and images in [0, 1]) have no negative part: the x⁻ terms of the sign-split rules
// are then exactly zero, and skipping them halves the convolutions (W⁻x⁻ = 0 and x⁻ ⊙ (·) = 0 add
// nothing, so the result is the same to the bit). neg(x) sums to 0 only when every entry is 0, in any
// summation order (adding non-positive values never rounds a non-zero sum to 0). ops::sum_all is one serial
// chain of double additions (~4 cycles an element: 2.4 % of epsilon-plus on fashion-cnn, perf), so the
// columns of a (rows, cols) view are summed first by a product with a row of ones, whose columns are
// independent vector lanes, and only the cols column sums go through sum_all.
bool all_zero(const Tensor& xn) {
  if (xn.numel() == 0) return true;
  int64_t cols = 1;
  for (int d = xn.ndim(); d > 0 && cols < 256;) cols *= xn.dim(--d);
  const int64_t rows = xn.numel() / cols;
  if (rows < 2) return ops::sum_all(xn) == 0.0;
  const Tensor ones = ops::full({1, rows}, 1.0, xn.dtype(), xn.device());
  return ops::sum_all(ops::matmul(ones, xn.reshape({rows, cols}))) == 0.0;  // (1, rows) (rows, cols)
}

Tensor zplus_rule(const Maps& m, const Tensor& x, const Tensor& W, const Tensor& b, const Tensor& R, double delta) {
  Tensor xn = neg(x), Wp = m.pos_w(W);
  const bool nonneg = all_zero(xn);
  Tensor xp = nonneg ? x : pos(x);  // x⁺ = x when nothing is negative
  if (nonneg) {
    Tensor s = ops::div(R, ops::stabilize(m.fwd(xp, Wp, pos(b)), delta));
    return ops::mul(xp, m.vjp(s, Wp));
  }
  Tensor Wn = m.neg_w(W);
  Tensor z = ops::add(m.fwd(xp, Wp, pos(b)), m.fwd(xn, Wn, Tensor()));
  Tensor s = ops::div(R, ops::stabilize(z, delta));
  return ops::add(ops::mul(xp, m.vjp(s, Wp)), ops::mul(xn, m.vjp(s, Wn)));
}

Tensor alpha_beta_rule(const Maps& m, const Tensor& x, const Tensor& W, const Tensor& b, const Tensor& R, double alpha,
                       double beta, double delta) {
  Tensor xn = neg(x), Wp = m.pos_w(W), Wn = m.neg_w(W);
  const bool nonneg = all_zero(xn);
  Tensor xp = nonneg ? x : pos(x);
  if (nonneg) {
    Tensor s = ops::div(R, ops::stabilize(m.fwd(xp, Wp, pos(b)), delta));
    Tensor t = ops::div(R, ops::stabilize(m.fwd(xp, Wn, neg(b)), delta));
    return ops::sub(ops::scale(ops::mul(xp, m.vjp(s, Wp)), alpha), ops::scale(ops::mul(xp, m.vjp(t, Wn)), beta));
  }
  Tensor p = ops::add(m.fwd(xp, Wp, pos(b)), m.fwd(xn, Wn, Tensor()));
  Tensor q = ops::add(m.fwd(xp, Wn, neg(b)), m.fwd(xn, Wp, Tensor()));
  Tensor s = ops::div(R, ops::stabilize(p, delta));
  Tensor t = ops::div(R, ops::stabilize(q, delta));
  Tensor rp = ops::add(ops::mul(xp, m.vjp(s, Wp)), ops::mul(xn, m.vjp(s, Wn)));
  Tensor rn = ops::add(ops::mul(xp, m.vjp(t, Wn)), ops::mul(xn, m.vjp(t, Wp)));
  return ops::sub(ops::scale(rp, alpha), ops::scale(rn, beta));
}

Tensor gamma_rule(const Maps& m, const Tensor& x, const Tensor& W, const Tensor& b, const Tensor& R, double gamma,
                  double delta) {
  Tensor xn = neg(x);
  const bool nonneg = all_zero(xn);
  Tensor xp = nonneg ? x : pos(x);
  Tensor o = m.plain(x, W, b);
  Tensor mask_pos = ops::unary(Unary::Step, o);                          // [o > 0]
  Tensor mask_neg = ops::unary(Unary::Step, ops::unary(Unary::Neg, o));  // [o < 0]
  if (nonneg) {
    // With x ≥ 0 the two modified products follow from o = Wx + b and one more product q = W⁺x + b⁺,
    // because W⁻ = W − W⁺ and b⁻ = b − b⁺ exactly:
    //   u = (W + γW⁺)x + b + γb⁺ = o + γq,     v = (W + γW⁻)x + b + γb⁻ = (1 + γ)o − γq,
    //   R_in = x ⊙ [(W + γW⁺)ᵀs + (W + γW⁻)ᵀt] = x ⊙ [Wᵀ(s + (1 + γ)t) + γ W⁺ᵀ(s − t)].
    // One forward and no extra weight tensors instead of two forwards with W ± γW±.
    Tensor Wp = m.pos_w(W);
    Tensor q = m.fwd(xp, Wp, pos(b));
    Tensor u = ops::add(o, ops::scale(q, gamma));
    Tensor v = ops::sub(ops::scale(o, 1.0 + gamma), ops::scale(q, gamma));
    Tensor s = ops::div(ops::mul(mask_pos, R), ops::stabilize(u, delta));
    Tensor t = ops::div(ops::mul(mask_neg, R), ops::stabilize(v, delta));
    Tensor through_w = m.vjp(ops::add(s, ops::scale(t, 1.0 + gamma)), W);
    Tensor through_wp = m.vjp(ops::sub(s, t), Wp);
    return ops::mul(xp, ops::add(through_w, ops::scale(through_wp, gamma)));
  }
  Tensor Wgp = scaled_sum(W, gamma, m.pos_w(W)), Wgn = scaled_sum(W, gamma, m.neg_w(W));
  Tensor bgp = b.defined() ? scaled_sum(b, gamma, pos(b)) : Tensor();
  Tensor bgn = b.defined() ? scaled_sum(b, gamma, neg(b)) : Tensor();
  Tensor u = ops::add(m.fwd(xp, Wgp, bgp), m.fwd(xn, Wgn, Tensor()));
  Tensor v = ops::add(m.fwd(xp, Wgn, bgn), m.fwd(xn, Wgp, Tensor()));
  Tensor s = ops::div(ops::mul(mask_pos, R), ops::stabilize(u, delta));
  Tensor t = ops::div(ops::mul(mask_neg, R), ops::stabilize(v, delta));
  Tensor r = ops::add(ops::mul(xp, m.vjp(s, Wgp)), ops::mul(xn, m.vjp(s, Wgn)));
  r = ops::add(r, ops::mul(xp, m.vjp(t, Wgn)));
  return ops::add(r, ops::mul(xn, m.vjp(t, Wgp)));
}

Tensor box_rule(const Maps& m, const Tensor& x, const Tensor& W, const Tensor& b, const Tensor& R, double low,
                double high, double delta) {
  // L and H are constant images, so W⁺L + b⁺ + W⁻H + b⁻ is the same for every sample: computed on one
  // sample (batch axis 1) and broadcast over the batch.
  Shape one = x.shape();
  if (one.size() >= 2) one[0] = 1;
  Tensor L = ops::full(one, low, x.dtype(), x.device()), H = ops::full(one, high, x.dtype(), x.device());
  Tensor Wp = m.pos_w(W), Wn = m.neg_w(W);
  Tensor bounds = ops::add(m.fwd(L, Wp, pos(b)), m.fwd(H, Wn, neg(b)));
  Tensor z = ops::sub(m.plain(x, W, b), bounds);
  Tensor s = ops::div(R, ops::stabilize(z, delta));
  // x ⊙ Wᵀs − L ⊙ W⁺ᵀs − H ⊙ W⁻ᵀs with W⁻ = W − W⁺ exactly: (x − H) ⊙ Wᵀs + (H − L) W⁺ᵀs, two products.
  return ops::add(ops::mul(ops::add_scalar(x, -high), m.vjp(s, W)), ops::scale(m.vjp(s, Wp), high - low));
}

// w² and flat: relevance redistributed by weights alone (input-independent).
Tensor weight_only_rule(const Maps& m, const Tensor& x, const Tensor& Wr, const Tensor& R, double delta) {
  Tensor ones = ops::full(x.shape(), 1.0, x.dtype(), x.device());
  Tensor z = m.fwd(ones, Wr, Tensor());
  Tensor s = ops::div(R, ops::stabilize(z, delta));
  return m.vjp(s, Wr);
}

}  // namespace

std::vector<std::string> linear_rule_names() {
  return {"zero", "epsilon", "gamma", "alpha-beta", "zplus", "box", "w2", "flat"};
}

Tensor linear_relevance(const LinearLike& layer, const Saved& saved, const Tensor& R, const Rule& rule) {
  const Tensor& x = layer.saved_input(saved);
  if (!R.defined()) return Tensor(x.shape(), x.dtype(), x.device());
  const Tensor& W = layer.weight();
  const Tensor b = rule.bias_in_denominator ? layer.bias() : Tensor();
  Maps m{layer, x.shape(), Tensor()};
  if (saved.has("z") && (rule.bias_in_denominator || !layer.bias().defined())) m.saved_z = saved.tensor("z");
  const std::string& n = rule.name;
  if (n == "zero") return epsilon_rule(m, x, W, b, R, 0.0);
  if (n == "epsilon") return epsilon_rule(m, x, W, b, R, rule.epsilon);
  if (n == "zplus") return zplus_rule(m, x, W, b, R, rule.stabilizer);
  if (n == "alpha-beta") return alpha_beta_rule(m, x, W, b, R, rule.alpha, rule.beta, rule.stabilizer);
  if (n == "gamma") return gamma_rule(m, x, W, b, R, rule.gamma, rule.stabilizer);
  if (n == "box") return box_rule(m, x, W, b, R, rule.low, rule.high, rule.stabilizer);
  if (n == "w2") return weight_only_rule(m, x, ops::unary(Unary::Square, W), R, rule.stabilizer);
  if (n == "flat") return weight_only_rule(m, x, ops::full(W.shape(), 1.0, W.dtype(), W.device()), R, rule.stabilizer);
  std::string have;
  for (const auto& r : linear_rule_names()) have += (have.empty() ? "" : ", ") + r;
  throw Error("linear-like layers have no LRP rule '" + n + "'; they have: " + have);
}

}  // namespace xdnn
