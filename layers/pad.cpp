#include "layers/pad.h"

#include <algorithm>

#include "layers/reshape.h"

namespace xdnn {

Pad Pad::same(std::vector<int64_t> kernel, std::vector<int64_t> stride, std::vector<int64_t> dilation, bool upper,
              double value) {
  Pad p(ops::PadMode::Constant, {}, value);
  p.same_kernel_ = std::move(kernel), p.same_stride_ = std::move(stride), p.same_dilation_ = std::move(dilation);
  p.same_upper_ = upper;
  return p;
}

std::vector<int64_t> Pad::same_pads(const Shape& x) const {
  const size_t n = x.size(), k = same_kernel_.size();
  if (n < k)
    throw Error("Pad (auto_pad SAME): input " + shape_str(x) + " has fewer than " + std::to_string(k) + " axes");
  std::vector<int64_t> pads(2 * n, 0);
  for (size_t i = 0; i < k; ++i) {
    const int64_t in = x[n - k + i], s = same_stride_[i];
    const int64_t out = (in + s - 1) / s;
    const int64_t total = std::max<int64_t>(0, (out - 1) * s + (same_kernel_[i] - 1) * same_dilation_[i] + 1 - in);
    const int64_t small = total / 2, big = total - small;
    pads[n - k + i] = same_upper_ ? small : big;
    pads[2 * n - k + i] = same_upper_ ? big : small;
  }
  return pads;
}

// saved: "x", the "pads" used (2n), and the number of "inputs" (the run-time pads input gets no gradient)
Tensors Pad::forward(const Tensors& x, Saved& saved, const ForwardOptions&) {
  const Tensor& t = x.at(0);
  if (!t.defined()) throw Error("Pad: input is undefined");
  std::vector<int64_t> pads = pads_;
  if (x.size() > 1 && x[1].defined()) pads = int_list(x[1], "Pad pads");
  if (!same_kernel_.empty()) pads = same_pads(t.shape());
  if (!axes_.empty()) {  // pads of the listed axes only: spread over all axes, zero elsewhere
    const size_t m = axes_.size();
    const int64_t n = t.ndim();
    if (pads.size() != 2 * m)
      throw Error("Pad: " + std::to_string(pads.size()) + " pads for " + std::to_string(m) + " axes, expected " +
                  std::to_string(2 * m));
    std::vector<int64_t> full(2 * n, 0);
    for (size_t k = 0; k < m; ++k) {
      const int64_t a = axes_[k] < 0 ? axes_[k] + n : axes_[k];
      if (a < 0 || a >= n) throw Error("Pad: axis " + std::to_string(axes_[k]) + " out of range for " + t.describe());
      full[a] = pads[k], full[a + n] = pads[k + m];
    }
    pads = full;
  }
  if (pads.size() != 2 * static_cast<size_t>(t.ndim()))
    throw Error("Pad: " + std::to_string(pads.size()) + " pads for input " + t.describe() + ", expected " +
                std::to_string(2 * t.ndim()));
  const std::vector<int64_t> begin(pads.begin(), pads.begin() + t.ndim()), end(pads.begin() + t.ndim(), pads.end());
  saved.put("x", t);
  saved.set_ints("pads", pads);
  saved.set_int("inputs", x.size() > 1 ? 2 : 1);
  return {ops::pad_axes(t, begin, end, mode_, value_)};
}

Tensors Pad::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions&) {
  Tensors gx(saved.get_int("inputs"));
  const Tensor& x = saved.tensor("x");
  if (!grad_y.at(0).defined() || !x.is_float()) return gx;
  const std::vector<int64_t>& pads = saved.get_ints("pads");
  const std::vector<int64_t> begin(pads.begin(), pads.begin() + x.ndim()), end(pads.begin() + x.ndim(), pads.end());
  gx[0] = ops::pad_axes_backward(grad_y[0], begin, end, mode_, x.shape());
  return gx;
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration pad_constant{
    {"Pad/constant", [](Rng& rng) {
       return LayerExample{std::make_shared<Pad>(ops::PadMode::Constant, std::vector<int64_t>{0, 1, 2, 0, 2, -1}, 0.5),
                           {random_tensor({2, 3, 4}, rng)}};
     }}};
LayerExampleRegistration pad_reflect{
    {"Pad/reflect", [](Rng& rng) {
       return LayerExample{std::make_shared<Pad>(ops::PadMode::Reflect, std::vector<int64_t>{0, 2, 1, 0, 1, 3}),
                           {random_tensor({2, 3, 4}, rng)}};
     }}};
LayerExampleRegistration pad_same{{"Pad/same-upper-stride2", [](Rng& rng) {
                                     return LayerExample{
                                         std::make_shared<Pad>(Pad::same({3, 2}, {2, 2}, {1, 2}, true, 0.0)),
                                         {random_tensor({2, 1, 5, 6}, rng)}};
                                   }}};
LayerExampleRegistration pad_edge{
    {"Pad/edge", [](Rng& rng) {
       return LayerExample{std::make_shared<Pad>(ops::PadMode::Edge, std::vector<int64_t>{0, 2, 1, 0, 1, 3}),
                           {random_tensor({2, 3, 4}, rng)}};
     }}};
}  // namespace
}  // namespace xdnn
