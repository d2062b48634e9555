// api::CustomLayer inside a Model: an xdnn::Layer that converts tensors to api::Array, calls the user's
// passes and checks what they return (shape and dtype of the tensor they stand for), so a mistake in
// user code is a one-line error naming the layer and the pass, never a wrong answer downstream.
//
// Saved state of one forward call: "x" and "y", both (shape of the node's input / output) in the model's dtype.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "explain/api/api_internal.h"
#include "layers/layer.h"

namespace xdnn::api {

Array CustomLayer::relevance(const Array& /*x*/, const Array& /*y*/, const Array& /*relevance_y*/,
                             const std::string& rule) const {
  throw Error("custom layer " + kind() + " has no LRP rule '" + rule + "'",
              "override CustomLayer::lrp_rules() and CustomLayer::relevance()");
}

namespace {

class CustomLayerAdapter final : public Layer {
 public:
  CustomLayerAdapter(std::string node, std::shared_ptr<const CustomLayer> user)
      : node_(std::move(node)), user_(std::move(user)), kind_(user_->kind()) {}

  const char* kind() const override { return kind_.c_str(); }

  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& /*opt*/) override {
    if (x.size() != 1 || !x[0].is_float())
      throw Error(where("forward") + ": expected one float input, got " +
                  (x.empty() ? std::string("none") : x[0].describe()));
    const Tensor xc = x[0].to(Device::CPU);
    Tensor y = checked(user_->forward(to_array(xc)), "forward", xc, /*same_shape=*/false);
    saved.put("x", xc);
    saved.put("y", y);
    return {y};
  }

  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& /*opt*/) override {
    const Tensor &x = saved.tensor("x"), &y = saved.tensor("y");
    const Tensor gy = grad_or_zeros(grad_y.at(0), y);
    return {checked(user_->backward(to_array(x), to_array(y), to_array(gy)), "backward", x, true)};
  }

  Tensors relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule) override {
    const Tensor &x = saved.tensor("x"), &y = saved.tensor("y");
    const Tensor ry = grad_or_zeros(relevance_y.at(0), y);
    return {checked(user_->relevance(to_array(x), to_array(y), to_array(ry), rule.name), "relevance", x, true)};
  }

  std::vector<std::string> relevance_rules() const override { return user_->lrp_rules(); }

 private:
  std::string where(const std::string& pass) const {
    return "custom layer " + kind_ + " (node '" + node_ + "') " + pass;
  }

  // What a user pass returned as a tensor: x's dtype, and x's shape where it stands for x (backward,
  // relevance); finite.
  Tensor checked(const Array& a, const std::string& pass, const Tensor& x, bool same_shape) const {
    const Tensor t = to_tensor(a, where(pass) + " output");
    if (t.dtype() != x.dtype() || (same_shape && t.shape() != x.shape()))
      throw Error(where(pass) + " returned " + t.describe() + ", expected " +
                  (same_shape ? x.describe() : std::string(x.dtype() == xdnn::DType::F32 ? "float32" : "float64")) +
                  " (the input's " + (same_shape ? "dtype and shape)" : "dtype)"));
    return t;
  }

  std::string node_;
  std::shared_ptr<const CustomLayer> user_;
  std::string kind_;
};

}  // namespace

void replace_node(xdnn::Model& model, const std::string& node, std::shared_ptr<const CustomLayer> layer) {
  std::string names;
  for (auto& n : model.nodes()) {
    if (n.name != node) {
      if (names.size() < 200) names += (names.empty() ? "" : ", ") + n.name;
      continue;
    }
    if (n.inputs.size() != 1 || n.outputs.size() != 1)
      throw xdnn::Error("replace_layer: node '" + node + "' (" + n.layer->kind() + ") has " +
                        std::to_string(n.inputs.size()) + " inputs and " + std::to_string(n.outputs.size()) +
                        " outputs; a custom layer takes one of each");
    n.layer = std::make_shared<CustomLayerAdapter>(node, std::move(layer));
    return;
  }
  throw xdnn::Error("replace_layer: the model has no node '" + node + "'", "nodes: " + names);
}

}  // namespace xdnn::api
