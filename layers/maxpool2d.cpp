#include "layers/maxpool2d.h"

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

// saved: {x, argmax (I64, shape of the 4-D output)}
std::vector<Tensor> MaxPool2d::forward(const std::vector<Tensor>& x, Saved& saved, const ForwardOptions&) {
  Tensor argmax;
  Tensor y = ops::maxpool2d_forward(as_4d(x.at(0)), geom_, argmax);
  saved.tensors = {x[0], argmax};
  if (x[0].ndim() == 3) return {y.reshape({y.dim(0), y.dim(1), y.dim(3)})};
  return {y};
}

std::vector<Tensor> MaxPool2d::backward(const std::vector<Tensor>& grad_y, const Saved& saved, const BackwardOptions&) {
  if (!grad_y.at(0).defined()) return {Tensor()};
  const Tensor& x = saved.tensors.at(0);
  const Tensor& argmax = saved.tensors.at(1);
  const Tensor x4 = as_4d(x);
  return {ops::maxpool2d_backward(grad_y[0].reshape(argmax.shape()), argmax, x4.shape()).reshape(x.shape())};
}

std::vector<Tensor> MaxPool2d::relevance(const std::vector<Tensor>& relevance_y, const Saved& saved, const Rule& rule) {
  const Tensor& x = saved.tensors.at(0);
  const Tensor& R = relevance_y.at(0);
  if (!R.defined()) return {Tensor(x.shape(), x.dtype())};
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
