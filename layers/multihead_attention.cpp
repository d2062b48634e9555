#include "layers/multihead_attention.h"

#include <cmath>
#include <limits>

#include "engine/ops.h"
#include "engine/ops_fill.h"

namespace xdnn {

namespace {

// (N·T, E) -> (N·h, T, dh) and back.
Tensor split_heads(const Tensor& x, int64_t N, int64_t T, int64_t h) {
  const int64_t dh = x.dim(1) / h;
  return ops::permute_axes(x.reshape({N, T, h, dh}), {0, 2, 1, 3}).reshape({N * h, T, dh});
}
Tensor merge_heads(const Tensor& x, int64_t N, int64_t T, int64_t h) {
  const int64_t dh = x.dim(2);
  return ops::permute_axes(x.reshape({N, h, T, dh}), {0, 2, 1, 3}).reshape({N * T, h * dh});
}

// Gradient of a linear map's weight rows [off, off + out) and bias from gy (N·T, out) and x (N·T, in).
void linear_param_grad(Param& W, Param& b, int64_t off, const Tensor& gy, const Tensor& x, int64_t N, ParamGrad mode) {
  const int64_t rows = x.dim(0), per = rows / N, in = x.dim(1), out = gy.dim(1);
  const int64_t W_rows = W.value.dim(0);
  if (mode == ParamGrad::Accumulate) {
    if (!W.grad.defined()) W.grad = Tensor(W.value.shape(), W.value.dtype(), W.value.device());
    Tensor gw = W.grad.slice_batch(off, off + out);
    ops::matmul_into(gy, x, gw, true, false, 1.0, 1.0);
    if (b.value.defined()) {
      if (!b.grad.defined()) b.grad = Tensor(b.value.shape(), b.value.dtype(), b.value.device());
      Tensor gb = b.grad.reshape({W_rows, 1}).slice_batch(off, off + out);
      ops::add_inplace(gb, ops::sum_to_shape(gy, {out}));
    }
  } else if (mode == ParamGrad::PerExample) {
    for (int64_t n = 0; n < N; ++n) {
      Tensor gw = W.grad.slice_batch(n, n + 1).reshape({W_rows, in}).slice_batch(off, off + out);
      ops::matmul_into(gy.slice_batch(n * per, (n + 1) * per), x.slice_batch(n * per, (n + 1) * per), gw, true, false,
                       1.0, 0.0);
      if (b.value.defined())
        b.grad.slice_batch(n, n + 1)
            .reshape({W_rows, 1})
            .slice_batch(off, off + out)
            .copy_from(ops::sum_to_shape(gy.slice_batch(n * per, (n + 1) * per), {out}));
    }
  }
}

}  // namespace

MultiheadAttention::MultiheadAttention(const std::string& name, int64_t embed_dim, int64_t num_heads, bool bias,
                                       bool causal, DType dtype)
    : E_(embed_dim), h_(num_heads), causal_(causal) {
  if (num_heads <= 0 || embed_dim % num_heads != 0)
    throw Error(name + ": embed_dim " + std::to_string(embed_dim) + " is not divisible by num_heads " +
                std::to_string(num_heads));
  in_w_ = {name + ".in_proj_weight", Tensor({3 * E_, E_}, dtype), {}};
  out_w_ = {name + ".out_proj.weight", Tensor({E_, E_}, dtype), {}};
  if (bias) {
    in_b_ = {name + ".in_proj_bias", Tensor({3 * E_}, dtype), {}};
    out_b_ = {name + ".out_proj.bias", Tensor({E_}, dtype), {}};
  }
}

void MultiheadAttention::init(Rng& rng) {
  const double a = std::sqrt(6.0 / static_cast<double>(E_ + 3 * E_)), c = 1.0 / std::sqrt(static_cast<double>(E_));
  ops::fill_uniform_inplace(in_w_.value, -a, a, rng);
  ops::fill_uniform_inplace(out_w_.value, -c, c, rng);
}

std::vector<Param*> MultiheadAttention::params() {
  if (in_b_.value.defined()) return {&in_w_, &in_b_, &out_w_, &out_b_};
  return {&in_w_, &out_w_};
}

Tensors MultiheadAttention::forward(const Tensors& in, Saved& saved, const ForwardOptions&) {
  const Tensor& x = in.at(0);
  ops::expect_float(x, "MultiheadAttention input");
  ops::expect_same_dtype(x, in_w_.value, "MultiheadAttention input vs weights");
  if (x.ndim() != 3 || x.dim(2) != E_)
    throw Error("MultiheadAttention: expected input (N, T, " + std::to_string(E_) + "), got " + x.describe());
  const int64_t N = x.dim(0), T = x.dim(1), dh = E_ / h_;
  const DType dt = x.dtype();
  const Tensor X2 = x.reshape({N * T, E_});
  Tensor qkv[3];
  for (int j = 0; j < 3; ++j) {
    qkv[j] = ops::matmul(X2, in_w_.value.slice_batch(j * E_, (j + 1) * E_), false, true);
    if (in_b_.value.defined()) qkv[j] = ops::add(qkv[j], in_b_.value.reshape({3, E_}).slice_batch(j, j + 1));
  }
  const Tensor Q = split_heads(qkv[0], N, T, h_), K = split_heads(qkv[1], N, T, h_), V = split_heads(qkv[2], N, T, h_);
  const Tensor S = ops::scale(ops::batched_matmul(Q, K, false, true), 1.0 / std::sqrt(static_cast<double>(dh)));
  // Additive mask (N, 1, T, T): 0 or −∞.
  Tensor M;
  const Tensor kpm = in.size() > 1 ? in[1] : Tensor();
  if (kpm.defined() && (kpm.ndim() != 2 || kpm.dim(0) != N || kpm.dim(1) != T))
    throw Error("MultiheadAttention: expected key_padding_mask (" + std::to_string(N) + ", " + std::to_string(T) +
                "), got " + kpm.describe());
  if (causal_ || kpm.defined()) M = ops::attention_mask(N, T, causal_, kpm, dt, x.device());
  const Tensor Sm = M.defined() ? ops::add(S.reshape({N, h_, T, T}), M).reshape({N * h_, T, T}) : S;
  const Tensor P = ops::softmax_last_axis(Sm);
  const Tensor O = merge_heads(ops::batched_matmul(P, V), N, T, h_);  // (N·T, E)
  Tensor y = ops::matmul(O, out_w_.value, false, true);
  if (out_b_.value.defined()) y = ops::add(y, out_b_.value);
  // saved: the input "x"; per head "Q", "K", "V" (N·h, T, dh), the unmasked scores "S" and probabilities
  // "P" (N·h, T, T); the merged heads "O" (N·T, E) and the output "y" (N·T, E); the projections before the
  // head split "q", "k", "v" (N·T, E: the ε-rule of the in-projection divides by them); the number of
  // "inputs" (the padding mask gets no gradient).
  saved.put("x", x);
  saved.put("Q", Q);
  saved.put("K", K);
  saved.put("V", V);
  saved.put("S", S);
  saved.put("P", P);
  saved.put("O", O);
  saved.put("y", y);
  saved.put("q", qkv[0]);
  saved.put("k", qkv[1]);
  saved.put("v", qkv[2]);
  saved.set_int("inputs", static_cast<int64_t>(in.size()));
  return {y.reshape({N, T, E_}), P.reshape({N, h_, T, T})};
}

Tensors MultiheadAttention::backward(const Tensors& gy, const Saved& saved, const BackwardOptions& opt) {
  const Tensor &x = saved.tensor("x"), &Q = saved.tensor("Q"), &K = saved.tensor("K"), &V = saved.tensor("V");
  const Tensor &P = saved.tensor("P"), &O = saved.tensor("O");
  const int64_t N = x.dim(0), T = x.dim(1), dh = E_ / h_;
  const DType dt = x.dtype();
  const Device dev = x.device();
  if (opt.param_grad == ParamGrad::PerExample)
    for (Param* p : params()) {
      Shape s = p->value.shape();
      s.insert(s.begin(), N);
      p->grad = Tensor(s, dt, dev);
    }
  const Tensor X2 = x.reshape({N * T, E_});
  Tensor dP({N * h_, T, T}, dt, dev);
  Tensor dOh({N * h_, T, dh}, dt, dev);
  if (gy.at(0).defined()) {
    const Tensor G2 = gy[0].reshape({N * T, E_});
    linear_param_grad(out_w_, out_b_, 0, G2, O, N, opt.param_grad);
    dOh = split_heads(ops::matmul(G2, out_w_.value), N, T, h_);
    dP = ops::batched_matmul(dOh, V, false, true);
  }
  if (gy.size() > 1 && gy[1].defined()) dP = ops::add(dP, gy[1].reshape({N * h_, T, T}));
  const Tensor dV = ops::batched_matmul(P, dOh, true, false);
  const Tensor dS = ops::scale(ops::softmax_last_axis_backward(P, dP), 1.0 / std::sqrt(static_cast<double>(dh)));
  const Tensor dQ = ops::batched_matmul(dS, K), dK = ops::batched_matmul(dS, Q, true, false);
  const Tensor d[3] = {merge_heads(dQ, N, T, h_), merge_heads(dK, N, T, h_), merge_heads(dV, N, T, h_)};
  Tensor dX({N * T, E_}, dt, dev);
  for (int j = 0; j < 3; ++j) {
    linear_param_grad(in_w_, in_b_, j * E_, d[j], X2, N, opt.param_grad);
    ops::matmul_into(d[j], in_w_.value.slice_batch(j * E_, (j + 1) * E_), dX, false, false, 1.0, 1.0);
  }
  Tensors out(saved.get_int("inputs"));
  out[0] = dX.reshape({N, T, E_});
  return out;
}

Tensors MultiheadAttention::relevance(const Tensors& ry, const Saved& saved, const Rule& rule) {
  if (rule.name != "epsilon" && rule.name != "cp")
    throw Error("layer kind MultiheadAttention has no LRP rule '" + rule.name +
                "'; it has: epsilon (AttnLRP), cp (CP-LRP)");
  const bool cp = rule.name == "cp";
  const double eps = rule.epsilon;
  const Tensor &x = saved.tensor("x"), &Q = saved.tensor("Q"), &K = saved.tensor("K"), &V = saved.tensor("V");
  const Tensor &S = saved.tensor("S"), &P = saved.tensor("P"), &O = saved.tensor("O"), &y = saved.tensor("y");
  const int64_t N = x.dim(0), T = x.dim(1);
  const DType dt = x.dtype();
  const Device dev = x.device();
  Tensors out(saved.get_int("inputs"));
  if (!ry.at(0).defined()) return out;
  // out_proj, ε-rule: R_O = O ⊙ Wᵀ(R / stab(y)).
  const Tensor s_y = ops::div(ry[0].reshape({N * T, E_}), ops::stabilize(y, eps));
  const Tensor R_O = ops::mul(O, ops::matmul(s_y, out_w_.value));
  // O = P v, uniform rule: every term P_ij v_jd gets its ε-share, half to each factor.
  const Tensor Oh = ops::batched_matmul(P, V);
  const Tensor s_o = ops::div(split_heads(R_O, N, T, h_), ops::stabilize(Oh, eps));  // (N·h, T, dh)
  const Tensor X2 = x.reshape({N * T, E_});
  if (cp) {  // CP-LRP: P constant, every term's share goes to v; the v projection takes the ε-rule.
    const Tensor R_V = merge_heads(ops::mul(V, ops::batched_matmul(P, s_o, true, false)), N, T, h_);
    const Tensor& z = saved.tensor("v");
    const Tensor t = ops::matmul(ops::div(R_V, ops::stabilize(z, eps)), in_w_.value.slice_batch(2 * E_, 3 * E_));
    out[0] = ops::mul(X2, t).reshape({N, T, E_});
    return out;
  }
  const Tensor R_P = ops::scale(ops::mul(P, ops::batched_matmul(s_o, V, false, true)), 0.5);
  const Tensor R_V = ops::scale(ops::mul(V, ops::batched_matmul(P, s_o, true, false)), 0.5);
  // Softmax (AttnLRP Prop. 3.1): R_S = S ⊙ (R_P − P ⊙ Σ_j R_P). S is the unmasked score, so masked
  // entries (P = 0, R_P = 0) get 0 rather than ∞ · 0.
  const Tensor sumR = ops::sum_to_shape(R_P, {N * h_, T, 1});
  const Tensor R_S = ops::mul(S, ops::sub(R_P, ops::mul(P, sumR)));
  // S = c q kᵀ, uniform rule again.
  const Tensor s_s = ops::div(R_S, ops::stabilize(S, eps));
  const double c = 1.0 / std::sqrt(static_cast<double>(E_ / h_));
  const Tensor R_Q = ops::scale(ops::mul(Q, ops::batched_matmul(s_s, K)), 0.5 * c);
  const Tensor R_K = ops::scale(ops::mul(K, ops::batched_matmul(s_s, Q, true, false)), 0.5 * c);
  // q, k, v projections, ε-rule each (bias absorbed), summed at x.
  const Tensor R[3] = {merge_heads(R_Q, N, T, h_), merge_heads(R_K, N, T, h_), merge_heads(R_V, N, T, h_)};
  Tensor acc({N * T, E_}, dt, dev);
  const Tensor* const qkv[3] = {&saved.tensor("q"), &saved.tensor("k"), &saved.tensor("v")};
  for (int j = 0; j < 3; ++j) {
    const Tensor& z = *qkv[j];
    ops::matmul_into(ops::div(R[j], ops::stabilize(z, eps)), in_w_.value.slice_batch(j * E_, (j + 1) * E_), acc, false,
                     false, 1.0, 1.0);
  }
  out[0] = ops::mul(X2, acc).reshape({N, T, E_});
  return out;
}

std::vector<NamedValue> MultiheadAttention::intermediates(const Saved& saved) const {
  if (!saved.has("P")) return {};
  const Tensor& x = saved.tensor("x");
  const int64_t N = x.dim(0), T = x.dim(1);
  return {{"attention", saved.tensor("P").reshape({N, h_, T, T})}};
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExample make_mha(Rng& rng, bool causal, bool padding) {
  auto layer = std::make_shared<MultiheadAttention>("attn", 4, 2, true, causal, DType::F64);
  layer->init(rng);
  for (Param* p : layer->params()) ops::fill_uniform_inplace(p->value, -0.8, 0.8, rng);
  Tensors in = {random_tensor({2, 3, 4}, rng)};
  if (padding) in.push_back(Tensor::from_vector({2, 3}, std::vector<int64_t>{0, 0, 1, 0, 0, 0}));
  return LayerExample{layer, in};
}
LayerExampleRegistration mha_plain{{"MultiheadAttention/plain", [](Rng& rng) { return make_mha(rng, false, false); }}};
LayerExampleRegistration mha_masks{
    {"MultiheadAttention/causal-padding", [](Rng& rng) { return make_mha(rng, true, true); }}};
}  // namespace
}  // namespace xdnn
