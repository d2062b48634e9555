// ONNX converters: MatMul, general Gemm, element-wise arithmetic (Add, Sub, Mul, Div, Pow), unary math
// and activations, Softmax / LogSoftmax, ReduceMean.
#include <cmath>

#include "layers/add.h"
#include "layers/binary.h"
#include "layers/elementwise.h"
#include "layers/leaky_relu.h"
#include "layers/linear.h"
#include "layers/log_softmax.h"
#include "layers/matmul.h"
#include "layers/prelu.h"
#include "layers/reduce.h"
#include "layers/reduce_mean.h"
#include "layers/reshape.h"
#include "layers/shape_ops.h"
#include "layers/sigmoid.h"
#include "layers/softmax.h"
#include "layers/tanh.h"
#include "layers/transpose.h"
#include "models/onnx/import.h"
#include "models/onnx/onnx_util.h"

namespace xdnn {

namespace {

// A Linear from a weight in (out, in) layout; the Param keeps its ONNX name.
void add_linear(OnnxNodeContext& ctx, Param W, const std::string& x, const std::string& y) {
  auto lin = std::make_shared<Linear>(ctx.name(), W.value.dim(1), W.value.dim(0), false, W.value.dtype());
  *lin->params()[0] = std::move(W);
  ctx.add_layer(lin, {x}, {y});
}

// MatMul. With a 2-D initializer as the right operand it is x Wᵀ with W = B transposed: a Linear whose
// weight holds Bᵀ under B's name (so it is LinearLike). MatMul(x, Transpose(W)) with W an initializer —
// PyTorch's export of F.linear without bias, and of attention's in-projection — is exactly Linear(W):
// the weight keeps W unchanged. Otherwise (two run-time operands) the MatMul layer.
void convert_matmul(OnnxNodeContext& ctx) {
  ctx.check_attrs({});
  ctx.expect_inputs(2, 2);
  const onnx::NodeProto* prod = ctx.producer(1);
  if (prod && prod->op_type() == "Transpose" && prod->input_size() == 1 && ctx.is_initializer_name(prod->input(0)) &&
      ctx.initializer(prod->input(0)).ndim() == 2) {
    std::vector<int64_t> perm;
    for (const auto& at : prod->attribute())
      if (at.name() == "perm") perm.assign(at.ints().begin(), at.ints().end());
    if (perm.empty() || perm == std::vector<int64_t>{1, 0}) {
      add_linear(ctx, ctx.param_named(prod->input(0)), ctx.input(0), ctx.output(0));
      return;
    }
  }
  if (ctx.is_initializer(1) && ctx.constant(1).ndim() == 2 && !ctx.is_constant(0)) {
    Param W = ctx.param(1);
    W.value = transpose2d(W.value);
    add_linear(ctx, std::move(W), ctx.input(0), ctx.output(0));
    return;
  }
  ctx.add_layer(std::make_shared<MatMul>(), {ctx.input(0), ctx.input(1)}, {ctx.output(0)});
}

// Add, Sub, Mul, Div. Opset < 7 `broadcast = 1` with `axis` aligns b at that axis (Binary's legacy
// mode); without `axis` it is the trailing-axes broadcast NumPy does. Float Add of two tensors is the Add layer
// (residual LRP rule); the rest is Binary.
void convert_binary(OnnxNodeContext& ctx, ops::Binary op) {
  ctx.check_attrs({"broadcast", "axis", "consumed_inputs"});
  ctx.expect_inputs(2, 2);
  const int64_t legacy_axis = ctx.attr_int("broadcast", 0) != 0 && ctx.has_attr("axis") ? ctx.attr_int("axis") : -1;
  if (legacy_axis < -1 || (legacy_axis == -1 && ctx.has_attr("axis") && ctx.attr_int("broadcast", 0) != 0))
    throw ctx.error("unsupported attribute value axis = " + std::to_string(ctx.attr_int("axis")));
  const int constant_operand = ctx.is_constant(1) ? 1 : ctx.is_constant(0) ? 0 : -1;  // for LRP only
  if (legacy_axis >= 0) {
    ctx.add_layer(std::make_shared<Binary>(op, legacy_axis, constant_operand), {ctx.input(0), ctx.input(1)},
                  {ctx.output(0)});
    return;
  }
  std::shared_ptr<Layer> layer;
  const bool ints = (ctx.is_constant(0) && ctx.constant(0).dtype() == DType::I64) ||
                    (ctx.is_constant(1) && ctx.constant(1).dtype() == DType::I64);
  if (op == ops::Binary::Add && !ints)
    layer = std::make_shared<Add>();
  else
    layer = std::make_shared<Binary>(op, -1, constant_operand);
  ctx.add_layer(layer, {ctx.input(0), ctx.input(1)}, {ctx.output(0)});
}

void add_unary(OnnxNodeContext& ctx, std::shared_ptr<Layer> layer) {
  ctx.expect_inputs(1, 1);
  ctx.add_layer(std::move(layer), {ctx.input(0)}, {ctx.output(0)});
}

void convert_pointwise(OnnxNodeContext& ctx, ops::Pointwise f) {
  ctx.check_attrs({"consumed_inputs"});
  add_unary(ctx, std::make_shared<Elementwise>(f));
}

// Pow: a constant exponent holding one value (x², x^0.5 ...). A run-time or varying exponent is not
// supported.
void convert_pow(OnnxNodeContext& ctx) {
  ctx.check_attrs({});
  ctx.expect_inputs(2, 2);
  if (!ctx.is_constant(1)) throw ctx.error("a run-time exponent is not supported (only a constant one)");
  const Tensor& e = ctx.constant(1);
  for (int64_t i = 1; i < e.numel(); ++i)
    if (e.item(i) != e.item(0)) throw ctx.error("an exponent that varies by element is not supported");
  ctx.add_layer(std::make_shared<Elementwise>(ops::Pointwise::PowScalar, e.item(0)), {ctx.input(0)}, {ctx.output(0)});
}

// Softmax / LogSoftmax. Opset ≥ 13: one axis (default −1). Opset < 13: the input is flattened to 2-D at
// `axis` (default 1), normalised over the second dimension, and reshaped back — done here literally
// with Flatten2D, the layer over the last axis, and a Reshape to the run-time shape of the input.
template <class L>
void convert_softmax(OnnxNodeContext& ctx) {
  ctx.check_attrs({"axis"});
  ctx.expect_inputs(1, 1);
  if (ctx.opset() >= 13) {
    add_unary(ctx, std::make_shared<L>(static_cast<int>(ctx.attr_int("axis", -1))));
    return;
  }
  const int64_t axis = ctx.attr_int("axis", 1);
  const std::string shape = ctx.temp_name("shape"), flat = ctx.temp_name("flat"), y2 = ctx.temp_name("y2d");
  ctx.add_layer(std::make_shared<ShapeOf>(), {ctx.input(0)}, {shape}, ctx.temp_name("Shape"));
  ctx.add_layer(std::make_shared<Reshape>(Reshape::Kind::Flatten2D, std::vector<int64_t>{axis}), {ctx.input(0)}, {flat},
                ctx.temp_name("Flatten"));
  ctx.add_layer(std::make_shared<L>(-1), {flat}, {y2});
  ctx.add_layer(std::make_shared<Reshape>(Reshape::Kind::Reshape, std::vector<int64_t>{}), {y2, shape}, {ctx.output(0)},
                ctx.temp_name("Reshape"));
}

void convert_prelu(OnnxNodeContext& ctx) {
  ctx.check_attrs({"consumed_inputs"});
  ctx.expect_inputs(2, 2);
  ctx.add_layer(std::make_shared<PRelu>(ctx.param(1)), {ctx.input(0)}, {ctx.output(0)});
}

// ReduceMean / Sum / Max / Min / Prod. axes: an attribute before the opset where it became input 1
// (ReduceSum 13, the others 18), which must then be known at import; keepdims default 1; with axes as an
// input, noop_with_empty_axes = 1 and no axes make the node the identity (else empty axes = all).
void convert_reduce(OnnxNodeContext& ctx, Reduce::Op op, bool mean) {
  const int input_since = !mean && op == Reduce::Op::Sum ? 13 : 18;
  std::vector<int64_t> axes;
  bool noop = false;
  if (ctx.opset() < input_since) {
    ctx.check_attrs({"axes", "keepdims"});
    ctx.expect_inputs(1, 1);
    axes = ctx.attr_ints("axes");
  } else {
    ctx.check_attrs({"keepdims", "noop_with_empty_axes"});
    ctx.expect_inputs(1, 2);
    if (ctx.has_input(1)) {
      if (!ctx.is_constant(1))
        throw ctx.error("axes computed at run time are not supported (input 1 '" + ctx.input(1) +
                        "' must be known at import)");
      axes = int_list(ctx.constant(1), "axes");
    }
    noop = axes.empty() && ctx.attr_int("noop_with_empty_axes", 0) != 0;
  }
  if (noop) {
    ctx.add_layer(std::make_shared<Identity>(), {ctx.input(0)}, {ctx.output(0)});
    return;
  }
  const bool keep = ctx.attr_int("keepdims", 1) != 0;
  std::shared_ptr<Layer> layer;
  if (mean)
    layer = std::make_shared<ReduceMean>(axes, keep);
  else
    layer = std::make_shared<Reduce>(op, axes, keep);
  ctx.add_layer(layer, {ctx.input(0)}, {ctx.output(0)});
}

// Clip: min / max attributes before opset 11, optional inputs from 11 on (known at import); absent
// bounds are ±∞. ReLU6 is Clip(0, 6).
void convert_clip(OnnxNodeContext& ctx) {
  double lo = -INFINITY, hi = INFINITY;
  if (ctx.opset() < 11) {
    ctx.check_attrs({"min", "max", "consumed_inputs"});
    ctx.expect_inputs(1, 1);
    lo = ctx.attr_float("min", -INFINITY), hi = ctx.attr_float("max", INFINITY);
  } else {
    ctx.check_attrs({});
    ctx.expect_inputs(1, 3);
    for (int i : {1, 2}) {
      if (!ctx.has_input(i)) continue;
      if (!ctx.is_constant(i))
        throw ctx.error(std::string(i == 1 ? "min" : "max") + " computed at run time is not supported (input '" +
                        ctx.input(i) + "' must be known at import)");
      if (ctx.constant(i).numel() != 1) throw ctx.error("min / max must be scalars");
      (i == 1 ? lo : hi) = ctx.constant(i).item(0);
    }
  }
  ctx.add_layer(std::make_shared<Elementwise>(ops::Pointwise::Clip, lo, hi), {ctx.input(0)}, {ctx.output(0)});
}

OnnxOpRegistration reg_matmul("MatMul", convert_matmul);
OnnxOpRegistration reg_add("Add", [](OnnxNodeContext& c) { convert_binary(c, ops::Binary::Add); });
OnnxOpRegistration reg_sub("Sub", [](OnnxNodeContext& c) { convert_binary(c, ops::Binary::Sub); });
OnnxOpRegistration reg_mul("Mul", [](OnnxNodeContext& c) { convert_binary(c, ops::Binary::Mul); });
OnnxOpRegistration reg_div("Div", [](OnnxNodeContext& c) { convert_binary(c, ops::Binary::Div); });
OnnxOpRegistration reg_pow("Pow", convert_pow);
OnnxOpRegistration reg_neg("Neg", [](OnnxNodeContext& c) { convert_pointwise(c, ops::Pointwise::Neg); });
OnnxOpRegistration reg_abs("Abs", [](OnnxNodeContext& c) { convert_pointwise(c, ops::Pointwise::Abs); });
OnnxOpRegistration reg_exp("Exp", [](OnnxNodeContext& c) { convert_pointwise(c, ops::Pointwise::Exp); });
OnnxOpRegistration reg_log("Log", [](OnnxNodeContext& c) { convert_pointwise(c, ops::Pointwise::Log); });
OnnxOpRegistration reg_sqrt("Sqrt", [](OnnxNodeContext& c) { convert_pointwise(c, ops::Pointwise::Sqrt); });
OnnxOpRegistration reg_reciprocal("Reciprocal",
                                  [](OnnxNodeContext& c) { convert_pointwise(c, ops::Pointwise::Reciprocal); });
OnnxOpRegistration reg_softplus("Softplus", [](OnnxNodeContext& c) { convert_pointwise(c, ops::Pointwise::Softplus); });
OnnxOpRegistration reg_softsign("Softsign", [](OnnxNodeContext& c) { convert_pointwise(c, ops::Pointwise::Softsign); });
OnnxOpRegistration reg_elu("Elu", [](OnnxNodeContext& c) {
  c.check_attrs({"alpha", "consumed_inputs"});
  add_unary(c, std::make_shared<Elementwise>(ops::Pointwise::Elu, c.attr_float("alpha", 1.0)));
});
OnnxOpRegistration reg_selu("Selu", [](OnnxNodeContext& c) {
  c.check_attrs({"alpha", "gamma", "consumed_inputs"});
  add_unary(c, std::make_shared<Elementwise>(ops::Pointwise::Selu, c.attr_float("alpha", 1.67326319217681884765625),
                                             c.attr_float("gamma", 1.05070102214813232421875)));
});
OnnxOpRegistration reg_leaky("LeakyRelu", [](OnnxNodeContext& c) {
  c.check_attrs({"alpha", "consumed_inputs"});
  add_unary(c, std::make_shared<LeakyReLU>(c.attr_float("alpha", 0.01)));
});
OnnxOpRegistration reg_sigmoid("Sigmoid", [](OnnxNodeContext& c) {
  c.check_attrs({"consumed_inputs"});
  add_unary(c, std::make_shared<Sigmoid>());
});
OnnxOpRegistration reg_tanh("Tanh", [](OnnxNodeContext& c) {
  c.check_attrs({"consumed_inputs"});
  add_unary(c, std::make_shared<Tanh>());
});
OnnxOpRegistration reg_prelu("PRelu", convert_prelu);
OnnxOpRegistration reg_softmax("Softmax", convert_softmax<Softmax>);
OnnxOpRegistration reg_log_softmax("LogSoftmax", convert_softmax<LogSoftmax>);
OnnxOpRegistration reg_reduce_mean("ReduceMean", [](OnnxNodeContext& c) { convert_reduce(c, Reduce::Op::Sum, true); });
OnnxOpRegistration reg_reduce_sum("ReduceSum", [](OnnxNodeContext& c) { convert_reduce(c, Reduce::Op::Sum, false); });
OnnxOpRegistration reg_reduce_max("ReduceMax", [](OnnxNodeContext& c) { convert_reduce(c, Reduce::Op::Max, false); });
OnnxOpRegistration reg_reduce_min("ReduceMin", [](OnnxNodeContext& c) { convert_reduce(c, Reduce::Op::Min, false); });
OnnxOpRegistration reg_reduce_prod("ReduceProd",
                                   [](OnnxNodeContext& c) { convert_reduce(c, Reduce::Op::Prod, false); });
OnnxOpRegistration reg_clip("Clip", convert_clip);
OnnxOpRegistration reg_hard_sigmoid("HardSigmoid", [](OnnxNodeContext& c) {
  c.check_attrs({"alpha", "beta", "consumed_inputs"});
  add_unary(c, std::make_shared<Elementwise>(ops::Pointwise::HardSigmoid, c.attr_float("alpha", 0.2),
                                             c.attr_float("beta", 0.5)));
});
OnnxOpRegistration reg_hard_swish("HardSwish", [](OnnxNodeContext& c) {
  c.check_attrs({});
  add_unary(c, std::make_shared<Elementwise>(ops::Pointwise::HardSwish));
});
OnnxOpRegistration reg_mish("Mish", [](OnnxNodeContext& c) {
  c.check_attrs({});
  add_unary(c, std::make_shared<Elementwise>(ops::Pointwise::Mish));
});

}  // namespace

// Gemm in general: Y = alpha op(A) op(B) + beta C with Transpose, MatMul, Scale and Add layers.
void convert_gemm_general(OnnxNodeContext& ctx, double alpha, double beta, bool transA, bool transB) {
  std::string a = ctx.input(0), b = ctx.input(1);
  if (transA) {
    ctx.add_layer(std::make_shared<Transpose>(std::vector<int64_t>{1, 0}), {a}, {ctx.temp_name("At")},
                  ctx.temp_name("TransposeA"));
    a = ctx.temp_name("At");
  }
  if (transB) {
    ctx.add_layer(std::make_shared<Transpose>(std::vector<int64_t>{1, 0}), {b}, {ctx.temp_name("Bt")},
                  ctx.temp_name("TransposeB"));
    b = ctx.temp_name("Bt");
  }
  const bool has_c = ctx.has_input(2);
  std::string y = (alpha != 1.0 || has_c) ? ctx.temp_name("AB") : ctx.output(0);
  ctx.add_layer(std::make_shared<MatMul>(), {a, b}, {y});
  if (alpha != 1.0) {
    const std::string s = has_c ? ctx.temp_name("alphaAB") : ctx.output(0);
    ctx.add_layer(std::make_shared<Elementwise>(ops::Pointwise::Scale, alpha), {y}, {s}, ctx.temp_name("alpha"));
    y = s;
  }
  if (has_c) {
    std::string c = ctx.input(2);
    if (beta != 1.0) {
      ctx.add_layer(std::make_shared<Elementwise>(ops::Pointwise::Scale, beta), {c}, {ctx.temp_name("betaC")},
                    ctx.temp_name("beta"));
      c = ctx.temp_name("betaC");
    }
    ctx.add_layer(std::make_shared<Add>(), {y, c}, {ctx.output(0)}, ctx.temp_name("AddC"));
  }
}

void mark_attention_products(Model& model) {
  const auto& nodes = model.nodes();
  for (const auto& node : nodes) {
    auto* mm = dynamic_cast<MatMul*>(node.layer.get());
    if (!mm || node.inputs.size() != 2) continue;
    for (int j = 0; j < 2; ++j) {
      const int producer = model.producer(node.inputs[j]);
      if (producer >= 0 && dynamic_cast<const Softmax*>(nodes[producer].layer.get())) {
        mm->probabilities_operand = j;
        break;
      }
    }
  }
}

}  // namespace xdnn
