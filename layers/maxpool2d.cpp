#include "layers/maxpool2d.h"

#include "engine/ops_fill.h"
#include "layers/lrp_rules.h"

namespace xdnn {
namespace {

ops::Pool2dGeometry square(int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
  ops::Pool2dGeometry g;
  g.kernel_h = g.kernel_w = k;
  g.stride_h = g.stride_w = s == 0 ? k : s;
  g.pad_top = g.pad_left = g.pad_bottom = g.pad_right = p;
  g.dilation_h = g.dilation_w = d;
  g.ceil_mode = ceil_mode;
  return g;
}

}  // namespace

MaxPool2d::MaxPool2d(int64_t kernel, int64_t stride, int64_t padding, int64_t dilation, bool ceil_mode)
    : MaxPool2d(square(kernel, stride, padding, dilation, ceil_mode)) {}

MaxPool2d::MaxPool2d(const ops::Pool2dGeometry& g) : geom_(g) {
  if (g.kernel_h < 1 || g.kernel_w < 1 || g.stride_h < 1 || g.stride_w < 1 || g.dilation_h < 1 || g.dilation_w < 1 ||
      g.pad_top < 0 || g.pad_left < 0 || g.pad_bottom < 0 || g.pad_right < 0)
    throw Error("MaxPool2d: kernel, stride and dilation must be >= 1 and padding >= 0");
}

MaxPool2d MaxPool2d::one_d(int64_t kernel, int64_t stride, int64_t padding, int64_t dilation, bool ceil_mode) {
  ops::Pool2dGeometry g = square(kernel, stride, padding, dilation, ceil_mode);
  g.kernel_h = g.stride_h = g.dilation_h = 1;
  g.pad_top = g.pad_bottom = 0;
  return MaxPool2d(g);
}

Tensor MaxPool2d::as_4d(const Tensor& x) const {
  const bool one_d = x.ndim() == 3 && geom_.kernel_h == 1 && geom_.pad_top == 0 && geom_.pad_bottom == 0;
  if (!x.defined() || !x.is_float() || !(x.ndim() == 4 || one_d))
    throw Error(std::string("MaxPool2d: expected input (N, C, H, W)") + (geom_.kernel_h == 1 ? " or (N, C, L)" : "") +
                ", got " + (x.defined() ? x.describe() : std::string("an undefined tensor")));
  if (x.ndim() == 3) return x.reshape({x.dim(0), x.dim(1), 1, x.dim(2)});
  return x;
}

// saved: "x", and either "argmax" (I64, shape of the 4-D output) or, from a float32 CPU forward of the 2x2
// stride-2 window, "tap_codes" (ops::maxpool2d_forward_tap_codes: 2 bits per window instead of 8 bytes, and a
// faster forward; the backward, relevance and R-operator passes take either). The other one is undefined.
Tensors MaxPool2d::forward(const Tensors& x, Saved& saved, const ForwardOptions&) {
  const Tensor x4 = as_4d(x.at(0));
  Tensor y;
  if (ops::maxpool2d_tap_codes_apply(x4, geom_)) {
    Tensor codes;
    y = ops::maxpool2d_forward_tap_codes(x4, geom_, codes);
    saved.put("x", x[0]);
    saved.put("argmax", Tensor());
    saved.put("tap_codes", codes);
  } else {
    Tensor argmax;
    y = ops::maxpool2d_forward(x4, geom_, argmax);
    saved.put("x", x[0]);
    saved.put("argmax", argmax);
    saved.put("tap_codes", Tensor());
  }
  if (x[0].ndim() == 3) return {y.reshape({y.dim(0), y.dim(1), y.dim(3)})};
  return {y};
}

Tensors MaxPool2d::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions&) {
  if (!grad_y.at(0).defined()) return {Tensor()};
  const Tensor& x = saved.tensor("x");
  const Tensor x4 = as_4d(x);
  if (const Tensor& codes = saved.tensor("tap_codes"); codes.defined()) {  // see forward
    const Shape y4 = ops::pool2d_output_shape(x4.shape(), geom_);
    return {ops::maxpool2d_backward_tap_codes(grad_y[0].reshape(y4), codes, x4.shape()).reshape(x.shape())};
  }
  const Tensor& argmax = saved.tensor("argmax");
  return {ops::maxpool2d_backward(grad_y[0].reshape(argmax.shape()), argmax, x4.shape()).reshape(x.shape())};
}

Tensors MaxPool2d::relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule) {
  const Tensor& x = saved.tensor("x");
  const Tensor& R = relevance_y.at(0);
  if (!R.defined()) return {Tensor(x.shape(), x.dtype(), x.device())};
  if (rule.name == "proportional") {
    const Tensor x4 = as_4d(x);
    const Tensor xp = ops::unary(ops::Unary::PositivePart, x4);
    const Tensor z = ops::avgpool2d_forward(xp, geom_, ops::PoolDivisor::Sum);  // Σ_{j∈w} x_j⁺
    const Tensor s = ops::div(R.reshape(z.shape()), ops::stabilize(z, rule.stabilizer));
    return {ops::mul(xp, ops::avgpool2d_backward(s, x4.shape(), geom_, ops::PoolDivisor::Sum)).reshape(x.shape())};
  }
  bool known = rule.name == "wta";
  for (const auto& n : linear_rule_names()) known = known || rule.name == n;
  if (!known) throw Error("layer kind MaxPool2d has no LRP rule '" + rule.name + "'; it has: wta, proportional");
  return backward({R}, saved, {});
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration maxpool_basic{
    {"MaxPool2d/2x2",
     [](Rng& rng) {
       return LayerExample{std::make_shared<MaxPool2d>(2), {random_tensor({2, 3, 4, 6}, rng)}};
     },
     /*has_kinks=*/true}};
LayerExampleRegistration maxpool_general{
    {"MaxPool2d/3x3-stride2-pad1-dil-ceil",
     [](Rng& rng) {
       ops::Pool2dGeometry g;
       g.kernel_h = 3;
       g.kernel_w = 2;
       g.stride_h = 2;
       g.stride_w = 2;
       g.pad_top = 1;
       g.pad_left = 1;
       g.pad_bottom = 1;
       g.pad_right = 0;
       g.dilation_w = 2;
       g.ceil_mode = true;
       return LayerExample{std::make_shared<MaxPool2d>(g), {random_tensor({2, 2, 7, 8}, rng)}};
     },
     /*has_kinks=*/true}};
LayerExampleRegistration maxpool_1d{
    {"MaxPool2d/1d-input",
     [](Rng& rng) {
       return LayerExample{std::make_shared<MaxPool2d>(MaxPool2d::one_d(3, 2, 1)), {random_tensor({2, 3, 9}, rng)}};
     },
     /*has_kinks=*/true}};
}  // namespace
}  // namespace xdnn

namespace xdnn {

// R-operator (Pearlmutter 1994): max pooling is piecewise linear; R{y} takes R{x} at the forward arg-max
// (the same first-maximum tie rule as the gradient), and R{g_x} routes R{g_y} there (the backward pass).
Tensors MaxPool2d::r_forward(const Tensors& rx, const Tensors&, const Saved& saved) {
  if (rx.empty() || !rx[0].defined()) return {Tensor()};
  const Tensor& x = saved.tensor("x");
  Tensor argmax = saved.tensor("argmax");  // (N, C, OH, OW): flat index h·W + w in the input plane
  if (!argmax.defined()) ops::maxpool2d_forward(as_4d(x), geom_, argmax);  // the forward kept tap codes
  if (rx[0].shape() != x.shape())
    throw Error("MaxPool2d R-operator: tangent " + rx[0].describe() + " does not match the input " + x.describe());
  const Tensor ry = ops::maxpool2d_gather(as_4d(rx[0]), argmax);  // (N, C, OH, OW)
  if (x.ndim() == 3) return {ry.reshape({ry.dim(0), ry.dim(1), ry.dim(3)})};
  return {ry};
}

}  // namespace xdnn
