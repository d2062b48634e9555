// ONNX import: onnx::ModelProto -> xdnn::Model, through a registry of per-op converters.
//
// How a graph becomes a Model
// - Value names are the ONNX tensor names ("/relu2/Relu_output_0"); node names are the ONNX node names
//   (or the node's first output name when the exporter left the name empty).
// - Each ONNX node is handed to the converter registered for its op_type. A converter reads attributes
//   and inputs through OnnxNodeContext and adds one or more layer nodes with ctx.add_layer().
// - Constant folding happens in add_layer(): when every input of the layer is known at import time
//   (an initializer, a Constant node, or a value folded earlier), the layer runs right away and its
//   outputs become constants instead of a node. So the constant-only shape arithmetic of PyTorch exports
//   and weight re-orderings (Slice/Concat of initializers) disappear from the runtime graph.
// - The batch axis stays dynamic because nothing that depends on a runtime tensor is folded: a Shape of
//   a runtime value is a small runtime layer producing an int64 tensor, and the integer arithmetic
//   downstream of it (Gather, Concat, Unsqueeze, Slice, Cast, Mul, Div, ConstantOfShape, Reshape's
//   shape input) runs per call on tiny int64 tensors. That is the simplest design that is correct for
//   every batch size, and it needs no shape inference. int64 values never receive gradients
//   (Model::reverse_walk skips non-float values), so these layers are invisible to the explainers.
//   Consequence for converters: an input can be a runtime value even where PyTorch would have a
//   constant (the zero initial state of an LSTM comes from Shape -> ConstantOfShape at runtime).
// - Initializers are parameters only where a converter asks for them (ctx.param(i)): weights of Conv,
//   Gemm, MatMul, BatchNormalization, PRelu and embedding Gather keep their ONNX names ("fc.weight").
//   Every other initializer, and every Constant node, is a constant (Model::add_constant, added only
//   when a runtime node reads it). Double initializers/constants are stored as float32 (imported models
//   compute in float32; Model::to(F64) converts parameters and constants together).
// - Layout-changing conversions keep the ONNX names of the node outputs; helper values a converter adds
//   are named "<node name>/<suffix>" (e.g. the Pad in front of a strided auto_pad=SAME Conv).
//
// Adding ops: write models/onnx/ops_<family>.cpp with static registrations, e.g.
//   static OnnxOpRegistration reg_relu("Relu", [](OnnxNodeContext& ctx) {
//     ctx.check_attrs({});
//     ctx.add_layer(std::make_shared<ReLU>(), {ctx.input(0)}, {ctx.output(0)});
//   });
// and list the file in models/meson.build (the library is linked whole, so registrations are kept).
#pragma once
#include <onnx/onnx_pb.h>

#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "models/model.h"

namespace xdnn {

class OnnxGraphBuilder;  // graph_builder.h

// Everything a converter may ask about the node it converts, and the ways it may extend the model.
class OnnxNodeContext {
 public:
  OnnxNodeContext(OnnxGraphBuilder& builder, const onnx::NodeProto& node, int opset);

  const onnx::NodeProto& node() const { return node_; }
  int opset() const { return opset_; }               // of the default ("" / "ai.onnx") domain
  const std::string& name() const { return name_; }  // node name, or its first output's name
  const std::string& op_type() const { return node_.op_type(); }

  // ---- errors: "<file>: node '<name>' (op <type>, opset <n>): <what>" ----
  Error error(const std::string& what) const;

  // ---- attributes (a wrong attribute type is an error naming the attribute) ----
  bool has_attr(const std::string& a) const;
  int64_t attr_int(const std::string& a) const;  // required
  int64_t attr_int(const std::string& a, int64_t fallback) const;
  double attr_float(const std::string& a, double fallback) const;
  std::string attr_string(const std::string& a, const std::string& fallback) const;
  std::vector<int64_t> attr_ints(const std::string& a, const std::vector<int64_t>& fallback = {}) const;
  std::vector<double> attr_floats(const std::string& a, const std::vector<double>& fallback = {}) const;
  Tensor attr_tensor(const std::string& a) const;  // required
  // Throws "unsupported attribute 'x'" for any attribute not listed: never silently ignore one.
  void check_attrs(std::initializer_list<const char*> known) const;

  // ---- inputs and outputs ----
  int num_inputs() const { return node_.input_size(); }
  bool has_input(int i) const { return i < node_.input_size() && !node_.input(i).empty(); }
  const std::string& input(int i) const;  // "" for an absent optional input
  int num_outputs() const { return node_.output_size(); }
  bool has_output(int i) const { return i < node_.output_size() && !node_.output(i).empty(); }
  const std::string& output(int i) const;
  // Throws "expects N to M inputs" style errors.
  void expect_inputs(int min, int max) const;

  // Known at import time: an initializer, a Constant's value, or a folded result.
  bool is_constant(int i) const;
  const Tensor& constant(int i) const;  // throws naming the input when it is not a constant
  // The input is a weight: a graph initializer, or a float constant folded at import from initializers
  // alone (Identity / Cast / Reshape / ... of an initializer: current exporters hide deduplicated weights
  // behind Identity nodes), so it can become a Param named after the value.
  bool is_initializer(int i) const;
  // The ONNX node that produced input i; nullptr for graph inputs and initializers. Lets converters
  // recognise patterns such as MatMul(x, Transpose(W)) with W an initializer.
  const onnx::NodeProto* producer(int i) const;
  bool is_initializer_name(const std::string& value) const;
  const Tensor& initializer(const std::string& value) const;

  // ---- building ----
  // A parameter holding a copy of weight input i (or the named one), keeping its name. A non-weight input
  // is an error naming the node that computes it at run time and the run-time value it depends on.
  Param param(int i) const;
  Param param_named(const std::string& initializer_name) const;
  // Adds a layer node reading `inputs` and writing `outputs` (value names; "" = absent optional input
  // or unused output). node_name "" means this ONNX node's name; extra layers of a multi-layer
  // conversion pass "<name>/<suffix>". If every non-empty input is a constant, the layer runs now and
  // its outputs become constants (constant folding); no node is added.
  void add_layer(std::shared_ptr<Layer> layer, const std::vector<std::string>& inputs,
                 const std::vector<std::string>& outputs, const std::string& node_name = "");
  // Binds a value name to a constant (Constant nodes, converters that compute a result at import).
  void add_constant(const std::string& value_name, const Tensor& value);
  // A fresh value name for intermediate values: "<node name>/<suffix>".
  std::string temp_name(const std::string& suffix) const;

 private:
  OnnxGraphBuilder& builder_;
  const onnx::NodeProto& node_;
  int opset_;
  std::string name_;
  const onnx::AttributeProto* find_attr(const std::string& a) const;
  std::string runtime_origin(const std::string& value) const;
};

using OnnxConverter = std::function<void(OnnxNodeContext& ctx)>;

// Registers the converter for an ONNX op type of the default domain (later registration wins, so a
// specialised converter can replace a generic one; keep one per op).
void register_onnx_op(const std::string& op_type, OnnxConverter converter);
bool has_onnx_op(const std::string& op_type);
std::vector<std::string> registered_onnx_ops();  // sorted

struct OnnxOpRegistration {
  OnnxOpRegistration(const std::string& op_type, OnnxConverter converter) {
    register_onnx_op(op_type, std::move(converter));
  }
};

// CP-LRP (layers/matmul.h) needs to know which operand of a MatMul is attention probabilities: after the
// graph is built, every MatMul one of whose operands a Softmax node produced gets that operand marked.
void mark_attention_products(Model& model);

// ONNX TensorProto -> Tensor. float -> F32, double -> F64, int64/int32/int16/int8/uint8/bool -> I64.
// `what` names the tensor in errors.
Tensor tensor_from_onnx(const onnx::TensorProto& t, const std::string& what);
// The same, reading external data (data_location EXTERNAL) from the folder of `model_file`.
Tensor tensor_from_onnx(const onnx::TensorProto& t, const std::string& what, const std::string& model_file);

// Imports a parsed model (opsets 6 to 23 of the default domain: see import.cpp). `file` is what errors call it.
// Model::input_shape / input_dtype are set from the first graph input (batch axis dropped; -1 for a
// dynamic axis).
Model import_onnx_model(const onnx::ModelProto& proto, const std::string& file);

// Reads and imports a .onnx file. Missing, truncated or malformed files -> one-line Error naming it.
// The initializers' bytes go from the file straight into tensors (models/onnx/onnx_file.cpp).
Model import_onnx_file(const std::string& path);

// Imports a model whose graph initializers are given already converted, in graph order (`proto`'s own
// initializer list is then ignored). import_onnx_file uses it.
Model import_onnx_graph(const onnx::ModelProto& proto, std::vector<std::pair<std::string, Tensor>> initializers,
                        const std::string& file);

}  // namespace xdnn
