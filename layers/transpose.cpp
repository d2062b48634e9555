#include "layers/transpose.h"

#include "engine/ops.h"

namespace xdnn {

std::vector<int64_t> Transpose::perm_for(int rank) const {
  if (!perm_.empty()) return perm_;
  std::vector<int64_t> p(rank);
  for (int i = 0; i < rank; ++i) p[i] = rank - 1 - i;
  return p;
}

// saved: "x" (only its rank is used)
Tensors Transpose::forward(const Tensors& x, Saved& saved, const ForwardOptions&) {
  if (!x.at(0).defined()) throw Error("Transpose: input is undefined");
  saved.put("x", x[0]);
  return {ops::transpose_axes(x[0], perm_for(x[0].ndim()))};
}

Tensors Transpose::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions&) {
  if (!grad_y.at(0).defined()) return {Tensor()};
  const auto p = perm_for(saved.tensor("x").ndim());
  std::vector<int64_t> inv(p.size());
  for (size_t i = 0; i < p.size(); ++i) inv[p[i]] = static_cast<int64_t>(i);
  return {ops::transpose_axes(grad_y[0], inv)};
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration transpose_example{
    {"Transpose/3d", [](Rng& rng) {
       return LayerExample{std::make_shared<Transpose>(std::vector<int64_t>{1, 2, 0}), {random_tensor({2, 3, 4}, rng)}};
     }}};
}  // namespace
}  // namespace xdnn
