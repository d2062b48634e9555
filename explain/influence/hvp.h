// Exact Hessian-vector products of the mean training loss with respect to ALL parameters, by
// Pearlmutter's R-operator (Pearlmutter 1994, "Fast Exact Multiplication by the Hessian"):
// forward-over-reverse differentiation along a direction v. With R{·} = d/dε (·)(θ + εv) at ε = 0:
//
//   forward   R{y} = J_x R{x} + J_θ V                   every node, by Layer::r_forward (a JVP)
//   seed      R{δ} = (diag p − p pᵀ) R{z}               δ = softmax(z) − onehot(y) at the logits z
//   reverse   R{g_x}, R{g_θ} from g_y, R{g_y}, R{x}, V   every node, by Layer::r_backward
//
// Hv = (1/N) Σ_n R{g_θ}(x_n, y_n): exact to rounding, no finite differences. The per-layer rules live with
// the layers (layers/layer.h; linear-like layers share one default): Linear, Conv2d, ReLU, MaxPool2d,
// AvgPool2d, GlobalAvgPool, Flatten, Add and BatchNorm2d in evaluation mode, so the zoo's MLP, CNN and
// ResNet (DAGs with a residual Add) are covered. Values used by several nodes sum their R{g}.
//
// Supported models: one input, the first output is the logits; every node must have an R-operator.
// The constructor runs one product on the first example, so an unsupported node fails there, with an
// Error naming the node, before any long computation.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/tensor.h"
#include "explain/influence/per_example.h"
#include "models/model.h"

namespace xdnn::influence {

class FullHvp {
 public:
  // x: (N, ...) training inputs, y: int64 (N). Throws when some node has no R-operator.
  FullHvp(Model& model, const Tensor& x, const Tensor& y, int64_t chunk = 256);
  int64_t size() const { return selection_.size; }
  // H V for the k rows of V: (k, P) float64 -> (k, P) float64 on V's device (computed in the model's dtype on
  // the device of x, which may differ from V's: the solvers keep their float64 vectors on the host), H the
  // Hessian of the mean loss over all examples, or over the examples `rows` (LiSSA's mini-batches).
  Tensor apply(const Tensor& V) const;
  Tensor apply(const Tensor& V, const std::vector<int64_t>& rows) const;
  int64_t num_examples() const { return x_.dim(0); }

 private:
  Tensor apply_on(const Tensor& V, const Tensor& x, const Tensor& y) const;
  Tensor apply_one(const Tensor& v, const Tensor& x, const Tensor& y) const;  // (P) -> (P), on v's device
  Model* model_;
  Tensor x_, y_;
  int64_t chunk_;
  Selection selection_;
  std::vector<std::vector<int>> blocks_of_node_;  // per node, per params() entry: block index or -1
};

}  // namespace xdnn::influence
