#include "layers/token_pooling.h"

#include "engine/ops.h"
#include "engine/ops_fill.h"

namespace xdnn {

namespace {

void expect_tokens(const Tensor& x, const char* who) {
  ops::expect_float(x, who);
  if (x.ndim() != 3 || x.dim(1) < 1) throw Error(std::string(who) + ": expected input (N, T, d), got " + x.describe());
}

}  // namespace

// Saved: {x, w (N, T, 1) pooling weights, y, [lengths]}.
Tensors MeanTokenPooling::forward(const Tensors& in, Saved& saved, const ForwardOptions&) {
  const Tensor& x = in.at(0);
  expect_tokens(x, "MeanTokenPooling");
  const int64_t N = x.dim(0), T = x.dim(1), d = x.dim(2);
  const Tensor lengths = in.size() > 1 ? in[1] : Tensor();
  if (lengths.defined() && (lengths.dtype() != DType::I64 || lengths.numel() != N))
    throw Error("MeanTokenPooling: expected lengths int64 (" + std::to_string(N) + "), got " + lengths.describe());
  // Pooling weights w (N, T, 1): 1/len on the valid steps (every step without lengths), 0 after.
  const Tensor w =
      lengths.defined()
          ? ops::length_mask(lengths.reshape({N}), T, false, true, 1, x.dtype(), "MeanTokenPooling").reshape({N, T, 1})
          : Tensor::full({N, T, 1}, 1.0 / static_cast<double>(T), x.dtype()).to(x.device());
  Tensor y = ops::sum_to_shape(ops::mul(x, w), {N, 1, d}).reshape({N, d});
  // saved: "x", the token weights "w" (N, T, 1), "y" (the LRP rule) and the number of "inputs" (one gradient each)
  saved.put("x", x);
  saved.put("w", w);
  saved.put("y", y);
  saved.set_int("inputs", static_cast<int64_t>(in.size()));
  return {y};
}

Tensors MeanTokenPooling::backward(const Tensors& gy, const Saved& saved, const BackwardOptions&) {
  const Tensor &x = saved.tensor("x"), &w = saved.tensor("w");
  Tensors out(saved.get_int("inputs"));
  if (gy.at(0).defined()) out[0] = ops::mul(w, gy[0].reshape({x.dim(0), 1, x.dim(2)}));
  return out;
}

Tensors MeanTokenPooling::relevance(const Tensors& ry, const Saved& saved, const Rule& rule) {
  if (rule.name != "epsilon")
    throw Error("layer kind MeanTokenPooling has no LRP rule '" + rule.name + "'; it has: epsilon");
  const Tensor &x = saved.tensor("x"), &w = saved.tensor("w"), &y = saved.tensor("y");
  Tensors out(saved.get_int("inputs"));
  if (!ry.at(0).defined()) return out;
  const Tensor s = ops::div(ry[0], ops::stabilize(y, rule.epsilon)).reshape({x.dim(0), 1, x.dim(2)});
  out[0] = ops::mul(x, ops::mul(w, s));
  return out;
}

Tensors FirstTokenPooling::forward(const Tensors& in, Saved& saved, const ForwardOptions&) {
  const Tensor& x = in.at(0);
  expect_tokens(x, "FirstTokenPooling");
  saved.set_ints("x_shape", {x.dim(0), x.dim(1), x.dim(2)});  // (N, T, d): the gradient's shape
  return {ops::permute_axes(x, {1, 0, 2}).slice_batch(0, 1).reshape({x.dim(0), x.dim(2)}).clone()};
}

Tensors FirstTokenPooling::backward(const Tensors& gy, const Saved& saved, const BackwardOptions&) {
  if (!gy.at(0).defined()) return {Tensor()};
  const std::vector<int64_t>& s = saved.get_ints("x_shape");
  Tensor gx({s[1], s[0], s[2]}, gy[0].dtype(), gy[0].device());  // time-major, then back
  gx.slice_batch(0, 1).copy_from(gy[0]);
  return {ops::permute_axes(gx, {1, 0, 2})};
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration mean_pool{
    {"MeanTokenPooling", [](Rng& rng) {
       return LayerExample{std::make_shared<MeanTokenPooling>(), {random_tensor({2, 4, 3}, rng)}};
     }}};
LayerExampleRegistration mean_pool_len{
    {"MeanTokenPooling/lengths", [](Rng& rng) {
       return LayerExample{std::make_shared<MeanTokenPooling>(),
                           {random_tensor({2, 4, 3}, rng), Tensor::from_vector({2}, std::vector<int64_t>{2, 4})}};
     }}};
LayerExampleRegistration first_pool{
    {"FirstTokenPooling", [](Rng& rng) {
       return LayerExample{std::make_shared<FirstTokenPooling>(), {random_tensor({2, 4, 3}, rng)}};
     }}};
}  // namespace
}  // namespace xdnn
