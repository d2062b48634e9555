// ONNX import: parsing, validation, the converter registry, constant folding and graph building.
// The design (what is folded, how the batch axis stays dynamic) is described in models/onnx/import.h.
#include "models/onnx/import.h"

#include <algorithm>
#include <map>
#include <set>

namespace xdnn {

// ---- registry ----------------------------------------------------------------------------------------

static std::map<std::string, OnnxConverter>& converters() {
  static std::map<std::string, OnnxConverter> m;
  return m;
}

void register_onnx_op(const std::string& op_type, OnnxConverter converter) {
  converters()[op_type] = std::move(converter);
}

bool has_onnx_op(const std::string& op_type) { return converters().count(op_type) > 0; }

std::vector<std::string> registered_onnx_ops() {
  std::vector<std::string> out;
  for (const auto& [name, fn] : converters()) out.push_back(name);
  return out;
}

// ---- graph builder -----------------------------------------------------------------------------------

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

// ---- node context ------------------------------------------------------------------------------------

OnnxNodeContext::OnnxNodeContext(OnnxGraphBuilder& builder, const onnx::NodeProto& node, int opset)
    : builder_(builder), node_(node), opset_(opset) {
  name_ = node.name();
  if (name_.empty() && node.output_size() > 0) name_ = node.output(0);
  if (name_.empty()) name_ = node.op_type();
}

Error OnnxNodeContext::error(const std::string& what) const {
  return Error(builder_.file + ": node '" + name_ + "' (op " + node_.op_type() + ", opset " + std::to_string(opset_) +
               "): " + what);
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

// ---- import ------------------------------------------------------------------------------------------

static DType dtype_from_onnx_elem(int elem, bool* ok) {
  *ok = true;
  switch (elem) {
    case onnx::TensorProto::FLOAT:
      return DType::F32;
    case onnx::TensorProto::DOUBLE:
      return DType::F64;
    case onnx::TensorProto::INT64:
    case onnx::TensorProto::INT32:
    case onnx::TensorProto::INT16:
    case onnx::TensorProto::UINT16:
    case onnx::TensorProto::INT8:
    case onnx::TensorProto::UINT8:
    case onnx::TensorProto::BOOL:  // integers and booleans are int64 in xdnn
      return DType::I64;
    default:
      *ok = false;
      return DType::F32;
  }
}

// Names come from the file; a corrupted one must not break the one-line error contract.
static std::string one_line(std::string s) {
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20) c = '?';
  return s;
}

// ---- opsets and operators ----------------------------------------------------------------------------

// Opsets 6 to 21 are implemented in full: the converters read ctx.opset() wherever an op's semantics
// changed (Reduce* axes as inputs at 13 / 18, Split `split` as input at 13 and `num_outputs` at 18,
// Squeeze / Unsqueeze axes at 13, Pad pads at 11 and axes at 18, Clip min / max at 11, Resize at 11 /
// 13 / 18 / 19, Softmax axis at 13, ...). Opsets 22 (ONNX 1.17: bfloat16 added to the activations,
// pooling, Conv, recurrent ops, ...) and 23 (ONNX 1.18: 4-bit types added to Cast, Constant, Reshape,
// Shape, Squeeze, Transpose, ...) changed only the tensor types the supported ops accept, not their
// semantics on float32 / int64, so they import as 21 does. Newer opsets may have changed any op.
constexpr int kOldestOpset = 6, kNewestFullOpset = 21, kNewestKnownOpset = 23;

static void check_opset(const onnx::GraphProto& g, int opset, const std::string& file) {
  if (opset >= kOldestOpset && opset <= kNewestKnownOpset) return;
  const std::string range =
      " (supported: " + std::to_string(kOldestOpset) + " to " + std::to_string(kNewestKnownOpset) + ")";
  if (opset < kOldestOpset)
    throw Error(file + ": opset " + std::to_string(opset) + " is not supported" + range + "; re-export with opset " +
                std::to_string(kOldestOpset) +
                " or newer (torch.onnx.export(..., opset_version=" + std::to_string(kNewestFullOpset) + "))");
  std::set<std::string> ops;
  for (const auto& n : g.node()) ops.insert(n.op_type());
  std::string list;
  for (const auto& o : ops) list += (list.empty() ? "" : ", ") + o;
  throw Error(file + ": opset " + std::to_string(opset) + " is newer than the importer knows" + range + ": ops " +
              list + " may have changed since opset " + std::to_string(kNewestKnownOpset) +
              "; re-export with the nearest supported opset, " + std::to_string(kNewestKnownOpset) +
              " (torch.onnx.export(..., opset_version=" + std::to_string(kNewestKnownOpset) + "))");
}

// Every unsupported operator of the graph in one line, with up to three node names each.
static void check_operators(const onnx::GraphProto& g, const std::string& file) {
  std::map<std::string, std::vector<std::string>> missing;  // op (domain:op) -> node names
  for (const auto& n : g.node()) {
    const bool default_domain = n.domain().empty() || n.domain() == "ai.onnx";
    if (default_domain && converters().count(n.op_type())) continue;
    const std::string op = default_domain ? n.op_type() : n.domain() + ":" + n.op_type();
    missing[op].push_back(n.name().empty() && n.output_size() ? n.output(0) : n.name());
  }
  if (missing.empty()) return;
  std::string list;
  for (const auto& [op, nodes] : missing) {
    list += (list.empty() ? "" : ", ") + op + " (node";
    list += nodes.size() > 1 ? "s " : " ";
    for (size_t i = 0; i < nodes.size() && i < 3; ++i) list += (i ? ", '" : "'") + nodes[i] + "'";
    if (nodes.size() > 3) list += ", ... " + std::to_string(nodes.size()) + " in all";
    list += ")";
  }
  throw Error(file + ": " + std::to_string(missing.size()) + " unsupported operator" +
              (missing.size() > 1 ? "s: " : ": ") + list);
}

using Initializers = std::vector<std::pair<std::string, Tensor>>;
static Model import_graph(const onnx::ModelProto& proto, Initializers initializers, const std::string& file);

Model import_onnx_model(const onnx::ModelProto& proto, const std::string& file) {
  try {
    Initializers inits;
    for (const auto& init : proto.graph().initializer())
      inits.emplace_back(init.name(), tensor_from_onnx(init, file + ": initializer '" + init.name() + "'", file));
    return import_graph(proto, std::move(inits), file);
  } catch (const Error& e) {
    throw Error(one_line(e.what()), e.hint());
  }
}

Model import_onnx_graph(const onnx::ModelProto& proto, Initializers initializers, const std::string& file) {
  try {
    return import_graph(proto, std::move(initializers), file);
  } catch (const Error& e) {
    throw Error(one_line(e.what()), e.hint());
  }
}

static Model import_graph(const onnx::ModelProto& proto, Initializers initializers, const std::string& file) {
  if (!proto.has_graph()) throw Error(file + ": not an ONNX model (no graph)");
  int opset = -1;
  for (const auto& imp : proto.opset_import())
    if (imp.domain().empty() || imp.domain() == "ai.onnx") opset = static_cast<int>(imp.version());
  if (opset < 0) throw Error(file + ": the model imports no opset of the default ONNX domain");
  check_opset(proto.graph(), opset, file);
  check_operators(proto.graph(), file);

  const onnx::GraphProto& g = proto.graph();
  OnnxGraphBuilder b;
  b.file = file;
  for (auto& [name, tensor] : initializers) {
    if (name.empty()) throw Error(file + ": an initializer has no name");
    b.define_constant(name, std::move(tensor), "an initializer");
    b.initializer_names.insert(name);
  }
  initializers.clear();  // the builder holds the only reference now (parameters may take it over)
  for (const auto& n : g.node())
    for (const auto& in : n.input()) ++b.uses[in];
  for (const auto& o : g.output()) ++b.uses[o.name()];

  bool first = true;
  for (const auto& in : g.input()) {
    if (b.initializer_names.count(in.name())) continue;  // IR < 4 lists initializers as inputs too
    b.model.add_input(in.name());
    b.runtime_values.insert(in.name());
    if (!first) continue;
    first = false;
    if (!in.type().has_tensor_type()) throw Error(file + ": graph input '" + in.name() + "' is not a tensor");
    const auto& tt = in.type().tensor_type();
    bool ok = false;
    DType dt = dtype_from_onnx_elem(tt.elem_type(), &ok);
    if (!ok)
      throw Error(file + ": graph input '" + in.name() + "' has unsupported element type " +
                  std::to_string(tt.elem_type()));
    b.model.input_dtype = dt;
    if (tt.has_shape()) {
      Shape s;
      for (int k = 1; k < tt.shape().dim_size(); ++k) {  // dim 0 is the batch axis, always free
        const auto& d = tt.shape().dim(k);
        s.push_back(d.has_dim_value() ? d.dim_value() : -1);
      }
      b.model.input_shape = s;
      if (tt.shape().dim_size() >= 1 && tt.shape().dim(0).has_dim_value())
        b.model.exported_batch = tt.shape().dim(0).dim_value();
      b.model.check_input = tt.shape().dim_size() >= 1;
    }
  }
  if (b.model.inputs().empty()) throw Error(file + ": the graph has no inputs");

  for (const auto& node : g.node()) {
    OnnxNodeContext ctx(b, node, opset);
    const bool default_domain = node.domain().empty() || node.domain() == "ai.onnx";
    auto it = converters().find(node.op_type());
    if (!default_domain || it == converters().end())
      throw ctx.error(default_domain ? "unsupported operator" : "unsupported operator domain '" + node.domain() + "'");
    try {
      it->second(ctx);
    } catch (const Error& e) {
      const std::string msg = e.what();
      if (msg.rfind(file + ":", 0) == 0) throw;
      throw ctx.error(msg);
    }
    for (int j = 0; j < node.output_size(); ++j) {
      if (node.output(j).empty()) continue;
      if (!b.known(node.output(j)) && j == 0)
        throw ctx.error("internal: converter did not define output '" + node.output(j) + "'");
      b.producers[node.output(j)] = &node;
    }
  }

  std::vector<std::string> outs;
  for (const auto& o : g.output()) {
    if (!b.known(o.name())) throw Error(file + ": graph output '" + o.name() + "' is never computed");
    if (b.constants.count(o.name())) b.use_constant(o.name());
    outs.push_back(o.name());
  }
  if (outs.empty()) throw Error(file + ": the graph has no outputs");
  b.model.set_outputs(outs);
  return std::move(b.model);
}

}  // namespace xdnn
