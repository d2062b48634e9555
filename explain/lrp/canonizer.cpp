#include "explain/lrp/canonizer.h"
#include "engine/check.h"

#include <algorithm>

#include "engine/ops.h"

namespace xdnn::explain::lrp {
namespace {

// (C) -> (1, C, 1, ...) with `rank` axes, for broadcasting along axis 1.
Shape channel_shape(int64_t C, int rank) {
  Shape s(std::max(rank, 2), 1);
  s[1] = C;
  return s;
}

// (O) -> (O, 1, ...) with `rank` axes, for scaling a weight along its output axis 0.
Shape output_axis_shape(int64_t O, int rank) {
  Shape s(std::max(rank, 1), 1);
  s[0] = O;
  return s;
}

// The per-channel affine map y = k ⊙ x + c of an inference-mode BatchNorm, read off its own forward:
// c = y(0), k = (y(s) − c)/s. Tries input ranks 4, 3, 2, 5 until the layer accepts one (BatchNorm1d
// wants (N, C) or (N, C, L), BatchNorm2d (N, C, H, W)).
struct Affine {
  Tensor k, c;  // (C), dtype of the layer
};

Affine probe_affine(Layer& bn, const std::string& node_name, int64_t C, DType dtype) {
  const double s = 1024.0;
  std::string last_error;
  for (int rank : {4, 3, 2, 5}) {
    try {
      Saved saved0, saved1;
      Tensor x0 = Tensor::full(channel_shape(C, rank), 0.0, dtype);
      Tensor x1 = Tensor::full(channel_shape(C, rank), s, dtype);
      Tensor y0 = bn.forward({x0}, saved0, ForwardOptions{}).at(0);
      Tensor y1 = bn.forward({x1}, saved1, ForwardOptions{}).at(0);
      if (y0.numel() != C || y1.numel() != C) continue;
      std::vector<double> k(C), c(C);
      for (int64_t i = 0; i < C; ++i) {
        c[i] = y0.item(i);
        k[i] = (y1.item(i) - c[i]) / s;
      }
      return {Tensor::from_vector({C}, k).to(dtype), Tensor::from_vector({C}, c).to(dtype)};
    } catch (const Error& e) {
      last_error = e.what();
    }
  }
  throw Error("LRP canonizer: cannot evaluate BatchNorm node '" + node_name + "' as a per-channel affine map (" +
              last_error + ")");
}

// A Conv/Dense node with substituted (folded) weight and bias. Geometry comes from the original layer
// through LinearLike, so this wrapper works for any linear-like layer.
class FoldedLinear : public Layer, public LinearLike {
 public:
  FoldedLinear(std::shared_ptr<Layer> base, Tensor W, Tensor b, const std::string& param_prefix)
      : base_(std::move(base)), lin_(base_->as_linear()), kind_(base_->kind()) {
    weight_ = {param_prefix + ".weight", std::move(W), {}};
    bias_ = {param_prefix + ".bias", std::move(b), {}};
  }
  const char* kind() const override { return kind_.c_str(); }
  std::vector<Param*> params() override { return {&weight_, &bias_}; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions&) override {
    saved.put("x", x.at(0));
    return {lin_->linear_forward(x[0], weight_.value, bias_.value)};
  }
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override {
    xdnn::check(opt.param_grad == ParamGrad::None,
                "a batch-norm-folded layer (LRP canonizer) has no parameter gradients");
    if (!grad_y.at(0).defined()) return {Tensor()};
    return {lin_->linear_backward_input(grad_y[0], weight_.value, saved.tensor("x").shape())};
  }
  const LinearLike* as_linear() const override { return this; }
  const Tensor& weight() const override { return weight_.value; }
  const Tensor& bias() const override { return bias_.value; }
  const Tensor& saved_input(const Saved& saved) const override { return saved.tensor("x"); }
  Tensor linear_forward(const Tensor& x, const Tensor& W, const Tensor& b) const override {
    return lin_->linear_forward(x, W, b);
  }
  Tensor linear_backward_input(const Tensor& s, const Tensor& W, const Shape& x_shape) const override {
    return lin_->linear_backward_input(s, W, x_shape);
  }

 private:
  std::shared_ptr<Layer> base_;
  const LinearLike* lin_;
  std::string kind_;
  Param weight_, bias_;
};

// A folded BatchNorm: the identity; relevance passes unchanged.
class FoldedBatchNorm : public Layer {
 public:
  const char* kind() const override { return "BatchNorm(folded)"; }
  RelevancePass relevance_pass() const override { return RelevancePass::PassThrough; }
  Tensors forward(const Tensors& x, Saved&, const ForwardOptions&) override { return {x.at(0)}; }
  Tensors backward(const Tensors& grad_y, const Saved&, const BackwardOptions&) override { return {grad_y.at(0)}; }
};

// An unfoldable BatchNorm as a per-channel affine LinearLike map: z = W ⊙ x + b along axis 1, with
// W = k and b = c of rank 1; every linear rule then applies (composites choose epsilon).
class ChannelAffine : public Layer, public LinearLike {
 public:
  ChannelAffine(Affine a, const std::string& param_prefix) {
    weight_ = {param_prefix + ".weight", std::move(a.k), {}};
    bias_ = {param_prefix + ".bias", std::move(a.c), {}};
  }
  const char* kind() const override { return "BatchNorm(affine)"; }
  std::vector<Param*> params() override { return {&weight_, &bias_}; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions&) override {
    saved.put("x", x.at(0));
    return {linear_forward(x[0], weight_.value, bias_.value)};
  }
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override {
    xdnn::check(opt.param_grad == ParamGrad::None,
                "a batch-norm affine map (LRP canonizer) has no parameter gradients");
    if (!grad_y.at(0).defined()) return {Tensor()};
    return {linear_backward_input(grad_y[0], weight_.value, saved.tensor("x").shape())};
  }
  const LinearLike* as_linear() const override { return this; }
  const Tensor& weight() const override { return weight_.value; }
  const Tensor& bias() const override { return bias_.value; }
  const Tensor& saved_input(const Saved& saved) const override { return saved.tensor("x"); }
  // x: (N, C, ...), W, b: (C).
  Tensor linear_forward(const Tensor& x, const Tensor& W, const Tensor& b) const override {
    check(x);
    Tensor y = ops::mul(x, W.reshape(channel_shape(W.numel(), x.ndim())));
    if (b.defined()) y = ops::add(y, b.reshape(channel_shape(b.numel(), x.ndim())));
    return y;
  }
  Tensor linear_backward_input(const Tensor& s, const Tensor& W, const Shape& x_shape) const override {
    return ops::mul(s.reshape(x_shape), W.reshape(channel_shape(W.numel(), static_cast<int>(x_shape.size()))));
  }

 private:
  void check(const Tensor& x) const {
    if (x.ndim() < 2 || x.dim(1) != weight_.value.numel())
      throw Error("BatchNorm(affine): expected input (N, " + std::to_string(weight_.value.numel()) + ", ...), got " +
                  x.describe());
  }
  Param weight_, bias_;
};

std::string prefix_of(const Layer& layer, const std::string& fallback) {
  const auto ps = layer.read_params();
  if (ps.empty()) return fallback;
  const std::string& n = ps.front()->name;
  size_t dot = n.rfind('.');
  return dot == std::string::npos ? n : n.substr(0, dot);
}

}  // namespace

bool is_batchnorm(const Layer& layer) { return std::string(layer.kind()).find("BatchNorm") != std::string::npos; }

Model fold_batchnorm(const Model& model, CanonizeReport* report) {
  Model out = model;  // shares layers; rewritten nodes get new ones below
  auto& nodes = out.nodes();
  const auto& outputs = model.outputs();
  for (size_t k = 0; k < nodes.size(); ++k) {
    Node& bn_node = nodes[k];
    if (!is_batchnorm(*bn_node.layer) || bn_node.inputs.empty() || bn_node.inputs[0] < 0) continue;
    const int v = bn_node.inputs[0];
    const int prod = model.producer(v);
    // Fold only when the producer is Conv/Dense and the BatchNorm is the value's only reader (otherwise
    // another reader would see the rescaled value).
    int readers = std::count(outputs.begin(), outputs.end(), v);
    for (const auto& n : nodes) readers += static_cast<int>(std::count(n.inputs.begin(), n.inputs.end(), v));
    const LinearLike* lin = prod >= 0 ? nodes[prod].layer->as_linear() : nullptr;
    const bool foldable = lin && lin->weight().ndim() >= 2 && readers == 1 && nodes[prod].outputs.size() == 1;
    const DType dtype = out.dtype();
    if (foldable) {
      const Tensor& W = lin->weight();
      const int64_t O = W.dim(0);
      Affine a = probe_affine(*bn_node.layer, bn_node.name, O, W.dtype());
      Tensor W2 = ops::mul(W, a.k.reshape(output_axis_shape(O, W.ndim())));
      Tensor b2 = lin->bias().defined() ? ops::add(ops::mul(lin->bias(), a.k), a.c) : a.c.clone();
      const std::string prefix = prefix_of(*nodes[prod].layer, nodes[prod].name);
      nodes[prod].layer = std::make_shared<FoldedLinear>(nodes[prod].layer, W2, b2, prefix);
      bn_node.layer = std::make_shared<FoldedBatchNorm>();
      if (report) report->folded.push_back(bn_node.name + " into " + nodes[prod].name);
    } else {
      const auto ps = bn_node.layer->read_params();
      if (ps.empty())
        throw Error("LRP canonizer: BatchNorm node '" + bn_node.name +
                    "' has no parameters to tell its channel count and follows no Conv/Dense layer");
      const int64_t C = ps.front()->value.numel();
      Affine a = probe_affine(*bn_node.layer, bn_node.name, C,
                              ps.front()->value.is_float() ? ps.front()->value.dtype() : dtype);
      bn_node.layer = std::make_shared<ChannelAffine>(std::move(a), prefix_of(*bn_node.layer, bn_node.name));
      if (report) report->unfolded.push_back(bn_node.name);
    }
  }
  return out;
}

}  // namespace xdnn::explain::lrp
