// Exact curvature of the mean training loss with respect to the last layer, for influence functions.
//
// For softmax cross-entropy on logits z = W h + b, L = logsumexp(z) − z_y, the Hessian wrt z is
// diag(p) − p pᵀ (p = softmax(z)), independent of y; z is linear in (W, b), so with h̃ = [h, 1]
//   H = (1/N) Σ_n (diag(p_n) − p_n p_nᵀ) ⊗ h̃_n h̃_nᵀ                          (exact, no approximation)
// in the (out, in+1) matrix layout of [W | b]. Its product with a vector V (out, in+1) is
//   H V = (1/N) Σ_n a_n h̃_nᵀ,   u_n = V h̃_n,   a_n = p_n ⊙ (u_n − p_n·u_n)
// which never forms H: two GEMMs over the training set per product (for k vectors at once).
//
// Parameter vectors use the layout of per_example.h: [W row-major (out·in), b (out)] (no b when the
// layer has no bias). Supported route: the output node must be fully connected on (N, in) rows — the
// rank-one case GradientComputer probes. Full-model products: hvp.h.
#pragma once
#include <cstdint>

#include "engine/tensor.h"
#include "explain/influence/per_example.h"
#include "models/model.h"

namespace xdnn::influence {

struct LastLayerCurvature {
  Tensor features;  // (N, in [+1]) float64: h̃_n = [h_n, 1] (without the 1 when there is no bias)
  Tensor probs;     // (N, out) float64: softmax of the logits
  int64_t in = 0, out = 0;
  bool bias = true;
  int64_t size() const { return out * in + (bias ? out : 0); }  // P
};

class Progress;

// Runs the model over x in chunks and keeps the last layer's inputs and output probabilities.
// Throws when the output node is not a fully connected layer on (N, in) rows.
LastLayerCurvature last_layer_curvature(Model& model, const Tensor& x, int64_t chunk, Progress* progress = nullptr);

// The explicit Hessian of the mean loss, (P, P) float64 (for small P: tests, diagnostics).
Tensor last_layer_hessian(const LastLayerCurvature& c);

// H V for the k rows of V: (k, P) -> (k, P), float64. Streams over the examples in chunks.
Tensor last_layer_hvp(const LastLayerCurvature& c, const Tensor& V, int64_t chunk = 4096);

}  // namespace xdnn::influence
