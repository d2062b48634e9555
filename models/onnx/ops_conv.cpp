// ONNX converters: Conv (1-D, 2-D), MaxPool, AveragePool (1-D, 2-D), GlobalAveragePool,
// BatchNormalization. 1-D ops run as 2-D ops on (N, C, 1, L) (the layers accept 3-D input that way).
#include "layers/avgpool2d.h"
#include "layers/batchnorm2d.h"
#include "layers/conv2d.h"
#include "layers/global_avg_pool.h"
#include "layers/maxpool2d.h"
#include "layers/pad.h"
#include "layers/reduce.h"
#include "models/onnx/import.h"

#include <cmath>

namespace xdnn {
namespace {

// Spatial geometry of a Conv / pool node with one or two spatial axes, as a 2-D (H, W) geometry.
struct Geometry2d {
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
  int64_t pt = 0, pl = 0, pb = 0, pr = 0;
};

// kernel: the spatial kernel sizes (1 or 2 of them). Reads strides, dilations, pads, auto_pad.
// auto_pad SAME_UPPER / SAME_LOWER: total padding (k − 1)·d per axis when the stride is 1 (then it does not
// depend on the input size); the extra odd element goes to the end (UPPER) or the beginning (LOWER).
// With a stride > 1 the padding depends on the input size: the geometry gets no padding and `same_pad`
// is set, so the caller puts a Pad::same layer (sized per call) in front.
Geometry2d read_geometry(const OnnxNodeContext& ctx, const std::vector<int64_t>& kernel,
                         std::shared_ptr<Pad>* same_pad = nullptr, double pad_value = 0.0) {
  const size_t n = kernel.size();
  if (n != 1 && n != 2)
    throw ctx.error(std::to_string(n) + "-D " + ctx.op_type() + " is not supported (only 1-D and 2-D)");
  const auto strides = ctx.attr_ints("strides", std::vector<int64_t>(n, 1));
  const auto dil = ctx.attr_ints("dilations", std::vector<int64_t>(n, 1));
  auto pads = ctx.attr_ints("pads", std::vector<int64_t>(2 * n, 0));
  if (strides.size() != n || dil.size() != n || pads.size() != 2 * n)
    throw ctx.error("strides / dilations / pads do not match the " + std::to_string(n) + " spatial axes");
  const std::string auto_pad = ctx.attr_string("auto_pad", "NOTSET");
  if (auto_pad == "VALID") {
    std::fill(pads.begin(), pads.end(), 0);
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    bool strided = false;
    for (size_t i = 0; i < n; ++i) strided = strided || strides[i] != 1;
    if (strided) {
      if (!same_pad)
        throw ctx.error("unsupported attribute value auto_pad = " + auto_pad +
                        " with stride > 1 here (the padding would depend on the input size)");
      *same_pad = std::make_shared<Pad>(Pad::same(kernel, strides, dil, auto_pad == "SAME_UPPER", pad_value));
      std::fill(pads.begin(), pads.end(), 0);
    }
    for (size_t i = 0; i < n && !strided; ++i) {
      const int64_t total = (kernel[i] - 1) * dil[i];
      const int64_t small = total / 2, big = total - small;
      pads[i] = auto_pad == "SAME_UPPER" ? small : big;
      pads[i + n] = auto_pad == "SAME_UPPER" ? big : small;
    }
  } else if (auto_pad != "NOTSET") {
    throw ctx.error("unsupported attribute value auto_pad = '" + auto_pad + "'");
  }
  for (size_t i = 0; i < n; ++i)
    if (strides[i] < 1 || dil[i] < 1 || kernel[i] < 1 || pads[i] < 0 || pads[i + n] < 0)
      throw ctx.error("invalid kernel / stride / dilation / pads");
  Geometry2d g;
  if (n == 1) {
    g.kw = kernel[0], g.sw = strides[0], g.dw = dil[0], g.pl = pads[0], g.pr = pads[1];
  } else {
    g.kh = kernel[0], g.kw = kernel[1], g.sh = strides[0], g.sw = strides[1], g.dh = dil[0], g.dw = dil[1];
    g.pt = pads[0], g.pl = pads[1], g.pb = pads[2], g.pr = pads[3];
  }
  return g;
}

// Puts the SAME padding layer (if any) in front of the node's input; returns the value to read.
std::string with_same_pad(OnnxNodeContext& ctx, const std::shared_ptr<Pad>& pad) {
  if (!pad) return ctx.input(0);
  const std::string padded = ctx.temp_name("same_padded");
  ctx.add_layer(pad, {ctx.input(0)}, {padded}, ctx.temp_name("SamePad"));
  return padded;
}

ops::Pool2dGeometry pool_geometry(const Geometry2d& g, bool ceil_mode) {
  ops::Pool2dGeometry p;
  p.kernel_h = g.kh, p.kernel_w = g.kw, p.stride_h = g.sh, p.stride_w = g.sw;
  p.pad_top = g.pt, p.pad_left = g.pl, p.pad_bottom = g.pb, p.pad_right = g.pr;
  p.dilation_h = g.dh, p.dilation_w = g.dw;
  p.ceil_mode = ceil_mode;
  return p;
}

// Conv: X (N, C, [H,] W), W (O, C/group, [KH,] KW) an initializer, B (O) optional initializer.
void convert_conv(OnnxNodeContext& ctx) {
  ctx.check_attrs({"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"});
  ctx.expect_inputs(2, 3);
  Param W = ctx.param(1);
  const Shape ws = W.value.shape();
  if (ws.size() < 3) throw ctx.error("weight '" + W.name + "' must be (O, C/group, k...), got " + shape_str(ws));
  std::vector<int64_t> kernel(ws.begin() + 2, ws.end());
  if (ctx.has_attr("kernel_shape") && ctx.attr_ints("kernel_shape") != kernel)
    throw ctx.error("kernel_shape does not match the weight shape " + shape_str(ws));
  std::shared_ptr<Pad> same;
  const Geometry2d g = read_geometry(ctx, kernel, &same, 0.0);
  const int64_t groups = ctx.attr_int("group", 1);
  if (groups < 1 || ws[0] % groups != 0)
    throw ctx.error("group " + std::to_string(groups) + " does not divide " + std::to_string(ws[0]) +
                    " output channels");
  Conv2dOptions o;
  o.stride_h = g.sh, o.stride_w = g.sw, o.dilation_h = g.dh, o.dilation_w = g.dw;
  o.pad_top = g.pt, o.pad_left = g.pl, o.pad_bottom = g.pb, o.pad_right = g.pr;
  o.groups = groups;
  o.bias = ctx.has_input(2);
  o.allocate = false;  // weight and bias are set below
  auto conv = std::make_shared<Conv2d>(ctx.name(), ws[1] * groups, ws[0], g.kh, g.kw, o, W.value.dtype());
  if (kernel.size() == 1) W.value = W.value.reshape({ws[0], ws[1], 1, ws[2]});
  conv->weight_param() = W;
  if (ctx.has_input(2)) {
    Param b = ctx.param(2);
    if (b.value.numel() != ws[0])
      throw ctx.error("bias '" + b.name + "' has " + std::to_string(b.value.numel()) + " values, expected " +
                      std::to_string(ws[0]));
    b.value = b.value.reshape({ws[0]});
    conv->bias_param() = b;
  }
  ctx.add_layer(conv, {with_same_pad(ctx, same)}, {ctx.output(0)});
}

void convert_maxpool(OnnxNodeContext& ctx) {
  ctx.check_attrs({"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"});
  ctx.expect_inputs(1, 1);
  if (ctx.has_output(1)) throw ctx.error("the Indices output is not supported");
  if (ctx.attr_int("storage_order", 0) != 0) throw ctx.error("unsupported attribute value storage_order = 1");
  std::shared_ptr<Pad> same;  // padding acts as −∞ in max pooling
  const Geometry2d g = read_geometry(ctx, ctx.attr_ints("kernel_shape"), &same, -INFINITY);
  const bool ceil_mode = ctx.attr_int("ceil_mode", 0) != 0;
  ctx.add_layer(std::make_shared<MaxPool2d>(pool_geometry(g, ceil_mode)), {with_same_pad(ctx, same)}, {ctx.output(0)});
}

void convert_avgpool(OnnxNodeContext& ctx) {
  ctx.check_attrs({"auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape", "pads", "strides"});
  ctx.expect_inputs(1, 1);
  for (int64_t d : ctx.attr_ints("dilations"))
    if (d != 1) throw ctx.error("unsupported attribute value dilations != 1 (dilated average pooling)");
  const bool ceil_mode = ctx.attr_int("ceil_mode", 0) != 0;
  const bool include_pad = ctx.attr_int("count_include_pad", 0) != 0;
  // SAME with a stride: explicit zero padding is right only when the pads count in the divisor.
  std::shared_ptr<Pad> same;
  const Geometry2d g = read_geometry(ctx, ctx.attr_ints("kernel_shape"), include_pad ? &same : nullptr, 0.0);
  ctx.add_layer(std::make_shared<AvgPool2d>(pool_geometry(g, ceil_mode), include_pad), {with_same_pad(ctx, same)},
                {ctx.output(0)});
}

void convert_global_avgpool(OnnxNodeContext& ctx) {
  ctx.check_attrs({});
  ctx.expect_inputs(1, 1);
  ctx.add_layer(std::make_shared<GlobalAvgPool>(), {ctx.input(0)}, {ctx.output(0)});
}

// GlobalMaxPool: the maximum over every spatial axis, kept as size 1 (N, C, 1, ...).
void convert_global_maxpool(OnnxNodeContext& ctx) {
  ctx.check_attrs({});
  ctx.expect_inputs(1, 1);
  ctx.add_layer(std::make_shared<Reduce>(Reduce::Op::Max, std::vector<int64_t>{}, true, 2), {ctx.input(0)},
                {ctx.output(0)});
}

// BatchNormalization in inference: X (N, C, ...), scale, B, mean, var (C) initializers.
// Opset < 9 `spatial` must be 1 (per-channel); opset < 7 `is_test` is ignored (always inference).
void convert_batchnorm(OnnxNodeContext& ctx) {
  ctx.check_attrs({"epsilon", "momentum", "spatial", "is_test", "consumed_inputs", "training_mode"});
  ctx.expect_inputs(5, 5);
  if (ctx.attr_int("spatial", 1) != 1) throw ctx.error("unsupported attribute value spatial = 0");
  if (ctx.attr_int("training_mode", 0) != 0) throw ctx.error("unsupported attribute value training_mode = 1");
  for (int j = 1; j < ctx.num_outputs(); ++j)
    if (ctx.has_output(j)) throw ctx.error("training outputs (running statistics) are not supported");
  Param scale = ctx.param(1), bias = ctx.param(2), mean = ctx.param(3), var = ctx.param(4);
  const int64_t C = scale.value.numel();
  for (Param* p : {&bias, &mean, &var})
    if (p->value.numel() != C) throw ctx.error("'" + p->name + "' must have " + std::to_string(C) + " values");
  // ONNX keeps running = momentum · running + (1 − momentum) · batch; xdnn (like PyTorch) weighs the
  // batch statistic by its momentum, so the two momenta are complements. Only matters when an imported
  // model is trained further.
  auto bn = std::make_shared<BatchNorm2d>(ctx.name(), C, ctx.attr_float("epsilon", 1e-5),
                                          1.0 - ctx.attr_float("momentum", 0.9), scale.value.dtype());
  bn->weight_param() = scale;
  bn->bias_param() = bias;
  bn->running_mean_param() = mean;
  bn->running_var_param() = var;
  ctx.add_layer(bn, {ctx.input(0)}, {ctx.output(0)});
}

OnnxOpRegistration reg_conv("Conv", convert_conv);
OnnxOpRegistration reg_maxpool("MaxPool", convert_maxpool);
OnnxOpRegistration reg_avgpool("AveragePool", convert_avgpool);
OnnxOpRegistration reg_gap("GlobalAveragePool", convert_global_avgpool);
OnnxOpRegistration reg_gmp("GlobalMaxPool", convert_global_maxpool);
OnnxOpRegistration reg_bn("BatchNormalization", convert_batchnorm);

}  // namespace
}  // namespace xdnn
