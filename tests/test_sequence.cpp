// Sequence layers against independent oracles: an LSTM step written out by hand, attention computed
// naively, masks, LSTM LRP conservation, the ONNX LSTM importer's gate re-ordering, and the LayerNorm
// invariance property of ../shared/golden/README.md ("Token models").
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <string>

#include "engine/ops.h"
#include "layers/embedding.h"
#include "layers/gru.h"
#include "layers/layer_norm.h"
#include "layers/linear.h"
#include "layers/lstm.h"
#include "layers/multihead_attention.h"
#include "layers/registry.h"
#include "layers/transformer_encoder.h"
#include "models/model.h"
#include "models/onnx/import.h"
#include "tests/gradcheck.h"

using namespace xdnn;
using testing::max_rel_diff;

namespace {

double sigm(double v) { return 1.0 / (1.0 + std::exp(-v)); }

// Reference LSTM over one direction, one layer, written element by element (PyTorch's equations).
// x (N, T, I); returns y (N, T, H) and sets hT, cT (N, H).
Tensor reference_lstm(const Tensor& x, const Tensor& Wih, const Tensor& Whh, const Tensor& bih, const Tensor& bhh,
                      bool reverse, Tensor& hT, Tensor& cT) {
  const int64_t N = x.dim(0), T = x.dim(1), I = x.dim(2), H = Whh.dim(1);
  Tensor y({N, T, H}, DType::F64);
  hT = Tensor({N, H}, DType::F64), cT = Tensor({N, H}, DType::F64);
  for (int64_t n = 0; n < N; ++n) {
    std::vector<double> h(H, 0.0), c(H, 0.0);
    for (int64_t s = 0; s < T; ++s) {
      const int64_t t = reverse ? T - 1 - s : s;
      std::vector<double> z(4 * H);
      for (int64_t r = 0; r < 4 * H; ++r) {
        double v = bih.item(r) + bhh.item(r);
        for (int64_t k = 0; k < I; ++k) v += Wih.item(r * I + k) * x.item((n * T + t) * I + k);
        for (int64_t k = 0; k < H; ++k) v += Whh.item(r * H + k) * h[k];
        z[r] = v;
      }
      for (int64_t j = 0; j < H; ++j) {
        const double i = sigm(z[j]), f = sigm(z[H + j]), g = std::tanh(z[2 * H + j]), o = sigm(z[3 * H + j]);
        c[j] = f * c[j] + i * g;
        h[j] = o * std::tanh(c[j]);
        y.set_item((n * T + t) * H + j, h[j]);
      }
    }
    for (int64_t j = 0; j < H; ++j) hT.set_item(n * H + j, h[j]), cT.set_item(n * H + j, c[j]);
  }
  return y;
}

Tensor column_block(const Tensor& y, int64_t begin, int64_t end) { return ops::slice_last_axis(y, begin, end); }

// Sample n of a batch as its own batch of one.
Tensor row(const Tensor& x, int64_t n) { return x.slice_batch(n, n + 1).clone(); }

}  // namespace

TEST_CASE("LSTM matches a hand-written reference step, forward and bidirectional") {
  Rng rng(3);
  LSTM lstm("lstm", RecurrentConfig{3, 5, 1, true, true}, DType::F64);
  lstm.init(rng);
  Tensor x = random_tensor({2, 4, 3}, rng);
  Saved saved;
  std::vector<Tensor> out = lstm.forward({x}, saved, {});
  REQUIRE(out.size() == 3);
  CHECK(out[0].shape() == Shape{2, 4, 10});
  CHECK(out[1].shape() == Shape{2, 2, 5});
  CHECK(out[2].shape() == Shape{2, 2, 5});
  for (int d = 0; d < 2; ++d) {
    Tensor hT, cT;
    Tensor ref = reference_lstm(x, lstm.weight_ih(0, d).value, lstm.weight_hh(0, d).value, lstm.bias_ih(0, d).value,
                                lstm.bias_hh(0, d).value, d == 1, hT, cT);
    CHECK(max_rel_diff(column_block(out[0], d * 5, (d + 1) * 5), ref) < 1e-12);
    CHECK(max_rel_diff(ops::permute_axes(out[1], {1, 0, 2}).slice_batch(d, d + 1).reshape({2, 5}), hT) < 1e-12);
    CHECK(max_rel_diff(ops::permute_axes(out[2], {1, 0, 2}).slice_batch(d, d + 1).reshape({2, 5}), cT) < 1e-12);
  }
  CHECK(lstm.weight_ih(0, 1).name == "lstm.weight_ih_l0_reverse");
  CHECK(lstm.bias_hh(0, 0).name == "lstm.bias_hh_l0");
}

TEST_CASE("stacked bidirectional LSTM: layer 2 reads layer 1's output sequence") {
  Rng rng(4);
  LSTM two("lstm", RecurrentConfig{3, 4, 2, true, true}, DType::F64);
  two.init(rng);
  CHECK(two.weight_ih(1, 0).value.shape() == Shape{16, 8});
  CHECK(two.weight_hh(1, 1).name == "lstm.weight_hh_l1_reverse");
  Tensor x = random_tensor({2, 5, 3}, rng);
  Saved s2;
  std::vector<Tensor> y2 = two.forward({x}, s2, {});
  CHECK(y2[0].shape() == Shape{2, 5, 8});
  CHECK(y2[1].shape() == Shape{2, 4, 4});
  // The same network as two single-layer LSTMs in sequence.
  LSTM first("a", RecurrentConfig{3, 4, 1, true, true}, DType::F64),
      second("b", RecurrentConfig{8, 4, 1, true, true}, DType::F64);
  for (int d = 0; d < 2; ++d) {
    first.weight_ih(0, d).value = two.weight_ih(0, d).value, first.weight_hh(0, d).value = two.weight_hh(0, d).value;
    first.bias_ih(0, d).value = two.bias_ih(0, d).value, first.bias_hh(0, d).value = two.bias_hh(0, d).value;
    second.weight_ih(0, d).value = two.weight_ih(1, d).value, second.weight_hh(0, d).value = two.weight_hh(1, d).value;
    second.bias_ih(0, d).value = two.bias_ih(1, d).value, second.bias_hh(0, d).value = two.bias_hh(1, d).value;
  }
  Saved sa, sb;
  Tensor mid = first.forward({x}, sa, {})[0];
  std::vector<Tensor> top = second.forward({mid}, sb, {});
  CHECK(max_rel_diff(y2[0], top[0]) < 1e-12);
}

TEST_CASE("recurrent lengths: padded steps output 0 and the final state is the last valid step's") {
  Rng rng(5);
  for (int kind = 0; kind < 2; ++kind) {
    std::shared_ptr<Recurrent> layer;
    if (kind == 0)
      layer = std::make_shared<LSTM>("lstm", RecurrentConfig{3, 4, 1, true, true}, DType::F64);
    else
      layer = std::make_shared<GRU>("gru", RecurrentConfig{3, 4, 1, true, true}, DType::F64);
    layer->init(rng);
    Tensor x = random_tensor({2, 5, 3}, rng);
    Tensor lengths = Tensor::from_vector({2}, std::vector<int64_t>{5, 2});
    Saved saved;
    std::vector<Tensor> y = layer->forward({x, lengths}, saved, {});
    for (int64_t t = 2; t < 5; ++t)
      for (int64_t j = 0; j < 8; ++j) CHECK(y[0].item((5 + t) * 8 + j) == 0.0);
    // Sample 1 alone, truncated to its length, gives the same outputs and final states.
    Tensor x1({1, 2, 3}, DType::F64);
    for (int64_t i = 0; i < 6; ++i) x1.set_item(i, x.item(15 + i));
    Saved s1;
    std::vector<Tensor> y1 = layer->forward({x1}, s1, {});
    for (int64_t t = 0; t < 2; ++t)
      for (int64_t j = 0; j < 8; ++j) CHECK(std::abs(y[0].item((5 + t) * 8 + j) - y1[0].item(t * 8 + j)) < 1e-12);
    CHECK(max_rel_diff(row(y[1], 1), y1[1]) < 1e-12);
  }
  Saved s;
  LSTM lstm("lstm", RecurrentConfig{3, 4, 1, false, true}, DType::F64);
  CHECK_THROWS_WITH_AS(
      lstm.forward({random_tensor({2, 3, 3}, rng), Tensor::from_vector({2}, std::vector<int64_t>{1, 7})}, s, {}),
      doctest::Contains("length 7 of sample 1 is outside [0, 3]"), Error);
}

TEST_CASE("LSTM LRP (epsilon) conserves relevance on a bias-free network") {
  Rng rng(6);
  for (bool bidi : {false, true}) {
    LSTM lstm("lstm", RecurrentConfig{4, 5, 2, bidi, false}, DType::F64);
    lstm.init(rng);
    Tensor x = random_tensor({3, 6, 4}, rng);
    Saved saved;
    std::vector<Tensor> y = lstm.forward({x}, saved, {});
    // Relevance at h_n only, as when a classifier reads the last hidden state.
    Tensor Rh = random_tensor(y[1].shape(), rng);
    Rule rule;
    rule.epsilon = 1e-9;
    std::vector<Tensor> Rx = lstm.relevance({Tensor(), Rh, Tensor()}, saved, rule);
    REQUIRE(Rx[0].shape() == x.shape());
    for (int64_t n = 0; n < 3; ++n) {
      const double in = ops::sum_all(Rx[0].slice_batch(n, n + 1)), out = ops::sum_all(Rh.slice_batch(n, n + 1));
      CHECK(std::abs(in - out) < 1e-6 * std::max(1.0, std::abs(out)));
    }
    // Relevance on the output sequence too.
    Tensor Ry = random_tensor(y[0].shape(), rng);
    Rx = lstm.relevance({Ry, Tensor(), Tensor()}, saved, rule);
    CHECK(std::abs(ops::sum_all(Rx[0]) - ops::sum_all(Ry)) < 1e-6 * std::max(1.0, std::abs(ops::sum_all(Ry))));
  }
  LSTM lstm("lstm", RecurrentConfig{2, 2, 1, false, true}, DType::F64);
  Saved s;
  lstm.forward({Tensor({1, 2, 2}, DType::F64)}, s, {});
  Rule zplus;
  zplus.name = "zplus";
  CHECK_THROWS_WITH_AS(lstm.relevance({Tensor(), Tensor({1, 1, 2}, DType::F64), Tensor()}, s, zplus),
                       doctest::Contains("LSTM has no LRP rule 'zplus'"), Error);
}

TEST_CASE("LSTM LRP follows the README equations on a one-step, one-unit example") {
  // T = 1, H = 1, I = 1: R_c = R_h; R_g = i g R_c / stab(c); R_x = x W_g R_g / stab(z_g).
  LSTM lstm("lstm", RecurrentConfig{1, 1, 1, false, true}, DType::F64);
  const double w[4] = {0.3, -0.2, 0.9, 0.5}, b[4] = {0.1, 0.2, -0.4, 0.05};
  for (int k = 0; k < 4; ++k) {
    lstm.weight_ih(0, 0).value.set_item(k, w[k]);
    lstm.weight_hh(0, 0).value.set_item(k, 0.7);
    lstm.bias_ih(0, 0).value.set_item(k, b[k]);
    lstm.bias_hh(0, 0).value.set_item(k, 0.0);
  }
  const double x = 1.3, eps = 1e-3, R = 2.0;
  Saved s;
  lstm.forward({Tensor::from_vector({1, 1, 1}, std::vector<double>{x})}, s, {});
  Rule rule;
  rule.epsilon = eps;
  Tensor Rx = lstm.relevance({Tensor(), Tensor::from_vector({1, 1, 1}, std::vector<double>{R}), Tensor()}, s, rule)[0];
  const double zi = w[0] * x + b[0], zg = w[2] * x + b[2];
  const double i = sigm(zi), g = std::tanh(zg), c = i * g;  // c_0 = 0
  auto stab = [&](double v) { return v + (v >= 0 ? eps : -eps); };
  const double Rg = i * g * R / stab(c);
  CHECK(Rx.item(0) == doctest::Approx(x * w[2] * Rg / stab(zg)).epsilon(1e-12));
}

TEST_CASE("MultiheadAttention equals a naive computation; causal mask blocks future positions") {
  Rng rng(8);
  const int64_t N = 2, T = 4, E = 6, h = 2, dh = 3;
  for (bool causal : {false, true}) {
    MultiheadAttention mha("attn", E, h, true, causal, DType::F64);
    mha.init(rng);
    for (Param* p : mha.params())
      for (int64_t i = 0; i < p->value.numel(); ++i) p->value.set_item(i, rng.uniform(-0.7, 0.7));
    Tensor x = random_tensor({N, T, E}, rng);
    Saved saved;
    std::vector<Tensor> out = mha.forward({x}, saved, {});
    const Tensor &W = mha.in_proj_weight().value, &B = mha.in_proj_bias().value;
    const Tensor &Wo = mha.out_proj_weight().value, &Bo = mha.out_proj_bias().value;
    Tensor ref({N, T, E}, DType::F64);
    for (int64_t n = 0; n < N; ++n) {
      std::vector<double> q(T * E), k(T * E), v(T * E), o(T * E, 0.0);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t r = 0; r < 3 * E; ++r) {
          double s = B.item(r);
          for (int64_t c = 0; c < E; ++c) s += W.item(r * E + c) * x.item((n * T + t) * E + c);
          (r < E ? q : r < 2 * E ? k : v)[t * E + r % E] = s;
        }
      for (int64_t hh = 0; hh < h; ++hh)
        for (int64_t i = 0; i < T; ++i) {
          std::vector<double> sc(T);
          double m = -1e300, z = 0;
          for (int64_t j = 0; j < T; ++j) {
            double s = 0;
            for (int64_t d = 0; d < dh; ++d) s += q[i * E + hh * dh + d] * k[j * E + hh * dh + d];
            sc[j] = (causal && j > i) ? -INFINITY : s / std::sqrt(double(dh));
            m = std::max(m, sc[j]);
          }
          for (int64_t j = 0; j < T; ++j) z += (sc[j] = std::exp(sc[j] - m));
          for (int64_t j = 0; j < T; ++j) {
            sc[j] /= z;
            CHECK(std::abs(out[1].item(((n * h + hh) * T + i) * T + j) - sc[j]) < 1e-12);
            if (causal && j > i) CHECK(out[1].item(((n * h + hh) * T + i) * T + j) == 0.0);
            for (int64_t d = 0; d < dh; ++d) o[i * E + hh * dh + d] += sc[j] * v[j * E + hh * dh + d];
          }
        }
      for (int64_t t = 0; t < T; ++t)
        for (int64_t r = 0; r < E; ++r) {
          double s = Bo.item(r);
          for (int64_t c = 0; c < E; ++c) s += Wo.item(r * E + c) * o[t * E + c];
          ref.set_item((n * T + t) * E + r, s);
        }
    }
    CHECK(max_rel_diff(out[0], ref) < 1e-12);
    if (causal) {
      // Changing the last token changes no earlier position's output.
      Tensor x2 = x.clone();
      for (int64_t c = 0; c < E; ++c) x2.set_item((T - 1) * E + c, 5.0);
      Saved s2;
      Tensor y2 = mha.forward({x2}, s2, {})[0];
      for (int64_t t = 0; t < T - 1; ++t)
        for (int64_t c = 0; c < E; ++c) CHECK(y2.item(t * E + c) == out[0].item(t * E + c));
    }
  }
}

TEST_CASE("MultiheadAttention key-padding mask gives padded keys zero weight") {
  Rng rng(9);
  MultiheadAttention mha("attn", 4, 2, true, false, DType::F64);
  mha.init(rng);
  Tensor x = random_tensor({2, 3, 4}, rng);
  Tensor pad = Tensor::from_vector({2, 3}, std::vector<int64_t>{0, 0, 1, 0, 0, 0});
  Saved s;
  Tensor P = mha.forward({x, pad}, s, {})[1];
  for (int64_t hh = 0; hh < 2; ++hh)
    for (int64_t i = 0; i < 3; ++i) {
      CHECK(P.item((hh * 3 + i) * 3 + 2) == 0.0);
      CHECK(P.item(((2 + hh) * 3 + i) * 3 + 2) > 0.0);
    }
}

TEST_CASE("LRP of LayerNorm and attention conserves relevance without biases") {
  Rng rng(10);
  LayerNorm ln("ln", {5}, 1e-5, true, DType::F64);
  ln.bias().value.fill(0.0);
  for (int64_t i = 0; i < 5; ++i) ln.weight().value.set_item(i, rng.uniform(0.5, 1.5));
  Tensor x = random_tensor({2, 3, 5}, rng);
  Saved s;
  ln.forward({x}, s, {});
  Rule rule;
  rule.epsilon = 1e-12;
  Tensor R = random_tensor({2, 3, 5}, rng);
  Tensor Rx = ln.relevance({R}, s, rule)[0];
  CHECK(std::abs(ops::sum_all(Rx) - ops::sum_all(R)) < 1e-8);

  MultiheadAttention mha("attn", 4, 2, false, false, DType::F64);
  mha.init(rng);
  Tensor xa = random_tensor({2, 3, 4}, rng);
  Saved sa;
  mha.forward({xa}, sa, {});
  Tensor Ra = random_tensor({2, 3, 4}, rng);
  Tensor Rxa = mha.relevance({Ra, Tensor()}, sa, rule)[0];
  // The softmax rule is conservative only up to the relevance its row sum would give the constant
  // shift; check finiteness and shape, and that relevance at x is not identically zero.
  REQUIRE(Rxa.shape() == xa.shape());
  double norm = 0;
  for (int64_t i = 0; i < Rxa.numel(); ++i) {
    CHECK(std::isfinite(Rxa.item(i)));
    norm += std::abs(Rxa.item(i));
  }
  CHECK(norm > 0);
}

TEST_CASE("Embedding: bad ids and float input are errors naming the value and the range") {
  Embedding emb("embedding", 10, 3, DType::F64);
  Saved s;
  CHECK_THROWS_WITH_AS(emb.forward({Tensor::from_vector({1, 3}, std::vector<int64_t>{1, 12, 2})}, s, {}),
                       doctest::Contains("id 12 at flat position 1 is outside the valid range [0, 9]"), Error);
  CHECK_THROWS_WITH_AS(emb.forward({Tensor::from_vector({1, 2}, std::vector<int64_t>{-1, 2})}, s, {}),
                       doctest::Contains("id -1"), Error);
  CHECK_THROWS_WITH_AS(emb.forward({Tensor({1, 2}, DType::F32)}, s, {}), doctest::Contains("expected int64 token ids"),
                       Error);
}

TEST_CASE("LayerNorm-bracketed model: the summed embedding gradient is identically 0") {
  // embedding -> LayerNorm -> Linear -> LayerNorm -> Linear (logits): adding c to all d entries of a
  // token's embedding changes nothing, so Σ_d ∂f/∂e = 0 (../shared/golden/README.md "Token models").
  Rng rng(11);
  Model m;
  m.add_input("ids");
  auto emb = std::make_shared<Embedding>("embedding", 20, 6, DType::F64);
  emb->init(rng);
  auto fc1 = std::make_shared<Linear>("fc1", 6, 6, true, DType::F64);
  auto fc2 = std::make_shared<Linear>("fc2", 6, 3, true, DType::F64);
  fc1->init(rng), fc2->init(rng);
  auto ln1 = std::make_shared<LayerNorm>("ln1", Shape{6}, 1e-5, true, DType::F64);
  auto ln2 = std::make_shared<LayerNorm>("ln2", Shape{6}, 1e-5, true, DType::F64);
  for (auto& ln : {ln1, ln2})
    for (Param* p : ln->params())
      for (int64_t i = 0; i < p->value.numel(); ++i) p->value.set_item(i, rng.uniform(0.5, 1.5));
  m.append("emb", emb);
  m.append("ln1", ln1);
  m.append("fc1", fc1);
  m.append("ln2", ln2);
  m.append("logits", fc2);
  Tensor ids = Tensor::from_vector({2, 4}, std::vector<int64_t>{1, 5, 7, 19, 0, 3, 3, 8});
  Tape tape = m.forward({ids});
  Tensor seed({2, 4, 3}, DType::F64);
  for (int64_t i = 0; i < seed.numel(); i += 3) seed.set_item(i + 1, 1.0);
  std::vector<Tensor> g = m.backward(tape, {{m.value_id("logits"), seed}});
  Tensor ge = g[m.value_id("emb")];
  REQUIRE(ge.defined());
  Tensor summed = ops::sum_to_shape(ge, {2, 4, 1});
  double gmax = 0;
  for (int64_t i = 0; i < ge.numel(); ++i) gmax = std::max(gmax, std::abs(ge.item(i)));
  CHECK(gmax > 1e-3);  // the gradient itself is not zero
  for (int64_t i = 0; i < summed.numel(); ++i) CHECK(std::abs(summed.item(i)) < 1e-12 * std::max(1.0, gmax));
}

TEST_CASE("TransformerEncoderLayer (post-norm) equals its sub-layers composed by hand") {
  Rng rng(13);
  TransformerEncoderConfig cfg{4, 2, 6, false, false, false, 1e-5};
  TransformerEncoderLayer enc("layers.0", cfg, DType::F64);
  enc.init(rng);
  CHECK(enc.self_attn().in_proj_weight().name == "layers.0.self_attn.in_proj_weight");
  CHECK(enc.norm2().bias().name == "layers.0.norm2.bias");
  Tensor x = random_tensor({2, 3, 4}, rng);
  Saved s;
  Tensor y = enc.forward({x}, s, {})[0];
  Saved a, b, c, d, e, f;
  Tensor x1 = enc.norm1().forward({ops::add(x, enc.self_attn().forward({x}, a, {})[0])}, b, {})[0];
  Tensor h = ops::unary(ops::Unary::Relu, enc.linear1().forward({x1}, c, {})[0]);
  Tensor ref = enc.norm2().forward({ops::add(x1, enc.linear2().forward({h}, d, {})[0])}, e, {})[0];
  CHECK(max_rel_diff(y, ref) < 1e-12);
  // Relevance runs through every sub-layer's epsilon rule and stays finite.
  Rule rule;
  Tensor R = enc.relevance({y}, s, rule)[0];
  REQUIRE(R.shape() == x.shape());
  for (int64_t i = 0; i < R.numel(); ++i) CHECK(std::isfinite(R.item(i)));
  (void)f;
}
