#include "layers/embedding.h"

#include "engine/ops.h"
#include "engine/ops_fill.h"

namespace xdnn {

Embedding::Embedding(const std::string& name, int64_t num_embeddings, int64_t dim, DType dtype) {
  weight_ = {name + ".weight", Tensor({num_embeddings, dim}, dtype), {}};
}

Embedding::Embedding(const std::string& param_name, const Tensor& table) {
  if (!table.is_float() || table.ndim() != 2)
    throw Error("Embedding '" + param_name + "': expected a float (V, d) table, got " + table.describe());
  weight_ = {param_name, table, {}};
}

void Embedding::init(Rng& rng) { ops::fill_normal_inplace(weight_.value, 0.0, 1.0, rng); }

Tensors Embedding::forward(const Tensors& x, Saved& saved, const ForwardOptions&) {
  const Tensor& ids = x.at(0);
  if (!ids.defined() || ids.dtype() != DType::I64)
    throw Error("Embedding '" + weight_.name + "': expected int64 token ids, got " +
                (ids.defined() ? ids.describe() : std::string("nothing")));
  saved.put("ids", ids);  // the rows the weight gradient scatters into
  try {
    return {ops::gather_rows(weight_.value, ids)};
  } catch (const Error& e) {
    throw Error("Embedding '" + weight_.name + "': " + e.what());
  }
}

Tensors Embedding::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) {
  const Tensor& ids = saved.tensor("ids");
  const Tensor& g = grad_y.at(0);
  if (!g.defined()) return {Tensor()};
  const int64_t V = num_embeddings(), d = dim();
  if (opt.param_grad == ParamGrad::Accumulate) {
    if (!weight_.grad.defined()) weight_.grad = Tensor({V, d}, weight_.value.dtype(), weight_.value.device());
    ops::add_inplace(weight_.grad, ops::scatter_add_rows(g, ids, V));
  } else if (opt.param_grad == ParamGrad::PerExample) {
    // One scatter per sample: (N, V, d), mostly zeros for a large vocabulary.
    const int64_t N = ids.ndim() ? ids.dim(0) : 1;
    weight_.grad = Tensor({N, V, d}, weight_.value.dtype(), weight_.value.device());
    for (int64_t n = 0; n < N; ++n)
      weight_.grad.slice_batch(n, n + 1).copy_from(
          ops::scatter_add_rows(g.slice_batch(n, n + 1), ids.slice_batch(n, n + 1), V));
  }
  return {Tensor()};  // ids are not differentiable
}

Tensors Embedding::relevance(const Tensors&, const Saved&, const Rule&) { return {Tensor()}; }

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration embedding_example{
    {"Embedding", [](Rng& rng) {
       auto layer = std::make_shared<Embedding>("embedding", 7, 3, DType::F64);
       layer->init(rng);
       Tensor ids = Tensor::from_vector({2, 4}, std::vector<int64_t>{0, 3, 3, 6, 1, 1, 5, 2});
       return LayerExample{layer, {ids}};
     }}};
}  // namespace
}  // namespace xdnn
