#include "layers/shape_ops.h"

#include <algorithm>
#include <cmath>

#include "engine/ops_fill.h"
#include "layers/reshape.h"

namespace xdnn {

Tensors ShapeOf::forward(const Tensors& x, Saved&, const ForwardOptions&) {
  if (!x.at(0).defined()) throw Error("Shape: input is undefined");
  const int64_t n = x[0].ndim();
  int64_t s = start_ < 0 ? start_ + n : start_, e = end_ < 0 ? end_ + n : end_;
  s = std::clamp<int64_t>(s, 0, n), e = std::clamp<int64_t>(e, 0, n);
  std::vector<int64_t> dims;
  for (int64_t i = s; i < e; ++i) dims.push_back(x[0].dim(static_cast<int>(i)));
  return {Tensor::from_vector({static_cast<int64_t>(dims.size())}, dims)};
}

Tensors ShapeOf::backward(const Tensors&, const Saved&, const BackwardOptions&) { return {Tensor()}; }

Tensors ConstantOfShape::forward(const Tensors& x, Saved&, const ForwardOptions&) {
  const std::vector<int64_t> shape = int_list(x.at(0), "ConstantOfShape shape");
  const Tensor& fill = x.at(1);
  if (!fill.defined() || fill.numel() != 1) throw Error("ConstantOfShape: the fill value must hold one element");
  // On the fill value's device (a float constant lives where the model does), its one value read back.
  return {ops::full(Shape(shape), ops::value_vector(fill)[0], fill.dtype(), fill.device())};
}

Tensors ConstantOfShape::backward(const Tensors&, const Saved&, const BackwardOptions&) { return {Tensor(), Tensor()}; }

// saved: "x" (its dtype), and the number of "inputs" (one gradient each)
Tensors Cast::forward(const Tensors& x, Saved& saved, const ForwardOptions&) {
  if (!x.at(0).defined()) throw Error("Cast: input is undefined");
  const DType to = x.size() > 1 && x[1].defined() ? x[1].dtype() : to_;
  saved.put("x", x[0]);
  saved.set_int("inputs", static_cast<int64_t>(x.size()));
  if (x[0].dtype() == to) return {x[0]};
  if (to == DType::I64 && x[0].is_float()) {  // truncation toward zero, as ONNX Cast float -> int
    Tensor y(x[0].shape(), DType::I64);
    for (int64_t i = 0, i_end = y.numel(); i < i_end; ++i) {
      const double v = x[0].item(i);
      if (!(std::abs(v) < 9.2e18)) throw Error("Cast: value " + std::to_string(v) + " does not fit int64");
      y.data<int64_t>()[i] = static_cast<int64_t>(v);
    }
    return {y};
  }
  return {x[0].to(to)};
}

Tensors Cast::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions&) {
  Tensors gx(saved.get_int("inputs"));
  const Tensor& x = saved.tensor("x");
  if (grad_y.at(0).defined() && x.is_float() && grad_y[0].is_float()) gx[0] = grad_y[0].to(x.dtype());
  return gx;
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
// The float path of Cast is the only one with a gradient; the int64 layers are checked in tests/test_onnx.cpp.
LayerExampleRegistration cast_float{
    {"Cast/float64-to-float64", [](Rng& rng) {
       return LayerExample{std::make_shared<Cast>(DType::F64), {random_tensor({2, 3}, rng)}};
     }}};
}  // namespace
}  // namespace xdnn
