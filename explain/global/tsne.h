// t-SNE (van der Maaten & Hinton 2008, "Visualizing Data using t-SNE", JMLR 9) and its Barnes–Hut
// approximation (van der Maaten 2014, "Accelerating t-SNE using Tree-Based Algorithms", JMLR 15), for the
// hidden-layer projections of `xdnn project` and the report's `projection` section.
//
//   input similarities  p_{j|i} = exp(−β_i ‖x_i − x_j‖²) / Σ_{k≠i} exp(−β_i ‖x_i − x_k‖²), β_i found by
//                       binary search so that 2^{H(P_i)} = perplexity (2008 §2, eq. 1 and the entropy H);
//                       exact: over all j; Barnes–Hut: over the ⌊3·perplexity⌋ nearest neighbours only
//                       (2014 §4.1); p_ij = (p_{j|i} + p_{i|j}) / Σ (symmetric SNE, 2008 §3.1)
//   output similarities q_ij = (1 + ‖y_i − y_j‖²)⁻¹ / Z, Z = Σ_{k≠l} (1 + ‖y_k − y_l‖²)⁻¹ (Student t, eq. 4)
//   gradient            ∂C/∂y_i = 4 Σ_j (p_ij − q_ij)(1 + ‖y_i − y_j‖²)⁻¹ (y_i − y_j) (eq. 5), written as
//                       4 (F_attr − F_rep / Z); Barnes–Hut sums F_rep and Z over a quadtree, a cell of width
//                       w at distance d standing for its points when w / d < θ (2014 §4.2)
//   optimisation        gradient descent with momentum (0.5, then 0.8) and per-coordinate gains (+0.2 when
//                       the gradient changes sign against the step, ×0.8 otherwise, at least 0.01; Jacobs
//                       1988, as in the 2008 paper's §3.4), early exaggeration α·p_ij for the first iterations
//   initialisation      PCA (the first two principal components, scaled so the first has sd 1e-4), as
//                       scikit-learn's default, or N(0, 1e-4²) from a seed
// The learning rate defaults to max(N / α / 4, 50) (Belkina et al. 2019; scikit-learn's "auto").
// Deterministic for any thread count: points are independent in every parallel loop, and the sums over
// points (Z, the KL divergence) run in point order on one thread.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace xdnn::explain {

struct TsneOptions {
  double perplexity = 30.0;
  int64_t iterations = 1000;         // in all, exaggerated ones included
  double early_exaggeration = 12.0;  // α
  int64_t exaggeration_iterations = 250;
  double learning_rate = 0.0;  // 0: max(N / α / 4, 50)
  double theta = 0.5;          // Barnes–Hut accuracy θ (0 would be exact, but use exact then)
  int64_t exact_below = 1000;  // N below this: exact P and gradient (O(N²) per iteration)
  std::string init = "pca";    // "pca" or "random"
  uint64_t seed = 0;           // for init = "random"
  int64_t kl_every = 50;       // record the KL divergence every this many iterations (and the last)
};

struct TsneResult {
  Tensor embedding;  // float64 (N, 2)
  bool barnes_hut = false;
  std::vector<int64_t> kl_iterations;  // iterations (1-based) at which kl was recorded
  std::vector<double> kl;              // KL(P‖Q) there, with the un-exaggerated P: Barnes–Hut's estimate of
                                       // Z for Barnes–Hut runs (as scikit-learn reports it), exact otherwise
  double final_kl_exact = 0.0;         // KL(P‖Q) of the final embedding with Q summed exactly over all pairs
  double learning_rate = 0.0;          // the one used
};

// x: (N, F) float data points (rows), N ≥ 2 and perplexity < N − 1 (a point needs more neighbours than its
// perplexity); `what` names x in errors (e.g. "--layer fc1").
TsneResult tsne(const Tensor& x, const TsneOptions& opt, const std::string& what = "data");

// The symmetric input similarities as a sparse matrix (rows i, columns col[k] for row_start[i] ≤ k <
// row_start[i + 1], values val[k]), summing to 1 over all entries; `neighbours` < 0 means all N − 1.
struct SparseP {
  std::vector<int64_t> row_start, col;
  std::vector<double> val;
};
SparseP tsne_input_similarities(const Tensor& x, double perplexity, int64_t neighbours);

// KL(P‖Q) with Q from `y` (N, 2) summed exactly over all pairs (O(N²)).
double tsne_kl_exact(const SparseP& p, const Tensor& y);

// The gradient ∂KL(P‖Q)/∂y, float64 (N, 2), at `y` (N, 2): over all pairs when theta == 0, else Barnes–Hut
// with that θ; `kl` (optional) receives KL(P‖Q) with this evaluation's Z.
Tensor tsne_gradient(const SparseP& p, const Tensor& y, double theta, double* kl = nullptr);

}  // namespace xdnn::explain
