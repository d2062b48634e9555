#include "layers/avgpool2d.h"

#include "layers/lrp_rules.h"

namespace xdnn {
namespace {

ops::Pool2dGeometry square(int64_t k, int64_t s, int64_t p, bool ceil_mode) {
  ops::Pool2dGeometry g;
  g.kernel_h = g.kernel_w = k;
  g.stride_h = g.stride_w = s == 0 ? k : s;
  g.pad_top = g.pad_left = g.pad_bottom = g.pad_right = p;
  g.ceil_mode = ceil_mode;
  return g;
}

}  // namespace

AvgPool2d::AvgPool2d(int64_t kernel, int64_t stride, int64_t padding, bool ceil_mode, bool count_include_pad)
    : AvgPool2d(square(kernel, stride, padding, ceil_mode), count_include_pad) {}

AvgPool2d::AvgPool2d(const ops::Pool2dGeometry& g, bool count_include_pad) : geom_(g), include_pad_(count_include_pad) {
  if (g.kernel_h < 1 || g.kernel_w < 1 || g.stride_h < 1 || g.stride_w < 1 || g.pad_top < 0 || g.pad_left < 0 ||
      g.pad_bottom < 0 || g.pad_right < 0)
    throw Error("AvgPool2d: kernel and stride must be >= 1 and padding >= 0");
  if (g.dilation_h != 1 || g.dilation_w != 1) throw Error("AvgPool2d: dilation must be 1");
}

AvgPool2d AvgPool2d::one_d(int64_t kernel, int64_t stride, int64_t padding, bool ceil_mode, bool count_include_pad) {
  ops::Pool2dGeometry g = square(kernel, stride, padding, ceil_mode);
  g.kernel_h = g.stride_h = 1;
  g.pad_top = g.pad_bottom = 0;
  return AvgPool2d(g, count_include_pad);
}

ops::PoolDivisor AvgPool2d::divisor() const {
  return include_pad_ ? ops::PoolDivisor::WindowIncludingPad : ops::PoolDivisor::WindowExcludingPad;
}

Tensor AvgPool2d::as_4d(const Tensor& x) const {
  const bool one_d = x.ndim() == 3 && geom_.kernel_h == 1 && geom_.pad_top == 0 && geom_.pad_bottom == 0;
  if (!x.defined() || !x.is_float() || !(x.ndim() == 4 || one_d))
    throw Error(std::string("AvgPool2d: expected input (N, C, H, W)") + (geom_.kernel_h == 1 ? " or (N, C, L)" : "") +
                ", got " + (x.defined() ? x.describe() : std::string("an undefined tensor")));
  if (x.ndim() == 3) return x.reshape({x.dim(0), x.dim(1), 1, x.dim(2)});
  return x;
}

// saved: "x" (its shape for backward; its values for the LRP norm rule)
Tensors AvgPool2d::forward(const Tensors& x, Saved& saved, const ForwardOptions&) {
  Tensor y = ops::avgpool2d_forward(as_4d(x.at(0)), geom_, divisor());
  saved.put("x", x[0]);
  if (x[0].ndim() == 3) return {y.reshape({y.dim(0), y.dim(1), y.dim(3)})};
  return {y};
}

Tensors AvgPool2d::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions&) {
  if (!grad_y.at(0).defined()) return {Tensor()};
  const Tensor& x = saved.tensor("x");
  const Shape x4 = as_4d(x).shape();
  const Shape y4 = ops::pool2d_output_shape(x4, geom_);
  return {ops::avgpool2d_backward(grad_y[0].reshape(y4), x4, geom_, divisor()).reshape(x.shape())};
}

Tensors AvgPool2d::relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule) {
  const Tensor& x = saved.tensor("x");
  const Tensor& R = relevance_y.at(0);
  bool known = rule.name == "norm";
  for (const auto& n : linear_rule_names()) known = known || rule.name == n;
  if (!known) throw Error("layer kind AvgPool2d has no LRP rule '" + rule.name + "'; it has: norm");
  if (!R.defined()) return {Tensor(x.shape(), x.dtype(), x.device())};
  const Tensor x4 = as_4d(x);
  const Tensor z = ops::avgpool2d_forward(x4, geom_, divisor());  // P x
  const Tensor s = ops::div(R.reshape(z.shape()), ops::stabilize(z, rule.stabilizer));
  return {ops::mul(x4, ops::avgpool2d_backward(s, x4.shape(), geom_, divisor())).reshape(x.shape())};
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration avgpool_basic{
    {"AvgPool2d/2x2", [](Rng& rng) {
       return LayerExample{std::make_shared<AvgPool2d>(2), {random_tensor({2, 3, 4, 6}, rng)}};
     }}};
LayerExampleRegistration avgpool_pad_ceil{
    {"AvgPool2d/3x3-stride2-pad1-ceil-include-pad", [](Rng& rng) {
       return LayerExample{std::make_shared<AvgPool2d>(3, 2, 1, true, true), {random_tensor({2, 2, 6, 7}, rng)}};
     }}};
LayerExampleRegistration avgpool_exclude{
    {"AvgPool2d/3x3-stride2-pad1-ceil-exclude-pad", [](Rng& rng) {
       return LayerExample{std::make_shared<AvgPool2d>(3, 2, 1, true, false), {random_tensor({2, 2, 6, 7}, rng)}};
     }}};
LayerExampleRegistration avgpool_1d{
    {"AvgPool2d/1d-input", [](Rng& rng) {
       return LayerExample{std::make_shared<AvgPool2d>(AvgPool2d::one_d(3, 2, 1)), {random_tensor({2, 3, 8}, rng)}};
     }}};
}  // namespace
}  // namespace xdnn
