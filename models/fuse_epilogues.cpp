#include "models/fuse_epilogues.h"

#include <algorithm>
#include <memory>

#include "engine/check.h"
#include "engine/conv_epilogue.h"
#include "engine/conv_pool.h"
#include "engine/error.h"
#include "engine/ops_pool_values.h"
#include "layers/add.h"
#include "layers/conv2d.h"
#include "layers/elementwise.h"
#include "layers/maxpool2d.h"
#include "layers/relu.h"
#include "layers/reshape.h"

namespace xdnn {
namespace {

// Whether a max-pool's geometry is the one conv2d_forward_fused_pool takes (2x2, stride 2, no padding,
// dilation or ceil_mode; the shapes and devices are checked per call).
bool fusable_pool(const MaxPool2d& pool) {
  const ops::Pool2dGeometry& g = pool.geometry();
  return g.kernel_h == 2 && g.kernel_w == 2 && g.stride_h == 2 && g.stride_w == 2 && g.dilation_h == 1 &&
         g.dilation_w == 1 && g.pad_top == 0 && g.pad_left == 0 && g.pad_bottom == 0 && g.pad_right == 0 &&
         !g.ceil_mode;
}

// The fused chain: inputs {x} or {x, residual}, output the chain's last value; with pool, that value's
// 2x2 max-pool (engine/conv_pool.h), the full-resolution value never stored.
class FusedConv2d : public Layer {
 public:
  FusedConv2d(std::shared_ptr<Conv2d> conv, bool residual_first, ops::ConvActivation act, double lo, double hi,
              std::shared_ptr<MaxPool2d> pool = nullptr)
      : conv_(std::move(conv)), residual_first_(residual_first), act_(act), lo_(lo), hi_(hi), pool_(std::move(pool)) {}
  const char* kind() const override { return "FusedConv2d"; }
  std::vector<Param*> params() override { return conv_->params(); }

  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override {
    check(!opt.training, "a fused convolution (inference graph) cannot run a training forward pass");
    if (!pool_) return forward_unpooled(x, saved, opt);
    const Tensor residual = x.size() > 1 ? x[1] : Tensor();
    if (ops::conv2d_fused_pool_applies(x.at(0), conv_->weight(), conv_->bias(), residual, conv_->geometry(),
                                       pool_->geometry()) &&
        (!residual.defined() ||
         residual.shape() == ops::conv2d_output_shape(x[0].shape(), conv_->weight().shape(), conv_->geometry())))
      return {ops::conv2d_forward_fused_pool(x[0], conv_->weight(), conv_->bias(), residual, residual_first_, act_, lo_,
                                             hi_, conv_->geometry(), pool_->geometry())};
    // Other devices (strict, CUDA) and shapes: the two nodes one after the other.
    const Tensor y = forward_unpooled(x, saved, opt).at(0);
    if (ops::maxpool2d_values_apply(y, pool_->geometry())) return {ops::maxpool2d_forward_values(y, pool_->geometry())};
    Saved unused;
    return pool_->forward({y}, unused, opt);
  }
  Tensors backward(const Tensors&, const Saved&, const BackwardOptions&) override {
    throw Error("a convolution fused with its activation for inference has no backward pass",
                "run gradients on the unfused model (explain/inference_graph.h decides which graph a consumer gets)");
  }

 private:
  Tensors forward_unpooled(const Tensors& x, Saved& /*saved*/, const ForwardOptions& opt) {
    const Tensor& in = x.at(0);
    const Tensor residual = x.size() > 1 ? x[1] : Tensor();
    const Tensor& W = conv_->weight();
    if (in.defined() && in.ndim() == 4 && W.defined()) {
      const Shape y_shape = ops::conv2d_output_shape(in.shape(), W.shape(), conv_->geometry());
      if (!residual.defined() || (residual.shape() == y_shape && residual.dtype() == in.dtype()))
        return {ops::conv2d_forward_fused(in, W, conv_->bias(), residual, residual_first_, act_, lo_, hi_,
                                          conv_->geometry())};
    }
    // 1-D convolutions (N, C, L) and residuals that broadcast (the Add layer allows it): the unfused ops.
    Saved conv_saved;
    Tensor y = conv_->forward({in}, conv_saved, opt).at(0);
    if (residual.defined()) y = residual_first_ ? ops::add(residual, y) : ops::add(y, residual);
    if (act_ == ops::ConvActivation::Relu) return {ops::unary(ops::Unary::Relu, y)};
    if (act_ == ops::ConvActivation::Clip) return {ops::pointwise(ops::Pointwise::Clip, y, lo_, hi_)};
    return {y};
  }

  std::shared_ptr<Conv2d> conv_;
  bool residual_first_;
  ops::ConvActivation act_;
  double lo_, hi_;
  std::shared_ptr<MaxPool2d> pool_;  // or null
};

// A max-pool for inference: the maxima alone (ops::maxpool2d_forward_values), no arg-max indices or tap codes
// (MaxPool2d::forward writes them for a backward pass this graph never runs). Inputs the values op does
// not take (1-D, other windows, devices) run MaxPool2d's own forward, whose saved state is dropped.
class ForwardMaxPool2d : public Layer {
 public:
  explicit ForwardMaxPool2d(std::shared_ptr<MaxPool2d> pool) : pool_(std::move(pool)) {}
  const char* kind() const override { return "ForwardMaxPool2d"; }

  Tensors forward(const Tensors& x, Saved& /*saved*/, const ForwardOptions& opt) override {
    check(!opt.training, "a max-pool of the inference graph cannot run a training forward pass");
    if (ops::maxpool2d_values_apply(x.at(0), pool_->geometry()))
      return {ops::maxpool2d_forward_values(x[0], pool_->geometry())};
    Saved unused;
    return pool_->forward(x, unused, opt);
  }
  Tensors backward(const Tensors&, const Saved&, const BackwardOptions&) override {
    throw Error("a max-pool of the inference graph keeps no arg-max and has no backward pass",
                "run gradients on the unfused model (explain/inference_graph.h decides which graph a consumer gets)");
  }

 private:
  std::shared_ptr<MaxPool2d> pool_;
};

// A node that computes nothing: the inner nodes of a fused chain.
class Absorbed : public Layer {
 public:
  const char* kind() const override { return "Absorbed"; }
  Tensors forward(const Tensors&, Saved&, const ForwardOptions&) override { return {}; }
  Tensors backward(const Tensors&, const Saved&, const BackwardOptions&) override {
    throw Error("a node absorbed into a fused convolution has no backward pass");
  }
};

int readers_of(const Model& model, int v) {
  int n = static_cast<int>(std::count(model.outputs().begin(), model.outputs().end(), v));
  for (const Node& node : model.nodes()) n += static_cast<int>(std::count(node.inputs.begin(), node.inputs.end(), v));
  return n;
}

bool is_model_output(const Model& model, int v) {
  return std::find(model.outputs().begin(), model.outputs().end(), v) != model.outputs().end();
}

// The one node reading value v, when v is read once, by a node, and is not a model output; else -1.
int sole_reader(const Model& model, int v) {
  if (v < 0 || is_model_output(model, v) || readers_of(model, v) != 1) return -1;
  for (size_t k = 0; k < model.nodes().size(); ++k) {
    const Node& node = model.nodes()[k];
    if (std::find(node.inputs.begin(), node.inputs.end(), v) != node.inputs.end()) return static_cast<int>(k);
  }
  return -1;
}

bool activation_of(const Layer& layer, ops::ConvActivation& act, double& lo, double& hi) {
  if (dynamic_cast<const ReLU*>(&layer)) {
    act = ops::ConvActivation::Relu;
    return true;
  }
  const auto* e = dynamic_cast<const Elementwise*>(&layer);
  if (e && e->function() == ops::Pointwise::Clip) {
    act = ops::ConvActivation::Clip;
    lo = e->a(), hi = e->b();
    return true;
  }
  return false;
}

}  // namespace

Model fuse_conv_epilogues_for_inference(const Model& model, std::vector<std::string>* fused, int last_node) {
  Model out = model;  // shares every layer; the fused chains get new nodes below
  auto& nodes = out.nodes();
  std::vector<bool> taken(nodes.size(), false);
  for (size_t k = 0; k < nodes.size(); ++k) {
    auto conv = std::dynamic_pointer_cast<Conv2d>(model.nodes()[k].layer);
    if (!conv || taken[k] || model.nodes()[k].inputs.size() != 1 || model.nodes()[k].outputs.size() != 1) continue;
    std::vector<int> chain = {static_cast<int>(k)};
    int v = model.nodes()[k].outputs[0];
    const auto next = [&]() -> int {  // the sole reader of v, one output, not yet in a chain
      const int r = sole_reader(model, v);
      if (r < 0 || taken[r] || model.nodes()[r].outputs.size() != 1) return -1;
      return r;
    };
    for (int r = next(); r >= 0 && dynamic_cast<const Identity*>(model.nodes()[r].layer.get()); r = next()) {
      chain.push_back(r);
      v = model.nodes()[r].outputs[0];
    }
    int residual = -1;
    bool residual_first = false;
    if (const int r = next();
        r >= 0 && dynamic_cast<const Add*>(model.nodes()[r].layer.get()) && model.nodes()[r].inputs.size() == 2) {
      const Node& add = model.nodes()[r];
      residual_first = add.inputs[1] == v;
      residual = residual_first ? add.inputs[0] : add.inputs[1];
      if (residual >= 0 && residual != v) {
        chain.push_back(r);
        v = add.outputs[0];
      } else {
        residual = -1;
      }
    }
    ops::ConvActivation act = ops::ConvActivation::None;
    double lo = 0, hi = 0;
    if (const int r = next();
        r >= 0 && model.nodes()[r].inputs.size() == 1 && activation_of(*model.nodes()[r].layer, act, lo, hi)) {
      chain.push_back(r);
      v = model.nodes()[r].outputs[0];
    }
    if (residual < 0 && act == ops::ConvActivation::None) continue;  // nothing to fuse
    // A 2x2 stride-2 max-pool that alone reads the chain's value: pooled in the same store.
    std::shared_ptr<MaxPool2d> pool;
    if (const int r = next(); r >= 0 && model.nodes()[r].inputs.size() == 1 && r <= last_node) {
      pool = std::dynamic_pointer_cast<MaxPool2d>(model.nodes()[r].layer);
      if (pool && fusable_pool(*pool)) {
        chain.push_back(r);
        v = model.nodes()[r].outputs[0];
      } else {
        pool = nullptr;
      }
    }
    const int last = chain.back();
    if (last > last_node) continue;
    std::vector<int> inputs = {model.nodes()[k].inputs[0]};
    if (residual >= 0) inputs.push_back(residual);
    for (int c : chain) {
      taken[c] = true;
      nodes[c].layer = std::make_shared<Absorbed>();
      nodes[c].inputs.clear();
      nodes[c].outputs.clear();
    }
    nodes[last].layer = std::make_shared<FusedConv2d>(conv, residual_first, act, lo, hi, pool);
    nodes[last].inputs = inputs;
    nodes[last].outputs = {v};
    if (fused) {
      std::string what = model.nodes()[k].name;
      for (size_t c = 1; c < chain.size(); ++c) what += " + " + model.nodes()[chain[c]].name;
      fused->push_back(what);
    }
  }
  for (size_t k = 0; k < nodes.size() && static_cast<int>(k) <= last_node; ++k)
    if (auto pool = std::dynamic_pointer_cast<MaxPool2d>(nodes[k].layer); pool && nodes[k].inputs.size() == 1)
      nodes[k].layer = std::make_shared<ForwardMaxPool2d>(pool);
  return out;
}

}  // namespace xdnn
