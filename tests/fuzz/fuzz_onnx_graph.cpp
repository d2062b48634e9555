// Graph-level libFuzzer harness for the ONNX importer and the runtime behind it. fuzz_onnx feeds raw bytes
// to the protobuf parser, so almost every input dies there; this harness starts from valid models instead
// and reads the fuzz input as a mutation script, so that what reaches import and the forward / backward
// passes is a well-formed graph with wrong numbers in it: Reshape / Expand / Tile / ConstantOfShape targets,
// pads, strides, kernel shapes, dilations, groups, axes and perms, initializer dims and data, declared input
// dims, rewired node inputs and swapped op types. That is the runtime shape arithmetic (engine/shape_util.h)
// the parser fuzzer cannot reach.
//
// Property: import + one forward pass on a zero input of the declared shape (+ one backward pass when the
// script asks) either succeeds or throws xdnn::Error with a one-line message. A crash, a sanitizer report,
// another exception type (std::bad_alloc from an unchecked size included) or a hang is a bug.
//
// Script: byte 0 picks the seed model (seed_files below, read once from the source tree), byte 1 holds
// flags (bit 0: also run backward; bit 1: batch 2 instead of 1), then up to 24 edits of the form
// [kind][target: 2 bytes][operands...] until the bytes run out (kinds: `apply_edit`). Numbers come from
// `value`: mostly small sizes and axes (-4 .. 79), sometimes boundary values (2^31, 2^61 + 1, INT64_MIN, ...).
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "engine/error.h"
#include "models/onnx/import.h"

#ifndef XDNN_TESTS_DIR
#error "XDNN_TESTS_DIR (the tests/ source folder, for the seed models) is set by tests/fuzz/meson.build"
#endif

namespace {

// Small valid models of every importer family: CNN, MLP, LSTM, Transformer (golden), and torchscript
// exports of the zoo (convolutions with groups and dilations, squeeze-excitation, attention, GRU, ...).
const char* const seed_files[] = {
    "golden/models/cnn.onnx",
    "golden/models/mlp.onnx",
    "golden/models/lstm.onnx",
    "golden/models/transformer.onnx",
    "zoo/resnet-basic.torchscript.onnx",
    "zoo/mobilenet-v2.torchscript.onnx",
    "zoo/mobilenet-v3.torchscript.onnx",
    "zoo/squeezenet.torchscript.onnx",
    "zoo/densenet.torchscript.onnx",
    "zoo/shufflenet-v2.torchscript.onnx",
    "zoo/convnext.torchscript.onnx",
    "zoo/vit.torchscript.onnx",
    "zoo/text-cnn.torchscript.onnx",
    "zoo/text-gru.torchscript.onnx",
    "zoo/text-lstm.torchscript.onnx",
    "zoo/text-transformer.torchscript.onnx",
};

std::vector<onnx::ModelProto> load_seeds() {
  std::vector<onnx::ModelProto> seeds;
  for (const char* file : seed_files) {
    const std::string path = std::string(XDNN_TESTS_DIR) + "/" + file;
    std::ifstream in(path, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    onnx::ModelProto proto;
    if (!in || !proto.ParseFromString(bytes.str())) __builtin_trap();  // the seeds are part of the repository
    seeds.push_back(std::move(proto));
  }
  return seeds;
}

// The fuzz input, consumed from the front; reads past the end give zeros.
struct Script {
  const uint8_t* data;
  size_t size;
  size_t at = 0;
  bool done() const { return at >= size; }
  uint8_t byte() { return at < size ? data[at++] : 0; }
  uint16_t u16() { return static_cast<uint16_t>(byte() | (byte() << 8)); }
  // A size, axis, pad or count: -4..79 for most bytes, boundary values for the top 32.
  int64_t value() {
    static const int64_t boundary[] = {0,
                                       1,
                                       -1,
                                       2,
                                       (1LL << 31) - 1,
                                       1LL << 31,
                                       -(1LL << 31),
                                       (1LL << 32) - 1,
                                       1LL << 32,
                                       1LL << 34,
                                       (1LL << 34) + 1,
                                       (1LL << 61) + 1,
                                       1LL << 62,
                                       std::numeric_limits<int64_t>::max(),
                                       std::numeric_limits<int64_t>::min(),
                                       -2,
                                       65536,
                                       1 << 20,
                                       -65536,
                                       3,
                                       1000,
                                       4096,
                                       -(1LL << 62),
                                       255,
                                       256,
                                       127,
                                       -128,
                                       1LL << 40,
                                       std::numeric_limits<int64_t>::max() - 1,
                                       5,
                                       7,
                                       0};
    const uint8_t b = byte();
    if (b < 160) return b % 20 - 4;  // axes, small sizes, pads
    if (b < 224) return b - 144;     // 16 .. 79
    if (b == 255) {                  // eight raw bytes follow
      uint64_t v = 0;
      for (int i = 0; i < 8; ++i) v = (v << 8) | byte();
      return static_cast<int64_t>(v);
    }
    return boundary[b - 224];
  }
  template <class T>
  T* pick(const std::vector<T*>& from) {
    const uint16_t i = u16();
    return from.empty() ? nullptr : from[i % from.size()];
  }
};

// Pointers into the model being edited (all stable: the edits never add or remove nodes or tensors).
struct Targets {
  std::vector<onnx::NodeProto*> nodes;
  std::vector<onnx::AttributeProto*> int_attrs;  // INT and INTS attributes of every node
  std::vector<onnx::TensorProto*> tensors;       // initializers and Constant node values
  std::vector<onnx::ValueInfoProto*> values;     // graph inputs, outputs and value_info
  std::vector<std::string> value_names;          // everything a node input may name
};

Targets collect(onnx::ModelProto& m) {
  Targets t;
  auto* g = m.mutable_graph();
  for (auto& init : *g->mutable_initializer()) t.tensors.push_back(&init), t.value_names.push_back(init.name());
  for (auto& v : *g->mutable_input()) t.values.push_back(&v), t.value_names.push_back(v.name());
  for (auto& v : *g->mutable_output()) t.values.push_back(&v);
  for (auto& v : *g->mutable_value_info()) t.values.push_back(&v);
  for (auto& n : *g->mutable_node()) {
    t.nodes.push_back(&n);
    for (const auto& o : n.output()) t.value_names.push_back(o);
    for (auto& a : *n.mutable_attribute()) {
      if (a.type() == onnx::AttributeProto::INT || a.type() == onnx::AttributeProto::INTS) t.int_attrs.push_back(&a);
      if (a.type() == onnx::AttributeProto::TENSOR) t.tensors.push_back(a.mutable_t());
    }
  }
  t.value_names.push_back("");  // an omitted optional input
  return t;
}

// The integers of an INT64 / INT32 tensor, wherever the exporter put them, and their write-back.
std::vector<int64_t> int_data(const onnx::TensorProto& t) {
  std::vector<int64_t> v;
  const bool i64 = t.data_type() == onnx::TensorProto::INT64;
  if (!t.raw_data().empty()) {
    const size_t width = i64 ? 8 : 4;
    for (size_t at = 0; at + width <= t.raw_data().size(); at += width) {
      int64_t x = 0;
      if (i64) {
        std::memcpy(&x, t.raw_data().data() + at, 8);
      } else {
        int32_t y;
        std::memcpy(&y, t.raw_data().data() + at, 4);
        x = y;
      }
      v.push_back(x);
    }
  } else if (i64) {
    v.assign(t.int64_data().begin(), t.int64_data().end());
  } else {
    v.assign(t.int32_data().begin(), t.int32_data().end());
  }
  return v;
}

void set_int_data(onnx::TensorProto& t, const std::vector<int64_t>& v) {
  const bool i64 = t.data_type() == onnx::TensorProto::INT64;
  if (!t.raw_data().empty()) {
    std::string raw;
    for (int64_t x : v) {
      char b[8];
      const int32_t y = static_cast<int32_t>(x);
      std::memcpy(b, i64 ? static_cast<const void*>(&x) : static_cast<const void*>(&y), i64 ? 8 : 4);
      raw.append(b, i64 ? 8 : 4);
    }
    t.set_raw_data(raw);
  } else if (i64) {
    t.clear_int64_data();
    for (int64_t x : v) t.add_int64_data(x);
  } else {
    t.clear_int32_data();
    for (int64_t x : v) t.add_int32_data(static_cast<int32_t>(x));
  }
}

bool is_int(const onnx::TensorProto& t) {
  return t.data_type() == onnx::TensorProto::INT64 || t.data_type() == onnx::TensorProto::INT32;
}

// Ops that read the same inputs, so a swap keeps the graph well formed but changes the shape rules.
const std::vector<std::vector<std::string>> op_families = {
    {"Relu", "Sigmoid", "Tanh", "Abs", "Neg", "Exp", "Log", "Sqrt", "Identity", "Erf", "Softplus"},
    {"Add", "Sub", "Mul", "Div", "Pow", "MatMul", "Max", "Min", "Equal", "Less"},
    {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"},
    {"Reshape", "Expand", "Tile", "Unsqueeze", "Squeeze"},
    {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd"},
    {"Softmax", "LogSoftmax", "Flatten", "Transpose"},
    {"Conv", "ConvTranspose"},
    {"Gather", "GatherElements"},
};

// Attributes worth adding to any node (most nodes refuse an unknown one; the others take it).
const char* const int_attr_names[] = {"pads", "strides", "kernel_shape", "dilations", "group",     "axes",
                                      "perm", "axis",    "keepdims",     "ceil_mode", "allowzero", "output_padding"};

void apply_edit(Script& s, onnx::ModelProto& m, Targets& t) {
  // Edits that only break the file's consistency (a tensor dim, an attribute the op does not take) stop
  // the import at once, so they get one slot in 16; edits of values a valid graph also holds get more.
  static const uint8_t kind_of[16] = {0, 0, 0, 0, 1, 2, 2, 2, 2, 3, 4, 5, 6, 7, 8, 9};
  const uint8_t kind = kind_of[s.byte() % 16];
  switch (kind) {
    case 0: {  // an INT attribute, or one element of an INTS attribute (appending when past the end)
      onnx::AttributeProto* a = s.pick(t.int_attrs);
      if (!a) return;
      if (a->type() == onnx::AttributeProto::INT) {
        a->set_i(s.value());
      } else {
        const int i = s.byte() % (a->ints_size() + 1);
        if (i == a->ints_size())
          a->add_ints(s.value());
        else
          a->set_ints(i, s.value());
      }
      return;
    }
    case 1: {  // drop the last element of an INTS attribute
      onnx::AttributeProto* a = s.pick(t.int_attrs);
      if (a && a->ints_size() > 0) a->mutable_ints()->RemoveLast();
      return;
    }
    case 2: {  // one element of an integer tensor (a Reshape / Expand / Tile / Slice / ConstantOfShape input)
      std::vector<onnx::TensorProto*> ints;
      for (auto* x : t.tensors)
        if (is_int(*x)) ints.push_back(x);
      onnx::TensorProto* x = s.pick(ints);
      if (!x) return;
      std::vector<int64_t> v = int_data(*x);
      const size_t i = s.byte() % (v.size() + 1);
      if (i == v.size()) {
        v.push_back(s.value());
        if (x->dims_size() == 1) x->set_dims(0, x->dims(0) + 1);  // keep a 1-D shape consistent
      } else {
        v[i] = s.value();
      }
      set_int_data(*x, v);
      return;
    }
    case 3: {  // a dim of any tensor (its data no longer matches)
      onnx::TensorProto* x = s.pick(t.tensors);
      if (!x) return;
      if (x->dims_size() == 0 || s.byte() % 8 == 0)
        x->add_dims(s.value());
      else
        x->set_dims(s.byte() % x->dims_size(), s.value());
      return;
    }
    case 4: {  // one float of an initializer: NaN, infinities, huge, zero
      std::vector<onnx::TensorProto*> floats;
      for (auto* x : t.tensors)
        if (x->data_type() == onnx::TensorProto::FLOAT) floats.push_back(x);
      onnx::TensorProto* x = s.pick(floats);
      if (!x) return;
      const float specials[] = {std::numeric_limits<float>::quiet_NaN(),
                                std::numeric_limits<float>::infinity(),
                                -std::numeric_limits<float>::infinity(),
                                3e38f,
                                0.0f,
                                -0.0f,
                                1e-45f,
                                -1.0f};
      const float f = specials[s.byte() % 8];
      const size_t i = s.u16();
      if (!x->raw_data().empty()) {
        std::string raw = x->raw_data();
        if (raw.size() >= 4) std::memcpy(&raw[(i % (raw.size() / 4)) * 4], &f, 4);
        x->set_raw_data(raw);
      } else if (x->float_data_size() > 0) {
        x->set_float_data(static_cast<int>(i % x->float_data_size()), f);
      }
      return;
    }
    case 5: {  // a declared dim of a graph input, output or value_info: a number, a name, or gone
      onnx::ValueInfoProto* v = s.pick(t.values);
      if (!v || !v->type().has_tensor_type()) return;
      auto* shape = v->mutable_type()->mutable_tensor_type()->mutable_shape();
      const uint8_t how = s.byte();
      if (shape->dim_size() == 0 || how % 8 == 0) {
        shape->add_dim()->set_dim_value(s.value());
      } else if (how % 8 == 1) {
        shape->mutable_dim()->RemoveLast();
      } else {
        auto* d = shape->mutable_dim(s.byte() % shape->dim_size());
        if (how % 8 == 2)
          d->set_dim_param("fuzz");
        else
          d->set_dim_value(s.value());
      }
      return;
    }
    case 6: {  // rewire one node input to another value (or to nothing)
      onnx::NodeProto* n = s.pick(t.nodes);
      if (!n || n->input_size() == 0) return;
      const int i = s.byte() % n->input_size();
      n->set_input(i, t.value_names[s.u16() % t.value_names.size()]);
      return;
    }
    case 7: {  // swap the op for another of its family
      onnx::NodeProto* n = s.pick(t.nodes);
      if (!n) return;
      const uint8_t to = s.byte();
      for (const auto& family : op_families)
        for (const auto& op : family)
          if (op == n->op_type()) {
            n->set_op_type(family[to % family.size()]);
            return;
          }
      return;
    }
    case 8: {  // remove an attribute
      onnx::NodeProto* n = s.pick(t.nodes);
      if (!n || n->attribute_size() == 0) return;
      const int i = s.byte() % n->attribute_size();
      n->mutable_attribute()->DeleteSubrange(i, 1);
      t = collect(m);  // the pointers to that attribute (or to its tensor) are gone
      return;
    }
    default: {  // add an INTS attribute of 0-4 values (an INT one when the name is `group` / `axis` / ...)
      onnx::NodeProto* n = s.pick(t.nodes);
      if (!n) return;
      const char* name = int_attr_names[s.byte() % (sizeof(int_attr_names) / sizeof(int_attr_names[0]))];
      for (const auto& a : n->attribute())
        if (a.name() == name) return;
      auto* a = n->add_attribute();
      a->set_name(name);
      const std::string single = "group axis keepdims ceil_mode allowzero";
      if (single.find(name) != std::string::npos) {
        a->set_type(onnx::AttributeProto::INT), a->set_i(s.value());
      } else {
        a->set_type(onnx::AttributeProto::INTS);
        for (int k = s.byte() % 5; k > 0; --k) a->add_ints(s.value());
      }
      t.int_attrs.push_back(a);
      return;
    }
  }
}

void check_message(const xdnn::Error& e) {
  const std::string msg = e.what();
  if (msg.empty() || msg.find('\n') != std::string::npos) __builtin_trap();  // messages are one line
  static const bool verbose = std::getenv("XDNN_FUZZ_VERBOSE") != nullptr;   // to see what the edits reach
  if (verbose) std::fprintf(stderr, "error: %s\n", msg.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<onnx::ModelProto> seeds = load_seeds();
  Script s{data, size};
  onnx::ModelProto proto = seeds[s.byte() % seeds.size()];
  const uint8_t flags = s.byte();
  Targets targets = collect(proto);
  for (int edit = 0; edit < 24 && !s.done(); ++edit) apply_edit(s, proto, targets);
  try {
    xdnn::Model model = xdnn::import_onnx_model(proto, "fuzz.onnx");
    if (model.inputs().size() != 1) return 0;  // predict() feeds one input
    xdnn::Shape shape = model.input_shape;
    int64_t numel = 1;
    for (auto& d : shape) {
      if (d < 0) d = 1;
      if (d > (1 << 16)) return 0;
      numel *= d;
    }
    if (numel > (1 << 16)) return 0;  // keep each run small: a huge declared input is the importer's business
    shape.insert(shape.begin(), (flags & 2) ? 2 : 1);
    const xdnn::Tape tape = model.forward({xdnn::Tensor(shape, model.input_dtype)});
    if (flags & 1) {  // one backward pass from every float output
      std::map<int, xdnn::Tensor> seeds_at;
      for (int out : model.outputs()) {
        const xdnn::Tensor& y = tape.values.at(out);
        if (y.defined() && y.dtype() != xdnn::DType::I64) seeds_at[out] = xdnn::Tensor::full(y.shape(), 1.0, y.dtype());
      }
      if (!seeds_at.empty()) model.backward(tape, seeds_at);
    }
  } catch (const xdnn::Error& e) {
    check_message(e);
  }
  return 0;
}
