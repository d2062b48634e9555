#include "layers/slice.h"

#include <algorithm>

#include "engine/ops.h"
#include "layers/reshape.h"

namespace xdnn {

// saved: "x", per-axis "starts" and "steps" (n each), and the number of "inputs" (one gradient each)
Tensors Slice::forward(const Tensors& x, Saved& saved, const ForwardOptions&) {
  const Tensor& t = x.at(0);
  if (!t.defined()) throw Error("Slice: input is undefined");
  auto pick = [&](size_t i, const std::vector<int64_t>& fallback, const char* what) {
    return x.size() > i && x[i].defined() ? int_list(x[i], what) : fallback;
  };
  const auto starts = pick(1, starts_, "Slice starts"), ends = pick(2, ends_, "Slice ends");
  auto axes = pick(3, axes_, "Slice axes");
  auto steps = pick(4, steps_, "Slice steps");
  if (ends.size() != starts.size()) throw Error("Slice: starts and ends differ in length");
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (axes.size() != starts.size() || steps.size() != starts.size())
    throw Error("Slice: starts, ends, axes and steps differ in length");
  const int n = t.ndim();
  std::vector<int64_t> st(n, 0), sp(n, 1);
  Shape out = t.shape();
  for (size_t k = 0; k < starts.size(); ++k) {
    int64_t a = axes[k] < 0 ? axes[k] + n : axes[k];
    if (a < 0 || a >= n) throw Error("Slice: axis " + std::to_string(axes[k]) + " out of range for " + t.describe());
    const int64_t d = t.dim(static_cast<int>(a)), step = steps[k];
    if (step == 0) throw Error("Slice: step 0");
    int64_t s = starts[k] < 0 ? starts[k] + d : starts[k];
    int64_t e = ends[k] < 0 ? ends[k] + d : ends[k];
    if (step > 0) {
      s = std::clamp<int64_t>(s, 0, d);
      e = std::clamp<int64_t>(e, 0, d);
      out[a] = e > s ? (e - s - 1) / step + 1 : 0;
    } else {
      s = std::clamp<int64_t>(s, 0, d - 1);
      e = std::clamp<int64_t>(e, -1, d - 1);
      out[a] = s > e ? (s - e - 1) / (-step) + 1 : 0;
    }
    st[a] = s, sp[a] = step;
  }
  Tensor y = ops::strided_slice(t, st, sp, out);
  saved.put("x", t);
  saved.set_ints("starts", st);
  saved.set_ints("steps", sp);
  saved.set_int("inputs", static_cast<int64_t>(x.size()));
  return {y};
}

Tensors Slice::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions&) {
  Tensors gx(saved.get_int("inputs"));
  const Tensor& x = saved.tensor("x");
  if (!grad_y.at(0).defined() || !x.is_float()) return gx;
  gx[0] = ops::strided_slice_backward(grad_y[0], saved.get_ints("starts"), saved.get_ints("steps"), x.shape());
  return gx;
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration slice_example{
    {"Slice/steps", [](Rng& rng) {
       return LayerExample{std::make_shared<Slice>(std::vector<int64_t>{1, -1}, std::vector<int64_t>{100, -100},
                                                   std::vector<int64_t>{1, 2}, std::vector<int64_t>{2, -2}),
                           {random_tensor({2, 5, 6}, rng)}};
     }}};
LayerExampleRegistration slice_runtime{
    {"Slice/runtime-bounds", [](Rng& rng) {
       return LayerExample{
           std::make_shared<Slice>(std::vector<int64_t>{}, std::vector<int64_t>{}, std::vector<int64_t>{},
                                   std::vector<int64_t>{}),
           {random_tensor({3, 4}, rng), Tensor::from_vector({1}, std::vector<int64_t>{1}),
            Tensor::from_vector({1}, std::vector<int64_t>{3}), Tensor::from_vector({1}, std::vector<int64_t>{1})}};
     }}};
}  // namespace
}  // namespace xdnn
