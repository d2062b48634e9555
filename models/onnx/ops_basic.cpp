// ONNX converters: Gemm, Relu, Flatten, Reshape, Squeeze, Unsqueeze, Identity, Dropout, Constant.
#include <cmath>

#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/relu.h"
#include "layers/reshape.h"
#include "layers/shape_ops.h"
#include "models/onnx/import.h"
#include "models/onnx/onnx_util.h"

namespace xdnn {
namespace {

// Gemm: Y = alpha op(A) op(B) + beta C (op = transpose when transA / transB).
// The common case — A at run time, B an initializer, C an initializer broadcast over rows — becomes a
// Linear (so it is LinearLike and gets every LRP rule): weight = alpha op(B)ᵀ (out, in) keeps B's name,
// bias = beta C keeps C's name. With transB = 1 and alpha = 1 (PyTorch's nn.Linear export) the
// parameters hold the initializers unchanged. Anything else goes through MatMul + scale + Add.
void convert_gemm(OnnxNodeContext& ctx) {
  ctx.check_attrs({"alpha", "beta", "transA", "transB", "broadcast"});
  ctx.expect_inputs(2, 3);
  const double alpha = ctx.attr_float("alpha", 1.0), beta = ctx.attr_float("beta", 1.0);
  const bool transA = ctx.attr_int("transA", 0) != 0, transB = ctx.attr_int("transB", 0) != 0;
  const Tensor* C = ctx.is_constant(2) ? &ctx.constant(2) : nullptr;
  const bool linear_ok =
      !transA && ctx.is_initializer(1) && ctx.constant(1).ndim() == 2 && (!ctx.has_input(2) || (C && C->is_float()));
  if (linear_ok) {
    Param W = ctx.param(1);
    if (!transB) W.value = transpose2d(W.value);
    if (alpha != 1.0) W.value = scale_copy(W.value, alpha);
    const int64_t out = W.value.dim(0), in = W.value.dim(1);
    Param b;
    bool bias_ok = true;
    if (C) {
      if (C->numel() == out && (C->ndim() == 1 || (C->ndim() == 2 && C->dim(0) == 1))) {
        b = Param{ctx.input(2), C->reshape({out}).clone(), {}};
      } else if (C->numel() == 1) {
        b = Param{ctx.input(2), Tensor::full({out}, C->item(0), C->dtype()), {}};
      } else {
        bias_ok = false;  // C varies along the batch axis: general path
      }
      if (bias_ok && beta != 1.0) b.value = scale_copy(b.value, beta);
    }
    if (bias_ok) {
      auto lin = std::make_shared<Linear>(ctx.name(), in, out, C != nullptr, W.value.dtype());
      auto ps = lin->params();
      *ps[0] = W;
      if (C) *ps[1] = b;
      ctx.add_layer(lin, {ctx.input(0)}, {ctx.output(0)});
      return;
    }
  }
  convert_gemm_general(ctx, alpha, beta, transA, transB);
}

void convert_relu(OnnxNodeContext& ctx) {
  ctx.check_attrs({"consumed_inputs"});
  ctx.expect_inputs(1, 1);
  ctx.add_layer(std::make_shared<ReLU>(), {ctx.input(0)}, {ctx.output(0)});
}

// Flatten (axis a, default 1) -> always 2-D. axis 1 is nn.Flatten's case and uses the Flatten layer.
void convert_flatten(OnnxNodeContext& ctx) {
  ctx.check_attrs({"axis"});
  ctx.expect_inputs(1, 1);
  const int64_t axis = ctx.attr_int("axis", 1);
  if (axis == 1)
    ctx.add_layer(std::make_shared<Flatten>(1, -1), {ctx.input(0)}, {ctx.output(0)});
  else
    ctx.add_layer(std::make_shared<Reshape>(Reshape::Kind::Flatten2D, std::vector<int64_t>{axis}), {ctx.input(0)},
                  {ctx.output(0)});
}

// Reshape-5+: shape is an input (constant, or computed at run time from Shape); Reshape-1 had it as an
// attribute (not in opsets 6+).
void convert_reshape(OnnxNodeContext& ctx) {
  ctx.check_attrs({"allowzero"});
  ctx.expect_inputs(2, 2);
  const bool allowzero = ctx.attr_int("allowzero", 0) != 0;
  if (ctx.is_constant(1)) {
    auto spec = int_list(ctx.constant(1), "Reshape shape");
    ctx.add_layer(std::make_shared<Reshape>(Reshape::Kind::Reshape, spec, allowzero), {ctx.input(0)}, {ctx.output(0)});
  } else {
    ctx.add_layer(std::make_shared<Reshape>(Reshape::Kind::Reshape, std::vector<int64_t>{}, allowzero),
                  {ctx.input(0), ctx.input(1)}, {ctx.output(0)});
  }
}

// Squeeze / Unsqueeze: axes attribute before opset 13, optional input from 13 on.
void convert_squeeze_like(OnnxNodeContext& ctx, Reshape::Kind kind) {
  std::vector<int64_t> axes;
  if (ctx.opset() < 13) {
    ctx.check_attrs({"axes"});
    ctx.expect_inputs(1, 1);
    axes = ctx.attr_ints("axes");
  } else {
    ctx.check_attrs({});
    ctx.expect_inputs(1, 2);
    if (ctx.has_input(1) && !ctx.is_constant(1)) {
      ctx.add_layer(std::make_shared<Reshape>(kind, std::vector<int64_t>{}), {ctx.input(0), ctx.input(1)},
                    {ctx.output(0)});
      return;
    }
    if (ctx.has_input(1)) axes = int_list(ctx.constant(1), "axes");
  }
  if (kind == Reshape::Kind::Unsqueeze && axes.empty()) throw ctx.error("Unsqueeze needs axes");
  ctx.add_layer(std::make_shared<Reshape>(kind, axes), {ctx.input(0)}, {ctx.output(0)});
}

void convert_identity(OnnxNodeContext& ctx) {
  ctx.check_attrs({});
  ctx.expect_inputs(1, 1);
  ctx.add_layer(std::make_shared<Identity>(), {ctx.input(0)}, {ctx.output(0)});
}

// Dropout at inference is the identity (the exported graph is for inference; `ratio` and
// `training_mode` matter only when training). The optional mask output is all ones.
void convert_dropout(OnnxNodeContext& ctx) {
  ctx.check_attrs({"ratio", "is_test", "seed"});
  ctx.expect_inputs(1, 3);
  if (ctx.is_constant(2) && ctx.constant(2).item(0) != 0)
    throw ctx.error("training_mode = true is not supported (import is for inference)");
  ctx.add_layer(std::make_shared<Identity>(), {ctx.input(0)}, {ctx.output(0)});
  if (ctx.has_output(1)) {  // the mask keeps everything: ones (bool -> int64) of the input's shape
    const std::string shape = ctx.temp_name("mask_shape"), one = ctx.temp_name("one");
    ctx.add_layer(std::make_shared<ShapeOf>(), {ctx.input(0)}, {shape}, ctx.temp_name("Shape"));
    ctx.add_constant(one, Tensor::from_vector({}, std::vector<int64_t>{1}));
    ctx.add_layer(std::make_shared<ConstantOfShape>(), {shape, one}, {ctx.output(1)}, ctx.temp_name("Mask"));
  }
}

// Constant: value (tensor), or from opset 12 value_float(s) / value_int(s).
void convert_constant(OnnxNodeContext& ctx) {
  ctx.check_attrs({"value", "value_float", "value_floats", "value_int", "value_ints"});
  Tensor t;
  if (ctx.has_attr("value")) {
    t = ctx.attr_tensor("value");
  } else if (ctx.has_attr("value_float")) {
    t = Tensor::from_vector({}, std::vector<float>{static_cast<float>(ctx.attr_float("value_float", 0))});
  } else if (ctx.has_attr("value_int")) {
    t = Tensor::from_vector({}, std::vector<int64_t>{ctx.attr_int("value_int")});
  } else if (ctx.has_attr("value_ints")) {
    auto v = ctx.attr_ints("value_ints");
    t = Tensor::from_vector({static_cast<int64_t>(v.size())}, v);
  } else if (ctx.has_attr("value_floats")) {
    auto v = ctx.attr_floats("value_floats");
    std::vector<float> f(v.begin(), v.end());
    t = Tensor::from_vector({static_cast<int64_t>(f.size())}, f);
  } else {
    throw ctx.error("Constant has no value attribute (sparse_value / value_string(s) are not supported)");
  }
  ctx.add_constant(ctx.output(0), t);
}

OnnxOpRegistration reg_gemm("Gemm", convert_gemm);
OnnxOpRegistration reg_relu("Relu", convert_relu);
OnnxOpRegistration reg_flatten("Flatten", convert_flatten);
OnnxOpRegistration reg_reshape("Reshape", convert_reshape);
OnnxOpRegistration reg_squeeze("Squeeze", [](OnnxNodeContext& c) { convert_squeeze_like(c, Reshape::Kind::Squeeze); });
OnnxOpRegistration reg_unsqueeze("Unsqueeze",
                                 [](OnnxNodeContext& c) { convert_squeeze_like(c, Reshape::Kind::Unsqueeze); });
OnnxOpRegistration reg_identity("Identity", convert_identity);
OnnxOpRegistration reg_dropout("Dropout", convert_dropout);
OnnxOpRegistration reg_constant("Constant", convert_constant);

}  // namespace
}  // namespace xdnn
