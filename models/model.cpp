#include "models/model.h"

#include <set>

#include "engine/ops.h"

namespace xdnn {

int Model::intern_value(const std::string& name) {
  auto it = value_index_.find(name);
  if (it != value_index_.end()) return it->second;
  int id = static_cast<int>(value_names_.size());
  value_names_.push_back(name);
  value_index_[name] = id;
  producer_.push_back(-1);
  return id;
}

int Model::add_input(const std::string& name) {
  if (value_index_.count(name)) throw Error("model input '" + name + "' is defined twice");
  int id = intern_value(name);
  inputs_.push_back(id);
  last_value_ = id;
  return id;
}

void Model::add_constant(const std::string& name, const Tensor& value) {
  if (value_index_.count(name)) throw Error("model constant '" + name + "' is defined twice");
  int id = intern_value(name);
  constants_[id] = value;
}

int Model::add_node(const std::string& name, std::shared_ptr<Layer> layer, const std::vector<std::string>& inputs,
                    const std::vector<std::string>& outputs) {
  Node node{name, std::move(layer), {}, {}};
  for (const auto& in : inputs) {
    if (in.empty()) {  // optional input left out (ONNX convention)
      node.inputs.push_back(-1);
      continue;
    }
    auto it = value_index_.find(in);
    if (it == value_index_.end())
      throw Error("node '" + name + "' reads value '" + in + "', which no earlier node or input defines");
    node.inputs.push_back(it->second);
  }
  for (const auto& out : outputs) {
    if (out.empty()) {
      node.outputs.push_back(-1);
      continue;
    }
    if (value_index_.count(out) && (producer_[value_index_[out]] >= 0 || constants_.count(value_index_[out])))
      throw Error("node '" + name + "' writes value '" + out + "', which is already defined");
    int id = intern_value(out);
    producer_[id] = static_cast<int>(nodes_.size());
    node.outputs.push_back(id);
    last_value_ = id;
  }
  nodes_.push_back(std::move(node));
  if (!outputs_set_) outputs_ = {last_value_};
  return static_cast<int>(nodes_.size()) - 1;
}

int Model::append(const std::string& name, std::shared_ptr<Layer> layer) {
  if (last_value_ < 0) throw Error("append: the model has no input yet");
  return add_node(name, std::move(layer), {value_names_[last_value_]}, {name});
}

void Model::set_outputs(const std::vector<std::string>& names) {
  outputs_.clear();
  outputs_set_ = true;
  for (const auto& n : names) outputs_.push_back(value_id(n));
}

int Model::value_id(const std::string& name) const {
  auto it = value_index_.find(name);
  if (it != value_index_.end()) return it->second;
  std::string some;
  int shown = 0;
  for (int i = static_cast<int>(value_names_.size()) - 1; i >= 0 && shown < 8; --i, ++shown)
    some += (some.empty() ? "" : ", ") + value_names_[i];
  throw Error("the model has no tensor named '" + name + "'", "some of its tensors: " + some);
}

int Model::producer(int id) const { return producer_.at(id); }

std::vector<Param*> Model::params() {
  std::vector<Param*> out;
  std::set<Param*> seen;
  for (auto& n : nodes_)
    for (Param* p : n.layer->params())
      if (seen.insert(p).second) out.push_back(p);
  return out;
}

Param* Model::find_param(const std::string& name) {
  for (Param* p : params())
    if (p->name == name) return p;
  return nullptr;
}

void Model::freeze() {
  for (auto& n : nodes_) n.layer->freeze();
}

void Model::to(DType dtype) {
  for (Param* p : params()) {
    p->value = p->value.to(dtype);
    if (p->grad.defined()) p->grad = p->grad.to(dtype);
  }
  for (auto& node : nodes_)  // running statistics and other float buffers follow the parameters
    for (Param* b : node.layer->buffers())
      if (b->value.is_float()) b->value = b->value.to(dtype);
  for (auto& [id, t] : constants_)
    if (t.is_float()) t = t.to(dtype);
  dtype_ = dtype;
}

void Model::to(Device device) {
  for (Param* p : params()) {
    p->value = p->value.to(device);
    if (p->grad.defined()) p->grad = p->grad.to(device);
  }
  for (auto& node : nodes_)
    for (Param* b : node.layer->buffers()) b->value = b->value.to(device);
  // int64 constants stay on the host: they are shape and index data (ONNX exports' Shape -> Gather -> Concat
  // arithmetic, Slice bounds, Unsqueeze axes), read by host shape arithmetic as ONNX Runtime keeps shape
  // subgraphs on the CPU; a layer that indexes device data with one copies it over (layers/gather.cpp).
  for (auto& [id, t] : constants_)
    if (t.dtype() != DType::I64) t = t.to(device);
}

Tape Model::forward(const std::vector<Tensor>& inputs, const ForwardOptions& opt,
                    const std::map<int, Tensor>& replace) const {
  if (inputs.size() != inputs_.size())
    throw Error("the model takes " + std::to_string(inputs_.size()) + " input(s), got " +
                std::to_string(inputs.size()));
  if (check_input && !inputs.empty() && !inputs_.empty()) check_first_input(inputs[0]);
  Tape tape;
  tape.values.resize(value_names_.size());
  tape.saved.resize(nodes_.size());
  for (const auto& [id, t] : constants_) tape.values[id] = t;
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto r = replace.find(inputs_[i]);
    tape.values[inputs_[i]] = r != replace.end() ? r->second : inputs[i];
  }
  for (size_t k = 0; k < nodes_.size(); ++k) {
    const Node& node = nodes_[k];
    std::vector<Tensor> in;
    in.reserve(node.inputs.size());
    for (int id : node.inputs) in.push_back(id >= 0 ? tape.values[id] : Tensor());
    std::vector<Tensor> out;
    try {
      out = node.layer->forward(in, tape.saved[k], opt);
    } catch (const Error& e) {
      throw Error("node '" + node.name + "' (" + node.layer->kind() + "): " + e.what(), e.hint());
    }
    for (size_t j = 0; j < node.outputs.size() && j < out.size(); ++j) {
      int id = node.outputs[j];
      if (id < 0) continue;
      auto r = replace.find(id);
      tape.values[id] = r != replace.end() ? r->second : out[j];
    }
  }
  return tape;
}

void Model::check_first_input(const Tensor& x) const {
  const bool want_float = input_dtype != DType::I64;
  Shape want = input_shape;
  want.insert(want.begin(), -1);
  bool ok = x.defined() && x.is_float() == want_float && x.ndim() == static_cast<int>(want.size());
  for (int i = 1; ok && i < x.ndim(); ++i) ok = want[i] < 0 || want[i] == x.dim(i);
  if (ok) return;
  std::string expect = "(N";
  for (size_t i = 1; i < want.size(); ++i) expect += ", " + (want[i] < 0 ? std::string("?") : std::to_string(want[i]));
  expect += ")";
  throw Error("input '" + value_names_.at(inputs_[0]) + "': expected " + dtype_name(input_dtype) + " " + expect +
              ", got " + (x.defined() ? x.describe() : std::string("nothing")));
}

Tensor Model::predict(const Tensor& x) const {
  Tape t = forward({x});
  return t.values.at(outputs_.at(0));
}

std::vector<Tensor> Model::reverse_walk(const Tape& tape, const std::map<int, Tensor>& seeds,
                                        const NodeBackward& node_backward) const {
  std::vector<Tensor> acc(value_names_.size());
  for (const auto& [id, t] : seeds) acc.at(id) = t.clone();
  for (int k = static_cast<int>(nodes_.size()) - 1; k >= 0; --k) {
    const Node& node = nodes_[k];
    std::vector<Tensor> gy;
    bool any = false;
    for (int id : node.outputs) {
      gy.push_back(id >= 0 ? acc[id] : Tensor());
      any = any || (id >= 0 && acc[id].defined());
    }
    if (!any) continue;
    std::vector<Tensor> gx;
    try {
      gx = node_backward(k, gy);
    } catch (const Error& e) {
      throw Error("node '" + node.name + "' (" + node.layer->kind() + "): " + e.what(), e.hint());
    }
    for (size_t j = 0; j < node.inputs.size() && j < gx.size(); ++j) {
      int id = node.inputs[j];
      if (id < 0 || !gx[j].defined()) continue;
      if (!tape.values[id].defined() || !tape.values[id].is_float()) continue;  // token ids, shapes
      if (!acc[id].defined())
        acc[id] = gx[j];
      else
        acc[id] = ops::add(acc[id], gx[j]);
    }
  }
  return acc;
}

std::vector<Tensor> Model::backward(const Tape& tape, const std::map<int, Tensor>& seeds,
                                    const BackwardOptions& opt) const {
  return reverse_walk(tape, seeds, [&](int k, const std::vector<Tensor>& gy) {
    if (opt.input_grad) return nodes_[k].layer->backward(gy, tape.saved[k], opt);
    BackwardOptions node_opt = opt;  // input gradients wanted only where another node made the input
    node_opt.input_grad = false;
    for (int id : nodes_[k].inputs) node_opt.input_grad = node_opt.input_grad || (id >= 0 && producer_[id] >= 0);
    return nodes_[k].layer->backward(gy, tape.saved[k], node_opt);
  });
}

std::vector<bool> Model::data_carrying(const Tape& tape) const {
  std::vector<bool> carries(value_names_.size(), false);
  for (int id : inputs_) carries[id] = true;
  for (const Node& node : nodes_) {
    bool any = false;
    for (int id : node.inputs) any = any || (id >= 0 && carries[id]);
    if (!any) continue;
    for (int id : node.outputs)
      if (id >= 0 && tape.values[id].defined() && tape.values[id].is_float()) carries[id] = true;
  }
  return carries;
}

std::vector<Tensor> Model::relevance(const Tape& tape, const std::map<int, Tensor>& seeds,
                                     const std::function<Rule(int)>& rule_for) const {
  const std::vector<bool> carries = data_carrying(tape);
  return reverse_walk(tape, seeds, [&](int k, const std::vector<Tensor>& ry) {
    bool reads_data = false;
    for (int id : nodes_[k].inputs) reads_data = reads_data || (id >= 0 && carries[id]);
    if (!reads_data) return std::vector<Tensor>{};  // a constant made at run time: absorbs, like a bias
    return nodes_[k].layer->relevance(ry, tape.saved[k], rule_for(k));
  });
}

}  // namespace xdnn
