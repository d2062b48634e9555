#include "models/train/checkpoint.h"
#include "engine/check.h"

#include <charconv>
#include <cstdlib>

#include "layers/batchnorm2d.h"

namespace xdnn {

namespace {

// Parameters then buffers, in model order (the order PyTorch's state_dict lists a module's entries is
// per module; a strict name-based load does not depend on it).
std::vector<Param*> state_entries(Model& model) {
  std::vector<Param*> out = model.params();
  for (auto& node : model.nodes())
    for (Param* b : node.layer->buffers()) out.push_back(b);
  return out;
}

// PyTorch's BatchNorm2d also stores "<name>.num_batches_tracked" (int64, shape ()). We write it so the
// file loads into PyTorch with strict=True, and accept it on load; its value only matters to PyTorch
// with momentum=None (cumulative averaging), which xdnn's BatchNorm2d does not offer, so it is not
// restored.
std::vector<std::pair<std::string, int64_t>> batch_counters(Model& model) {
  std::vector<std::pair<std::string, int64_t>> out;
  for (auto& node : model.nodes())
    if (auto* bn = dynamic_cast<BatchNorm2d*>(node.layer.get()))
      out.emplace_back(bn->name() + ".num_batches_tracked", bn->num_batches_tracked());
  return out;
}

}  // namespace

std::map<std::string, Tensor> model_state(Model& model) {
  std::map<std::string, Tensor> out;
  for (Param* p : state_entries(model)) out[p->name] = p->value;
  return out;
}

void save_checkpoint(const std::string& path, Model& model, const Metadata& metadata) {
  TensorList list;
  // A model on a device is written from a host copy (the file is host data).
  for (Param* p : state_entries(model)) list.emplace_back(p->name, p->value.to(Device::CPU));
  for (const auto& [name, count] : batch_counters(model)) {
    Tensor t(Shape{}, DType::I64);
    t.set_item(0, static_cast<double>(count));
    list.emplace_back(name, t);
  }
  save_safetensors(path, list, metadata);
}

Metadata load_checkpoint(const std::string& path, Model& model) {
  Metadata meta;
  std::map<std::string, Tensor> file = load_safetensors(path, &meta);
  std::vector<Param*> entries = state_entries(model);
  // Check everything before touching the model, so a failed load leaves it unchanged.
  for (Param* p : entries) {
    auto it = file.find(p->name);
    if (it == file.end())
      throw Error(path + ": tensor " + p->name + " is missing (model expects " + p->value.describe() + ")");
    const Tensor& t = it->second;
    if (t.shape() != p->value.shape())
      throw Error(path + ": tensor " + p->name + " has shape " + shape_str(t.shape()) + ", model expects " +
                  shape_str(p->value.shape()));
    if (t.dtype() != p->value.dtype())
      throw Error(path + ": tensor " + p->name + " is " + dtype_name(t.dtype()) + ", model expects " +
                  dtype_name(p->value.dtype()));
  }
  const auto counters = batch_counters(model);
  for (const auto& [name, t] : file) {
    bool known = false;
    for (Param* p : entries) known = known || p->name == name;
    for (const auto& c : counters)
      if (c.first == name) {
        if (t.dtype() != DType::I64 || t.numel() != 1)
          throw Error(path + ": tensor " + name + " is " + t.describe() + ", model expects an int64 scalar");
        known = true;
      }
    if (!known) {
      std::string names;
      for (Param* p : entries) names += (names.empty() ? "" : ", ") + p->name;
      throw Error(path + ": unexpected tensor " + name + " " + t.describe() + " (the model has: " + names + ")");
    }
  }
  for (Param* p : entries) p->value.copy_from(file.at(p->name));
  return meta;
}

Metadata read_checkpoint_metadata(const std::string& path) { return load_safetensors_metadata(path); }

std::string optimizer_state_path(const std::string& checkpoint_path) {
  const std::string ext = ".safetensors";
  std::string base = checkpoint_path;
  if (base.size() >= ext.size() && base.compare(base.size() - ext.size(), ext.size(), ext) == 0)
    base.resize(base.size() - ext.size());
  return base + ".optim" + ext;
}

void save_optimizer_state(const std::string& path, const Optimizer& opt) {
  TensorList list;
  for (const auto& [name, t] : opt.state_tensors()) list.emplace_back(name, t.to(Device::CPU));
  Metadata meta;
  meta["format"] = "xdnn-optimizer-state-1";
  meta["optimizer"] = describe(opt.config());
  save_safetensors(path, list, meta);
}

void load_optimizer_state(const std::string& path, Optimizer& opt) {
  Metadata meta;
  std::map<std::string, Tensor> state = load_safetensors(path, &meta);
  // The full settings were checked against the checkpoint's metadata; here only the kind must agree
  // (the learning rate in the sidecar is the one of its epoch, which a decay schedule changes).
  const std::string got = metadata_get(meta, "optimizer", path);
  const std::string want = opt.config().name + "(";
  check(got.rfind(want, 0) == 0,
        path + ": optimizer state is for " + got + ", this run uses " + describe(opt.config()));
  opt.load_state_tensors(state, path);
}

namespace {
std::string number(double v) {  // shortest round-trip text
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}
}  // namespace

void put_optimizer_metadata(Metadata& m, const OptimizerConfig& cfg) {
  m["optimizer"] = describe(cfg);
  m["optimizer_name"] = cfg.name;
  m["base_lr"] = number(cfg.lr);
  m["lr"] = number(cfg.lr);  // the training loop overwrites it with the epoch's learning rate
  m["momentum"] = number(cfg.momentum);
  m["nesterov"] = cfg.nesterov ? "true" : "false";
  m["weight_decay"] = number(cfg.weight_decay);
  m["beta1"] = number(cfg.beta1);
  m["beta2"] = number(cfg.beta2);
  m["eps"] = number(cfg.eps);
}

OptimizerConfig optimizer_from_metadata(const Metadata& m, const std::string& source) {
  OptimizerConfig c;
  c.name = metadata_get(m, "optimizer_name", source);
  c.lr = metadata_get_double(m, "base_lr", source);
  c.momentum = metadata_get_double(m, "momentum", source);
  c.nesterov = metadata_get(m, "nesterov", source) == "true";
  c.weight_decay = metadata_get_double(m, "weight_decay", source);
  c.beta1 = metadata_get_double(m, "beta1", source);
  c.beta2 = metadata_get_double(m, "beta2", source);
  c.eps = metadata_get_double(m, "eps", source);
  return c;
}

std::string metadata_get(const Metadata& m, const std::string& key, const std::string& source) {
  auto it = m.find(key);
  check(it != m.end(), source + ": metadata has no '" + key + "' entry (is this an xdnn checkpoint?)");
  return it->second;
}

double metadata_get_double(const Metadata& m, const std::string& key, const std::string& source) {
  const std::string s = metadata_get(m, key, source);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end) throw Error(source + ": metadata '" + key + "' is '" + s + "', expected a number");
  return v;
}

int64_t metadata_get_int(const Metadata& m, const std::string& key, const std::string& source) {
  const std::string s = metadata_get(m, key, source);
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end) throw Error(source + ": metadata '" + key + "' is '" + s + "', expected an integer");
  return v;
}

}  // namespace xdnn
