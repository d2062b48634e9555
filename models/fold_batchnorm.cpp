#include "models/fold_batchnorm.h"

#include <algorithm>
#include <vector>

#include "engine/error.h"
#include "engine/ops.h"
#include "layers/batchnorm2d.h"
#include "layers/conv2d.h"
#include "layers/reshape.h"

namespace xdnn {
namespace {

// How many times value v is read: by nodes (each input slot counts) and as a model output.
int readers_of(const Model& model, int v) {
  int n = static_cast<int>(std::count(model.outputs().begin(), model.outputs().end(), v));
  for (const Node& node : model.nodes()) n += static_cast<int>(std::count(node.inputs.begin(), node.inputs.end(), v));
  return n;
}

// The Conv2d that computes bn(conv(x)): W' = k ⊙ W along the output axis, b' = k ⊙ (b − μ) + β.
// conv: W (O, C/groups, KH, KW), b (O) or undefined; bn over O channels.
std::shared_ptr<Conv2d> folded_conv(Conv2d& conv, const BatchNorm2d& bn) {
  // In float64 through ops (device-clean), rounded once to the weight's dtype at the end.
  const Tensor& W = conv.weight_param().value;
  const int64_t O = W.dim(0);
  const auto f64 = [](const Tensor& t) { return t.to(DType::F64); };
  const Tensor k =
      ops::div(f64(bn.gamma()), ops::unary(ops::Unary::Sqrt, ops::add_scalar(f64(bn.running_var()), bn.eps())));
  const Tensor w = ops::mul(f64(W), k.reshape({O, 1, 1, 1}));
  const Tensor b0 = conv.bias_param().value.defined() ? f64(conv.bias_param().value) : Tensor::zeros({O}, DType::F64);
  const Tensor b = ops::add(ops::mul(k, ops::sub(b0, f64(bn.running_mean()))), f64(bn.beta()));
  const ops::Conv2dGeometry& g = conv.geometry();
  Conv2dOptions opt;
  opt.stride_h = g.stride_h, opt.stride_w = g.stride_w;
  opt.pad_top = g.pad_top, opt.pad_left = g.pad_left, opt.pad_bottom = g.pad_bottom, opt.pad_right = g.pad_right;
  opt.dilation_h = g.dilation_h, opt.dilation_w = g.dilation_w;
  opt.groups = g.groups;
  opt.allocate = false;
  auto out = std::make_shared<Conv2d>(conv.name(), conv.in_channels(), conv.out_channels(), W.dim(2), W.dim(3), opt,
                                      W.dtype());
  out->weight_param() = {conv.weight_param().name, w.to(W.dtype()), {}};
  out->bias_param() = {conv.bias_param().name, b.to(W.dtype()), {}};
  return out;
}

}  // namespace

Model fold_batchnorm_for_inference(const Model& model, BatchNormFoldReport* report) {
  Model out = model;  // shares every layer; the folded nodes get new ones below
  auto& nodes = out.nodes();
  for (size_t k = 0; k < nodes.size(); ++k) {
    Node& bn_node = nodes[k];
    const auto* bn = dynamic_cast<const BatchNorm2d*>(bn_node.layer.get());
    if (!bn || bn_node.inputs.size() != 1) continue;
    const int v = bn_node.inputs[0];
    const int prod = v >= 0 ? model.producer(v) : -1;
    auto* conv = prod >= 0 ? dynamic_cast<Conv2d*>(nodes[prod].layer.get()) : nullptr;
    std::string why;
    if (!conv)
      why = "its input is not a convolution's output";
    else if (readers_of(model, v) != 1 || nodes[prod].outputs.size() != 1)
      why = "the convolution's output is read elsewhere too";
    else if (conv->weight_param().value.dim(0) != bn->num_features())
      why = "channel counts differ";
    if (!why.empty()) {
      if (report) report->kept.push_back(bn_node.name + " (" + why + ")");
      continue;
    }
    nodes[prod].layer = folded_conv(*conv, *bn);
    bn_node.layer = std::make_shared<Identity>();
    if (report) report->folded.push_back(bn_node.name + " into " + nodes[prod].name);
  }
  return out;
}

}  // namespace xdnn
