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
  LSTM first("a", RecurrentConfig{3, 4, 1, true, true}, DType::F64), second("b", RecurrentConfig{8, 4, 1, true, true}, DType::F64);
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
    if (kind == 0) layer = std::make_shared<LSTM>("lstm", RecurrentConfig{3, 4, 1, true, true}, DType::F64);
    else layer = std::make_shared<GRU>("gru", RecurrentConfig{3, 4, 1, true, true}, DType::F64);
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
  CHECK_THROWS_WITH_AS(lstm.forward({random_tensor({2, 3, 3}, rng), Tensor::from_vector({2}, std::vector<int64_t>{1, 7})}, s, {}),
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

namespace {

void add_initializer(onnx::GraphProto& g, const std::string& name, const Tensor& t) {
  onnx::TensorProto* p = g.add_initializer();
  p->set_name(name);
  p->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : t.shape()) p->add_dims(d);
  for (int64_t i = 0; i < t.numel(); ++i) p->add_float_data(static_cast<float>(t.item(i)));
}

// PyTorch gate order (i, f, g, o) -> ONNX (i, o, f, c) rows of a (4H, ...) tensor, with a leading axis 1.
Tensor to_onnx_order(const Tensor& t, int64_t H) {
  const int64_t cols = t.numel() / (4 * H);
  Tensor out({1, 4 * H, cols}, DType::F64);
  const int src_of[4] = {0, 3, 1, 2};  // ONNX gate k holds PyTorch gate src_of[k]
  for (int k = 0; k < 4; ++k)
    for (int64_t r = 0; r < H; ++r)
      for (int64_t c = 0; c < cols; ++c) out.set_item((k * H + r) * cols + c, t.item((src_of[k] * H + r) * cols + c));
  return out;
}

}  // namespace

TEST_CASE("ONNX LSTM import: gate re-ordering, time-major layout, state-dict names") {
  Rng rng(12);
  const int64_t T = 4, N = 2, I = 3, H = 5;
  LSTM ref("lstm", RecurrentConfig{I, H, 1, false, true}, DType::F64);
  ref.init(rng);
  // Round the reference weights to float32 so that the float model and the reference agree closely.
  for (Param* p : ref.params()) p->value = p->value.to(DType::F32).to(DType::F64);
  onnx::ModelProto proto;
  proto.set_ir_version(8);
  proto.add_opset_import()->set_version(17);
  onnx::GraphProto& g = *proto.mutable_graph();
  onnx::ValueInfoProto* in = g.add_input();
  in->set_name("X");
  in->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  add_initializer(g, "W", to_onnx_order(ref.weight_ih(0, 0).value, H));
  add_initializer(g, "R", to_onnx_order(ref.weight_hh(0, 0).value, H));
  Tensor B({1, 8 * H}, DType::F64);
  Tensor bi = to_onnx_order(ref.bias_ih(0, 0).value, H), bh = to_onnx_order(ref.bias_hh(0, 0).value, H);
  for (int64_t i = 0; i < 4 * H; ++i) B.set_item(i, bi.item(i)), B.set_item(4 * H + i, bh.item(i));
  add_initializer(g, "B", B);
  add_initializer(g, "lstm.weight_ih_l0", ref.weight_ih(0, 0).value);  // the PyTorch tensor, as exports hold it
  onnx::NodeProto* node = g.add_node();
  node->set_op_type("LSTM");
  node->set_name("/lstm/LSTM");
  for (const char* s : {"X", "W", "R", "B"}) node->add_input(s);
  for (const char* s : {"Y", "Y_h", "Y_c"}) node->add_output(s);
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name("hidden_size");
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(H);
  g.add_output()->set_name("Y_h");
  g.add_output()->set_name("Y");

  Model m = import_onnx_model(proto, "test-lstm.onnx");
  CHECK(m.find_param("lstm.weight_ih_l0") != nullptr);   // matched the initializer of that name
  CHECK(m.find_param("/lstm/LSTM.weight_hh_l0") != nullptr);  // no such initializer: node-based name
  m.to(DType::F64);
  Tensor x = random_tensor({N, T, I}, rng);
  Tape tape = m.forward({ops::permute_axes(x, {1, 0, 2})});
  Tensor hT, cT;
  Tensor y_ref = reference_lstm(x, ref.weight_ih(0, 0).value, ref.weight_hh(0, 0).value, ref.bias_ih(0, 0).value,
                                ref.bias_hh(0, 0).value, false, hT, cT);
  Tensor Y = tape.values[m.value_id("Y")];  // (T, 1, N, H)
  REQUIRE(Y.shape() == Shape{T, 1, N, H});
  CHECK(max_rel_diff(ops::permute_axes(Y.reshape({T, N, H}), {1, 0, 2}), y_ref) < 1e-6);
  CHECK(max_rel_diff(tape.values[m.value_id("Y_h")].reshape({N, H}), hT) < 1e-6);
}

TEST_CASE("ONNX recurrent converter rejects what it cannot represent") {
  onnx::ModelProto proto;
  proto.add_opset_import()->set_version(17);
  onnx::GraphProto& g = *proto.mutable_graph();
  g.add_input()->set_name("X");
  g.mutable_input(0)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  add_initializer(g, "W", Tensor({1, 8, 2}, DType::F64));
  add_initializer(g, "R", Tensor({1, 8, 2}, DType::F64));
  onnx::NodeProto* node = g.add_node();
  node->set_op_type("LSTM");
  node->set_name(std::string("/lstm/LSTM"));
  for (const char* s : {"X", "W", "R"}) node->add_input(s);
  for (const char* s : {"Y", "Y_h"}) node->add_output(s);
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name("direction");
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s("reverse");
  g.add_output()->set_name("Y");
  CHECK_THROWS_WITH_AS(import_onnx_model(proto, "bad.onnx"), doctest::Contains("direction 'reverse' is not supported"), Error);
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

namespace {
// tests/golden/models/<name>, found from the build directory (where meson runs the tests), the source
// root, or through __FILE__ (relative to the build directory).
std::string golden_model(const std::string& name) {
  const std::string here = __FILE__;
  const std::string candidates[] = {here.substr(0, here.rfind('/') + 1) + "golden/models/" + name,
                                    "../tests/golden/models/" + name, "tests/golden/models/" + name};
  for (const auto& c : candidates)
    if (std::ifstream(c).good()) return c;
  throw Error("golden model " + name + " not found (tried " + candidates[0] + ", " + candidates[1] + ", " + candidates[2] + ")");
}
}  // namespace

TEST_CASE("golden lstm.onnx: weights folded to named parameters; per-example gradients sum to the batch gradient") {
  Model m = import_onnx_file(golden_model("lstm.onnx"));
  for (const char* n : {"lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0", "lstm.bias_hh_l0"})
    CHECK_MESSAGE(m.find_param(n) != nullptr, n);
  int lstm_nodes = 0;
  for (const Node& node : m.nodes()) {
    CHECK(std::string(node.layer->kind()) != "Slice");  // the weight re-ordering is folded away
    lstm_nodes += std::string(node.layer->kind()) == "LSTM";
  }
  CHECK(lstm_nodes == 1);
  m.to(DType::F64);
  Tensor ids = Tensor::from_vector({3, 12}, std::vector<int64_t>{1, 60, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,  //
                                                                 5, 5, 5, 5, 5, 5, 5, 61, 5, 5, 5, 5,     //
                                                                 9, 8, 7, 6, 5, 4, 3, 2, 1, 2, 3, 63});
  Tape tape = m.forward({ids});
  const int logits = m.outputs().at(0);
  Tensor seed(tape.values[logits].shape(), DType::F64);
  for (int64_t n = 0; n < 3; ++n) seed.set_item(n * 4 + n, 1.0);
  Param* w = m.find_param("lstm.weight_ih_l0");
  BackwardOptions per;
  per.param_grad = ParamGrad::PerExample;
  m.backward(tape, {{logits, seed}}, per);
  REQUIRE(w->grad.dim(0) == 3);
  Tensor summed = ops::sum_to_shape(w->grad, {1, w->value.dim(0), w->value.dim(1)}).reshape(w->value.shape());
  for (Param* p : m.params()) p->grad = Tensor();  // per-example grads have another shape
  BackwardOptions acc;
  acc.param_grad = ParamGrad::Accumulate;
  m.backward(tape, {{logits, seed}}, acc);
  CHECK(max_rel_diff(summed, w->grad) < 1e-12);
}

TEST_CASE("golden transformer.onnx: LayerNormalization imports as LayerNorm with the state-dict names") {
  Model m = import_onnx_file(golden_model("transformer.onnx"));
  for (const char* n : {"layers.0.norm1.weight", "layers.0.norm1.bias", "layers.0.norm2.weight", "layers.0.norm2.bias"})
    CHECK_MESSAGE(m.find_param(n) != nullptr, n);
  int ln = 0;
  for (const Node& node : m.nodes()) ln += std::string(node.layer->kind()) == "LayerNorm";
  CHECK(ln == 2);
}

namespace {

// PyTorch-order (G·H, ...) tensor of direction d -> ONNX order into rows of `out` (D, G·H, cols).
void put_onnx_order(const Tensor& t, int64_t H, const std::vector<int>& src_of, Tensor& out, int64_t d, int64_t row0 = 0) {
  const int64_t G = static_cast<int64_t>(src_of.size()), cols = t.numel() / (G * H), rows = out.dim(1);
  for (int64_t k = 0; k < G; ++k)
    for (int64_t r = 0; r < H; ++r)
      for (int64_t c = 0; c < cols; ++c)
        out.set_item((d * rows + row0 + k * H + r) * cols + c, t.item((src_of[k] * H + r) * cols + c));
}

void add_attr(onnx::NodeProto* node, const std::string& name, const std::vector<std::string>& strings, int64_t i = -1) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  if (i >= 0) {
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(i);
  } else if (strings.size() == 1 && name == "direction") {
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(strings[0]);
  } else {
    a->set_type(onnx::AttributeProto::STRINGS);
    for (const auto& s : strings) a->add_strings(s);
  }
}

// One ONNX recurrent node (GRU or RNN) with the weights of `ref` (float32-rounded), compared with
// `ref` itself on a batch with lengths.
void check_onnx_recurrent(Recurrent& ref, const std::string& op, const std::vector<int>& src_of, bool relu) {
  Rng rng(14);
  ref.init(rng);
  for (Param* p : ref.params()) p->value = p->value.to(DType::F32).to(DType::F64);
  const int64_t T = 4, N = 2, I = ref.config().input_size, H = ref.config().hidden_size, G = ref.gates();
  const int64_t D = ref.directions();
  onnx::ModelProto proto;
  proto.add_opset_import()->set_version(17);
  onnx::GraphProto& g = *proto.mutable_graph();
  for (const char* name : {"X", "lens"}) {
    onnx::ValueInfoProto* in = g.add_input();
    in->set_name(name);
    in->mutable_type()->mutable_tensor_type()->set_elem_type(name[0] == 'X' ? onnx::TensorProto::FLOAT
                                                                            : onnx::TensorProto::INT64);
  }
  Tensor W({D, G * H, I}, DType::F64), R({D, G * H, H}, DType::F64), B({D, 2 * G * H, 1}, DType::F64);
  for (int d = 0; d < D; ++d) {
    put_onnx_order(ref.weight_ih(0, d).value, H, src_of, W, d);
    put_onnx_order(ref.weight_hh(0, d).value, H, src_of, R, d);
    put_onnx_order(ref.bias_ih(0, d).value, H, src_of, B, d);
    put_onnx_order(ref.bias_hh(0, d).value, H, src_of, B, d, G * H);
  }
  add_initializer(g, "W", W);
  add_initializer(g, "R", R);
  add_initializer(g, "B", B.reshape({D, 2 * G * H}));
  onnx::NodeProto* node = g.add_node();
  node->set_op_type(op);
  node->set_name("/rnn/" + op);
  for (const char* s : {"X", "W", "R", "B", "lens"}) node->add_input(s);
  for (const char* s : {"Y", "Y_h"}) node->add_output(s);
  add_attr(node, "hidden_size", {}, H);
  if (D == 2) add_attr(node, "direction", {"bidirectional"});
  if (op == "GRU") add_attr(node, "linear_before_reset", {}, 1);
  if (relu) add_attr(node, "activations", {"Relu"});
  g.add_output()->set_name("Y");
  Model m = import_onnx_model(proto, "test.onnx");
  m.to(DType::F64);
  Tensor x = random_tensor({N, T, I}, rng);
  Tensor lens = Tensor::from_vector({2}, std::vector<int64_t>{4, 3});
  Tape tape = m.forward({ops::permute_axes(x, {1, 0, 2}), lens});
  Saved s;
  std::vector<Tensor> y = ref.forward({x, lens}, s, {});
  Tensor Y = tape.values[m.value_id("Y")];  // (T, D, N, H)
  REQUIRE(Y.shape() == Shape{T, D, N, H});
  CHECK(max_rel_diff(ops::permute_axes(Y, {2, 0, 1, 3}).reshape({N, T, D * H}), y[0]) < 1e-6);
  CHECK(max_rel_diff(ops::permute_axes(tape.values[m.value_id("Y_h")], {1, 0, 2}), y[1]) < 1e-6);
}

}  // namespace

TEST_CASE("ONNX GRU (bidirectional) and RNN (relu) import with sequence_lens match the native layers") {
  GRU gru("gru", RecurrentConfig{3, 4, 1, true, true}, DType::F64);
  check_onnx_recurrent(gru, "GRU", {1, 0, 2}, false);  // ONNX z, r, h <- PyTorch r, z, n
  RNN rnn("rnn", RecurrentConfig{3, 4, 1, false, true}, true, DType::F64);
  check_onnx_recurrent(rnn, "RNN", {0}, true);
}
