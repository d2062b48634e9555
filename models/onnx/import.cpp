// ONNX import: parsing, validation, the converter registry, constant folding and graph building.
// The design (what is folded, how the batch axis stays dynamic) is described in models/onnx/import.h.
#include "models/onnx/import.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

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

// ---- tensors -----------------------------------------------------------------------------------------

namespace {

template <class Src, class Dst>
void copy_le(const std::string& raw, Dst* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    Src v;
    std::memcpy(&v, raw.data() + i * sizeof(Src), sizeof(Src));
    out[i] = static_cast<Dst>(v);
  }
}

}  // namespace

Tensor tensor_from_onnx(const onnx::TensorProto& t, const std::string& what) {
  if (t.data_location() == onnx::TensorProto::EXTERNAL)
    throw Error(what + ": tensors with external data are not supported (save the model with data inline)");
  Shape shape(t.dims().begin(), t.dims().end());
  // Validate the shape before anything is allocated: the data present must fill it (checked below), and
  // no product of dimensions may overflow.
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw Error(what + ": negative dimension in " + shape_str(shape));
    if (d > 0 && n > (int64_t{1} << 40) / d) throw Error(what + ": shape " + shape_str(shape) + " is too large");
    n *= d;
  }
  const int dt = t.data_type();
  const bool raw = t.has_raw_data();
  auto check_count = [&](int64_t have) {
    if (have != n)
      throw Error(what + ": holds " + std::to_string(have) + " values, its shape " + shape_str(shape) + " needs " +
                  std::to_string(n));
  };
  auto check_raw = [&](size_t elem) {
    if (t.raw_data().size() != static_cast<size_t>(n) * elem)
      throw Error(what + ": raw data has " + std::to_string(t.raw_data().size()) + " bytes, shape " + shape_str(shape) +
                  " needs " + std::to_string(n * static_cast<int64_t>(elem)));
  };
  const bool supported =
      dt == onnx::TensorProto::FLOAT || dt == onnx::TensorProto::DOUBLE || dt == onnx::TensorProto::INT64 ||
      dt == onnx::TensorProto::INT32 || dt == onnx::TensorProto::INT16 || dt == onnx::TensorProto::UINT16 ||
      dt == onnx::TensorProto::INT8 || dt == onnx::TensorProto::UINT8 || dt == onnx::TensorProto::BOOL;
  if (!supported)
    throw Error(what + ": unsupported tensor data type " + std::to_string(dt) +
                " (supported: float, double, int64, int32, int16, int8, uint8, bool)");
  // The number of values present, from the raw bytes or the typed field the data type uses.
  const size_t elem = dt == onnx::TensorProto::DOUBLE || dt == onnx::TensorProto::INT64   ? 8
                      : dt == onnx::TensorProto::FLOAT || dt == onnx::TensorProto::INT32  ? 4
                      : dt == onnx::TensorProto::INT16 || dt == onnx::TensorProto::UINT16 ? 2
                                                                                          : 1;
  if (raw) {
    check_raw(elem);
  } else {
    const int64_t have = dt == onnx::TensorProto::FLOAT    ? t.float_data_size()
                         : dt == onnx::TensorProto::DOUBLE ? t.double_data_size()
                         : dt == onnx::TensorProto::INT64  ? t.int64_data_size()
                                                           : t.int32_data_size();
    check_count(have);
  }
  switch (dt) {
    case onnx::TensorProto::FLOAT: {
      Tensor out(shape, DType::F32);
      if (raw) {
        check_raw(4);
        copy_le<float>(t.raw_data(), out.data<float>(), n);
      } else {
        check_count(t.float_data_size());
        std::copy(t.float_data().begin(), t.float_data().end(), out.data<float>());
      }
      return out;
    }
    case onnx::TensorProto::DOUBLE: {
      Tensor out(shape, DType::F64);
      if (raw) {
        check_raw(8);
        copy_le<double>(t.raw_data(), out.data<double>(), n);
      } else {
        check_count(t.double_data_size());
        std::copy(t.double_data().begin(), t.double_data().end(), out.data<double>());
      }
      return out;
    }
    case onnx::TensorProto::INT64: {
      Tensor out(shape, DType::I64);
      if (raw) {
        check_raw(8);
        copy_le<int64_t>(t.raw_data(), out.data<int64_t>(), n);
      } else {
        check_count(t.int64_data_size());
        std::copy(t.int64_data().begin(), t.int64_data().end(), out.data<int64_t>());
      }
      return out;
    }
    case onnx::TensorProto::INT32:
    case onnx::TensorProto::INT16:
    case onnx::TensorProto::INT8:
    case onnx::TensorProto::UINT8:
    case onnx::TensorProto::UINT16:
    case onnx::TensorProto::BOOL: {
      // Integer types widen to int64 (xdnn's one integer type); in raw form each has its own width.
      Tensor out(shape, DType::I64);
      int64_t* o = out.data<int64_t>();
      if (!raw) {
        check_count(t.int32_data_size());
        std::copy(t.int32_data().begin(), t.int32_data().end(), o);
        return out;
      }
      if (dt == onnx::TensorProto::INT32) check_raw(4), copy_le<int32_t>(t.raw_data(), o, n);
      if (dt == onnx::TensorProto::INT16) check_raw(2), copy_le<int16_t>(t.raw_data(), o, n);
      if (dt == onnx::TensorProto::UINT16) check_raw(2), copy_le<uint16_t>(t.raw_data(), o, n);
      if (dt == onnx::TensorProto::INT8) check_raw(1), copy_le<int8_t>(t.raw_data(), o, n);
      if (dt == onnx::TensorProto::UINT8 || dt == onnx::TensorProto::BOOL)
        check_raw(1), copy_le<uint8_t>(t.raw_data(), o, n);
      return out;
    }
    default:
      break;
  }
  throw Error(what + ": unsupported tensor data type " + std::to_string(dt) +
              " (supported: float, double, int64, int32, int16, int8, uint8, bool)");
}

// ---- graph builder -----------------------------------------------------------------------------------

class OnnxGraphBuilder {
 public:
  std::string file;
  Model model;
  std::map<std::string, Tensor> constants;   // known at import time
  std::set<std::string> initializer_names;   // graph initializers (a subset of `constants` keys)
  std::set<std::string> runtime_values;      // graph inputs and outputs of added nodes
  std::set<std::string> constants_in_model;  // constants already handed to model.add_constant
  std::map<std::string, const onnx::NodeProto*> producers;

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
  return builder_.initializer_names.count(v) > 0;
}

const Tensor& OnnxNodeContext::initializer(const std::string& v) const {
  if (!is_initializer_name(v)) throw error("'" + v + "' is not an initializer");
  return builder_.constants.at(v);
}

const onnx::NodeProto* OnnxNodeContext::producer(int i) const {
  if (!has_input(i)) return nullptr;
  auto it = builder_.producers.find(input(i));
  return it == builder_.producers.end() ? nullptr : it->second;
}

Param OnnxNodeContext::param(int i) const {
  if (!is_initializer(i))
    throw error("input " + std::to_string(i) + " ('" + input(i) +
                "') must be an initializer (a weight), but it is computed in the graph");
  return param_named(input(i));
}

Param OnnxNodeContext::param_named(const std::string& initializer_name) const {
  const Tensor& t = initializer(initializer_name);
  if (!t.is_float()) throw error("weight '" + initializer_name + "' must be float, got " + t.describe());
  return Param{initializer_name, t.clone(), {}};
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

static Model import_graph(const onnx::ModelProto& proto, const std::string& file);

Model import_onnx_model(const onnx::ModelProto& proto, const std::string& file) {
  try {
    return import_graph(proto, file);
  } catch (const Error& e) {
    throw Error(one_line(e.what()), e.hint());
  }
}

static Model import_graph(const onnx::ModelProto& proto, const std::string& file) {
  if (!proto.has_graph()) throw Error(file + ": not an ONNX model (no graph)");
  int opset = -1;
  for (const auto& imp : proto.opset_import())
    if (imp.domain().empty() || imp.domain() == "ai.onnx") opset = static_cast<int>(imp.version());
  if (opset < 0) throw Error(file + ": the model imports no opset of the default ONNX domain");
  if (opset < 6 || opset > 17)
    throw Error(file + ": opset " + std::to_string(opset) + " is not supported (supported: 6 to 17)");

  const onnx::GraphProto& g = proto.graph();
  OnnxGraphBuilder b;
  b.file = file;
  for (const auto& init : g.initializer()) {
    if (init.name().empty()) throw Error(file + ": an initializer has no name");
    b.define_constant(init.name(), tensor_from_onnx(init, file + ": initializer '" + init.name() + "'"),
                      "an initializer");
    b.initializer_names.insert(init.name());
  }

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

Model import_onnx_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open file");
  std::ostringstream ss;
  ss << f.rdbuf();
  const std::string bytes = ss.str();
  if (bytes.empty()) throw Error(path + ": empty file, expected an ONNX model");
  onnx::ModelProto proto;
  if (!proto.ParseFromString(bytes))
    throw Error(path + ": not a valid ONNX model (truncated or malformed protobuf, " + std::to_string(bytes.size()) +
                " bytes)");
  return import_onnx_model(proto, path);
}

}  // namespace xdnn
