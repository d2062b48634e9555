#include "layers/positional_embedding.h"

#include <cmath>

#include "engine/ops.h"
#include "engine/ops_fill.h"

namespace xdnn {

namespace {

void expect_sequence(const Tensor& x, int64_t max_len, int64_t d, const char* who) {
  ops::expect_float(x, who);
  if (x.ndim() != 3 || x.dim(2) != d || (max_len >= 0 && x.dim(1) > max_len))
    throw Error(std::string(who) + ": expected input (N, T ≤ " + (max_len >= 0 ? std::to_string(max_len) : "any") +
                ", " + std::to_string(d) + "), got " + x.describe());
}

// R_x = x ⊙ R / stab_ε(y): the input's share of a sum y = x + p.
Tensors sum_share(const Tensor& R, const Saved& saved, const Rule& rule, const char* who) {
  if (rule.name != "epsilon")
    throw Error(std::string("layer kind ") + who + " has no LRP rule '" + rule.name + "'; it has: epsilon");
  if (!R.defined()) return {Tensor()};
  const Tensor &x = saved.tensor("x"), &y = saved.tensor("y");
  return {ops::mul(x, ops::div(R, ops::stabilize(y, rule.epsilon)))};
}

}  // namespace

LearnedPositionalEmbedding::LearnedPositionalEmbedding(const std::string& param_name, int64_t max_len, int64_t dim,
                                                       DType dtype) {
  table_ = {param_name, Tensor({max_len, dim}, dtype), {}};
}

LearnedPositionalEmbedding::LearnedPositionalEmbedding(Param table) : table_(std::move(table)) {
  if (table_.value.ndim() != 2)
    throw Error("positional table '" + table_.name + "': expected (max_len, d), got " + table_.value.describe());
}

void LearnedPositionalEmbedding::init(Rng& rng) { ops::fill_normal_inplace(table_.value, 0.0, 0.02, rng); }

Tensors LearnedPositionalEmbedding::forward(const Tensors& in, Saved& saved, const ForwardOptions&) {
  const Tensor& x = in.at(0);
  expect_sequence(x, table_.value.dim(0), table_.value.dim(1), "LearnedPositionalEmbedding");
  ops::expect_same_dtype(x, table_.value, "LearnedPositionalEmbedding input vs table");
  Tensor y = ops::add(x, table_.value.slice_batch(0, x.dim(1)));
  saved.put("x", x);  // x and y = x + p: the LRP rule's share of x
  saved.put("y", y);
  return {y};
}

Tensors LearnedPositionalEmbedding::backward(const Tensors& gy, const Saved& saved, const BackwardOptions& opt) {
  const Tensor& g = gy.at(0);
  if (!g.defined()) return {Tensor()};
  const int64_t N = g.dim(0), T = g.dim(1), L = table_.value.dim(0), d = table_.value.dim(1);
  (void)saved;
  if (opt.param_grad == ParamGrad::Accumulate) {
    if (!table_.grad.defined()) table_.grad = Tensor({L, d}, g.dtype(), g.device());
    Tensor rows = table_.grad.slice_batch(0, T);
    ops::add_inplace(rows, ops::sum_to_shape(g, {1, T, d}));
  } else if (opt.param_grad == ParamGrad::PerExample) {
    table_.grad = Tensor({N, L, d}, g.dtype(), g.device());
    for (int64_t n = 0; n < N; ++n)
      table_.grad.slice_batch(n, n + 1).reshape({L, d}).slice_batch(0, T).copy_from(g.slice_batch(n, n + 1));
  }
  return {g};
}

Tensors LearnedPositionalEmbedding::relevance(const Tensors& ry, const Saved& saved, const Rule& rule) {
  return sum_share(ry.at(0), saved, rule, "LearnedPositionalEmbedding");
}

Tensor SinusoidalPositionalEncoding::table(int64_t T, int64_t d, DType dtype) {
  return ops::sinusoid_table(T, d, dtype, Device::CPU);
}

Tensors SinusoidalPositionalEncoding::forward(const Tensors& in, Saved& saved, const ForwardOptions&) {
  const Tensor& x = in.at(0);
  expect_sequence(x, -1, x.ndim() == 3 ? x.dim(2) : -1, "SinusoidalPositionalEncoding");
  Tensor y = ops::add(x, ops::sinusoid_table(x.dim(1), x.dim(2), x.dtype(), x.device()));
  saved.put("x", x);  // x and y = x + p: the LRP rule's share of x
  saved.put("y", y);
  return {y};
}

Tensors SinusoidalPositionalEncoding::backward(const Tensors& gy, const Saved&, const BackwardOptions&) {
  return {gy.at(0)};
}

Tensors SinusoidalPositionalEncoding::relevance(const Tensors& ry, const Saved& saved, const Rule& rule) {
  return sum_share(ry.at(0), saved, rule, "SinusoidalPositionalEncoding");
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration learned_pos{{"LearnedPositionalEmbedding", [](Rng& rng) {
                                        auto layer =
                                            std::make_shared<LearnedPositionalEmbedding>("pos", 6, 3, DType::F64);
                                        layer->init(rng);
                                        return LayerExample{layer, {random_tensor({2, 4, 3}, rng)}};
                                      }}};
LayerExampleRegistration sinusoidal_pos{
    {"SinusoidalPositionalEncoding", [](Rng& rng) {
       return LayerExample{std::make_shared<SinusoidalPositionalEncoding>(), {random_tensor({2, 4, 6}, rng)}};
     }}};
}  // namespace
}  // namespace xdnn
