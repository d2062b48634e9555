// ONNX converters: comparisons and logic (Equal, Less, Greater, LessOrEqual, GreaterOrEqual, And, Or,
// Xor, Not), Range, Resize (opsets 10-19) and Upsample (7-9).
#include "layers/compare.h"
#include "layers/resize.h"
#include "models/onnx/import.h"

namespace xdnn {
namespace {

void convert_compare(OnnxNodeContext& ctx, Compare::Op op) {
  ctx.check_attrs({"broadcast", "axis"});
  if (ctx.has_attr("axis")) throw ctx.error("unsupported attribute 'axis' (legacy broadcasting)");
  const int n = op == Compare::Op::Not ? 1 : 2;
  ctx.expect_inputs(n, n);
  std::vector<std::string> ins = {ctx.input(0)};
  if (n == 2) ins.push_back(ctx.input(1));
  ctx.add_layer(std::make_shared<Compare>(op), ins, {ctx.output(0)});
}

void convert_range(OnnxNodeContext& ctx) {
  ctx.check_attrs({});
  ctx.expect_inputs(3, 3);
  ctx.add_layer(std::make_shared<Range>(), {ctx.input(0), ctx.input(1), ctx.input(2)}, {ctx.output(0)});
}

// The float values of a constant input (scales), or {} when the input is absent or empty.
std::vector<double> float_list(const OnnxNodeContext& ctx, int i, const char* what) {
  if (!ctx.has_input(i)) return {};
  if (!ctx.is_constant(i))
    throw ctx.error(std::string(what) + " computed at run time are not supported (input '" + ctx.input(i) +
                    "' must be known at import)");
  const Tensor& t = ctx.constant(i);
  std::vector<double> v(t.numel());
  for (int64_t k = 0, k_end = t.numel(); k < k_end; ++k) v[k] = t.item(k);
  return v;
}

ResizeOptions resize_mode(const OnnxNodeContext& ctx) {
  ResizeOptions o;
  const std::string mode = ctx.attr_string("mode", "nearest");
  if (mode == "linear" || mode == "bilinear")
    o.linear = true;
  else if (mode != "nearest")
    throw ctx.error("unsupported attribute value mode = '" + mode + "' (nearest and linear are supported)");
  return o;
}

// Resize-10: inputs X, scales; asymmetric coordinates, nearest rounds down (floor), as the opset 10
// reference does. Resize-11+: X, roi, scales, sizes (scales or sizes; sizes may be computed at run
// time), coordinate_transformation_mode, nearest_mode; opset 18 adds axes, antialias and
// keep_aspect_ratio_policy (only their defaults' behaviour is supported besides axes).
void convert_resize(OnnxNodeContext& ctx) {
  if (ctx.opset() < 11) {
    ctx.check_attrs({"mode"});
    ctx.expect_inputs(2, 2);
    ResizeOptions o = resize_mode(ctx);
    o.coordinates = "asymmetric";
    o.nearest_mode = "floor";
    o.scales = float_list(ctx, 1, "scales");
    ctx.add_layer(std::make_shared<Resize>(o), {ctx.input(0)}, {ctx.output(0)});
    return;
  }
  ctx.check_attrs({"mode", "coordinate_transformation_mode", "nearest_mode", "cubic_coeff_a", "exclude_outside",
                   "extrapolation_value", "antialias", "axes", "keep_aspect_ratio_policy"});
  ctx.expect_inputs(1, 4);
  ResizeOptions o = resize_mode(ctx);
  o.coordinates = ctx.attr_string("coordinate_transformation_mode", "half_pixel");
  o.nearest_mode = ctx.attr_string("nearest_mode", "round_prefer_floor");
  if (o.coordinates == "tf_half_pixel_for_nn") o.coordinates = "tf_half_pixel_for_nearest";  // opset 11's name
  if (o.coordinates == "tf_crop_and_resize")
    throw ctx.error("unsupported attribute value coordinate_transformation_mode = 'tf_crop_and_resize'");
  if (ctx.attr_int("antialias", 0) != 0) throw ctx.error("unsupported attribute value antialias = 1");
  if (ctx.attr_int("exclude_outside", 0) != 0) throw ctx.error("unsupported attribute value exclude_outside = 1");
  const std::string policy = ctx.attr_string("keep_aspect_ratio_policy", "stretch");
  if (policy != "stretch") throw ctx.error("unsupported attribute value keep_aspect_ratio_policy = '" + policy + "'");
  o.axes = ctx.attr_ints("axes");
  o.scales = float_list(ctx, 2, "scales");
  std::vector<std::string> ins = {ctx.input(0)};
  if (ctx.has_input(3)) {
    if (ctx.is_constant(3)) {
      const Tensor& s = ctx.constant(3);
      for (int64_t k = 0, k_end = s.numel(); k < k_end; ++k) o.sizes.push_back(static_cast<int64_t>(s.item(k)));
    } else {
      o.runtime_sizes = true;
      ins.push_back(ctx.input(3));
    }
  }
  if (!o.sizes.empty() || o.runtime_sizes) o.scales.clear();
  if (o.scales.empty() && o.sizes.empty() && !o.runtime_sizes) throw ctx.error("needs scales or sizes");
  try {
    ctx.add_layer(std::make_shared<Resize>(o), ins, {ctx.output(0)});
  } catch (const Error& e) {
    throw ctx.error(e.what());
  }
}

// Upsample (deprecated at opset 10): scales an attribute (7) or input (9); asymmetric coordinates,
// nearest rounding down.
void convert_upsample(OnnxNodeContext& ctx) {
  ctx.check_attrs({"mode", "scales", "height_scale", "width_scale"});
  ResizeOptions o = resize_mode(ctx);
  o.coordinates = "asymmetric";
  o.nearest_mode = "floor";
  if (ctx.has_attr("scales")) {
    ctx.expect_inputs(1, 1);
    o.scales = ctx.attr_floats("scales");
  } else {
    ctx.expect_inputs(2, 2);
    o.scales = float_list(ctx, 1, "scales");
  }
  ctx.add_layer(std::make_shared<Resize>(o), {ctx.input(0)}, {ctx.output(0)});
}

OnnxOpRegistration reg_equal("Equal", [](OnnxNodeContext& c) { convert_compare(c, Compare::Op::Equal); });
OnnxOpRegistration reg_less("Less", [](OnnxNodeContext& c) { convert_compare(c, Compare::Op::Less); });
OnnxOpRegistration reg_greater("Greater", [](OnnxNodeContext& c) { convert_compare(c, Compare::Op::Greater); });
OnnxOpRegistration reg_less_eq("LessOrEqual", [](OnnxNodeContext& c) { convert_compare(c, Compare::Op::LessOrEqual); });
OnnxOpRegistration reg_greater_eq("GreaterOrEqual",
                                  [](OnnxNodeContext& c) { convert_compare(c, Compare::Op::GreaterOrEqual); });
OnnxOpRegistration reg_and("And", [](OnnxNodeContext& c) { convert_compare(c, Compare::Op::And); });
OnnxOpRegistration reg_or("Or", [](OnnxNodeContext& c) { convert_compare(c, Compare::Op::Or); });
OnnxOpRegistration reg_xor("Xor", [](OnnxNodeContext& c) { convert_compare(c, Compare::Op::Xor); });
OnnxOpRegistration reg_not("Not", [](OnnxNodeContext& c) { convert_compare(c, Compare::Op::Not); });
OnnxOpRegistration reg_range("Range", convert_range);
OnnxOpRegistration reg_mod("Mod", [](OnnxNodeContext& c) {
  c.check_attrs({"fmod"});
  c.expect_inputs(2, 2);
  c.add_layer(std::make_shared<Mod>(c.attr_int("fmod", 0) != 0), {c.input(0), c.input(1)}, {c.output(0)});
});
OnnxOpRegistration reg_resize("Resize", convert_resize);
OnnxOpRegistration reg_upsample("Upsample", convert_upsample);

}  // namespace
}  // namespace xdnn
