#include "layers/gather.h"

#include "engine/ops.h"

namespace xdnn {

// saved: "data" (its shape), "indices"
Tensors Gather::forward(const Tensors& x, Saved& saved, const ForwardOptions&) {
  if (!x.at(0).defined() || !x.at(1).defined()) throw Error("Gather: missing input");
  // Indices go to the data's device (a host int64 constant indexing device data: a copy to the device).
  const Tensor &data = x[0], idx = x[1].to(data.device());
  const int64_t a = axis_ < 0 ? axis_ + data.ndim() : axis_;
  saved.put("data", data);
  saved.put("indices", idx);
  return {ops::gather_axis(data, idx, a)};
}

Tensors Gather::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions&) {
  const Tensor &data = saved.tensor("data"), &idx = saved.tensor("indices");
  if (!grad_y.at(0).defined() || !data.is_float()) return {Tensor(), Tensor()};
  const int64_t a = axis_ < 0 ? axis_ + data.ndim() : axis_;
  return {ops::gather_axis_backward(grad_y[0], idx, a, data.shape()), Tensor()};
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration gather_example{
    {"Gather/axis1-repeated", [](Rng& rng) {
       return LayerExample{
           std::make_shared<Gather>(1),
           {random_tensor({2, 4, 3}, rng), Tensor::from_vector({2, 2}, std::vector<int64_t>{0, -1, 2, 0})}};
     }}};
}  // namespace
}  // namespace xdnn
