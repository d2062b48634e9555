// Exact Hessian-vector products of the mean training loss with respect to ALL parameters, by
// Pearlmutter's R-operator (Pearlmutter 1994, "Fast Exact Multiplication by the Hessian"):
// forward-over-reverse differentiation along a direction v. With R{·} = d/dε (·)(θ + εv) at ε = 0:
//
//   forward   R{y} = W ⋆ R{x} + V_W ⋆ x + V_b           linear-like node y = W ⋆ x + b
//             R{y} = R{x} ⊙ [x > 0]                     ReLU (piecewise linear: no curvature term a.e.)
//             R{y} = reshape(R{x})                      Flatten / Reshape / Identity
//   seed      R{δ} = (diag p − p pᵀ) R{z}               δ = softmax(z) − onehot(y) at the logits z
//   reverse   R{g_x} = Wᵀ ⋆ R{g_y} + V_Wᵀ ⋆ g_y,   R{g_W} = gradW(R{g_y}, x) + gradW(g_y, R{x}),
//             R{g_b} = gradb(R{g_y})   (the weight gradient is bilinear in (g_y, x): the layer's own
//             backward pass with ParamGrad::Accumulate evaluates both terms)
//             R{g_x} = R{g_y} ⊙ [x > 0]                 ReLU
//
// Hv = (1/N) Σ_n R{g_θ}(x_n, y_n): exact to rounding, no finite differences.
//
// Supported models (checked up front, Error naming the first unsupported node otherwise): a chain of
// single-input nodes — linear-like nodes (Linear, Conv), "ReLU", "Flatten", "Reshape", "Identity" — i.e.
// MLPs (and pooling-free CNNs). Max-pooling, normalisation, attention and recurrent layers are not
// supported by this route (their forward-mode derivative is not reachable through the layer
// interface); use --params last-layer for those models.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/tensor.h"
#include "explain/influence/per_example.h"
#include "models/model.h"

namespace xdnn::influence {

class FullHvp {
 public:
  // x: (N, ...) training inputs, y: int64 (N). Throws when the model is not a supported chain.
  FullHvp(Model& model, const Tensor& x, const Tensor& y, int64_t chunk = 256);
  int64_t size() const { return selection_.size; }
  // H V for the k rows of V: (k, P) float64 -> (k, P) float64 (computed in the model's dtype).
  Tensor apply(const Tensor& V) const;

 private:
  Tensor apply_one(const double* v) const;  // (P) -> (P)
  Model* model_;
  Tensor x_, y_;
  int64_t chunk_;
  Selection selection_;
  std::vector<int> kind_;  // per node: 0 linear-like, 1 ReLU, 2 reshape
};

}  // namespace xdnn::influence
