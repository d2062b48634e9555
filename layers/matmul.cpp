#include "layers/matmul.h"

#include "engine/ops.h"
#include "layers/binary.h"

namespace xdnn {

namespace {

// Operands viewed as 3-D stacks with their batch broadcast.
struct Plan {
  Tensor a3, b3;                // (Ba, M, K), (Bb, K, N)
  Shape batch;                  // broadcast batch shape
  Shape y_shape;                // final output shape (1-D operands' axes dropped)
  std::vector<int64_t> ia, ib;  // per output batch entry: the a / b stack index
  int64_t M = 0, K = 0, N = 0;
};

Plan plan(const Tensor& a, const Tensor& b) {
  if (a.ndim() < 1 || b.ndim() < 1) throw Error("MatMul: operands must have at least one axis");
  Shape as = a.shape(), bs = b.shape();
  const bool a1 = as.size() == 1, b1 = bs.size() == 1;
  if (a1) as.insert(as.begin(), 1);
  if (b1) bs.push_back(1);
  Plan p;
  p.M = as[as.size() - 2], p.K = as.back(), p.N = bs.back();
  if (bs[bs.size() - 2] != p.K) throw Error("MatMul: inner sizes differ: " + a.describe() + " @ " + b.describe());
  const Shape abatch(as.begin(), as.end() - 2), bbatch(bs.begin(), bs.end() - 2);
  p.batch = broadcast_shapes(abatch, bbatch);
  p.a3 = a.reshape({shape_numel(abatch), p.M, p.K});
  p.b3 = b.reshape({shape_numel(bbatch), p.K, p.N});
  const int64_t B = shape_numel(p.batch), n = static_cast<int64_t>(p.batch.size());
  auto index_in = [&](const Shape& s, int64_t flat) {  // broadcast index of output batch entry into s
    int64_t off = 0, stride = 1;
    for (int64_t d = n - 1, k = static_cast<int64_t>(s.size()) - 1; d >= 0; --d, --k) {
      const int64_t c = flat % p.batch[d];
      flat /= p.batch[d];
      if (k >= 0) {
        if (s[k] != 1) off += c * stride;
        stride *= s[k];
      }
    }
    return off;
  };
  for (int64_t t = 0; t < B; ++t) p.ia.push_back(index_in(abatch, t)), p.ib.push_back(index_in(bbatch, t));
  p.y_shape = p.batch;
  if (!a1) p.y_shape.push_back(p.M);
  if (!b1) p.y_shape.push_back(p.N);
  return p;
}

Tensor mat(const Tensor& t3, int64_t i) { return t3.slice_batch(i, i + 1).reshape({t3.dim(1), t3.dim(2)}); }

}  // namespace

// saved: "a", "b" (for backward), "y" (the LRP rule divides by it)
Tensors MatMul::forward(const Tensors& x, Saved& saved, const ForwardOptions&) {
  const Tensor &a = x.at(0), &b = x.at(1);
  ops::expect_float(a, "MatMul a");
  ops::expect_float(b, "MatMul b");
  ops::expect_same_dtype(a, b, "MatMul operands");
  Plan p = plan(a, b);
  const int64_t B = static_cast<int64_t>(p.ia.size());
  Tensor y({B, p.M, p.N}, a.dtype(), a.device());
  for (int64_t t = 0; t < B; ++t) {
    Tensor yt = mat(y, t);
    ops::matmul_into(mat(p.a3, p.ia[t]), mat(p.b3, p.ib[t]), yt, false, false, 1.0, 0.0);
  }
  y = y.reshape(p.y_shape);
  saved.put("a", a);
  saved.put("b", b);
  saved.put("y", y);
  return {y};
}

Tensors MatMul::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions&) {
  const Tensor &a = saved.tensor("a"), &b = saved.tensor("b");
  if (!grad_y.at(0).defined()) return {Tensor(), Tensor()};
  Plan p = plan(a, b);
  const int64_t B = static_cast<int64_t>(p.ia.size());
  const Tensor g = grad_y[0].reshape({B, p.M, p.N});
  Tensor ga(p.a3.shape(), a.dtype(), a.device()), gb(p.b3.shape(), b.dtype(), b.device());
  for (int64_t t = 0; t < B; ++t) {  // batch entries in order: broadcast sums are deterministic
    Tensor gat = mat(ga, p.ia[t]), gbt = mat(gb, p.ib[t]);
    ops::matmul_into(mat(g, t), mat(p.b3, p.ib[t]), gat, false, true, 1.0, 1.0);  // (M,N)(N,K)
    ops::matmul_into(mat(p.a3, p.ia[t]), mat(g, t), gbt, true, false, 1.0, 1.0);  // (K,M)(M,N)
  }
  return {ga.reshape(a.shape()), gb.reshape(b.shape())};
}

Tensors MatMul::relevance(const Tensors& ry, const Saved& saved, const Rule& rule) {
  const bool cp = rule.name == "cp" && probabilities_operand >= 0;
  if (rule.name != "epsilon" && !cp)
    throw Error("layer kind MatMul has no LRP rule '" + rule.name + "'; it has: epsilon (AttnLRP uniform rule)" +
                (probabilities_operand >= 0 ? ", cp (CP-LRP)" : ""));
  if (!ry.at(0).defined()) return {Tensor(), Tensor()};
  const Tensor &a = saved.tensor("a"), &b = saved.tensor("b"), &y = saved.tensor("y");
  const Tensor s = ops::div(ry[0], ops::stabilize(y, rule.epsilon));
  // s bᵀ and aᵀ s are the input gradients for g_y = s (broadcast batch entries summed, a is the same in
  // each of them, so a ⊙ Σ = Σ a ⊙).
  const Tensors g = backward({s}, saved, BackwardOptions{});
  if (cp) {  // R_v = v ⊙ Pᵀ s, the probabilities get nothing
    Tensors out(2);
    const int v = 1 - probabilities_operand;
    out[v] = ops::mul(v == 0 ? a : b, g.at(v));
    return out;
  }
  return {ops::scale(ops::mul(a, g[0]), 0.5), ops::scale(ops::mul(b, g[1]), 0.5)};
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration mm_batched{
    {"MatMul/broadcast-batch", [](Rng& rng) {
       return LayerExample{std::make_shared<MatMul>(), {random_tensor({2, 3, 4}, rng), random_tensor({4, 5}, rng)}};
     }}};
LayerExampleRegistration mm_4d{{"MatMul/4d-broadcast", [](Rng& rng) {
                                  return LayerExample{
                                      std::make_shared<MatMul>(),
                                      {random_tensor({2, 1, 3, 4}, rng), random_tensor({3, 4, 2}, rng)}};
                                }}};
LayerExampleRegistration mm_vec{
    {"MatMul/vector", [](Rng& rng) {
       return LayerExample{std::make_shared<MatMul>(), {random_tensor({4}, rng), random_tensor({2, 4, 3}, rng)}};
     }}};
}  // namespace
}  // namespace xdnn
