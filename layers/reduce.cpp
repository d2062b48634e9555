#include "layers/reduce.h"

#include "engine/ops.h"
#include "engine/ops_onnx.h"

namespace xdnn {

const char* Reduce::kind() const {
  if (first_axis_ >= 0) return op_ == Op::Max ? "GlobalMaxPool" : "GlobalReduce";
  switch (op_) {
    case Op::Sum:
      return "ReduceSum";
    case Op::Max:
      return "ReduceMax";
    case Op::Min:
      return "ReduceMin";
    case Op::Prod:
      return "ReduceProd";
  }
  return "Reduce";
}

Shape Reduce::kept_shape(const Shape& x) const {
  Shape k = x;
  const int64_t n = static_cast<int64_t>(x.size());
  if (first_axis_ >= 0) {
    if (n <= first_axis_) throw Error(std::string(kind()) + ": expects (N, C, spatial...), got " + shape_str(x));
    for (int64_t i = first_axis_; i < n; ++i) k[i] = 1;
    return k;
  }
  if (axes_.empty()) {
    for (auto& d : k) d = 1;
    return k;
  }
  for (int64_t a : axes_) {
    const int64_t r = a < 0 ? a + n : a;
    if (r < 0 || r >= n)
      throw Error(std::string(kind()) + ": axis " + std::to_string(a) + " out of range for " + shape_str(x));
    k[r] = 1;
  }
  return k;
}

namespace {

ops::ReduceOp reduce_op(Reduce::Op op) {
  switch (op) {
    case Reduce::Op::Sum:
      return ops::ReduceOp::Sum;
    case Reduce::Op::Max:
      return ops::ReduceOp::Max;
    case Reduce::Op::Min:
      return ops::ReduceOp::Min;
    case Reduce::Op::Prod:
      break;
  }
  return ops::ReduceOp::Prod;
}

}  // namespace

// saved: "x", "y" (kept shape; the LRP sum rule divides by it), "arg" (I64, kept shape: the first extreme)
Tensors Reduce::forward(const Tensors& x, Saved& saved, const ForwardOptions&) {
  const Tensor& t = x.at(0);
  if (!t.defined()) throw Error(std::string(kind()) + ": input is undefined");
  const Shape kept = kept_shape(t.shape());
  if (t.numel() == 0) throw Error(std::string(kind()) + ": empty input " + t.describe());
  const std::vector<Tensor> y_arg = ops::reduce_axes(reduce_op(op_), t, kept);  // engine/ops_onnx.h
  const Tensor& y = y_arg[0];
  saved.put("x", t);
  saved.put("y", y);
  saved.put("arg", y_arg[1]);
  if (keepdims_ || first_axis_ >= 0) return {y};
  Shape out;
  const int64_t n = t.ndim();
  std::vector<bool> reduced(n, axes_.empty());
  for (int64_t a : axes_) reduced[a < 0 ? a + n : a] = true;
  for (int64_t i = 0; i < n; ++i)
    if (!reduced[i]) out.push_back(t.dim(static_cast<int>(i)));
  return {y.reshape(out)};
}

Tensors Reduce::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions&) {
  const Tensor& x = saved.tensor("x");
  if (!grad_y.at(0).defined() || !x.is_float()) return {Tensor()};
  const Shape kept = kept_shape(x.shape());
  const Tensor g = grad_y[0].reshape(kept);
  if (op_ == Op::Sum) return {ops::add(Tensor(x.shape(), x.dtype(), x.device()), g)};  // broadcast to x's shape
  // Max / Min: g to the first extreme of each group; Prod: g · Π_{j≠i} x_j (exact with zeros).
  return {ops::reduce_axes_backward(reduce_op(op_), x, g, saved.tensor("arg"), kept)};
}

std::vector<std::string> Reduce::relevance_rules() const {
  if (op_ == Op::Sum) return {"norm"};
  if (op_ == Op::Max || op_ == Op::Min) return {"wta"};
  return {};
}

Tensors Reduce::relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule) {
  if (op_ == Op::Prod) return Layer::relevance(relevance_y, saved, rule);  // no rule: the one-line error
  if (!relevance_y.at(0).defined()) return {Tensor()};
  const Tensor& x = saved.tensor("x");
  const Shape kept = kept_shape(x.shape());
  if (op_ == Op::Sum) {  // R_i = x_i / stab(y) · R
    const Tensor s = ops::div(relevance_y[0].reshape(kept), ops::stabilize(saved.tensor("y"), rule.stabilizer));
    return {ops::mul(x, s)};
  }
  return backward(relevance_y, saved, {});  // winner takes all
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration sum_keep{{"Reduce/Sum-keepdims", [](Rng& rng) {
                                     return LayerExample{
                                         std::make_shared<Reduce>(Reduce::Op::Sum, std::vector<int64_t>{1}, true),
                                         {random_tensor({2, 3, 4}, rng)}};
                                   }}};
LayerExampleRegistration max_drop{{"Reduce/Max-drop-axes",
                                   [](Rng& rng) {
                                     return LayerExample{
                                         std::make_shared<Reduce>(Reduce::Op::Max, std::vector<int64_t>{0, -1}, false),
                                         {random_tensor({2, 3, 4}, rng)}};
                                   },
                                   true}};
LayerExampleRegistration min_all{{"Reduce/Min-all",
                                  [](Rng& rng) {
                                    return LayerExample{
                                        std::make_shared<Reduce>(Reduce::Op::Min, std::vector<int64_t>{}, true),
                                        {random_tensor({3, 4}, rng)}};
                                  },
                                  true}};
LayerExampleRegistration global_max{{"Reduce/GlobalMaxPool",
                                     [](Rng& rng) {
                                       return LayerExample{
                                           std::make_shared<Reduce>(Reduce::Op::Max, std::vector<int64_t>{}, true, 2),
                                           {random_tensor({2, 3, 2, 3}, rng)}};
                                     },
                                     true}};
LayerExampleRegistration prod{{"Reduce/Prod", [](Rng& rng) {
                                 return LayerExample{
                                     std::make_shared<Reduce>(Reduce::Op::Prod, std::vector<int64_t>{-1}, false),
                                     {random_tensor({2, 3, 4}, rng, 0.5, 1.5)}};
                               }}};
}  // namespace
}  // namespace xdnn
