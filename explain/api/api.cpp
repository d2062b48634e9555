// The public API (explain/api/xdnn.h, installed as <xdnn/xdnn.h>): arrays, .npy files, models, explain.
// Each entry point does what the matching `xdnn` command does (explain/cli/), in the same order, so its
// results are the command's bit for bit; xdnn::Error becomes api::Error with the same message.
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/error.h"
#include "explain/api/api_internal.h"
#include "explain/api/xdnn.h"
#include "explain/api/xdnn_version.h"
#include "explain/registry.h"
#include "explain/targets.h"
#include "models/io/npy.h"
#include "models/load.h"
#include "models/onnx/export.h"

namespace xdnn::api {

// ---- Array ----

Array::Array(DType dtype, std::vector<int64_t> shape) : dtype_(dtype), shape_(std::move(shape)) {
  int64_t n = 1;
  for (int64_t d : shape_) {
    if (d < 0) throw Error("Array: negative dimension " + std::to_string(d));
    n *= d;
  }
  if (dtype_ == DType::F32) f32_.assign(n, 0.0f);
  if (dtype_ == DType::F64) f64_.assign(n, 0.0);
  if (dtype_ == DType::I64) i64_.assign(n, 0);
}

namespace {
template <class T>
Array make_array(DType dtype, std::vector<int64_t> shape, const std::vector<T>& values) {
  Array a(dtype, std::move(shape));
  if (static_cast<int64_t>(values.size()) != a.size())
    throw Error("Array: " + std::to_string(values.size()) + " values for a shape of " + std::to_string(a.size()) +
                " elements");
  std::copy(values.begin(), values.end(), a.data<T>());
  return a;
}
}  // namespace

Array Array::f32(std::vector<int64_t> shape, const std::vector<float>& v) { return make_array(DType::F32, shape, v); }
Array Array::f64(std::vector<int64_t> shape, const std::vector<double>& v) { return make_array(DType::F64, shape, v); }
Array Array::i64(std::vector<int64_t> shape, const std::vector<int64_t>& v) { return make_array(DType::I64, shape, v); }

int64_t Array::size() const {
  int64_t n = 1;
  for (int64_t d : shape_) n *= d;
  return n;
}

double Array::get(int64_t i) const {
  if (i < 0 || i >= size()) throw Error("Array::get: index " + std::to_string(i) + " of " + std::to_string(size()));
  if (dtype_ == DType::F32) return f32_[i];
  if (dtype_ == DType::F64) return f64_[i];
  return static_cast<double>(i64_[i]);
}

void Array::set(int64_t i, double value) {
  if (i < 0 || i >= size()) throw Error("Array::set: index " + std::to_string(i) + " of " + std::to_string(size()));
  if (dtype_ == DType::F32) f32_[i] = static_cast<float>(value);
  if (dtype_ == DType::F64) f64_[i] = value;
  if (dtype_ == DType::I64) i64_[i] = static_cast<int64_t>(value);
}

Array Array::to(DType dtype) const {
  Array out(dtype, shape_);
  for (int64_t i = 0; i < size(); ++i) out.set(i, get(i));
  return out;
}

void Array::check_dtype(DType wanted) const {
  static const char* names[] = {"float32", "float64", "int64"};
  if (wanted != dtype_)
    throw Error(std::string("Array::data: the array holds ") + names[static_cast<int>(dtype_)] + ", not " +
                names[static_cast<int>(wanted)]);
}

// ---- conversions (api_internal.h) ----

Tensor to_tensor(const Array& a, const std::string& what) {
  const Shape shape(a.shape().begin(), a.shape().end());
  Tensor t;
  if (a.dtype() == DType::F32) t = Tensor::empty(shape, xdnn::DType::F32);
  if (a.dtype() == DType::F64) t = Tensor::empty(shape, xdnn::DType::F64);
  if (a.dtype() == DType::I64) t = Tensor::empty(shape, xdnn::DType::I64);
  if (a.dtype() == DType::F32) std::copy(a.data<float>(), a.data<float>() + a.size(), t.data<float>());
  if (a.dtype() == DType::F64) std::copy(a.data<double>(), a.data<double>() + a.size(), t.data<double>());
  if (a.dtype() == DType::I64) std::copy(a.data<int64_t>(), a.data<int64_t>() + a.size(), t.data<int64_t>());
  if (t.is_float())
    for (int64_t i = 0, i_end = t.numel(); i < i_end; ++i)
      if (!std::isfinite(t.item(i)))
        throw xdnn::Error(
            what + ": element " + std::to_string(i) + " is " + (std::isnan(t.item(i)) ? "NaN" : "infinite"),
            "inputs must be finite");
  return t;
}

Array to_array(const Tensor& tensor) {
  const Tensor t = tensor.to(Device::CPU);
  std::vector<int64_t> shape(t.shape().begin(), t.shape().end());
  if (t.dtype() == xdnn::DType::F32)
    return make_array(DType::F32, shape, std::vector<float>(t.data<float>(), t.data<float>() + t.numel()));
  if (t.dtype() == xdnn::DType::F64)
    return make_array(DType::F64, shape, std::vector<double>(t.data<double>(), t.data<double>() + t.numel()));
  return make_array(DType::I64, shape, std::vector<int64_t>(t.data<int64_t>(), t.data<int64_t>() + t.numel()));
}

// ---- .npy ----

Array load_npy(const std::string& path) {
  return guarded([&] { return to_array(xdnn::load_npy(path)); });
}

void save_npy(const std::string& path, const Array& array) {
  guarded([&] { xdnn::save_npy(path, to_tensor(array, path)); });
}

// ---- Model ----

xdnn::Model& Model::Impl::instance(xdnn::DType dtype) {
  auto it = instances.find(dtype);
  if (it != instances.end()) return it->second;
  // Each precision gets its own copy loaded from the spec: Model copies share their layers, and converting
  // one to float64 would convert the float32 one too.
  xdnn::Model m = load_model(spec);
  m.to(dtype);
  for (const auto& [node, layer] : replacements) replace_node(m, node, layer);
  m.freeze();  // the API never changes a loaded model's parameters: layers build their derived forms once
  return instances.emplace(dtype, std::move(m)).first->second;
}

Model Model::load(const std::string& spec) {
  return guarded([&] {
    auto impl = std::make_shared<Impl>();
    impl->spec = spec;
    impl->instance(xdnn::DType::F32);  // load now: a bad spec fails here
    return Model(impl);
  });
}

Array Model::run(const Array& x) const {
  return guarded([&] {
    const xdnn::Model& m = impl_->instance(xdnn::DType::F32);
    Tensor t = to_tensor(x, "input");
    if (t.is_float() && !m.takes_token_ids()) t = t.to(m.dtype());
    Tape tape = m.forward({t});
    Tensor y = tape.values.at(m.outputs().at(0));
    return to_array(y.is_float() ? y.to(xdnn::DType::F32) : y);
  });
}

std::vector<LayerInfo> Model::layers() const {
  return guarded([&] {
    std::vector<LayerInfo> out;
    for (const auto& n : impl_->instance(xdnn::DType::F32).nodes()) out.push_back({n.name, n.layer->kind()});
    return out;
  });
}

void Model::replace_layer(const std::string& node, std::shared_ptr<const CustomLayer> layer) {
  guarded([&] {
    if (!layer) throw xdnn::Error("replace_layer: no layer given for node '" + node + "'");
    for (auto& [dtype, m] : impl_->instances) replace_node(m, node, layer);
    impl_->replacements.emplace_back(node, std::move(layer));
  });
}

void Model::save_onnx(const std::string& path) const {
  guarded([&] { export_onnx_file(impl_->instance(xdnn::DType::F32), path); });
}

// ---- explain ----

std::vector<MethodInfo> methods() {
  std::vector<MethodInfo> out;
  for (const auto& m : explain::methods()) {
    MethodInfo info{m.name, m.description, {}};
    for (const auto& o : m.options) info.options.push_back({o.name, o.default_value, o.help});
    out.push_back(std::move(info));
  }
  return out;
}

// As run_explain in explain/cli/cmd_explain.cpp: options resolved first (fail fast), the model in the
// chosen precision, float inputs as float32 then the model's dtype, targets per sample.
Array explain(const Model& model, const Array& x, const std::string& method_name, const std::vector<int64_t>& targets,
              const Options& options) {
  return guarded([&] {
    const explain::MethodInfo& method = explain::find_method(method_name);
    Options given = options;
    std::string precision = "float64";
    if (given.count("precision")) {
      precision = given.at("precision");
      given.erase("precision");
    }
    if (precision != "float64" && precision != "float32")
      throw xdnn::Error("precision '" + precision + "': expected float32 or float64");
    explain::ExplainRequest req;
    req.options = explain::resolve_options(method, given);
    const xdnn::Model& m = model.impl().instance(precision == "float64" ? xdnn::DType::F64 : xdnn::DType::F32);
    req.model = &m;
    req.input = to_tensor(x, "input");
    if (req.input.is_float() && !m.takes_token_ids()) req.input = req.input.to(xdnn::DType::F32).to(m.dtype());
    if (req.input.ndim() < 2) throw xdnn::Error("input: expected a batch (N, ...), got " + req.input.describe());
    const int64_t N = req.input.dim(0);
    if (targets.size() > 1 && static_cast<int64_t>(targets.size()) != N)
      throw xdnn::Error("targets: " + std::to_string(targets.size()) + " targets for " + std::to_string(N) +
                        " samples; give one per sample, a single one, or none (argmax)");
    for (int64_t t : targets)
      if (t < 0) throw xdnn::Error("target " + std::to_string(t) + " is out of range: classes are numbered from 0");
    // One forward pass: argmax targets (explain::resolve_targets' rule) or the range check of given ones.
    const Tape tape = m.forward({req.input});
    const Tensor& logits = explain::tape_logits(m, tape);
    req.targets = explain::argmax_rows(logits);
    if (!targets.empty()) req.targets = targets.size() == 1 ? std::vector<int64_t>(N, targets[0]) : targets;
    for (int64_t t : req.targets)
      if (!targets.empty() && t >= logits.dim(1))
        throw xdnn::Error("target " + std::to_string(t) + " is out of range: the model has " +
                          std::to_string(logits.dim(1)) + " classes (0.." + std::to_string(logits.dim(1) - 1) + ")");
    explain::load_option_files(method, req.options);  // files named by options: the method reads none
    return to_array(method.run(req).values.to(Device::CPU).to(xdnn::DType::F32));
  });
}

std::string version() { return XDNN_VERSION; }  // explain/api/meson.build

}  // namespace xdnn::api
