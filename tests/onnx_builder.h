// Hand-built ONNX models for tests: a graph input "x" of float32 (N, dims...) with a dynamic batch axis,
// nodes, int64 / float32 initializers, outputs. Used by the hardening tests and the bad-input catalog.
#pragma once
#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

#include "engine/tensor.h"

namespace xdnn::test {

// An empty graph of the default domain at `opset` with input "x": axis 0 is the dynamic "N".
inline onnx::ModelProto onnx_model(int opset, const std::vector<int64_t>& input_dims) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  auto* in = m.mutable_graph()->add_input();
  in->set_name("x");
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  for (size_t i = 0; i < input_dims.size(); ++i) {
    auto* d = tt->mutable_shape()->add_dim();
    if (i == 0)
      d->set_dim_param("N");
    else
      d->set_dim_value(input_dims[i]);
  }
  return m;
}

inline onnx::NodeProto* onnx_node(onnx::ModelProto& m, const std::string& op, const std::vector<std::string>& ins,
                                  const std::vector<std::string>& outs, const std::string& name) {
  auto* n = m.mutable_graph()->add_node();
  n->set_op_type(op);
  n->set_name(name);
  for (const auto& i : ins) n->add_input(i);
  for (const auto& o : outs) n->add_output(o);
  return n;
}

inline void onnx_output(onnx::ModelProto& m, const std::string& name) {
  m.mutable_graph()->add_output()->set_name(name);
}

inline void onnx_int_attr(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

inline void onnx_ints_attr(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

inline void onnx_i64_initializer(onnx::ModelProto& m, const std::string& name, const std::vector<int64_t>& v) {
  auto* t = m.mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT64);
  t->add_dims(static_cast<int64_t>(v.size()));
  for (int64_t x : v) t->add_int64_data(x);
}

inline void onnx_f32_initializer(onnx::ModelProto& m, const std::string& name, const Tensor& t) {
  auto* p = m.mutable_graph()->add_initializer();
  p->set_name(name);
  p->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : t.shape()) p->add_dims(d);
  for (int64_t i = 0; i < t.numel(); ++i) p->add_float_data(static_cast<float>(t.item(i)));
}

}  // namespace xdnn::test
