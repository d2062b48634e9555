// ONNX export: the graph writer, the exporter registry, and the image layers (export.h describes the design).
#include "models/onnx/export.h"

#include <cstring>
#include <map>

#include "engine/file_io.h"
#include "layers/batchnorm2d.h"
#include "layers/conv2d.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/maxpool2d.h"

namespace xdnn {

namespace {

std::map<std::string, OnnxExporter>& exporters() {
  static std::map<std::string, OnnxExporter> m;
  return m;
}

onnx::AttributeProto& new_attr(onnx::NodeProto& n, const std::string& name, onnx::AttributeProto::AttributeType type) {
  onnx::AttributeProto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(type);
  return *a;
}

void tensor_to_onnx(const Tensor& t, const std::string& name, onnx::TensorProto& out) {
  out.set_name(name);
  for (int64_t d : t.shape()) out.add_dims(d);
  const Tensor c = t.to(Device::CPU);
  if (c.dtype() == DType::F32) {
    out.set_data_type(onnx::TensorProto::FLOAT);
    out.set_raw_data(std::string(reinterpret_cast<const char*>(c.data<float>()), c.numel() * sizeof(float)));
  } else if (c.dtype() == DType::I64) {
    out.set_data_type(onnx::TensorProto::INT64);
    out.set_raw_data(std::string(reinterpret_cast<const char*>(c.data<int64_t>()), c.numel() * sizeof(int64_t)));
  } else {
    throw Error("ONNX export: tensor '" + name + "' is " + c.describe() + "; export a float32 model");
  }
}

// A dummy input whose batch and free axes have size n: zeros, or for token models the id 1 everywhere (any
// id but padding, 0, works; a vocabulary has at least <pad> and <unk>).
Tensor dummy_input(const Model& model, int64_t n) {
  Shape shape = {n};
  for (int64_t d : model.input_shape) shape.push_back(d >= 0 ? d : n);
  if (model.input_dtype != DType::I64) return Tensor::zeros(shape, DType::F32);
  return Tensor::full(shape, 1.0, DType::I64);
}

}  // namespace

void register_onnx_exporter(const std::string& layer_kind, OnnxExporter exporter) {
  exporters()[layer_kind] = std::move(exporter);
}

void set_attr(onnx::NodeProto& n, const std::string& name, int64_t v) {
  new_attr(n, name, onnx::AttributeProto::INT).set_i(v);
}
void set_attr(onnx::NodeProto& n, const std::string& name, float v) {
  new_attr(n, name, onnx::AttributeProto::FLOAT).set_f(v);
}
void set_attr(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v) {
  auto& a = new_attr(n, name, onnx::AttributeProto::INTS);
  for (int64_t x : v) a.add_ints(x);
}
void set_attr(onnx::NodeProto& n, const std::string& name, const std::string& v) {
  new_attr(n, name, onnx::AttributeProto::STRING).set_s(v);
}

// ---- context ----

OnnxExportContext::OnnxExportContext(onnx::GraphProto& graph, const Model& model, const Node& node)
    : graph_(graph), model_(model), node_(node) {}

const std::string& OnnxExportContext::input(int i) const {
  if (i >= num_inputs()) throw error("has no input " + std::to_string(i));
  return model_.value_name(node_.inputs[i]);
}

const std::string& OnnxExportContext::output(int i) const {
  if (i >= static_cast<int>(node_.outputs.size())) throw error("has no output " + std::to_string(i));
  return model_.value_name(node_.outputs[i]);
}

onnx::NodeProto& OnnxExportContext::add(const std::string& op_type, const std::vector<std::string>& inputs,
                                        const std::vector<std::string>& outputs) {
  onnx::NodeProto* n = graph_.add_node();
  n->set_op_type(op_type);
  n->set_name(count_ == 0 ? node_.name : node_.name + "/" + op_type + "_" + std::to_string(count_));
  ++count_;
  for (const auto& i : inputs) n->add_input(i);
  for (const auto& o : outputs) n->add_output(o);
  return *n;
}

std::string OnnxExportContext::initializer(const std::string& name, const Tensor& t) {
  for (const auto& init : graph_.initializer())
    if (init.name() == name) return name;
  tensor_to_onnx(t, name, *graph_.add_initializer());
  return name;
}

std::string OnnxExportContext::ints(const std::string& suffix, const std::vector<int64_t>& values) {
  return initializer(temp(suffix), Tensor::from_vector({static_cast<int64_t>(values.size())}, values));
}

std::string OnnxExportContext::scalar(const std::string& suffix, float value) {
  return initializer(temp(suffix), Tensor::from_vector(Shape{}, std::vector<float>{value}));
}

std::string OnnxExportContext::int_scalar(const std::string& suffix, int64_t value) {
  return initializer(temp(suffix), Tensor::from_vector(Shape{}, std::vector<int64_t>{value}));
}

std::string OnnxExportContext::runtime_dim(const std::string& value, int64_t axis, const std::string& suffix) {
  add("Shape", {value}, {temp(suffix + "_shape")});
  add("Gather", {temp(suffix + "_shape"), ints(suffix + "_axis", {axis})}, {temp(suffix)});
  return temp(suffix);
}

Error OnnxExportContext::error(const std::string& what) const {
  return Error("ONNX export: node '" + node_.name + "' (" + node_.layer->kind() + "): " + what);
}

// ---- the model ----

onnx::ModelProto export_onnx_model(const Model& model) {
  if (model.dtype() != DType::F32)
    throw Error("ONNX export: the model computes in float64; export it in float32 (as loaded)");
  if (model.inputs().size() != 1) throw Error("ONNX export: only single-input models are supported");
  onnx::ModelProto proto;
  proto.set_ir_version(8);
  proto.set_producer_name("xdnn");
  proto.set_producer_version("0.1.0");
  onnx::OperatorSetIdProto* opset = proto.add_opset_import();
  opset->set_domain("");
  opset->set_version(17);
  onnx::GraphProto& graph = *proto.mutable_graph();
  graph.set_name("xdnn");

  // Input: the batch axis is symbolic ("N"), like the other axes the model leaves free (-1).
  onnx::ValueInfoProto* in = graph.add_input();
  in->set_name(model.value_name(model.inputs()[0]));
  auto* in_type = in->mutable_type()->mutable_tensor_type();
  in_type->set_elem_type(model.input_dtype == DType::I64 ? onnx::TensorProto::INT64 : onnx::TensorProto::FLOAT);
  auto* shape = in_type->mutable_shape();
  shape->add_dim()->set_dim_param("N");
  for (size_t i = 0; i < model.input_shape.size(); ++i) {
    if (model.input_shape[i] >= 0)
      shape->add_dim()->set_dim_value(model.input_shape[i]);
    else
      shape->add_dim()->set_dim_param(
          std::string("d").append(std::to_string(i + 1)));  // GCC 12 -Wrestrict: not "d" + s
  }

  for (const Node& node : model.nodes()) {
    OnnxExportContext ctx(graph, model, node);
    auto it = exporters().find(node.layer->kind());
    if (it == exporters().end()) throw ctx.error("no ONNX export for this layer kind");
    it->second(ctx);
  }
  // Outputs: ONNX wants their shapes. Two forward passes on dummy inputs whose batch and free axes have
  // sizes 1 and 2 tell which output axes follow them (written as symbols) and which are fixed.
  const Tape small = model.forward({dummy_input(model, 1)}), large = model.forward({dummy_input(model, 2)});
  for (int id : model.outputs()) {
    onnx::ValueInfoProto* out = graph.add_output();
    out->set_name(model.value_name(id));
    const Tensor &y1 = small.values.at(id), &y2 = large.values.at(id);
    auto* out_type = out->mutable_type()->mutable_tensor_type();
    out_type->set_elem_type(y1.dtype() == DType::I64 ? onnx::TensorProto::INT64 : onnx::TensorProto::FLOAT);
    auto* out_shape = out_type->mutable_shape();
    for (int i = 0; i < y1.ndim(); ++i) {
      if (y1.dim(i) == y2.dim(i))
        out_shape->add_dim()->set_dim_value(y1.dim(i));
      else
        out_shape->add_dim()->set_dim_param(i == 0 ? std::string("N") : std::string("y").append(std::to_string(i)));
    }
  }
  return proto;
}

void export_onnx_file(const Model& model, const std::string& path) {
  const std::string bytes = export_onnx_model(model).SerializeAsString();
  write_file_atomic(path, {bytes});  // engine/file_io.h: the old file or the whole new one, never a torn one
}

// ---- image layers ----

namespace {

// Linear -> Gemm(x, W, b, transB = 1): PyTorch's own export of nn.Linear.
OnnxExportRegistration reg_linear("Linear", [](OnnxExportContext& ctx) {
  Layer& layer = ctx.layer();
  const std::vector<Param*> p = layer.params();
  std::vector<std::string> in = {ctx.input(0), ctx.initializer(p.at(0)->name, p.at(0)->value)};
  if (p.size() > 1 && p[1]->value.defined()) in.push_back(ctx.initializer(p[1]->name, p[1]->value));
  if (ctx.input(0).empty()) throw ctx.error("no input");
  auto& n = ctx.add("Gemm", in, {ctx.output(0)});
  set_attr(n, "transB", int64_t{1});
});

OnnxExportRegistration reg_conv("Conv2d", [](OnnxExportContext& ctx) {
  auto& conv = dynamic_cast<Conv2d&>(ctx.layer());
  const ops::Conv2dGeometry& g = conv.geometry();
  std::vector<std::string> in = {ctx.input(0), ctx.initializer(conv.weight_param().name, conv.weight())};
  if (conv.bias().defined()) in.push_back(ctx.initializer(conv.bias_param().name, conv.bias()));
  if (conv.weight().ndim() != 4) throw ctx.error("expected a 4-D kernel, got " + conv.weight().describe());
  auto& n = ctx.add("Conv", in, {ctx.output(0)});
  set_attr(n, "kernel_shape", std::vector<int64_t>{conv.weight().dim(2), conv.weight().dim(3)});
  set_attr(n, "strides", std::vector<int64_t>{g.stride_h, g.stride_w});
  set_attr(n, "pads", std::vector<int64_t>{g.pad_top, g.pad_left, g.pad_bottom, g.pad_right});
  set_attr(n, "dilations", std::vector<int64_t>{g.dilation_h, g.dilation_w});
  set_attr(n, "group", g.groups);
});

OnnxExportRegistration reg_maxpool("MaxPool2d", [](OnnxExportContext& ctx) {
  const ops::Pool2dGeometry& g = dynamic_cast<const MaxPool2d&>(ctx.layer()).geometry();
  auto& n = ctx.add("MaxPool", {ctx.input(0)}, {ctx.output(0)});
  set_attr(n, "kernel_shape", std::vector<int64_t>{g.kernel_h, g.kernel_w});
  set_attr(n, "strides", std::vector<int64_t>{g.stride_h, g.stride_w});
  set_attr(n, "pads", std::vector<int64_t>{g.pad_top, g.pad_left, g.pad_bottom, g.pad_right});
  if (g.dilation_h != 1 || g.dilation_w != 1)
    set_attr(n, "dilations", std::vector<int64_t>{g.dilation_h, g.dilation_w});
  if (g.ceil_mode) set_attr(n, "ceil_mode", int64_t{1});
});

// Inference-mode batch normalisation with the running statistics (what the model computes when it runs).
OnnxExportRegistration reg_batchnorm("BatchNorm2d", [](OnnxExportContext& ctx) {
  auto& bn = dynamic_cast<BatchNorm2d&>(ctx.layer());
  const std::vector<Param*> b = bn.buffers();
  auto& n =
      ctx.add("BatchNormalization",
              {ctx.input(0), ctx.initializer(bn.weight_param().name, bn.gamma()),
               ctx.initializer(bn.bias_param().name, bn.beta()), ctx.initializer(b.at(0)->name, bn.running_mean()),
               ctx.initializer(b.at(1)->name, bn.running_var())},
              {ctx.output(0)});
  set_attr(n, "epsilon", static_cast<float>(bn.eps()));
  set_attr(n, "momentum", static_cast<float>(1.0 - bn.momentum()));  // ONNX: running = m·running + (1 − m)·batch
});

OnnxExportRegistration reg_relu("ReLU",
                                [](OnnxExportContext& ctx) { ctx.add("Relu", {ctx.input(0)}, {ctx.output(0)}); });
OnnxExportRegistration reg_add("Add", [](OnnxExportContext& ctx) {
  ctx.add("Add", {ctx.input(0), ctx.input(1)}, {ctx.output(0)});
});

// Flatten(1, -1) is ONNX Flatten(axis = 1); other axis ranges would need a Reshape (not used by the zoo).
OnnxExportRegistration reg_flatten("Flatten", [](OnnxExportContext& ctx) {
  const auto& f = dynamic_cast<const Flatten&>(ctx.layer());
  if (f.start_axis() != 1 || f.end_axis() != -1)
    throw ctx.error("only Flatten(1, -1) is exported, got Flatten(" + std::to_string(f.start_axis()) + ", " +
                    std::to_string(f.end_axis()) + ")");
  auto& n = ctx.add("Flatten", {ctx.input(0)}, {ctx.output(0)});
  set_attr(n, "axis", int64_t{1});
});

}  // namespace

}  // namespace xdnn
