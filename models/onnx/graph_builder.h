// OnnxGraphBuilder: the state of one import (models/onnx/import.cpp) that the converters reach through
// OnnxNodeContext (models/onnx/node_context.cpp): the model being built, the values known at import time and
// the graph's bookkeeping.
#pragma once
#include <map>
#include <set>
#include <string>

#include "engine/printable.h"  // printable_name, for names in errors
#include "models/onnx/import.h"

namespace xdnn {

class OnnxGraphBuilder {
 public:
  std::string file;
  Model model;
  std::map<std::string, Tensor> constants;  // known at import time
  std::set<std::string> initializer_names;  // graph initializers (a subset of `constants` keys)
  // Constants folded from initializers alone (Identity / Cast / Reshape / ... of weights): value -> how,
  // e.g. "initializer 'b' through node 'Identity_3' (op Identity)". They are weights as good as the
  // initializers themselves (current exporters deduplicate equal initializers behind Identity nodes).
  std::map<std::string, std::string> folded_weights;
  std::set<std::string> runtime_values;      // graph inputs and outputs of added nodes
  std::set<std::string> constants_in_model;  // constants already handed to model.add_constant
  std::map<std::string, const onnx::NodeProto*> producers;
  std::map<std::string, int> uses;  // how many node inputs and graph outputs read each value

  bool known(const std::string& v) const { return constants.count(v) || runtime_values.count(v); }

  void use_constant(const std::string& v) {
    if (constants_in_model.count(v)) return;
    model.add_constant(v, constants.at(v));
    constants_in_model.insert(v);
  }

  void define_constant(const std::string& v, const Tensor& t, const std::string& who) {
    if (known(v)) throw Error(file + ": value '" + v + "' is defined twice (by " + who + ")");
    // Imported models compute in float32 (Model::to(F64) converts everything for checks), so double
    // initializers and constants — old exporters emit some — become float32 too.
    constants[v] = t.dtype() == DType::F64 ? t.to(DType::F32) : t;
  }
};

}  // namespace xdnn
