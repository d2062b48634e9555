#include "layers/linear.h"

#include <cmath>

#include "engine/ops.h"
#include "engine/ops_fill.h"

namespace xdnn {

Linear::Linear(const std::string& name, int64_t in_features, int64_t out_features, bool bias, DType dtype)
    : in_(in_features), out_(out_features) {
  weight_ = {name + ".weight", Tensor({out_features, in_features}, dtype), {}};
  if (bias) bias_ = {name + ".bias", Tensor({out_features}, dtype), {}};
}

void Linear::init(Rng& rng) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_));
  ops::fill_uniform_inplace(weight_.value, -bound, bound, rng);
  if (bias_.value.defined()) ops::fill_uniform_inplace(bias_.value, -bound, bound, rng);
}

std::vector<Param*> Linear::params() {
  if (bias_.value.defined()) return {&weight_, &bias_};
  return {&weight_};
}

// x: (..., in) viewed as (rows, in); W: (out, in); b: (out) or undefined.
Tensor Linear::linear_forward(const Tensor& x, const Tensor& W, const Tensor& b) const {
  if (x.ndim() < 1 || x.dim(-1) != in_)
    throw Error("Linear: expected input (..., " + std::to_string(in_) + "), got " + x.describe());
  const int64_t rows = x.numel() / in_;
  Tensor y = ops::matmul(x.reshape({rows, in_}), W, false, true);  // (rows, out)
  if (b.defined()) y = ops::add(y, b);
  Shape out_shape = x.shape();
  out_shape.back() = out_;
  return y.reshape(out_shape);
}

Tensor Linear::linear_backward_input(const Tensor& s, const Tensor& W, const Shape& x_shape) const {
  const int64_t rows = shape_numel(x_shape) / in_;
  return ops::matmul(s.reshape({rows, out_}), W).reshape(x_shape);  // (rows, out) (out, in)
}

Tensors Linear::forward(const Tensors& x, Saved& saved, const ForwardOptions&) {
  ops::expect_float(x.at(0), "Linear input");
  ops::expect_same_dtype(x[0], weight_.value, "Linear input vs weight");
  saved.put("x", x[0]);  // the weight gradient and LRP rules read it
  Tensor z = linear_forward(x[0], weight_.value, bias_.value);
  saved.put("z", z);  // LRP rules reuse W x + b instead of computing it again (layers/lrp_rules.cpp)
  return {z};
}

Tensors Linear::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) {
  const Tensor& x = saved.tensor("x");
  if (!grad_y.at(0).defined()) return {Tensor()};
  const int64_t rows = x.numel() / in_;
  const Tensor gy = grad_y[0].reshape({rows, out_});
  const Tensor x2 = x.reshape({rows, in_});
  if (opt.param_grad == ParamGrad::Accumulate) {
    if (!weight_.grad.defined())
      weight_.grad = Tensor(weight_.value.shape(), weight_.value.dtype(), weight_.value.device());
    ops::matmul_into(gy, x2, weight_.grad, true, false, 1.0, 1.0);  // (out, rows) (rows, in)
    if (bias_.value.defined()) {
      if (!bias_.grad.defined()) bias_.grad = Tensor(bias_.value.shape(), bias_.value.dtype(), bias_.value.device());
      ops::add_inplace(bias_.grad, ops::sum_to_shape(gy, {out_}));
    }
  } else if (opt.param_grad == ParamGrad::PerExample) {
    // Per-example gradient of sample n: gy[n]ᵀ x[n], summed over the sample's positions when x has
    // more than two axes. (N, out, in) written as N small GEMMs; no batch-of-one backward passes.
    const int64_t N = x.dim(0), per = rows / N;
    weight_.grad = Tensor({N, out_, in_}, x.dtype(), x.device());
    if (bias_.value.defined()) bias_.grad = Tensor({N, out_}, x.dtype(), x.device());
    for (int64_t n = 0; n < N; ++n) {
      Tensor gw = weight_.grad.slice_batch(n, n + 1).reshape({out_, in_});
      ops::matmul_into(gy.slice_batch(n * per, (n + 1) * per), x2.slice_batch(n * per, (n + 1) * per), gw, true, false,
                       1.0, 0.0);
      if (bias_.value.defined())
        bias_.grad.slice_batch(n, n + 1).copy_from(
            ops::sum_to_shape(gy.slice_batch(n * per, (n + 1) * per), {out_}).reshape({1, out_}));
    }
  }
  if (!opt.input_grad) return {Tensor()};  // parameter gradients only (the first layer when training)
  return {linear_backward_input(grad_y[0], weight_.value, x.shape())};
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration linear_2d{{"Linear/2d", [](Rng& rng) {
                                      auto layer = std::make_shared<Linear>("fc", 5, 3, true, DType::F64);
                                      layer->init(rng);
                                      return LayerExample{layer, {random_tensor({4, 5}, rng)}};
                                    }}};
LayerExampleRegistration linear_3d_nobias{{"Linear/3d-no-bias", [](Rng& rng) {
                                             auto layer = std::make_shared<Linear>("fc", 4, 2, false, DType::F64);
                                             layer->init(rng);
                                             return LayerExample{layer, {random_tensor({2, 3, 4}, rng)}};
                                           }}};
}  // namespace
}  // namespace xdnn
