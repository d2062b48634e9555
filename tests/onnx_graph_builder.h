// Small ONNX graphs built with the protobuf API for the importer's tests (tests/test_onnx_*.cpp).
#pragma once
#include <doctest/doctest.h>
#include <onnx/onnx_pb.h>

#include <functional>
#include <string>
#include <vector>

#include "models/onnx/import.h"

namespace xdnn::onnx_test {

inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

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

inline Tensor input(const Shape& s, std::vector<float> v) { return Tensor::from_vector(s, v); }

inline Tensor run(const onnx::ModelProto& m, const Tensor& x) { return import_onnx_model(m, "t.onnx").predict(x); }

inline std::vector<double> values(const Tensor& t) {
  std::vector<double> v(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.item(i);
  return v;
}

inline void check_close(const Tensor& y, const std::vector<double>& ref, double tol = 1e-6) {
  REQUIRE(static_cast<size_t>(y.numel()) == ref.size());
  for (size_t i = 0; i < ref.size(); ++i) {
    INFO("element ", i);
    CHECK(y.item(static_cast<int64_t>(i)) == doctest::Approx(ref[i]).epsilon(tol));
  }
}

}  // namespace xdnn::onnx_test
