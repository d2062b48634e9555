#include "layers/pad.h"

#include "layers/reshape.h"

namespace xdnn {

// saved: {x, pads as int64 (2n)} and an undefined marker when the pads came as an input
std::vector<Tensor> Pad::forward(const std::vector<Tensor>& x, Saved& saved, const ForwardOptions&) {
  const Tensor& t = x.at(0);
  ops::expect_float(t, "Pad input");
  std::vector<int64_t> pads = pads_;
  if (x.size() > 1 && x[1].defined()) pads = int_list(x[1], "Pad pads");
  if (pads.size() != 2 * static_cast<size_t>(t.ndim()))
    throw Error("Pad: " + std::to_string(pads.size()) + " pads for input " + t.describe() + ", expected " +
                std::to_string(2 * t.ndim()));
  const std::vector<int64_t> begin(pads.begin(), pads.begin() + t.ndim()), end(pads.begin() + t.ndim(), pads.end());
  saved.tensors = {t, Tensor::from_vector({static_cast<int64_t>(pads.size())}, pads)};
  if (x.size() > 1) saved.tensors.push_back(Tensor());  // marks the second input (pads) for backward
  return {ops::pad_axes(t, begin, end, mode_, value_)};
}

std::vector<Tensor> Pad::backward(const std::vector<Tensor>& grad_y, const Saved& saved, const BackwardOptions&) {
  std::vector<Tensor> gx(saved.tensors.size() == 3 ? 2 : 1);
  const Tensor& x = saved.tensors.at(0);
  if (!grad_y.at(0).defined()) return gx;
  const auto pads = int_list(saved.tensors.at(1), "Pad pads");
  const std::vector<int64_t> begin(pads.begin(), pads.begin() + x.ndim()), end(pads.begin() + x.ndim(), pads.end());
  gx[0] = ops::pad_axes_backward(grad_y[0], begin, end, mode_, x.shape());
  return gx;
}

std::vector<Tensor> Pad::relevance(const std::vector<Tensor>& relevance_y, const Saved& saved, const Rule&) {
  return backward(relevance_y, saved, {});
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
LayerExampleRegistration pad_edge{
    {"Pad/edge", [](Rng& rng) {
       return LayerExample{std::make_shared<Pad>(ops::PadMode::Edge, std::vector<int64_t>{0, 2, 1, 0, 1, 3}),
                           {random_tensor({2, 3, 4}, rng)}};
     }}};
}  // namespace
}  // namespace xdnn
