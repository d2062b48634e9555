// OnnxNodeContext: what a converter sees of the node it converts (attributes, inputs, constants known at
// import time) and how it adds layers and constants to the model being built. Declared in models/onnx/import.h.
#include <map>
#include <set>
#include <string>

#include "models/onnx/graph_builder.h"
#include "models/onnx/import.h"

namespace xdnn {

// ---- node context ------------------------------------------------------------------------------------

OnnxNodeContext::OnnxNodeContext(OnnxGraphBuilder& builder, const onnx::NodeProto& node, int opset)
    : builder_(builder), node_(node), opset_(opset) {
  name_ = node.name();
  if (name_.empty() && node.output_size() > 0) name_ = node.output(0);
  if (name_.empty()) name_ = node.op_type();
  name_ = printable_name(name_);  // found by fuzz_onnx: a name with a newline made a two-line error
}

Error OnnxNodeContext::error(const std::string& what) const {
  return Error(builder_.file + ": node '" + name_ + "' (op " + printable_name(node_.op_type()) + ", opset " +
               std::to_string(opset_) + "): " + what);
}

const onnx::AttributeProto* OnnxNodeContext::find_attr(const std::string& a) const {
  for (const auto& at : node_.attribute())
    if (at.name() == a) return &at;
  return nullptr;
}

bool OnnxNodeContext::has_attr(const std::string& a) const { return find_attr(a) != nullptr; }

// Old exporters leave AttributeProto.type unset; then the populated field tells the type.
static onnx::AttributeProto::AttributeType attr_type(const onnx::AttributeProto& at) {
  if (at.type() != onnx::AttributeProto::UNDEFINED) return at.type();
  if (at.ints_size()) return onnx::AttributeProto::INTS;
  if (at.floats_size()) return onnx::AttributeProto::FLOATS;
  if (at.strings_size()) return onnx::AttributeProto::STRINGS;
  if (at.has_t()) return onnx::AttributeProto::TENSOR;
  if (at.has_s()) return onnx::AttributeProto::STRING;
  if (at.has_f()) return onnx::AttributeProto::FLOAT;
  if (at.has_i()) return onnx::AttributeProto::INT;
  return onnx::AttributeProto::UNDEFINED;
}

int64_t OnnxNodeContext::attr_int(const std::string& a) const {
  const auto* at = find_attr(a);
  if (!at) throw error("missing required attribute '" + a + "'");
  return attr_int(a, 0);
}

int64_t OnnxNodeContext::attr_int(const std::string& a, int64_t fallback) const {
  const auto* at = find_attr(a);
  if (!at) return fallback;
  if (attr_type(*at) != onnx::AttributeProto::INT) throw error("attribute '" + a + "' must be an int");
  return at->i();
}

double OnnxNodeContext::attr_float(const std::string& a, double fallback) const {
  const auto* at = find_attr(a);
  if (!at) return fallback;
  if (attr_type(*at) == onnx::AttributeProto::INT) return static_cast<double>(at->i());
  if (attr_type(*at) != onnx::AttributeProto::FLOAT) throw error("attribute '" + a + "' must be a float");
  return at->f();
}

std::string OnnxNodeContext::attr_string(const std::string& a, const std::string& fallback) const {
  const auto* at = find_attr(a);
  if (!at) return fallback;
  if (attr_type(*at) != onnx::AttributeProto::STRING) throw error("attribute '" + a + "' must be a string");
  return at->s();
}

std::vector<int64_t> OnnxNodeContext::attr_ints(const std::string& a, const std::vector<int64_t>& fallback) const {
  const auto* at = find_attr(a);
  if (!at) return fallback;
  auto ty = attr_type(*at);
  if (ty != onnx::AttributeProto::INTS && ty != onnx::AttributeProto::UNDEFINED)
    throw error("attribute '" + a + "' must be a list of ints");
  return {at->ints().begin(), at->ints().end()};
}

std::vector<double> OnnxNodeContext::attr_floats(const std::string& a, const std::vector<double>& fallback) const {
  const auto* at = find_attr(a);
  if (!at) return fallback;
  auto ty = attr_type(*at);
  if (ty != onnx::AttributeProto::FLOATS && ty != onnx::AttributeProto::UNDEFINED)
    throw error("attribute '" + a + "' must be a list of floats");
  return {at->floats().begin(), at->floats().end()};
}

Tensor OnnxNodeContext::attr_tensor(const std::string& a) const {
  const auto* at = find_attr(a);
  if (!at) throw error("missing required attribute '" + a + "'");
  if (attr_type(*at) != onnx::AttributeProto::TENSOR) throw error("attribute '" + a + "' must be a tensor");
  try {
    return tensor_from_onnx(at->t(), "attribute '" + a + "'");
  } catch (const Error& e) {
    throw error(e.what());
  }
}

void OnnxNodeContext::check_attrs(std::initializer_list<const char*> known) const {
  for (const auto& at : node_.attribute()) {
    bool ok = false;
    for (const char* k : known) ok = ok || at.name() == k;
    if (!ok) throw error("unsupported attribute '" + at.name() + "'");
  }
}

const std::string& OnnxNodeContext::input(int i) const {
  static const std::string empty;
  return i < node_.input_size() ? node_.input(i) : empty;
}

const std::string& OnnxNodeContext::output(int i) const {
  static const std::string empty;
  return i < node_.output_size() ? node_.output(i) : empty;
}

void OnnxNodeContext::expect_inputs(int min, int max) const {
  int n = node_.input_size();
  if (n < min || n > max)
    throw error("expects " + (min == max ? std::to_string(min) : std::to_string(min) + " to " + std::to_string(max)) +
                " inputs, got " + std::to_string(n));
  for (int i = 0; i < min; ++i)
    if (node_.input(i).empty()) throw error("required input " + std::to_string(i) + " is empty");
}

bool OnnxNodeContext::is_constant(int i) const { return has_input(i) && builder_.constants.count(input(i)) > 0; }

const Tensor& OnnxNodeContext::constant(int i) const {
  if (!has_input(i)) throw error("input " + std::to_string(i) + " is missing");
  auto it = builder_.constants.find(input(i));
  if (it == builder_.constants.end())
    throw error("input " + std::to_string(i) + " ('" + input(i) +
                "') must be known at import time (an initializer or constant), but it is computed at run time");
  return it->second;
}

bool OnnxNodeContext::is_initializer(int i) const { return has_input(i) && is_initializer_name(input(i)); }

bool OnnxNodeContext::is_initializer_name(const std::string& v) const {
  return builder_.initializer_names.count(v) > 0 || builder_.folded_weights.count(v) > 0;
}

const Tensor& OnnxNodeContext::initializer(const std::string& v) const {
  if (!is_initializer_name(v)) throw error("'" + v + "' is not an initializer");
  return builder_.constants.at(v);
}

// Why value v is not known at import time: the node computing it and the run-time value it depends on
// (a graph input, or the output of a node that cannot run at import), following first run-time inputs.
std::string OnnxNodeContext::runtime_origin(const std::string& v) const {
  auto it = builder_.producers.find(v);
  if (it == builder_.producers.end()) return "it is graph input '" + v + "'";
  const onnx::NodeProto* first = it->second;
  std::string cur = v;
  for (int depth = 0; depth < 10000; ++depth) {
    auto p = builder_.producers.find(cur);
    if (p == builder_.producers.end()) break;
    std::string next;
    for (const auto& in : p->second->input())
      if (!in.empty() && !builder_.constants.count(in)) {
        next = in;
        break;
      }
    if (next.empty()) break;
    cur = next;
  }
  const std::string who = first->name().empty() ? first->output(0) : first->name();
  return "node '" + who + "' (op " + first->op_type() + ") computes it from run-time value '" + cur +
         "', so it cannot be folded to a constant";
}

const onnx::NodeProto* OnnxNodeContext::producer(int i) const {
  if (!has_input(i)) return nullptr;
  auto it = builder_.producers.find(input(i));
  return it == builder_.producers.end() ? nullptr : it->second;
}

Param OnnxNodeContext::param(int i) const {
  if (!has_input(i)) throw error("input " + std::to_string(i) + " is missing");
  if (!is_initializer(i)) {
    const std::string what = "input " + std::to_string(i) + " ('" + input(i) + "') must be a weight: ";
    auto c = builder_.constants.find(input(i));
    if (c != builder_.constants.end() && !c->second.is_float())
      throw error("input " + std::to_string(i) + " ('" + input(i) + "') must be a float weight, got " +
                  c->second.describe());
    if (c != builder_.constants.end())
      throw error(what +
                  "an initializer, or computed from initializers alone; it is computed from the value of a "
                  "Constant node");
    throw error(what + "an initializer, or computed from initializers alone (folded at import); but " +
                runtime_origin(input(i)));
  }
  return param_named(input(i));
}

Param OnnxNodeContext::param_named(const std::string& initializer_name) const {
  const Tensor& t = initializer(initializer_name);
  if (!t.is_float()) {
    auto f = builder_.folded_weights.find(initializer_name);
    const std::string how = f == builder_.folded_weights.end() ? "" : " (folded at import from " + f->second + ")";
    throw error("weight '" + initializer_name + "'" + how + " must be float, got " + t.describe());
  }
  // An initializer read once (the weight of one layer, the common case) is handed over without a copy:
  // the builder's reference goes away after import. Shared or folded ones are copied, so that training
  // one parameter cannot change another or a constant.
  const bool sole_reader = builder_.initializer_names.count(initializer_name) && builder_.uses[initializer_name] == 1 &&
                           !builder_.constants_in_model.count(initializer_name);
  return Param{initializer_name, sole_reader ? t : t.clone(), {}};
}

std::string OnnxNodeContext::temp_name(const std::string& suffix) const { return name_ + "/" + suffix; }

void OnnxNodeContext::add_constant(const std::string& value_name, const Tensor& value) {
  builder_.define_constant(value_name, value, "node '" + name_ + "'");
}

void OnnxNodeContext::add_layer(std::shared_ptr<Layer> layer, const std::vector<std::string>& inputs,
                                const std::vector<std::string>& outputs, const std::string& node_name) {
  bool all_constant = true;
  for (const auto& in : inputs) {
    if (in.empty()) continue;
    if (!builder_.known(in))
      throw error("reads value '" + in + "', which no earlier node, input or initializer defines");
    if (!builder_.constants.count(in)) all_constant = false;
  }
  const std::string nn = node_name.empty() ? name_ : node_name;
  if (all_constant) {
    // Constant folding: run the layer now, keep its outputs as constants.
    std::vector<Tensor> x;
    for (const auto& in : inputs) x.push_back(in.empty() ? Tensor() : builder_.constants.at(in));
    // The outputs are weights when the ONNX node reads at least one weight and no other float value
    // (int64 inputs are shapes, axes and indices; converter-made helpers are not node inputs).
    std::string weight_origin;
    bool from_weights = true;
    for (const auto& in : node_.input()) {
      if (in.empty() || !builder_.constants.count(in)) continue;
      auto f = builder_.folded_weights.find(in);
      if (builder_.initializer_names.count(in) && builder_.constants.at(in).is_float()) {
        if (weight_origin.empty()) weight_origin = "initializer '" + in + "'";
      } else if (f != builder_.folded_weights.end()) {
        if (weight_origin.empty()) weight_origin = f->second;
      } else if (builder_.constants.at(in).is_float()) {
        from_weights = false;
      }
    }
    from_weights = from_weights && !weight_origin.empty();
    Saved saved;
    std::vector<Tensor> y;
    try {
      y = layer->forward(x, saved, ForwardOptions{});
    } catch (const Error& e) {
      throw error(std::string("while folding constants: ") + e.what());
    }
    for (size_t j = 0; j < outputs.size(); ++j) {
      if (outputs[j].empty()) continue;
      if (j >= y.size()) throw error("layer " + std::string(layer->kind()) + " produced too few outputs");
      builder_.define_constant(outputs[j], y[j], "node '" + nn + "'");
      if (from_weights && y[j].is_float())
        builder_.folded_weights[outputs[j]] = weight_origin + " through node '" + nn + "' (op " + op_type() + ")";
    }
    return;
  }
  for (const auto& in : inputs)
    if (!in.empty() && builder_.constants.count(in)) builder_.use_constant(in);
  for (const auto& out : outputs)
    if (!out.empty() && builder_.known(out)) throw error("writes value '" + out + "', which is already defined");
  try {
    builder_.model.add_node(nn, std::move(layer), inputs, outputs);
  } catch (const Error& e) {
    throw error(e.what());
  }
  for (const auto& out : outputs)
    if (!out.empty()) builder_.runtime_values.insert(out);
}

}  // namespace xdnn
