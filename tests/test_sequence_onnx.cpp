// ONNX import of sequence models: the recurrent converters' gate re-ordering and layouts against the
// native layers, the golden lstm / transformer models (folded weights, state-dict names, per-example
// gradients), and the element-wise converters (Erf, Where, Expand).
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <string>

#include "engine/ops.h"
#include "layers/gru.h"
#include "layers/lstm.h"
#include "layers/registry.h"
#include "models/model.h"
#include "models/onnx/import.h"
#include "tests/gradcheck.h"

using namespace xdnn;
using testing::max_rel_diff;

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
  CHECK(m.find_param("lstm.weight_ih_l0") != nullptr);        // matched the initializer of that name
  CHECK(m.find_param("/lstm/LSTM.weight_hh_l0") != nullptr);  // no such initializer: node-based name
  m.to(DType::F64);
  Tensor x = random_tensor({N, T, I}, rng);
  Tape tape = m.forward({ops::permute_axes(x, {1, 0, 2})});
  // The native layer (checked against a hand-written step in test_sequence.cpp) is the oracle.
  Saved saved;
  std::vector<Tensor> native = ref.forward({x}, saved, {});
  const Tensor y_ref = native[0], hT = native[1].reshape({N, H});
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
  CHECK_THROWS_WITH_AS(import_onnx_model(proto, "bad.onnx"), doctest::Contains("direction 'reverse' is not supported"),
                       Error);
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
  throw Error("golden model " + name + " not found (tried " + candidates[0] + ", " + candidates[1] + ", " +
              candidates[2] + ")");
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
  Tensor ids = Tensor::from_vector({3, 12}, std::vector<int64_t>{1, 60, 3, 4, 5, 6, 7, 8,  9, 10, 11, 12,  //
                                                                 5, 5,  5, 5, 5, 5, 5, 61, 5, 5,  5,  5,   //
                                                                 9, 8,  7, 6, 5, 4, 3, 2,  1, 2,  3,  63});
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
void put_onnx_order(const Tensor& t, int64_t H, const std::vector<int>& src_of, Tensor& out, int64_t d,
                    int64_t row0 = 0) {
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

TEST_CASE("ONNX exact-GELU pattern (Div, Erf, Add, Mul, Mul), Where and Expand: values and gradients") {
  // y = Where(x > 0 mask, 0.5 x (1 + erf(x / √2)), Expand(c, shape)) with the mask a graph input.
  onnx::ModelProto proto;
  proto.add_opset_import()->set_version(17);
  onnx::GraphProto& g = *proto.mutable_graph();
  for (const char* name : {"x", "mask"}) {
    onnx::ValueInfoProto* in = g.add_input();
    in->set_name(name);
    in->mutable_type()->mutable_tensor_type()->set_elem_type(name[0] == 'x' ? onnx::TensorProto::FLOAT
                                                                            : onnx::TensorProto::INT64);
  }
  add_initializer(g, "sqrt2", Tensor::from_vector({1}, std::vector<double>{std::sqrt(2.0)}));
  add_initializer(g, "one", Tensor::from_vector({1}, std::vector<double>{1.0}));
  add_initializer(g, "half", Tensor::from_vector({1}, std::vector<double>{0.5}));
  add_initializer(g, "c", Tensor::from_vector({1, 3}, std::vector<double>{0.25, -1.5, 2.0}));
  onnx::TensorProto* shape = g.add_initializer();
  shape->set_name("shape");
  shape->set_data_type(onnx::TensorProto::INT64);
  shape->add_dims(2);
  shape->add_int64_data(2), shape->add_int64_data(3);
  auto node = [&](const std::string& op, std::vector<std::string> in, const std::string& out) {
    onnx::NodeProto* n = g.add_node();
    n->set_op_type(op);
    n->set_name("/" + out);
    for (const auto& s : in) n->add_input(s);
    n->add_output(out);
  };
  node("Div", {"x", "sqrt2"}, "d");
  node("Erf", {"d"}, "e");
  node("Add", {"e", "one"}, "a");
  node("Mul", {"x", "a"}, "m");
  node("Mul", {"m", "half"}, "gelu");
  node("Expand", {"c", "shape"}, "cx");
  node("Where", {"mask", "gelu", "cx"}, "y");
  g.add_output()->set_name("y");
  Model m = import_onnx_model(proto, "gelu.onnx");
  m.to(DType::F64);
  Rng rng(15);
  Tensor x = random_tensor({2, 3}, rng, -2.0, 2.0);
  Tensor mask = Tensor::from_vector({2, 3}, std::vector<int64_t>{1, 0, 1, 1, 1, 0});
  Tape tape = m.forward({x, mask});
  const Tensor y = tape.values[m.value_id("y")];
  const Tensor gelu = ops::gelu(x, false);
  for (int64_t i = 0; i < 6; ++i)
    CHECK(y.item(i) == doctest::Approx(mask.item(i) != 0 ? gelu.item(i) : std::vector<double>{0.25, -1.5, 2.0}[i % 3])
                           .epsilon(1e-6));  // √2 is a float32 initializer
  // Gradient of Σ w ⊙ y with respect to x against finite differences.
  Tensor w = random_tensor({2, 3}, rng);
  Tensor gx = m.backward(tape, {{m.value_id("y"), w}})[m.value_id("x")];
  auto f = [&] { return ops::dot_all(m.forward({x, mask}).values[m.value_id("y")], w); };
  CHECK(max_rel_diff(gx, testing::numeric_gradient(f, x)) < 1e-7);
}
