#include "layers/rnn.h"

#include <cmath>

#include "engine/ops.h"
#include "engine/ops_fill.h"

namespace xdnn {

namespace {

// Time step t of a (T, N, W) tensor as an (N, W) view.
Tensor step(const Tensor& x, int64_t t) { return x.slice_batch(t, t + 1).reshape({x.dim(1), x.dim(2)}); }
void set_step(Tensor& x, int64_t t, const Tensor& v) { x.slice_batch(t, t + 1).copy_from(v); }

// Mask row of step t, (N), or undefined.
Tensor mask_step(const Tensor& mask, int64_t t) {
  return mask.defined() ? mask.slice_batch(t, t + 1).reshape({mask.dim(1)}) : Tensor();
}

// State k of an (N, L·D, H) tensor, as a fresh (N, H) tensor (zeros when undefined).
Tensor state_of(const Tensor& s, int64_t k, int64_t N, int64_t H, DType dt, Device dev) {
  if (!s.defined()) return Tensor({N, H}, dt, dev);
  return ops::permute_axes(s, {1, 0, 2}).slice_batch(k, k + 1).reshape({N, H}).clone();
}

void add_grad(Param& p, const Tensor& g) {
  if (!p.grad.defined()) p.grad = Tensor(p.value.shape(), p.value.dtype(), p.value.device());
  ops::add_inplace(p.grad, g);
}

}  // namespace

Recurrent::Recurrent(const std::string& name, RecurrentCell cell, const RecurrentConfig& cfg, DType dtype)
    : name_(name), cell_(cell), cfg_(cfg) {
  if (cfg.input_size <= 0 || cfg.hidden_size <= 0 || cfg.num_layers <= 0)
    throw Error(name + ": recurrent layer needs positive input_size, hidden_size and num_layers");
  const int64_t G = gates(), H = cfg.hidden_size;
  for (int l = 0; l < cfg.num_layers; ++l)
    for (int d = 0; d < directions(); ++d) {
      const std::string suffix = "_l" + std::to_string(l) + (d ? "_reverse" : "");
      const int64_t in = l == 0 ? cfg.input_size : directions() * H;
      params_.push_back({name + ".weight_ih" + suffix, Tensor({G * H, in}, dtype), {}});
      params_.push_back({name + ".weight_hh" + suffix, Tensor({G * H, H}, dtype), {}});
      params_.push_back({name + ".bias_ih" + suffix, cfg.bias ? Tensor({G * H}, dtype) : Tensor(), {}});
      params_.push_back({name + ".bias_hh" + suffix, cfg.bias ? Tensor({G * H}, dtype) : Tensor(), {}});
    }
}

int64_t Recurrent::gates() const {
  switch (cell_) {
    case RecurrentCell::LSTM:
      return 4;
    case RecurrentCell::GRU:
      return 3;
    default:
      return 1;
  }
}

void Recurrent::init(Rng& rng) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(cfg_.hidden_size));
  for (Param* p : params()) ops::fill_uniform_inplace(p->value, -bound, bound, rng);
}

std::vector<Param*> Recurrent::params() {
  std::vector<Param*> out;
  for (Param& p : params_)
    if (p.value.defined()) out.push_back(&p);
  return out;
}

Tensors Recurrent::forward(const Tensors& in, Saved& saved, const ForwardOptions&) {
  const bool lstm = cell_ == RecurrentCell::LSTM, gru = cell_ == RecurrentCell::GRU;
  const Tensor& x = in.at(0);
  ops::expect_float(x, (name_ + " input").c_str());
  ops::expect_same_dtype(x, params_[0].value, (name_ + " input vs weights").c_str());
  if (x.ndim() != 3 || x.dim(2) != cfg_.input_size)
    throw Error(name_ + ": expected input (N, T, " + std::to_string(cfg_.input_size) + "), got " + x.describe());
  const int64_t N = x.dim(0), T = x.dim(1), H = cfg_.hidden_size, G = gates(), D = directions(), L = cfg_.num_layers;
  const DType dt = x.dtype();
  const Device dev = x.device();
  const Tensor lengths = in.size() > 1 ? in[1] : Tensor();
  const Tensor h0 = in.size() > 2 ? in[2] : Tensor();
  const Tensor c0 = in.size() > 3 ? in[3] : Tensor();
  if (in.size() > 4 || (c0.defined() && !lstm)) throw Error(name_ + ": too many inputs");
  for (const Tensor* s : {&h0, &c0})
    if (s->defined() && s->shape() != Shape{N, L * D, H})
      throw Error(name_ + ": expected initial state (" + std::to_string(N) + ", " + std::to_string(L * D) + ", " +
                  std::to_string(H) + "), got " + s->describe());

  Tensor mask;  // (T, N): 1 on valid steps
  if (lengths.defined()) {
    if (lengths.dtype() != DType::I64 || lengths.ndim() != 1 || lengths.dim(0) != N)
      throw Error(name_ + ": expected lengths int64 (" + std::to_string(N) + "), got " + lengths.describe());
    mask = ops::length_mask(lengths, T, /*time_major=*/true, /*mean=*/false, 0, dt, name_.c_str());
  }

  Tensors layer_inputs(L), As(L * D), Zs(L * D), Hprevs(L * D), Cprevs(L * D), Couts(L * D), Houts(L * D);
  Tensor hn({L * D, N, H}, dt, dev), cn({L * D, N, H}, dt, dev);
  Tensor X = ops::permute_axes(x, {1, 0, 2});  // (T, N, I_l)
  for (int l = 0; l < L; ++l) {
    layer_inputs[l] = X;
    const int64_t I = X.dim(2);
    Tensors outs;
    for (int d = 0; d < D; ++d) {
      const int k = l * static_cast<int>(D) + d;
      const Param &Wih = weight_ih(l, d), &Whh = weight_hh(l, d), &bih = bias_ih(l, d), &bhh = bias_hh(l, d);
      Tensor P = ops::matmul(X.reshape({T * N, I}), Wih.value, false, true);  // (T·N, G·H)
      if (bih.value.defined()) P = ops::add(P, bih.value);
      if (bhh.value.defined() && !gru) P = ops::add(P, bhh.value);  // GRU keeps b_hn inside r ⊙ (·)
      P = P.reshape({T, N, G * H});
      Tensor A({T, N, G * H}, dt, dev), Z, Hprev({T, N, H}, dt, dev), Hout({T, N, H}, dt, dev), Cprev, Cout;
      if (lstm || gru) Z = Tensor({T, N, G * H}, dt, dev);
      if (lstm) Cprev = Tensor({T, N, H}, dt, dev), Cout = Tensor({T, N, H}, dt, dev);
      Tensor h = state_of(h0, k, N, H, dt, dev), c = state_of(c0, k, N, H, dt, dev);
      for (int64_t s = 0; s < T; ++s) {
        const int64_t t = d == 0 ? s : T - 1 - s;
        const Tensor m = mask_step(mask, t);
        Tensor hh = ops::matmul(h, Whh.value, false, true);  // (N, G·H)
        set_step(Hprev, t, h);
        if (lstm) {
          Tensor z = ops::add(step(P, t), hh);
          Tensors r = ops::lstm_cell_forward(z, c, h, m);
          set_step(Z, t, z), set_step(A, t, r[0]), set_step(Cprev, t, c), set_step(Cout, t, r[1]);
          c = r[1], h = r[2];
        } else if (gru) {
          if (bhh.value.defined()) hh = ops::add(hh, bhh.value);
          Tensors r = ops::gru_cell_forward(step(P, t), hh, h, m);
          set_step(Z, t, hh), set_step(A, t, r[0]);
          h = r[1];
        } else {
          h = ops::rnn_cell_forward(ops::add(step(P, t), hh), h, m, cell_ == RecurrentCell::RnnRelu);
          set_step(A, t, h);
        }
        set_step(Hout, t, h);
      }
      hn.slice_batch(k, k + 1).copy_from(h);
      cn.slice_batch(k, k + 1).copy_from(c);
      As[k] = A, Zs[k] = Z, Hprevs[k] = Hprev, Cprevs[k] = Cprev, Couts[k] = Cout, Houts[k] = Hout;
      outs.push_back(mask.defined() ? ops::mul(Hout, mask.reshape({T, N, 1})) : Hout);
    }
    X = D == 1 ? outs[0] : ops::concat_last_axis(outs);
  }
  saved.set_int("inputs", static_cast<int64_t>(in.size()));
  saved.set_int("N", N);
  saved.set_int("T", T);
  saved.put("mask", mask);
  saved.put_list("layer_inputs", std::move(layer_inputs));
  saved.put_list("A", std::move(As));
  saved.put_list("Z", std::move(Zs));
  saved.put_list("Hprev", std::move(Hprevs));
  saved.put_list("Cprev", std::move(Cprevs));
  saved.put_list("Cout", std::move(Couts));
  saved.put_list("Hout", std::move(Houts));
  Tensors result = {ops::permute_axes(X, {1, 0, 2}), ops::permute_axes(hn, {1, 0, 2})};
  if (lstm) result.push_back(ops::permute_axes(cn, {1, 0, 2}));
  return result;
}

Tensors Recurrent::backward(const Tensors& gy, const Saved& saved, const BackwardOptions& opt) {
  const bool lstm = cell_ == RecurrentCell::LSTM, gru = cell_ == RecurrentCell::GRU;
  const int64_t n_inputs = saved.get_int("inputs"), N = saved.get_int("N"), T = saved.get_int("T");
  const int64_t H = cfg_.hidden_size, G = gates(), D = directions(), L = cfg_.num_layers;
  const Tensor& mask = saved.tensor("mask");
  const Tensors& layer_inputs = saved.list("layer_inputs");
  const DType dt = layer_inputs.at(0).dtype();
  const Device dev = layer_inputs.at(0).device();
  const Tensor g_hn = gy.size() > 1 ? gy[1] : Tensor(), g_cn = gy.size() > 2 ? gy[2] : Tensor();

  if (opt.param_grad == ParamGrad::PerExample)
    for (Param* p : params()) {
      Shape s = p->value.shape();
      s.insert(s.begin(), N);
      p->grad = Tensor(s, dt, dev);
    }
  Tensor dh0({L * D, N, H}, dt, dev), dc0({L * D, N, H}, dt, dev);
  Tensor dX = gy.at(0).defined() ? ops::permute_axes(gy[0], {1, 0, 2}) : Tensor({T, N, D * H}, dt, dev);
  for (int l = static_cast<int>(L) - 1; l >= 0; --l) {
    const Tensor& X = layer_inputs.at(l);
    const int64_t I = X.dim(2);
    Tensor dXin({T * N, I}, dt, dev);
    for (int d = 0; d < D; ++d) {
      const int k = l * static_cast<int>(D) + d;
      const Tensor &A = saved.list("A").at(k), &Z = saved.list("Z").at(k);
      const Tensor &Hprev = saved.list("Hprev").at(k), &Hout = saved.list("Hout").at(k);
      const Tensor &Cprev = saved.list("Cprev").at(k), &Cout = saved.list("Cout").at(k);
      Param &Wih = weight_ih(l, d), &Whh = weight_hh(l, d), &bih = bias_ih(l, d), &bhh = bias_hh(l, d);
      Tensor dY = D == 1 ? dX : ops::slice_last_axis(dX, d * H, (d + 1) * H);  // (T, N, H)
      if (mask.defined()) dY = ops::mul(dY, mask.reshape({T, N, 1}));
      Tensor dh = state_of(g_hn, k, N, H, dt, dev), dc = state_of(g_cn, k, N, H, dt, dev);
      Tensor dZih({T, N, G * H}, dt, dev), dZhh = gru ? Tensor({T, N, G * H}, dt, dev) : dZih;
      for (int64_t s = T - 1; s >= 0; --s) {
        const int64_t t = d == 0 ? s : T - 1 - s;
        const Tensor m = mask_step(mask, t);
        const Tensor g = ops::add(dh, step(dY, t));
        Tensor dzhh;
        if (lstm) {
          Tensors r = ops::lstm_cell_backward(g, dc, step(A, t), step(Cprev, t), step(Cout, t), m);
          set_step(dZih, t, r[0]);
          dzhh = r[0], dc = r[1], dh = r[2];
        } else if (gru) {
          Tensors r = ops::gru_cell_backward(g, step(A, t), step(Z, t), step(Hprev, t), m);
          set_step(dZih, t, r[0]), set_step(dZhh, t, r[1]);
          dzhh = r[1], dh = r[2];
        } else {
          Tensors r = ops::rnn_cell_backward(g, step(Hout, t), m, cell_ == RecurrentCell::RnnRelu);
          set_step(dZih, t, r[0]);
          dzhh = r[0], dh = r[1];
        }
        dh = ops::add(dh, ops::matmul(dzhh, Whh.value));  // (N, G·H) (G·H, H)
      }
      dh0.slice_batch(k, k + 1).copy_from(dh);
      dc0.slice_batch(k, k + 1).copy_from(dc);
      ops::matmul_into(dZih.reshape({T * N, G * H}), Wih.value, dXin, false, false, 1.0, 1.0);

      if (opt.param_grad == ParamGrad::Accumulate) {
        const Tensor zi = dZih.reshape({T * N, G * H}), zh = dZhh.reshape({T * N, G * H});
        add_grad(Wih, ops::matmul(zi, X.reshape({T * N, I}), true, false));
        add_grad(Whh, ops::matmul(zh, Hprev.reshape({T * N, H}), true, false));
        if (bih.value.defined()) add_grad(bih, ops::sum_to_shape(zi, {G * H}));
        if (bhh.value.defined()) add_grad(bhh, ops::sum_to_shape(zh, {G * H}));
      } else if (opt.param_grad == ParamGrad::PerExample) {
        // Sample n's gradient sums over its own time steps only: one (G·H, T)(T, ·) GEMM per sample.
        const Tensor zi = ops::permute_axes(dZih, {1, 0, 2}), zh = gru ? ops::permute_axes(dZhh, {1, 0, 2}) : zi;
        const Tensor xs = ops::permute_axes(X, {1, 0, 2}), hs = ops::permute_axes(Hprev, {1, 0, 2});
        for (int64_t n = 0; n < N; ++n) {
          Tensor gwi = Wih.grad.slice_batch(n, n + 1).reshape({G * H, I});
          Tensor gwh = Whh.grad.slice_batch(n, n + 1).reshape({G * H, H});
          const Tensor zin = zi.slice_batch(n, n + 1).reshape({T, G * H}),
                       zhn = zh.slice_batch(n, n + 1).reshape({T, G * H});
          ops::matmul_into(zin, xs.slice_batch(n, n + 1).reshape({T, I}), gwi, true, false, 1.0, 0.0);
          ops::matmul_into(zhn, hs.slice_batch(n, n + 1).reshape({T, H}), gwh, true, false, 1.0, 0.0);
        }
        if (bih.value.defined()) bih.grad.copy_from(ops::sum_to_shape(zi, {N, 1, G * H}));
        if (bhh.value.defined()) bhh.grad.copy_from(ops::sum_to_shape(zh, {N, 1, G * H}));
      }
    }
    dX = dXin.reshape({T, N, I});
  }
  Tensors out(n_inputs);
  out[0] = ops::permute_axes(dX, {1, 0, 2});
  if (n_inputs > 2) out[2] = ops::permute_axes(dh0, {1, 0, 2});
  if (n_inputs > 3) out[3] = ops::permute_axes(dc0, {1, 0, 2});
  return out;
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration rnn_tanh_bidi{{"RNN/tanh-2layer-bidirectional", [](Rng& rng) {
                                          RecurrentConfig cfg{3, 4, 2, true, true};
                                          auto layer = std::make_shared<RNN>("rnn", cfg, false, DType::F64);
                                          layer->init(rng);
                                          return LayerExample{layer, {random_tensor({2, 5, 3}, rng)}};
                                        }}};
LayerExampleRegistration rnn_relu_lengths{
    {"RNN/relu-lengths-h0",
     [](Rng& rng) {
       RecurrentConfig cfg{3, 4, 1, false, true};
       auto layer = std::make_shared<RNN>("rnn", cfg, true, DType::F64);
       layer->init(rng);
       Tensor lengths = Tensor::from_vector({3}, std::vector<int64_t>{4, 2, 3});
       return LayerExample{layer, {random_tensor({3, 4, 3}, rng), lengths, random_tensor({3, 1, 4}, rng)}};
     },
     /*has_kinks=*/true}};
}  // namespace
}  // namespace xdnn
