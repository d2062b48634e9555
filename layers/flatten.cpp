#include "layers/flatten.h"

namespace xdnn {

Shape Flatten::output_shape(const Shape& x) const {
  const int n = static_cast<int>(x.size());
  const int s = start_ < 0 ? start_ + n : start_, e = end_ < 0 ? end_ + n : end_;
  if (s < 0 || e >= n || s > e)
    throw Error("Flatten: axes [" + std::to_string(start_) + ", " + std::to_string(end_) + "] do not fit input " +
                shape_str(x));
  Shape y(x.begin(), x.begin() + s);
  int64_t merged = 1;
  for (int i = s; i <= e; ++i) merged *= x[i];
  y.push_back(merged);
  y.insert(y.end(), x.begin() + e + 1, x.end());
  return y;
}

// saved: "x" (only its shape is used; the tensor shares storage, so keeping it costs nothing)
Tensors Flatten::forward(const Tensors& x, Saved& saved, const ForwardOptions&) {
  if (!x.at(0).defined()) throw Error("Flatten: input is undefined");
  saved.put("x", x[0]);
  return {x[0].reshape(output_shape(x[0].shape()))};
}

Tensors Flatten::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions&) {
  if (!grad_y.at(0).defined()) return {Tensor()};
  return {grad_y[0].reshape(saved.tensor("x").shape())};
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration flatten_default{
    {"Flatten/start1", [](Rng& rng) {
       return LayerExample{std::make_shared<Flatten>(), {random_tensor({2, 3, 2, 2}, rng)}};
     }}};
LayerExampleRegistration flatten_middle{
    {"Flatten/axes1-2", [](Rng& rng) {
       return LayerExample{std::make_shared<Flatten>(1, 2), {random_tensor({2, 3, 2, 2}, rng)}};
     }}};
}  // namespace
}  // namespace xdnn
