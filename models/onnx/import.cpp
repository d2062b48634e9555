// ONNX import: parsing, validation, the converter registry, constant folding and graph building.
// The design (what is folded, how the batch axis stays dynamic) is described in models/onnx/import.h.
#include "models/onnx/import.h"

#include <algorithm>
#include <map>
#include <set>

#include "models/onnx/graph_builder.h"

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
    const std::string op = printable_name(default_domain ? n.op_type() : n.domain() + ":" + n.op_type());
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
  mark_attention_products(b.model);
  return std::move(b.model);
}

}  // namespace xdnn
