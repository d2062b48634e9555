// ONNX export of the text models' layers (models/zoo.h: text-lstm, text-transformer) as subgraphs of
// standard opset-17 ops. The value names of models/zoo.cpp stay: "lengths", "padding_mask", "embedding",
// "lstm", "lstm.h_n", "layers.0", "norm", "pool", "logits"; helper values are "<node>/<suffix>".
//
//   TokenPadding        lengths = ReduceMax((ids ≠ pad) · (t + 1)) over t; padding_mask = t ≥ lengths
//   Embedding           Gather(weight, ids)
//   LSTM                ONNX LSTM, time-major (layout 0; onnxruntime implements no other), sequence_lens =
//                       lengths; gates reordered from PyTorch's (i, f, g, o) to ONNX's (i, o, f, c);
//                       transposes to and from xdnn's batch-first values
//   positional          x + P[:T] (Slice of the table by the run-time T)
//   TransformerEncoderLayer  LayerNormalization, MatMul with the transposed projection weights, heads by
//                       Reshape/Transpose, S = q kᵀ · (1/√dh), padding keys set to −∞ (Where), Softmax,
//                       GELU as x · ½(1 + erf(x/√2)) (Gelu is opset 20), residual Adds
//   MeanTokenPooling    ReduceSum(x · w) over t with w = (t < length) / length (ReduceMean without lengths)
//   FirstTokenPooling   Gather(x, 0) on axis 1
//   LayerNorm           LayerNormalization over the trailing normalized dims
// The export computes what the layers compute, in a different order of float operations in places
// (attention, pooling), so an exported text model's logits match to float rounding, not bit for bit.
#include <cmath>
#include <limits>

#include "layers/embedding.h"
#include "layers/layer_norm.h"
#include "layers/lstm.h"
#include "layers/positional_embedding.h"
#include "layers/transformer_encoder.h"
#include "models/onnx/export.h"
#include "models/token_padding.h"

namespace xdnn {

namespace {

// The model's TokenPadding layer (for the positional table's length), or nullptr.
const TokenPadding* token_padding(const Model& m) {
  for (const auto& n : m.nodes())
    if (auto* p = dynamic_cast<const TokenPadding*>(n.layer.get())) return p;
  return nullptr;
}

// 0..T−1 as int64 (T) for the run-time length T of axis 1 of `value`.
std::string positions(OnnxExportContext& ctx, const std::string& value, const std::string& suffix) {
  const std::string T = ctx.runtime_dim(value, 1, suffix + "_T");
  ctx.add("Squeeze", {T, ctx.ints(suffix + "_axis0", {0})}, {ctx.temp(suffix + "_Tscalar")});
  ctx.add("Range",
          {ctx.int_scalar(suffix + "_zero", 0), ctx.temp(suffix + "_Tscalar"), ctx.int_scalar(suffix + "_one", 1)},
          {ctx.temp(suffix)});
  return ctx.temp(suffix);
}

OnnxExportRegistration reg_padding("TokenPadding", [](OnnxExportContext& ctx) {
  const auto& pad = dynamic_cast<const TokenPadding&>(ctx.layer());
  const std::string ids = ctx.input(0);
  ctx.add("Equal", {ids, ctx.int_scalar("pad_id", pad.pad_id())}, {ctx.temp("is_pad")});
  ctx.add("Not", {ctx.temp("is_pad")}, {ctx.temp("is_token")});
  set_attr(ctx.add("Cast", {ctx.temp("is_token")}, {ctx.temp("token")}), "to", int64_t{onnx::TensorProto::INT64});
  const std::string t = positions(ctx, ids, "t");
  ctx.add("Add", {t, ctx.int_scalar("one", 1)}, {ctx.temp("t1")});
  ctx.add("Mul", {ctx.temp("token"), ctx.temp("t1")}, {ctx.temp("token_t1")});
  auto& len = ctx.add("ReduceMax", {ctx.temp("token_t1")}, {ctx.output(0)});  // 1 + the last token's position
  set_attr(len, "axes", std::vector<int64_t>{1});
  set_attr(len, "keepdims", int64_t{0});
  ctx.add("Unsqueeze", {ctx.output(0), ctx.ints("axis1", {1})}, {ctx.temp("lengths_col")});
  ctx.add("GreaterOrEqual", {t, ctx.temp("lengths_col")}, {ctx.temp("is_padding")});
  set_attr(ctx.add("Cast", {ctx.temp("is_padding")}, {ctx.output(1)}), "to", int64_t{onnx::TensorProto::INT64});
});

OnnxExportRegistration reg_embedding("Embedding", [](OnnxExportContext& ctx) {
  const Param* w = ctx.layer().params().at(0);
  ctx.add("Gather", {ctx.initializer(w->name, w->value), ctx.input(0)}, {ctx.output(0)});
});

// ONNX gate k (i, o, f, c) is PyTorch gate kTorchGate[k] (i, f, g, o).
constexpr int64_t kTorchGate[4] = {0, 3, 1, 2};

// (D, 4H, cols) ONNX gate-ordered stack of the PyTorch-ordered (4H, cols) tensors `per_direction`.
Tensor onnx_gates(const std::vector<const Tensor*>& per_direction, int64_t H) {
  const int64_t D = static_cast<int64_t>(per_direction.size());
  const int64_t cols = per_direction[0]->ndim() == 2 ? per_direction[0]->dim(1) : 1;
  Tensor out({D, 4 * H, cols}, DType::F32);
  for (int64_t d = 0; d < D; ++d)
    for (int64_t k = 0; k < 4; ++k)
      for (int64_t r = 0; r < H; ++r)
        for (int64_t c = 0; c < cols; ++c)
          out.set_item((d * 4 * H + k * H + r) * cols + c, per_direction[d]->item((kTorchGate[k] * H + r) * cols + c));
  return out;
}

OnnxExportRegistration reg_lstm("LSTM", [](OnnxExportContext& ctx) {
  auto& lstm = dynamic_cast<LSTM&>(ctx.layer());
  const RecurrentConfig& cfg = lstm.config();
  if (cfg.num_layers != 1) throw ctx.error("only one-layer LSTMs are exported");
  if (ctx.num_inputs() > 2) throw ctx.error("initial states are not exported");
  const int D = lstm.directions();
  const int64_t H = cfg.hidden_size;
  std::vector<const Tensor*> w, r, bw, br;
  for (int d = 0; d < D; ++d) {
    w.push_back(&lstm.weight_ih(0, d).value);
    r.push_back(&lstm.weight_hh(0, d).value);
    bw.push_back(&lstm.bias_ih(0, d).value);
    br.push_back(&lstm.bias_hh(0, d).value);
  }
  std::vector<std::string> in = {ctx.input(0), ctx.initializer(ctx.temp("W"), onnx_gates(w, H)),
                                 ctx.initializer(ctx.temp("R"), onnx_gates(r, H))};
  if (cfg.bias) {
    // B (D, 8H) = [Wb (i, o, f, c), Rb (i, o, f, c)] per direction.
    const Tensor wb = onnx_gates(bw, H).reshape({D, 4 * H}), rb = onnx_gates(br, H).reshape({D, 4 * H});
    Tensor b({D, 8 * H}, DType::F32);
    for (int64_t d = 0; d < D; ++d)
      for (int64_t j = 0; j < 4 * H; ++j) {
        b.set_item(d * 8 * H + j, wb.item(d * 4 * H + j));
        b.set_item(d * 8 * H + 4 * H + j, rb.item(d * 4 * H + j));
      }
    in.push_back(ctx.initializer(ctx.temp("B"), b));
  } else {
    in.push_back("");
  }
  if (ctx.num_inputs() > 1) {
    set_attr(ctx.add("Cast", {ctx.input(1)}, {ctx.temp("sequence_lens")}), "to", int64_t{onnx::TensorProto::INT32});
    in.push_back(ctx.temp("sequence_lens"));
  }
  // Time-major (layout 0), as PyTorch exports it and as every runtime implements it: X (T, N, I),
  // Y (T, D, N, H), Y_h / Y_c (D, N, H); transposed to xdnn's batch-first values around the op.
  set_attr(ctx.add("Transpose", {ctx.input(0)}, {ctx.temp("X")}), "perm", std::vector<int64_t>{1, 0, 2});
  in[0] = ctx.temp("X");
  auto& n = ctx.add("LSTM", in, {ctx.temp("Y"), ctx.temp("Y_h"), ctx.temp("Y_c")});
  set_attr(n, "hidden_size", H);
  if (D == 2) set_attr(n, "direction", std::string("bidirectional"));
  set_attr(ctx.add("Transpose", {ctx.temp("Y")}, {ctx.temp("Y_b")}), "perm", std::vector<int64_t>{2, 0, 1, 3});
  ctx.add("Reshape", {ctx.temp("Y_b"), ctx.ints("shape", {0, 0, -1})}, {ctx.output(0)});  // (N, T, D·H)
  set_attr(ctx.add("Transpose", {ctx.temp("Y_h")}, {ctx.output(1)}), "perm", std::vector<int64_t>{1, 0, 2});
  set_attr(ctx.add("Transpose", {ctx.temp("Y_c")}, {ctx.output(2)}), "perm", std::vector<int64_t>{1, 0, 2});
});

// x + P[:T], P (max_len, d) a parameter or the sinusoidal table up to the model's max length.
void export_positional(OnnxExportContext& ctx, const std::string& table) {
  const std::string T = ctx.runtime_dim(ctx.input(0), 1, "T");
  ctx.add("Slice", {table, ctx.ints("start", {0}), T, ctx.ints("axis", {0})}, {ctx.temp("P")});
  ctx.add("Add", {ctx.input(0), ctx.temp("P")}, {ctx.output(0)});
}

OnnxExportRegistration reg_learned_pos("LearnedPositionalEmbedding", [](OnnxExportContext& ctx) {
  const Param* p = ctx.layer().params().at(0);
  export_positional(ctx, ctx.initializer(p->name, p->value));
});

OnnxExportRegistration reg_sinusoidal("SinusoidalPositionalEncoding", [](OnnxExportContext& ctx) {
  const TokenPadding* pad = token_padding(ctx.model());
  if (!pad || pad->max_len() < 1) throw ctx.error("needs the model's maximum sequence length (a TokenPadding node)");
  // The table's width is the input's last axis: one forward pass is not needed, the embedding says it.
  int64_t d = -1;
  for (const auto& n : ctx.model().nodes())
    if (auto* e = dynamic_cast<const Embedding*>(n.layer.get())) d = e->dim();
  if (d < 1) throw ctx.error("needs the embedding width (an Embedding node)");
  export_positional(
      ctx, ctx.initializer(ctx.temp("table"), SinusoidalPositionalEncoding::table(pad->max_len(), d, DType::F32)));
});

void layer_norm(OnnxExportContext& ctx, LayerNorm& ln, const std::string& x, const std::string& y) {
  auto& n = ctx.add(
      "LayerNormalization",
      {x, ctx.initializer(ln.weight().name, ln.weight().value), ctx.initializer(ln.bias().name, ln.bias().value)}, {y});
  set_attr(n, "axis", static_cast<int64_t>(-ln.weight().value.ndim()));
  set_attr(n, "epsilon", static_cast<float>(ln.eps()));
}

OnnxExportRegistration reg_layer_norm("LayerNorm", [](OnnxExportContext& ctx) {
  layer_norm(ctx, dynamic_cast<LayerNorm&>(ctx.layer()), ctx.input(0), ctx.output(0));
});

// y = x Wᵀ + b for x (..., in): MatMul with Transpose(W) (W keeps its name), then Add.
std::string linear(OnnxExportContext& ctx, Linear& lin, const std::string& x, const std::string& suffix) {
  const std::vector<Param*> p = lin.params();
  ctx.add("Transpose", {ctx.initializer(p[0]->name, p[0]->value)}, {ctx.temp(suffix + "_Wt")});
  ctx.add("MatMul", {x, ctx.temp(suffix + "_Wt")}, {ctx.temp(suffix + "_xW")});
  if (p.size() < 2 || !p[1]->value.defined()) return ctx.temp(suffix + "_xW");
  ctx.add("Add", {ctx.temp(suffix + "_xW"), ctx.initializer(p[1]->name, p[1]->value)}, {ctx.temp(suffix)});
  return ctx.temp(suffix);
}

// Self-attention of u (N, T, E) with an optional key-padding mask (N, T) int64; returns (N, T, E).
std::string attention(OnnxExportContext& ctx, MultiheadAttention& mha, const std::string& u, const std::string& mask) {
  if (mha.causal()) throw ctx.error("causal attention is not exported");
  const int64_t E = mha.in_proj_weight().value.dim(1), h = mha.num_heads(), dh = E / h;
  ctx.add("Transpose", {ctx.initializer(mha.in_proj_weight().name, mha.in_proj_weight().value)}, {ctx.temp("in_Wt")});
  ctx.add("MatMul", {u, ctx.temp("in_Wt")}, {ctx.temp("qkv_")});
  std::string qkv = ctx.temp("qkv_");
  if (mha.in_proj_bias().value.defined()) {
    ctx.add("Add", {qkv, ctx.initializer(mha.in_proj_bias().name, mha.in_proj_bias().value)}, {ctx.temp("qkv")});
    qkv = ctx.temp("qkv");
  }
  auto& split = ctx.add("Split", {qkv, ctx.ints("split", {E, E, E})}, {ctx.temp("q"), ctx.temp("k"), ctx.temp("v")});
  set_attr(split, "axis", int64_t{-1});
  const std::string heads = ctx.ints("heads_shape", {0, 0, h, dh});
  for (const char* s : {"q", "k", "v"}) {
    ctx.add("Reshape", {ctx.temp(s), heads}, {ctx.temp(std::string(s) + "_h")});
    // q, v: (N, h, T, dh); k: (N, h, dh, T)
    set_attr(ctx.add("Transpose", {ctx.temp(std::string(s) + "_h")}, {ctx.temp(std::string(s) + "_t")}), "perm",
             std::string(s) == "k" ? std::vector<int64_t>{0, 2, 3, 1} : std::vector<int64_t>{0, 2, 1, 3});
  }
  ctx.add("MatMul", {ctx.temp("q_t"), ctx.temp("k_t")}, {ctx.temp("qk")});
  ctx.add("Mul", {ctx.temp("qk"), ctx.scalar("scale", static_cast<float>(1.0 / std::sqrt(static_cast<double>(dh))))},
          {ctx.temp("S")});
  std::string S = ctx.temp("S");
  if (!mask.empty()) {
    set_attr(ctx.add("Cast", {mask}, {ctx.temp("mask_b")}), "to", int64_t{onnx::TensorProto::BOOL});
    ctx.add("Unsqueeze", {ctx.temp("mask_b"), ctx.ints("mask_axes", {1, 2})}, {ctx.temp("mask_4d")});  // (N, 1, 1, T)
    ctx.add("Where", {ctx.temp("mask_4d"), ctx.scalar("minus_inf", -std::numeric_limits<float>::infinity()), S},
            {ctx.temp("S_masked")});
    S = ctx.temp("S_masked");
  }
  set_attr(ctx.add("Softmax", {S}, {ctx.temp("P")}), "axis", int64_t{-1});
  ctx.add("MatMul", {ctx.temp("P"), ctx.temp("v_t")}, {ctx.temp("O_h")});
  set_attr(ctx.add("Transpose", {ctx.temp("O_h")}, {ctx.temp("O_t")}), "perm", std::vector<int64_t>{0, 2, 1, 3});
  ctx.add("Reshape", {ctx.temp("O_t"), ctx.ints("merge_shape", {0, 0, E})}, {ctx.temp("O")});
  ctx.add("Transpose", {ctx.initializer(mha.out_proj_weight().name, mha.out_proj_weight().value)},
          {ctx.temp("out_Wt")});
  ctx.add("MatMul", {ctx.temp("O"), ctx.temp("out_Wt")}, {ctx.temp("attn_")});
  if (!mha.out_proj_bias().value.defined()) return ctx.temp("attn_");
  ctx.add("Add", {ctx.temp("attn_"), ctx.initializer(mha.out_proj_bias().name, mha.out_proj_bias().value)},
          {ctx.temp("attn")});
  return ctx.temp("attn");
}

// GELU (exact): x · ½ (1 + erf(x / √2)).
std::string gelu(OnnxExportContext& ctx, const std::string& x, const std::string& suffix) {
  ctx.add("Div", {x, ctx.scalar("sqrt2", static_cast<float>(std::sqrt(2.0)))}, {ctx.temp(suffix + "_scaled")});
  ctx.add("Erf", {ctx.temp(suffix + "_scaled")}, {ctx.temp(suffix + "_erf")});
  ctx.add("Add", {ctx.temp(suffix + "_erf"), ctx.scalar("one_f", 1.0f)}, {ctx.temp(suffix + "_1erf")});
  ctx.add("Mul", {x, ctx.temp(suffix + "_1erf")}, {ctx.temp(suffix + "_x1erf")});
  ctx.add("Mul", {ctx.temp(suffix + "_x1erf"), ctx.scalar("half", 0.5f)}, {ctx.temp(suffix)});
  return ctx.temp(suffix);
}

OnnxExportRegistration reg_gelu("GELU", [](OnnxExportContext& ctx) {
  const std::string y = gelu(ctx, ctx.input(0), "gelu");
  ctx.add("Identity", {y}, {ctx.output(0)});
});

OnnxExportRegistration reg_encoder("TransformerEncoderLayer", [](OnnxExportContext& ctx) {
  auto& enc = dynamic_cast<TransformerEncoderLayer&>(ctx.layer());
  const TransformerEncoderConfig& cfg = enc.config();
  const std::string x = ctx.input(0), mask = ctx.num_inputs() > 1 ? ctx.input(1) : "";
  auto feed_forward = [&](const std::string& u) {
    const std::string f = linear(ctx, enc.linear1(), u, "ff1");
    std::string a = ctx.temp("ff_act");
    if (cfg.gelu)
      a = gelu(ctx, f, "ff_act");
    else
      ctx.add("Relu", {f}, {a});
    return linear(ctx, enc.linear2(), a, "ff2");
  };
  if (cfg.norm_first) {  // x1 = x + SA(LN1(x)), y = x1 + FF(LN2(x1))
    layer_norm(ctx, enc.norm1(), x, ctx.temp("ln1"));
    ctx.add("Add", {x, attention(ctx, enc.self_attn(), ctx.temp("ln1"), mask)}, {ctx.temp("x1")});
    layer_norm(ctx, enc.norm2(), ctx.temp("x1"), ctx.temp("ln2"));
    ctx.add("Add", {ctx.temp("x1"), feed_forward(ctx.temp("ln2"))}, {ctx.output(0)});
  } else {  // x1 = LN1(x + SA(x)), y = LN2(x1 + FF(x1))
    ctx.add("Add", {x, attention(ctx, enc.self_attn(), x, mask)}, {ctx.temp("res1")});
    layer_norm(ctx, enc.norm1(), ctx.temp("res1"), ctx.temp("x1"));
    ctx.add("Add", {ctx.temp("x1"), feed_forward(ctx.temp("x1"))}, {ctx.temp("res2")});
    layer_norm(ctx, enc.norm2(), ctx.temp("res2"), ctx.output(0));
  }
});

OnnxExportRegistration reg_mean_pool("MeanTokenPooling", [](OnnxExportContext& ctx) {
  if (ctx.num_inputs() < 2) {
    auto& n = ctx.add("ReduceMean", {ctx.input(0)}, {ctx.output(0)});
    set_attr(n, "axes", std::vector<int64_t>{1});
    set_attr(n, "keepdims", int64_t{0});
    return;
  }
  // w (N, T, 1) = (t < length) / length, then Σ_t x · w.
  const std::string t = positions(ctx, ctx.input(0), "t");
  ctx.add("Unsqueeze", {ctx.input(1), ctx.ints("axis1", {1})}, {ctx.temp("len_col")});
  ctx.add("Less", {t, ctx.temp("len_col")}, {ctx.temp("valid_b")});
  set_attr(ctx.add("Cast", {ctx.temp("valid_b")}, {ctx.temp("valid")}), "to", int64_t{onnx::TensorProto::FLOAT});
  set_attr(ctx.add("Cast", {ctx.temp("len_col")}, {ctx.temp("len_f")}), "to", int64_t{onnx::TensorProto::FLOAT});
  ctx.add("Div", {ctx.temp("valid"), ctx.temp("len_f")}, {ctx.temp("w2")});
  ctx.add("Unsqueeze", {ctx.temp("w2"), ctx.ints("axis2", {2})}, {ctx.temp("w")});
  ctx.add("Mul", {ctx.input(0), ctx.temp("w")}, {ctx.temp("xw")});
  auto& n = ctx.add("ReduceSum", {ctx.temp("xw"), ctx.ints("axes", {1})}, {ctx.output(0)});
  set_attr(n, "keepdims", int64_t{0});
});

OnnxExportRegistration reg_first_pool("FirstTokenPooling", [](OnnxExportContext& ctx) {
  set_attr(ctx.add("Gather", {ctx.input(0), ctx.int_scalar("first", 0)}, {ctx.output(0)}), "axis", int64_t{1});
});

}  // namespace

}  // namespace xdnn
