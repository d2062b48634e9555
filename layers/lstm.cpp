#include "layers/lstm.h"

#include "engine/ops.h"
#include "engine/ops_fill.h"

namespace xdnn {

namespace {

Tensor step(const Tensor& x, int64_t t) { return x.slice_batch(t, t + 1).reshape({x.dim(1), x.dim(2)}); }

Tensor state_of(const Tensor& s, int64_t k, int64_t N, int64_t H, DType dt, Device dev) {
  if (!s.defined()) return Tensor({N, H}, dt, dev);
  return ops::permute_axes(s, {1, 0, 2}).slice_batch(k, k + 1).reshape({N, H}).clone();
}

}  // namespace

Tensors LSTM::relevance(const Tensors& ry, const Saved& saved, const Rule& rule) {
  if (rule.name != "epsilon")
    throw Error("layer kind LSTM has no LRP rule '" + rule.name + "'; it has: epsilon (Arras et al. 2017)");
  const double eps = rule.epsilon;
  const int64_t n_inputs = saved.get_int("inputs"), N = saved.get_int("N"), T = saved.get_int("T");
  const int64_t H = cfg_.hidden_size, D = directions(), L = cfg_.num_layers;
  const Tensor& mask = saved.tensor("mask");
  const Tensors& layer_inputs = saved.list("layer_inputs");
  const DType dt = layer_inputs.at(0).dtype();
  const Device dev = layer_inputs.at(0).device();
  const Tensor R_hn = ry.size() > 1 ? ry[1] : Tensor(), R_cn = ry.size() > 2 ? ry[2] : Tensor();

  Tensor Rh0({L * D, N, H}, dt, dev), Rc0({L * D, N, H}, dt, dev);
  Tensor RX = ry.at(0).defined() ? ops::permute_axes(ry[0], {1, 0, 2}) : Tensor({T, N, D * H}, dt, dev);
  for (int l = static_cast<int>(L) - 1; l >= 0; --l) {
    const Tensor& X = layer_inputs.at(l);  // (T, N, I)
    const int64_t I = X.dim(2);
    Tensor RXin({T, N, I}, dt, dev);
    for (int d = 0; d < D; ++d) {
      const int k = l * static_cast<int>(D) + d;
      const Tensor &A = saved.list("A").at(k), &Z = saved.list("Z").at(k);
      const Tensor &Hprev = saved.list("Hprev").at(k), &Cprev = saved.list("Cprev").at(k);
      const Tensor& Cout = saved.list("Cout").at(k);
      // g-gate rows of the weights: (H, I) and (H, H) views.
      const Tensor Wg = weight_ih(l, d).value.slice_batch(2 * H, 3 * H);
      const Tensor Ug = weight_hh(l, d).value.slice_batch(2 * H, 3 * H);
      const Tensor RY = D == 1 ? RX : ops::slice_last_axis(RX, d * H, (d + 1) * H);  // (T, N, H)
      Tensor Rh = state_of(R_hn, k, N, H, dt, dev), Rc = state_of(R_cn, k, N, H, dt, dev);
      for (int64_t s = T - 1; s >= 0; --s) {
        const int64_t t = d == 0 ? s : T - 1 - s;
        Rh = ops::add(Rh, step(RY, t));
        // m (N, 1): 1 on valid steps. Valid rows hand R_h to the cell; padded rows keep both as they are.
        const Tensor m = mask.defined() ? mask.slice_batch(t, t + 1).reshape({N, 1}) : ops::full({N, 1}, 1.0, dt, dev);
        const Tensor off = ops::add_scalar(ops::scale(m, -1.0), 1.0);
        const Tensor Rc_tot = ops::add(Rc, ops::mul(m, Rh));
        const Tensor a = step(A, t), z = step(Z, t);
        const Tensor i = ops::slice_last_axis(a, 0, H), f = ops::slice_last_axis(a, H, 2 * H);
        const Tensor g = ops::slice_last_axis(a, 2 * H, 3 * H), zg = ops::slice_last_axis(z, 2 * H, 3 * H);
        const Tensor share = ops::div(ops::mul(m, Rc_tot), ops::stabilize(step(Cout, t), eps));  // R_c / stab(c_t)
        const Tensor c_prev = step(Cprev, t), h_prev = step(Hprev, t);
        const Tensor Rg = ops::mul(ops::mul(i, g), share);
        const Tensor sg = ops::div(Rg, ops::stabilize(zg, eps));  // (N, H)
        Tensor rx = RXin.slice_batch(t, t + 1);                   // both directions read x_t: their relevances add up
        ops::add_inplace(rx, ops::mul(step(X, t), ops::matmul(sg, Wg)));
        Rc = ops::add(ops::mul(ops::mul(f, c_prev), share), ops::mul(off, Rc_tot));
        Rh = ops::add(ops::mul(h_prev, ops::matmul(sg, Ug)), ops::mul(off, Rh));
      }
      Rh0.slice_batch(k, k + 1).copy_from(Rh);
      Rc0.slice_batch(k, k + 1).copy_from(Rc);
    }
    RX = RXin;
  }
  Tensors out(n_inputs);
  out[0] = ops::permute_axes(RX, {1, 0, 2});
  if (n_inputs > 2) out[2] = ops::permute_axes(Rh0, {1, 0, 2});
  if (n_inputs > 3) out[3] = ops::permute_axes(Rc0, {1, 0, 2});
  return out;
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration lstm_simple{
    {"LSTM/1layer", [](Rng& rng) {
       auto layer = std::make_shared<LSTM>("lstm", RecurrentConfig{3, 4, 1, false, true}, DType::F64);
       layer->init(rng);
       return LayerExample{layer, {random_tensor({2, 5, 3}, rng)}};
     }}};
LayerExampleRegistration lstm_stacked_bidi{
    {"LSTM/2layer-bidirectional-lengths-states", [](Rng& rng) {
       auto layer = std::make_shared<LSTM>("lstm", RecurrentConfig{3, 4, 2, true, true}, DType::F64);
       layer->init(rng);
       Tensor lengths = Tensor::from_vector({3}, std::vector<int64_t>{4, 2, 3});
       return LayerExample{
           layer,
           {random_tensor({3, 4, 3}, rng), lengths, random_tensor({3, 4, 4}, rng), random_tensor({3, 4, 4}, rng)}};
     }}};
}  // namespace
}  // namespace xdnn
