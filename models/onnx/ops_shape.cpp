// ONNX converters: Transpose, Concat, Split, Pad, Slice, Gather, Shape, Cast, ConstantOfShape.
// Bounds, pads and shapes computed at run time (from Shape) are passed to the layers as inputs.
#include "layers/concat.h"
#include "layers/embedding.h"
#include "layers/gather.h"
#include "layers/pad.h"
#include "layers/reshape.h"
#include "layers/shape_ops.h"
#include "layers/slice.h"
#include "layers/transpose.h"
#include "models/onnx/import.h"

namespace xdnn {
namespace {

void convert_transpose(OnnxNodeContext& ctx) {
  ctx.check_attrs({"perm"});
  ctx.expect_inputs(1, 1);
  ctx.add_layer(std::make_shared<Transpose>(ctx.attr_ints("perm")), {ctx.input(0)}, {ctx.output(0)});
}

void convert_concat(OnnxNodeContext& ctx) {
  ctx.check_attrs({"axis"});
  if (ctx.num_inputs() < 1) throw ctx.error("expects at least one input");
  std::vector<std::string> ins;
  for (int i = 0; i < ctx.num_inputs(); ++i) ins.push_back(ctx.input(i));
  ctx.add_layer(std::make_shared<Concat>(ctx.attr_int("axis", ctx.opset() < 4 ? 1 : 0)), ins, {ctx.output(0)});
}

// Split: sizes from the `split` attribute (opset < 13) or input (13+), else equal pieces; from opset 18
// `num_outputs` pieces of ceil(d / num_outputs), the last one smaller.
void convert_split(OnnxNodeContext& ctx) {
  if (ctx.opset() < 13)
    ctx.check_attrs({"axis", "split"});
  else if (ctx.opset() < 18)
    ctx.check_attrs({"axis"});
  else
    ctx.check_attrs({"axis", "num_outputs"});
  ctx.expect_inputs(1, ctx.opset() < 13 ? 1 : 2);
  std::vector<int64_t> sizes = ctx.attr_ints("split");
  std::vector<std::string> ins = {ctx.input(0)};
  if (ctx.has_input(1)) {
    if (ctx.is_constant(1))
      sizes = int_list(ctx.constant(1), "Split split");
    else
      ins.push_back(ctx.input(1));
  }
  std::vector<std::string> outs;
  for (int j = 0; j < ctx.num_outputs(); ++j) outs.push_back(ctx.output(j));
  if (!sizes.empty() && sizes.size() != outs.size()) throw ctx.error("split sizes do not match the output count");
  const bool num_outputs = ctx.has_attr("num_outputs");
  if (num_outputs && (ctx.has_input(1) || ctx.attr_int("num_outputs") != static_cast<int64_t>(outs.size())))
    throw ctx.error("num_outputs must equal the number of outputs (" + std::to_string(outs.size()) +
                    ") and excludes the split input");
  ctx.add_layer(std::make_shared<Split>(ctx.attr_int("axis", 0), sizes, static_cast<int64_t>(outs.size()), num_outputs),
                ins, outs);
}

// Pad: opset < 11 attributes (mode, pads, value); 11+ inputs pads and optional constant_value.
void convert_pad(OnnxNodeContext& ctx) {
  ctx.check_attrs({"mode", "pads", "paddings", "value"});
  const std::string mode_s = ctx.attr_string("mode", "constant");
  ops::PadMode mode;
  if (mode_s == "constant")
    mode = ops::PadMode::Constant;
  else if (mode_s == "reflect")
    mode = ops::PadMode::Reflect;
  else if (mode_s == "edge")
    mode = ops::PadMode::Edge;
  else
    throw ctx.error("unsupported attribute value mode = '" + mode_s + "'");
  if (ctx.opset() < 11) {
    ctx.expect_inputs(1, 1);
    auto pads = ctx.has_attr("pads") ? ctx.attr_ints("pads") : ctx.attr_ints("paddings");
    ctx.add_layer(std::make_shared<Pad>(mode, pads, ctx.attr_float("value", 0.0)), {ctx.input(0)}, {ctx.output(0)});
    return;
  }
  ctx.expect_inputs(2, ctx.opset() < 18 ? 3 : 4);
  double value = 0;
  if (ctx.has_input(2)) {
    if (!ctx.is_constant(2)) throw ctx.error("a run-time constant_value is not supported");
    value = ctx.constant(2).item(0);
  }
  std::shared_ptr<Pad> pad;
  std::vector<std::string> ins = {ctx.input(0)};
  if (ctx.is_constant(1)) {
    pad = std::make_shared<Pad>(mode, int_list(ctx.constant(1), "Pad pads"), value);
  } else {
    pad = std::make_shared<Pad>(mode, std::vector<int64_t>{}, value);
    ins.push_back(ctx.input(1));
  }
  if (ctx.has_input(3)) {  // opset 18: the axes the pads refer to
    if (!ctx.is_constant(3)) throw ctx.error("axes computed at run time are not supported");
    pad->set_axes(int_list(ctx.constant(3), "Pad axes"));
  }
  ctx.add_layer(pad, ins, {ctx.output(0)});
}

// Slice: opset < 10 attributes starts, ends, axes; 10+ inputs starts, ends, [axes], [steps] — constant
// ones are baked into the layer, run-time ones stay inputs.
void convert_slice(OnnxNodeContext& ctx) {
  if (ctx.opset() < 10) {
    ctx.check_attrs({"starts", "ends", "axes"});
    ctx.expect_inputs(1, 1);
    ctx.add_layer(std::make_shared<Slice>(ctx.attr_ints("starts"), ctx.attr_ints("ends"), ctx.attr_ints("axes"),
                                          std::vector<int64_t>{}),
                  {ctx.input(0)}, {ctx.output(0)});
    return;
  }
  ctx.check_attrs({});
  ctx.expect_inputs(3, 5);
  std::vector<std::vector<int64_t>> v(5);
  std::vector<std::string> ins = {ctx.input(0)};
  bool runtime = false;
  for (int i = 1; i < 5; ++i) runtime = runtime || (ctx.has_input(i) && !ctx.is_constant(i));
  for (int i = 1; i < 5; ++i) {
    if (runtime) {
      ins.push_back(ctx.input(i));
    } else if (ctx.has_input(i)) {
      v[i] = int_list(ctx.constant(i), "Slice bounds");
    }
  }
  ctx.add_layer(std::make_shared<Slice>(v[1], v[2], v[3], v[4]), ins, {ctx.output(0)});
}

// Gather. Data an initializer, axis 0, run-time indices: an embedding lookup (layers/embedding.h) whose
// table is a parameter keeping the initializer's name. Otherwise the Gather layer (run-time data, or
// int64 shape arithmetic; constant-only gathers fold at import).
void convert_gather(OnnxNodeContext& ctx) {
  ctx.check_attrs({"axis"});
  ctx.expect_inputs(2, 2);
  const int64_t axis = ctx.attr_int("axis", 0);
  if (axis == 0 && ctx.is_initializer(0) && !ctx.is_constant(1) && ctx.constant(0).is_float() &&
      ctx.constant(0).ndim() == 2) {
    ctx.add_layer(std::make_shared<Embedding>(ctx.input(0), ctx.constant(0).clone()), {ctx.input(1)}, {ctx.output(0)});
    return;
  }
  ctx.add_layer(std::make_shared<Gather>(axis), {ctx.input(0), ctx.input(1)}, {ctx.output(0)});
}

void convert_shape(OnnxNodeContext& ctx) {
  ctx.check_attrs({"start", "end"});
  ctx.expect_inputs(1, 1);
  ctx.add_layer(std::make_shared<ShapeOf>(ctx.attr_int("start", 0), ctx.attr_int("end", INT64_MAX)), {ctx.input(0)},
                {ctx.output(0)});
}

// A float32 scalar constant standing for "the model's float type" (converted by Model::to with the rest).
std::string float_template(OnnxNodeContext& ctx) {
  const std::string name = ctx.temp_name("float_type");
  ctx.add_constant(name, Tensor::from_vector({}, std::vector<float>{0.f}));
  return name;
}

void convert_cast(OnnxNodeContext& ctx) {
  ctx.check_attrs({"to", "saturate"});
  ctx.expect_inputs(1, 1);
  const int64_t to = ctx.attr_int("to");
  switch (to) {
    case onnx::TensorProto::FLOAT:
    case onnx::TensorProto::DOUBLE:
      ctx.add_layer(std::make_shared<Cast>(DType::F32), {ctx.input(0), float_template(ctx)}, {ctx.output(0)});
      return;
    case onnx::TensorProto::INT64:
    case onnx::TensorProto::INT32:
    case onnx::TensorProto::INT16:
    case onnx::TensorProto::INT8:
    case onnx::TensorProto::UINT8:
    case onnx::TensorProto::BOOL:
      ctx.add_layer(std::make_shared<Cast>(DType::I64), {ctx.input(0)}, {ctx.output(0)});
      return;
    default:
      throw ctx.error("unsupported attribute value to = " + std::to_string(to));
  }
}

// ConstantOfShape: the fill (attribute `value`, default float 0) is a model constant input, so a float
// fill follows the model's float type.
void convert_constant_of_shape(OnnxNodeContext& ctx) {
  ctx.check_attrs({"value"});
  ctx.expect_inputs(1, 1);
  Tensor fill = ctx.has_attr("value") ? ctx.attr_tensor("value") : Tensor::from_vector({1}, std::vector<float>{0.f});
  if (fill.numel() != 1) throw ctx.error("attribute 'value' must hold one element");
  const std::string name = ctx.temp_name("fill");
  ctx.add_constant(name, fill.reshape({}));
  ctx.add_layer(std::make_shared<ConstantOfShape>(), {ctx.input(0), name}, {ctx.output(0)});
}

OnnxOpRegistration reg_transpose("Transpose", convert_transpose);
OnnxOpRegistration reg_concat("Concat", convert_concat);
OnnxOpRegistration reg_split("Split", convert_split);
OnnxOpRegistration reg_pad("Pad", convert_pad);
OnnxOpRegistration reg_slice("Slice", convert_slice);
OnnxOpRegistration reg_gather("Gather", convert_gather);
OnnxOpRegistration reg_shape("Shape", convert_shape);
OnnxOpRegistration reg_cast("Cast", convert_cast);
OnnxOpRegistration reg_cos("ConstantOfShape", convert_constant_of_shape);

}  // namespace
}  // namespace xdnn
