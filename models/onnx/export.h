// ONNX export: Model -> onnx::ModelProto (opset 17, default domain only, IR version 8), so that models
// trained by `xdnn train` open in other tools (onnxruntime, Netron, PyTorch's onnx2torch, ...).
//
// How a Model becomes a graph
// - Value names stay: the graph input is the model's input ("input", "ids"), every node output keeps its
//   xdnn value name, and parameters keep their PyTorch state-dict names ("fc1.weight"), so the export
//   re-imports (models/onnx/import.h) into the same layers with the same parameter names.
// - Each node is written by the exporter registered for its layer kind (Linear -> Gemm, Conv2d -> Conv,
//   ...). A kind with no exporter is an Error naming the node and the kind. Layers with no single ONNX op
//   (token padding, LSTM over valid lengths, transformer encoder layers, token pooling) are written as
//   small subgraphs of standard ops (export_text.cpp); helper values are named "<node>/<suffix>".
// - Only float32 models are exported (parameters as float32 initializers, raw little-endian data).
//
// Adding a kind: a static OnnxExportRegistration in models/onnx/export*.cpp, e.g.
//   static OnnxExportRegistration reg_relu("ReLU", [](OnnxExportContext& ctx) { ctx.node("Relu", ...); });
#pragma once
#include <onnx/onnx_pb.h>

#include <functional>
#include <string>
#include <vector>

#include "models/model.h"

namespace xdnn {

// What an exporter sees of the node it writes, and how it adds to the graph.
class OnnxExportContext {
 public:
  OnnxExportContext(onnx::GraphProto& graph, const Model& model, const Node& node);

  const Node& node() const { return node_; }
  Layer& layer() const { return *node_.layer; }  // params() is not const
  const Model& model() const { return model_; }
  const std::string& input(int i) const;   // the node's i-th input value name
  const std::string& output(int i) const;  // the node's i-th output value name
  int num_inputs() const { return static_cast<int>(node_.inputs.size()); }

  // Adds an ONNX node (name: "<node>" for the first, "<node>/<op>_<k>" after) and returns it for attributes.
  onnx::NodeProto& add(const std::string& op_type, const std::vector<std::string>& inputs,
                       const std::vector<std::string>& outputs);
  // Adds an initializer (float32 / int64 data of t) named `name` unless one of that name exists; returns name.
  std::string initializer(const std::string& name, const Tensor& t);
  // An int64 1-D constant initializer "<node>/<suffix>".
  std::string ints(const std::string& suffix, const std::vector<int64_t>& values);
  std::string scalar(const std::string& suffix, float value);        // float32 0-d initializer
  std::string int_scalar(const std::string& suffix, int64_t value);  // int64 0-d initializer
  // Size of axis `axis` of `value` at run time, as an int64 (1) tensor (Shape, Gather): "<node>/<suffix>".
  std::string runtime_dim(const std::string& value, int64_t axis, const std::string& suffix);
  std::string temp(const std::string& suffix) const { return node_.name + "/" + suffix; }
  Error error(const std::string& what) const;  // "ONNX export: node '<name>' (<kind>): <what>"

 private:
  onnx::GraphProto& graph_;
  const Model& model_;
  const Node& node_;
  int count_ = 0;
};

using OnnxExporter = std::function<void(OnnxExportContext& ctx)>;
void register_onnx_exporter(const std::string& layer_kind, OnnxExporter exporter);
struct OnnxExportRegistration {
  OnnxExportRegistration(const std::string& layer_kind, OnnxExporter exporter) {
    register_onnx_exporter(layer_kind, std::move(exporter));
  }
};

// Attribute helpers.
void set_attr(onnx::NodeProto& n, const std::string& name, int64_t v);
void set_attr(onnx::NodeProto& n, const std::string& name, float v);
void set_attr(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v);
void set_attr(onnx::NodeProto& n, const std::string& name, const std::string& v);

// The whole model. Throws naming the first node that cannot be written.
onnx::ModelProto export_onnx_model(const Model& model);
// Serialises it to `path` (written whole or not at all: a temporary file renamed into place).
void export_onnx_file(const Model& model, const std::string& path);

}  // namespace xdnn
