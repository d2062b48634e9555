// Hand-built ONNX models for tests, with the protobuf API and no test framework (the bad-input catalog links
// none): a graph input "x" (N, dims...) with a dynamic batch axis, nodes, attributes, int64 / float32
// initializers, outputs. xdnn::onnx_test is the builder of the importer's tests (tests/onnx_graph_builder.h adds
// running and checking); xdnn::test names the same builder for the hardening tests and the bad-input catalog,
// each node named by the caller.
#pragma once
#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

#include "engine/tensor.h"

namespace xdnn::onnx_test {

inline onnx::ModelProto graph(int opset, const std::vector<int64_t>& dims, int elem = onnx::TensorProto::FLOAT) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  auto* in = m.mutable_graph()->add_input();
  in->set_name("x");
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem);
  for (size_t i = 0; i < dims.size(); ++i) {
    auto* d = tt->mutable_shape()->add_dim();
    if (i == 0)
      d->set_dim_param("N");
    else if (dims[i] < 0)
      d->set_dim_param("T");
    else
      d->set_dim_value(dims[i]);
  }
  return m;
}

inline onnx::NodeProto* node(onnx::ModelProto& m, const std::string& op, const std::vector<std::string>& ins,
                             const std::vector<std::string>& outs, const std::string& name = "") {
  auto* n = m.mutable_graph()->add_node();
  n->set_op_type(op);
  n->set_name(name.empty() ? "/" + op : name);
  for (const auto& i : ins) n->add_input(i);
  for (const auto& o : outs) n->add_output(o);
  return n;
}

inline onnx::NodeProto* m_last_node(onnx::ModelProto& m) {
  return m.mutable_graph()->mutable_node(m.graph().node_size() - 1);
}

inline void output(onnx::ModelProto& m, const std::string& name) { m.mutable_graph()->add_output()->set_name(name); }

inline void attr_int(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name), a->set_type(onnx::AttributeProto::INT), a->set_i(v);
}
inline void attr_float(onnx::NodeProto* n, const std::string& name, float v) {
  auto* a = n->add_attribute();
  a->set_name(name), a->set_type(onnx::AttributeProto::FLOAT), a->set_f(v);
}
inline void attr_ints(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name), a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}
inline void attr_string(onnx::NodeProto* n, const std::string& name, const std::string& v) {
  auto* a = n->add_attribute();
  a->set_name(name), a->set_type(onnx::AttributeProto::STRING), a->set_s(v);
}

inline void init_i64(onnx::ModelProto& m, const std::string& name, const std::vector<int64_t>& v, bool scalar = false) {
  auto* t = m.mutable_graph()->add_initializer();
  t->set_name(name), t->set_data_type(onnx::TensorProto::INT64);
  if (!scalar) t->add_dims(static_cast<int64_t>(v.size()));
  for (int64_t x : v) t->add_int64_data(x);
}
inline void init_f32(onnx::ModelProto& m, const std::string& name, const Shape& dims, const std::vector<float>& v,
                     bool raw = false) {
  auto* t = m.mutable_graph()->add_initializer();
  t->set_name(name), t->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t->add_dims(d);
  if (raw)
    t->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
  else
    for (float x : v) t->add_float_data(x);
}

// float32 initializer with t's shape and values.
inline void init_f32(onnx::ModelProto& m, const std::string& name, const Tensor& t) {
  std::vector<float> v(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = static_cast<float>(t.item(i));
  init_f32(m, name, t.shape(), v);
}

}  // namespace xdnn::onnx_test

namespace xdnn::test {

// An empty graph of the default domain at `opset` with input "x": axis 0 is the dynamic "N".
inline onnx::ModelProto onnx_model(int opset, const std::vector<int64_t>& input_dims) {
  return onnx_test::graph(opset, input_dims);
}

inline onnx::NodeProto* onnx_node(onnx::ModelProto& m, const std::string& op, const std::vector<std::string>& ins,
                                  const std::vector<std::string>& outs, const std::string& name) {
  onnx::NodeProto* n = onnx_test::node(m, op, ins, outs);
  n->set_name(name);
  return n;
}

inline void onnx_output(onnx::ModelProto& m, const std::string& name) { onnx_test::output(m, name); }

inline void onnx_int_attr(onnx::NodeProto* n, const std::string& name, int64_t v) { onnx_test::attr_int(n, name, v); }

inline void onnx_ints_attr(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  onnx_test::attr_ints(n, name, v);
}

inline void onnx_i64_initializer(onnx::ModelProto& m, const std::string& name, const std::vector<int64_t>& v) {
  onnx_test::init_i64(m, name, v);
}

inline void onnx_f32_initializer(onnx::ModelProto& m, const std::string& name, const Tensor& t) {
  onnx_test::init_f32(m, name, t);
}

}  // namespace xdnn::test
