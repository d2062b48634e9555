#include "layers/reduce_mean.h"

#include "engine/ops.h"

namespace xdnn {

Shape ReduceMean::kept_shape(const Shape& x) const {
  Shape k = x;
  const int64_t n = static_cast<int64_t>(x.size());
  if (axes_.empty()) {
    for (auto& d : k) d = 1;
    return k;
  }
  for (int64_t a : axes_) {
    const int64_t r = a < 0 ? a + n : a;
    if (r < 0 || r >= n) throw Error("ReduceMean: axis " + std::to_string(a) + " out of range for " + shape_str(x));
    k[r] = 1;
  }
  return k;
}

// saved: "x"
Tensors ReduceMean::forward(const Tensors& x, Saved& saved, const ForwardOptions&) {
  const Tensor& t = x.at(0);
  ops::expect_float(t, "ReduceMean input");
  const Shape kept = kept_shape(t.shape());
  const double count = static_cast<double>(t.numel()) / static_cast<double>(shape_numel(kept));
  Tensor y = ops::scale(ops::sum_to_shape(t, kept), 1.0 / count);
  saved.put("x", t);
  if (keepdims_) return {y};
  // Drop the reduced axes (also those of size 1 that were listed).
  Shape out;
  const Shape& xs = t.shape();
  const int64_t n = static_cast<int64_t>(xs.size());
  std::vector<bool> reduced(n, axes_.empty());
  for (int64_t a : axes_) reduced[a < 0 ? a + n : a] = true;
  for (int64_t i = 0; i < n; ++i)
    if (!reduced[i]) out.push_back(xs[i]);
  return {y.reshape(out)};
}

Tensors ReduceMean::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions&) {
  if (!grad_y.at(0).defined()) return {Tensor()};
  const Tensor& x = saved.tensor("x");
  const Shape kept = kept_shape(x.shape());
  const double count = static_cast<double>(x.numel()) / static_cast<double>(shape_numel(kept));
  Tensor g = ops::scale(grad_y[0].reshape(kept), 1.0 / count);
  return {ops::add(Tensor(x.shape(), x.dtype(), x.device()), g)};  // broadcast to x's shape
}

Tensors ReduceMean::relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule) {
  if (!relevance_y.at(0).defined()) return {Tensor()};
  const Tensor& x = saved.tensor("x");
  const Shape kept = kept_shape(x.shape());
  const double count = static_cast<double>(x.numel()) / static_cast<double>(shape_numel(kept));
  // R_i = (x_i / count) / stab(y) · R, with y = Σ x_i / count over the window.
  Tensor y = ops::scale(ops::sum_to_shape(x, kept), 1.0 / count);
  Tensor s = ops::div(relevance_y[0].reshape(kept), ops::stabilize(y, rule.stabilizer));
  return {ops::mul(ops::scale(x, 1.0 / count), s)};
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration rm_keep{{"ReduceMean/keepdims", [](Rng& rng) {
                                    return LayerExample{std::make_shared<ReduceMean>(std::vector<int64_t>{1}, true),
                                                        {random_tensor({2, 3, 4}, rng)}};
                                  }}};
LayerExampleRegistration rm_drop{{"ReduceMean/drop-axes", [](Rng& rng) {
                                    return LayerExample{
                                        std::make_shared<ReduceMean>(std::vector<int64_t>{0, -1}, false),
                                        {random_tensor({2, 3, 4}, rng)}};
                                  }}};
}  // namespace
}  // namespace xdnn
