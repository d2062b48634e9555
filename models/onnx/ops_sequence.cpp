// ONNX converters of sequence models as PyTorch exports them (opsets 14-17): LSTM, GRU, RNN,
// LayerNormalization, Erf, Gelu, Where, Expand.
//
// Recurrent nodes become the batch-first layers of layers/rnn.h wrapped in OnnxRecurrent, which only
// permutes axes between ONNX's layouts and the layer's, so the LSTM keeps its own backward, per-example
// gradients and LRP. ONNX stores the gates in another order than PyTorch (LSTM i, o, f, c vs i, f, g, o;
// GRU z, r, h vs r, z, n) and PyTorch's exporter re-orders its weights with Slice/Concat nodes at run
// time; those fold to constants at import (models/onnx/import.h), and the converter re-orders them back,
// so the parameters equal the PyTorch tensors and take their state-dict names where the graph has them
// (`lstm.weight_ih_l0`, ...).
#include <algorithm>
#include <cmath>

#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "layers/gelu.h"
#include "layers/gru.h"
#include "layers/layer_norm.h"
#include "layers/lstm.h"
#include "layers/registry.h"
#include "models/onnx/import.h"

namespace xdnn {
namespace {

// ---- recurrent adapter -----------------------------------------------------------------------------

// ONNX recurrent node around a batch-first Recurrent layer.
//   inputs  X (T, N, I) [layout 0] or (N, T, I) [layout 1]; sequence_lens (N) or ""; initial_h,
//           initial_c (D, N, H) [layout 0] or (N, D, H) [layout 1], or "".
//   outputs Y (T, D, N, H) [layout 0] or (N, T, D, H) [layout 1]; Y_h, Y_c like the initial states.
class OnnxRecurrent : public Layer {
 public:
  OnnxRecurrent(std::shared_ptr<Recurrent> inner, int layout) : inner_(std::move(inner)), layout_(layout) {}
  const char* kind() const override { return inner_->kind(); }
  std::vector<Param*> params() override { return inner_->params(); }

  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override {
    Tensors in(x.size());
    for (size_t i = 0; i < x.size(); ++i) in[i] = i == 1 ? x[i] : to_batch_first(x[i], i == 0);
    Tensors y = inner_->forward(in, saved, opt);  // the inner layer's saved state is this node's
    const int64_t N = y[0].dim(0), T = y[0].dim(1), D = inner_->directions(), H = inner_->config().hidden_size;
    Tensor Y = y[0].reshape({N, T, D, H});
    Tensors out = {layout_ == 0 ? ops::permute_axes(Y, {1, 2, 0, 3}) : Y};
    for (size_t i = 1; i < y.size(); ++i) out.push_back(from_batch_first(y[i], false));
    return out;
  }

  Tensors backward(const Tensors& gy, const Saved& saved, const BackwardOptions& opt) override {
    return from_inner(inner_->backward(to_inner(gy), saved, opt));
  }
  Tensors relevance(const Tensors& ry, const Saved& saved, const Rule& rule) override {
    return from_inner(inner_->relevance(to_inner(ry), saved, rule));
  }
  std::vector<std::string> relevance_rules() const override { return inner_->relevance_rules(); }

 private:
  // X: time-major -> batch-first; states (D, N, H) -> (N, D, H). Layout 1 is batch-first already.
  Tensor to_batch_first(const Tensor& t, bool is_x) const {
    if (!t.defined() || layout_ == 1) return t;
    (void)is_x;
    return ops::permute_axes(t, {1, 0, 2});
  }
  Tensor from_batch_first(const Tensor& t, bool is_x) const { return to_batch_first(t, is_x); }

  // Gradients / relevances at the ONNX outputs -> at the inner layer's outputs.
  Tensors to_inner(const Tensors& g) const {
    Tensors out(g.size());
    for (size_t i = 0; i < g.size(); ++i) {
      if (!g[i].defined()) continue;
      if (i == 0) {
        Tensor Y = layout_ == 0 ? ops::permute_axes(g[0], {2, 0, 1, 3}) : g[0];  // (N, T, D, H)
        out[0] = Y.reshape({Y.dim(0), Y.dim(1), Y.dim(2) * Y.dim(3)});
      } else {
        out[i] = to_batch_first(g[i], false);
      }
    }
    return out;
  }
  Tensors from_inner(Tensors g) const {
    for (size_t i = 0; i < g.size(); ++i)
      if (i != 1 && g[i].defined()) g[i] = from_batch_first(g[i], i == 0);
    return g;
  }

  std::shared_ptr<Recurrent> inner_;
  int layout_;
};

// Rows [src·H, (src+1)·H) of `from` (dir d) -> rows [dst·H, ...) of `to`, for a gate re-ordering.
void copy_gate(const Tensor& from, int64_t d, int64_t src, Tensor& to, int64_t dst, int64_t H) {
  const Tensor block = from.slice_batch(d, d + 1).reshape({from.dim(1), from.numel() / (from.dim(0) * from.dim(1))});
  to.slice_batch(dst * H, (dst + 1) * H).copy_from(block.slice_batch(src * H, (src + 1) * H));
}

// PyTorch module path from an exported node name: "/encoder/lstm/LSTM_1" -> ("encoder.lstm", 1).
std::pair<std::string, int> module_of(const std::string& node_name, const std::string& op) {
  std::string s = node_name;
  int index = 0;
  const size_t slash = s.rfind('/');
  if (slash != std::string::npos && slash > 0 && s.compare(slash + 1, op.size(), op) == 0) {
    const std::string tail = s.substr(slash + 1 + op.size());
    if (tail.size() > 1 && tail[0] == '_' && tail.find_first_not_of("0123456789", 1) == std::string::npos)
      index = std::stoi(tail.substr(1));
    s = s.substr(0, slash);
  }
  if (!s.empty() && s[0] == '/') s = s.substr(1);
  for (char& c : s)
    if (c == '/') c = '.';
  if (s.empty()) s = node_name;
  return {s, index};
}

// An initial state that is all zeros (a constant, or PyTorch's Shape -> ConstantOfShape(0) subgraph)
// is the layer's default: drop it, so no gradient or relevance is routed to a constant.
bool is_zero_state(const OnnxNodeContext& ctx, int i) {
  if (!ctx.has_input(i)) return true;
  if (ctx.is_constant(i)) {
    const Tensor& t = ctx.constant(i);
    for (int64_t k = 0, k_end = t.numel(); k < k_end; ++k)
      if (t.item(k) != 0.0) return false;
    return true;
  }
  const onnx::NodeProto* p = ctx.producer(i);
  if (!p || p->op_type() != "ConstantOfShape") return false;
  for (const auto& a : p->attribute())
    if (a.name() == "value") {
      const Tensor v = tensor_from_onnx(a.t(), "ConstantOfShape value");
      return v.numel() == 1 && v.item(0) == 0.0;
    }
  return true;  // ConstantOfShape's default value is 0
}

// LSTM, GRU and RNN share everything but the gate maps: pytorch_gate[k] = onnx gate index.
void convert_recurrent(OnnxNodeContext& ctx, RecurrentCell cell) {
  const bool lstm = cell == RecurrentCell::LSTM, gru = cell == RecurrentCell::GRU;
  ctx.check_attrs({"activation_alpha", "activation_beta", "activations", "clip", "direction", "hidden_size",
                   "input_forget", "layout", "linear_before_reset"});
  ctx.expect_inputs(3, lstm ? 8 : 6);
  if (ctx.has_attr("clip")) throw ctx.error("attribute 'clip' (cell clipping) is not supported");
  if (ctx.attr_int("input_forget", 0) != 0) throw ctx.error("input_forget = 1 (coupled gates) is not supported");
  if (ctx.has_attr("activation_alpha") || ctx.has_attr("activation_beta"))
    throw ctx.error("activation_alpha / activation_beta are not supported");
  if (gru && ctx.attr_int("linear_before_reset", 0) != 1)
    throw ctx.error("linear_before_reset = 0 is not supported (PyTorch's GRU exports linear_before_reset = 1)");
  if (lstm && ctx.has_input(7)) throw ctx.error("peephole weights (input P) are not supported");
  const std::string direction = ctx.attr_string("direction", "forward");
  if (direction != "forward" && direction != "bidirectional")
    throw ctx.error("direction '" + direction + "' is not supported (forward, bidirectional)");
  const int64_t D = direction == "bidirectional" ? 2 : 1;
  const int layout = static_cast<int>(ctx.attr_int("layout", 0));
  if (layout != 0 && layout != 1) throw ctx.error("layout must be 0 or 1");

  // Activations: only each cell's defaults (PyTorch's), plus Relu for the Elman RNN.
  const std::vector<std::string> defaults = lstm  ? std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"}
                                            : gru ? std::vector<std::string>{"Sigmoid", "Tanh"}
                                                  : std::vector<std::string>{"Tanh"};
  bool relu = false;
  if (ctx.has_attr("activations")) {
    const auto& attr = *std::find_if(ctx.node().attribute().begin(), ctx.node().attribute().end(),
                                     [](const onnx::AttributeProto& a) { return a.name() == "activations"; });
    for (int k = 0; k < attr.strings_size(); ++k) {
      const std::string& a = attr.strings(k);
      const std::string& want = defaults[k % defaults.size()];
      if (!lstm && !gru && a == "Relu")
        relu = true;
      else if (a != want)
        throw ctx.error("activation '" + a + "' is not supported (expected " + want + ")");
    }
    if (relu && (lstm || gru)) throw ctx.error("activation 'Relu' is not supported for this cell");
  }
  if (cell == RecurrentCell::RnnTanh && relu) cell = RecurrentCell::RnnRelu;

  for (int i = 1; i <= 3; ++i)
    if (ctx.has_input(i) && !ctx.is_constant(i))
      throw ctx.error("input " + std::to_string(i) + " ('" + ctx.input(i) +
                      "') must be known at import time (weights computed from initializers only)");
  const Tensor W = ctx.constant(1), R = ctx.constant(2);
  const int64_t G = lstm ? 4 : gru ? 3 : 1;
  if (W.ndim() != 3 || W.dim(0) != D || W.dim(1) % G != 0)
    throw ctx.error("W must be (" + std::to_string(D) + ", " + std::to_string(G) + "·H, I), got " + W.describe());
  const int64_t H = W.dim(1) / G, I = W.dim(2);
  if (ctx.has_attr("hidden_size") && ctx.attr_int("hidden_size") != H)
    throw ctx.error("hidden_size " + std::to_string(ctx.attr_int("hidden_size")) + " does not match W " + W.describe());
  if (R.shape() != Shape{D, G * H, H})
    throw ctx.error("R must be " + shape_str({D, G * H, H}) + ", got " + R.describe());
  const bool has_bias = ctx.has_input(3);
  Tensor B;
  if (has_bias) {
    B = ctx.constant(3);
    if (B.shape() != Shape{D, 2 * G * H})
      throw ctx.error("B must be " + shape_str({D, 2 * G * H}) + ", got " + B.describe());
  }
  // PyTorch gate k comes from ONNX gate map[k].
  const std::vector<int64_t> map = lstm  ? std::vector<int64_t>{0, 2, 3, 1}
                                   : gru ? std::vector<int64_t>{1, 0, 2}
                                         : std::vector<int64_t>{0};
  const auto [module, layer_index] = module_of(ctx.name(), ctx.op_type());
  RecurrentConfig cfg{I, H, 1, D == 2, has_bias};
  std::shared_ptr<Recurrent> layer;
  if (lstm)
    layer = std::make_shared<LSTM>(module, cfg, W.dtype());
  else if (gru)
    layer = std::make_shared<GRU>(module, cfg, W.dtype());
  else
    layer = std::make_shared<RNN>(module, cfg, cell == RecurrentCell::RnnRelu, W.dtype());
  for (int64_t d = 0; d < D; ++d) {
    const std::string suffix = "_l" + std::to_string(layer_index) + (d ? "_reverse" : "");
    Param* ps[4] = {&layer->weight_ih(0, static_cast<int>(d)), &layer->weight_hh(0, static_cast<int>(d)),
                    &layer->bias_ih(0, static_cast<int>(d)), &layer->bias_hh(0, static_cast<int>(d))};
    for (int64_t k = 0; k < G; ++k) {
      copy_gate(W, d, map[k], ps[0]->value, k, H);
      copy_gate(R, d, map[k], ps[1]->value, k, H);
      if (has_bias) {
        const Tensor Bd = B.slice_batch(d, d + 1).reshape({2 * G * H, 1});
        ps[2]
            ->value.reshape({G * H, 1})
            .slice_batch(k * H, (k + 1) * H)
            .copy_from(Bd.slice_batch(map[k] * H, (map[k] + 1) * H));
        ps[3]
            ->value.reshape({G * H, 1})
            .slice_batch(k * H, (k + 1) * H)
            .copy_from(Bd.slice_batch((G + map[k]) * H, (G + map[k] + 1) * H));
      }
    }
    // State-dict names where the graph holds an initializer of that name with exactly these values.
    const char* kinds[4] = {".weight_ih", ".weight_hh", ".bias_ih", ".bias_hh"};
    for (int j = 0; j < 4; ++j) {
      if (!ps[j]->value.defined()) continue;
      const std::string torch_name = module + kinds[j] + suffix;
      bool same = ctx.is_initializer_name(torch_name);
      if (same) {
        const Tensor& t = ctx.initializer(torch_name);
        same = t.shape() == ps[j]->value.shape();
        for (int64_t e = 0; same && e < t.numel(); ++e) same = t.item(e) == ps[j]->value.item(e);
      }
      ps[j]->name = same ? torch_name : ctx.name() + kinds[j] + suffix;
    }
  }
  const std::string lens = ctx.has_input(4) ? ctx.input(4) : "";
  std::vector<std::string> inputs = {ctx.input(0), lens};
  inputs.push_back(is_zero_state(ctx, 5) ? "" : ctx.input(5));
  if (lstm) inputs.push_back(is_zero_state(ctx, 6) ? "" : ctx.input(6));
  while (inputs.size() > 1 && inputs.back().empty()) inputs.pop_back();
  std::vector<std::string> outputs;
  for (int j = 0; j < (lstm ? 3 : 2); ++j) outputs.push_back(ctx.has_output(j) ? ctx.output(j) : "");
  ctx.add_layer(std::make_shared<OnnxRecurrent>(layer, layout), inputs, outputs);
}

// ---- LayerNormalization (opset 17) -------------------------------------------------------------------

void convert_layer_norm(OnnxNodeContext& ctx) {
  ctx.check_attrs({"axis", "epsilon", "stash_type"});
  ctx.expect_inputs(2, 3);
  if (ctx.has_output(1) || ctx.has_output(2))
    throw ctx.error("the Mean / InvStdDev outputs are not supported (only Y)");
  if (ctx.attr_int("stash_type", 1) != 1) throw ctx.error("stash_type other than 1 (float) is not supported");
  auto as_param = [&](int i) {
    if (!ctx.has_input(i)) return Param{};
    if (ctx.is_initializer(i)) return ctx.param(i);
    if (ctx.is_constant(i)) return Param{ctx.input(i), ctx.constant(i).clone(), {}};
    throw ctx.error("input " + std::to_string(i) + " ('" + ctx.input(i) + "') must be known at import time");
  };
  Param scale = as_param(1), bias = as_param(2);
  const int64_t axis = ctx.attr_int("axis", -1);
  if (axis < 0 && axis != -static_cast<int64_t>(scale.value.ndim()))  // never -axis: axis may be INT64_MIN
    throw ctx.error("axis " + std::to_string(axis) + " does not match Scale " + scale.value.describe() +
                    " (the normalised dimensions)");
  ctx.add_layer(std::make_shared<LayerNorm>(scale, bias, ctx.attr_float("epsilon", 1e-5)), {ctx.input(0)},
                {ctx.output(0)});
}

// ---- element-wise and broadcasting helpers -----------------------------------------------------------

// Erf (PyTorch's exact GELU exports as x · 0.5 · (1 + Erf(x / √2))). LRP: passes relevance unchanged.
class Erf : public Layer {
 public:
  const char* kind() const override { return "Erf"; }
  RelevancePass relevance_pass() const override { return RelevancePass::PassThrough; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions&) override {
    saved.put("x", x.at(0));
    return {ops::erf(x[0])};
  }
  Tensors backward(const Tensors& g, const Saved& saved, const BackwardOptions&) override {
    if (!g.at(0).defined()) return {Tensor()};
    return {ops::mul(g[0], ops::erf_derivative(saved.tensor("x")))};
  }
};

// Where(cond, X, Y) with broadcasting: gradient to X where cond holds, to Y elsewhere (summed back over
// broadcast axes); none to cond. Relevance is routed the same way.
class Where : public Layer {
 public:
  const char* kind() const override { return "Where"; }
  RelevancePass relevance_pass() const override { return RelevancePass::Backward; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions&) override {
    saved.put("cond", x.at(0));
    saved.put("x", x.at(1));
    saved.put("y", x.at(2));
    return {ops::where(x[0], x[1], x[2])};
  }
  Tensors backward(const Tensors& g, const Saved& saved, const BackwardOptions&) override {
    return route(g.at(0), saved);
  }

 private:
  static Tensors route(const Tensor& g, const Saved& saved) {
    const Tensor &c = saved.tensor("cond"), &x = saved.tensor("x"), &y = saved.tensor("y");
    if (!g.defined() || !x.is_float()) return {Tensor(), Tensor(), Tensor()};
    const Tensor zero({1}, g.dtype(), g.device());
    return {Tensor(), ops::sum_to_shape(ops::where(c, g, zero), x.shape()),
            ops::sum_to_shape(ops::where(c, zero, g), y.shape())};
  }
};

// Expand(X, shape): broadcast X to broadcast(X.shape, shape). Gradient: summed back to X's shape.
class Expand : public Layer {
 public:
  const char* kind() const override { return "Expand"; }
  RelevancePass relevance_pass() const override { return RelevancePass::Backward; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions&) override {
    const Tensor& s = x.at(1);
    if (s.dtype() != DType::I64 || s.ndim() != 1)
      throw Error("Expand: shape must be a 1-D int64 tensor, got " + s.describe());
    const Shape shape = ops::index_vector(s);  // the shape is host metadata: copied back from s's device
    saved.put("x", x[0]);
    return {ops::broadcast_to(x[0], shape)};
  }
  Tensors backward(const Tensors& g, const Saved& saved, const BackwardOptions&) override {
    const Tensor& x = saved.tensor("x");
    if (!g.at(0).defined() || !x.is_float()) return {Tensor(), Tensor()};
    return {ops::sum_to_shape(g[0], x.shape()), Tensor()};
  }
};

void convert_erf(OnnxNodeContext& ctx) {
  ctx.check_attrs({});
  ctx.expect_inputs(1, 1);
  ctx.add_layer(std::make_shared<Erf>(), {ctx.input(0)}, {ctx.output(0)});
}

void convert_gelu(OnnxNodeContext& ctx) {  // Gelu-20, accepted at any opset
  ctx.check_attrs({"approximate"});
  ctx.expect_inputs(1, 1);
  const std::string a = ctx.attr_string("approximate", "none");
  if (a != "none" && a != "tanh") throw ctx.error("approximate must be 'none' or 'tanh', got '" + a + "'");
  ctx.add_layer(std::make_shared<GELU>(a == "tanh"), {ctx.input(0)}, {ctx.output(0)});
}

void convert_where(OnnxNodeContext& ctx) {
  ctx.check_attrs({});
  ctx.expect_inputs(3, 3);
  ctx.add_layer(std::make_shared<Where>(), {ctx.input(0), ctx.input(1), ctx.input(2)}, {ctx.output(0)});
}

void convert_expand(OnnxNodeContext& ctx) {
  ctx.check_attrs({});
  ctx.expect_inputs(2, 2);
  ctx.add_layer(std::make_shared<Expand>(), {ctx.input(0), ctx.input(1)}, {ctx.output(0)});
}

OnnxOpRegistration reg_lstm("LSTM", [](OnnxNodeContext& ctx) { convert_recurrent(ctx, RecurrentCell::LSTM); });
OnnxOpRegistration reg_gru("GRU", [](OnnxNodeContext& ctx) { convert_recurrent(ctx, RecurrentCell::GRU); });
OnnxOpRegistration reg_rnn("RNN", [](OnnxNodeContext& ctx) { convert_recurrent(ctx, RecurrentCell::RnnTanh); });
OnnxOpRegistration reg_layer_norm("LayerNormalization", convert_layer_norm);
OnnxOpRegistration reg_erf("Erf", convert_erf);
OnnxOpRegistration reg_gelu("Gelu", convert_gelu);
OnnxOpRegistration reg_where("Where", convert_where);
OnnxOpRegistration reg_expand("Expand", convert_expand);

// The shared layer harness (tests/test_layers.cpp) checks these layers' gradients too.
LayerExampleRegistration erf_example{{"Erf", [](Rng& rng) {
                                        return LayerExample{std::make_shared<Erf>(), {random_tensor({3, 4}, rng)}};
                                      }}};
LayerExampleRegistration where_example{
    {"Where/broadcast", [](Rng& rng) {
       Tensor cond = Tensor::from_vector({2, 1, 3}, std::vector<int64_t>{1, 0, 1, 0, 0, 1});
       return LayerExample{std::make_shared<Where>(), {cond, random_tensor({4, 3}, rng), random_tensor({3}, rng)}};
     }}};
LayerExampleRegistration expand_example{
    {"Expand/broadcast", [](Rng& rng) {
       return LayerExample{std::make_shared<Expand>(),
                           {random_tensor({3, 1}, rng), Tensor::from_vector({3}, std::vector<int64_t>{2, 3, 4})}};
     }}};

}  // namespace
}  // namespace xdnn
