// GRU: forward and backward live in the shared recurrent driver (layers/rnn.cpp) and the GRU cell
// (engine/cpu/rnn_cells.cpp); this file holds the GRU's LRP pass (layers/gru.h) and the test examples.
#include "layers/gru.h"

#include "engine/ops.h"
#include "engine/ops_fill.h"

namespace xdnn {

namespace {

// Time step t of a (T, N, W) tensor as an (N, W) view.
Tensor step(const Tensor& x, int64_t t) { return x.slice_batch(t, t + 1).reshape({x.dim(1), x.dim(2)}); }

// State k of an (N, L·D, H) tensor as a fresh (N, H) tensor (zeros when undefined).
Tensor state_of(const Tensor& s, int64_t k, int64_t N, int64_t H, DType dt, Device dev) {
  if (!s.defined()) return Tensor({N, H}, dt, dev);
  return ops::permute_axes(s, {1, 0, 2}).slice_batch(k, k + 1).reshape({N, H}).clone();
}

}  // namespace

Tensors GRU::relevance(const Tensors& ry, const Saved& saved, const Rule& rule) {
  if (rule.name != "epsilon")
    throw Error("layer kind GRU has no LRP rule '" + rule.name +
                "'; it has: epsilon (signal-take-all, after Arras et al. 2017)");
  const double eps = rule.epsilon;
  const int64_t n_inputs = saved.get_int("inputs"), N = saved.get_int("N"), T = saved.get_int("T");
  const int64_t H = cfg_.hidden_size, D = directions(), L = cfg_.num_layers;
  const Tensor& mask = saved.tensor("mask");
  const Tensors& layer_inputs = saved.list("layer_inputs");
  const DType dt = layer_inputs.at(0).dtype();
  const Device dev = layer_inputs.at(0).device();
  const Tensor R_hn = ry.size() > 1 ? ry[1] : Tensor();

  Tensor Rh0({L * D, N, H}, dt, dev);
  Tensor RX = ry.at(0).defined() ? ops::permute_axes(ry[0], {1, 0, 2}) : Tensor({T, N, D * H}, dt, dev);
  for (int l = static_cast<int>(L) - 1; l >= 0; --l) {
    const Tensor& X = layer_inputs.at(l);  // (T, N, I)
    const int64_t I = X.dim(2);
    Tensor RXin({T, N, I}, dt, dev);
    for (int d = 0; d < D; ++d) {
      const int k = l * static_cast<int>(D) + d;
      // A (T, N, 3H): r, z, n; HH (T, N, 3H): W_h h_{t−1} + b_h; Hprev, Hout (T, N, H).
      const Tensor &A = saved.list("A").at(k), &HH = saved.list("Z").at(k);
      const Tensor &Hprev = saved.list("Hprev").at(k), &Hout = saved.list("Hout").at(k);
      // n-gate rows of the weights: W_in (H, I), W_hn (H, H); b_in (H) or undefined.
      const Tensor Wn = weight_ih(l, d).value.slice_batch(2 * H, 3 * H);
      const Tensor Un = weight_hh(l, d).value.slice_batch(2 * H, 3 * H);
      const Tensor& bih = bias_ih(l, d).value;
      const Tensor bn = bih.defined() ? bih.slice_batch(2 * H, 3 * H) : Tensor();
      const Tensor RY = D == 1 ? RX : ops::slice_last_axis(RX, d * H, (d + 1) * H);  // (T, N, H)
      Tensor Rh = state_of(R_hn, k, N, H, dt, dev);
      for (int64_t s = T - 1; s >= 0; --s) {
        const int64_t t = d == 0 ? s : T - 1 - s;
        Rh = ops::add(Rh, step(RY, t));
        // m (N, 1): 1 on valid steps; padded rows keep R_h as it is and give the input nothing.
        const Tensor m = mask.defined() ? mask.slice_batch(t, t + 1).reshape({N, 1}) : ops::full({N, 1}, 1.0, dt, dev);
        const Tensor off = ops::add_scalar(ops::scale(m, -1.0), 1.0);
        const Tensor a = step(A, t), x = step(X, t), h_prev = step(Hprev, t);
        const Tensor r = ops::slice_last_axis(a, 0, H), z = ops::slice_last_axis(a, H, 2 * H);
        const Tensor n = ops::slice_last_axis(a, 2 * H, 3 * H);
        const Tensor share = ops::div(ops::mul(m, Rh), ops::stabilize(step(Hout, t), eps));  // (N, H)
        const Tensor one_minus_z = ops::add_scalar(ops::scale(z, -1.0), 1.0);
        const Tensor Rn = ops::mul(ops::mul(one_minus_z, n), share);
        // a = W_in x + b_in + r ⊙ (W_hn h + b_hn), recomputed (the driver keeps only the hidden half).
        Tensor pre = ops::matmul(x, Wn, false, true);  // (N, I) (H, I)ᵀ
        if (bn.defined()) pre = ops::add(pre, bn);
        pre = ops::add(pre, ops::mul(r, ops::slice_last_axis(step(HH, t), 2 * H, 3 * H)));
        const Tensor sn = ops::div(Rn, ops::stabilize(pre, eps));  // (N, H)
        Tensor rx = RXin.slice_batch(t, t + 1);                    // both directions read x_t: relevances add up
        ops::add_inplace(rx, ops::mul(x, ops::matmul(sn, Wn)));
        const Tensor Rh_prev =
            ops::add(ops::mul(ops::mul(z, h_prev), share), ops::mul(h_prev, ops::matmul(ops::mul(r, sn), Un)));
        Rh = ops::add(Rh_prev, ops::mul(off, Rh));
      }
      Rh0.slice_batch(k, k + 1).copy_from(Rh);
    }
    RX = RXin;
  }
  Tensors out(n_inputs);
  out[0] = ops::permute_axes(RX, {1, 0, 2});
  if (n_inputs > 2) out[2] = ops::permute_axes(Rh0, {1, 0, 2});
  return out;
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration gru_simple{
    {"GRU/1layer", [](Rng& rng) {
       auto layer = std::make_shared<GRU>("gru", RecurrentConfig{3, 4, 1, false, true}, DType::F64);
       layer->init(rng);
       return LayerExample{layer, {random_tensor({2, 5, 3}, rng)}};
     }}};
LayerExampleRegistration gru_stacked_bidi{
    {"GRU/2layer-bidirectional-lengths-h0", [](Rng& rng) {
       auto layer = std::make_shared<GRU>("gru", RecurrentConfig{3, 4, 2, true, true}, DType::F64);
       layer->init(rng);
       Tensor lengths = Tensor::from_vector({3}, std::vector<int64_t>{4, 1, 3});
       return LayerExample{layer, {random_tensor({3, 4, 3}, rng), lengths, random_tensor({3, 4, 4}, rng)}};
     }}};
}  // namespace
}  // namespace xdnn
