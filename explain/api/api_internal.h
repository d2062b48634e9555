// The library's side of the public API (explain/api/xdnn.h): what its handles hold, conversions between
// api::Array and Tensor, and the translation of xdnn::Error into api::Error. Not installed.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/error.h"
#include "engine/tensor.h"
#include "explain/api/xdnn.h"
#include "models/model.h"

namespace xdnn::api {

// Runs f, rethrowing the library's errors as api::Error (same message and hint). api::Error thrown by a
// CustomLayer passes through unchanged.
template <class F>
auto guarded(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const xdnn::Error& e) {
    throw Error(e.what(), e.hint());
  }
}

// Copies (a CPU tensor). to_tensor rejects NaN / infinite float elements, naming `what` and the index.
Tensor to_tensor(const Array& a, const std::string& what);
Array to_array(const Tensor& t);

struct Model::Impl {
  std::string spec;  // what Model::load was given
  // One instance per precision, loaded from `spec` on first use, with `replacements` applied in order.
  std::map<xdnn::DType, xdnn::Model> instances;
  std::vector<std::pair<std::string, std::shared_ptr<const CustomLayer>>> replacements;
  xdnn::Model& instance(xdnn::DType dtype);
};

// Puts `layer` (wrapped as an xdnn::Layer, custom_layer.cpp) in place of node `node` of `model`, which must
// have one input and one output.
void replace_node(xdnn::Model& model, const std::string& node, std::shared_ptr<const CustomLayer> layer);

}  // namespace xdnn::api
