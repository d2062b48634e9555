// Training-data influence: which training examples made the model predict what it predicts for a test
// example. Every method scores pairs (test j, train i) from per-example loss gradients g(x, y) (see
// per_example.h for the loss, the parameter sets and the gradient layout); one method per file:
//
//   tracin.cpp              TracInCP (Pruthi et al. 2020, eq. 3): S[j,i] = Σ_c lr_c ⟨g_c(test_j), g_c(train_i)⟩
//   self_influence.cpp      TracIn self-influence (Pruthi et al. 2020, §3.2): s_i = Σ_c lr_c ‖g_c(train_i)‖²
//   grad_dot.cpp            S[j,i] = ⟨g(test_j), g(train_i)⟩ at the last checkpoint
//   grad_cos.cpp            S[j,i] = ⟨g(test_j), g(train_i)⟩ / (‖g(test_j)‖ ‖g(train_i)‖) at the last checkpoint
//   influence_function.cpp  Koh & Liang 2017, eq. 2: I[j,i] = −g(test_j)ᵀ (H + λI)⁻¹ g(train_i), H the exact
//                           Hessian of the mean training loss (last layer: hessian.h; all parameters: hvp.h),
//                           solved by CG (cg.h) or LiSSA (lissa.h)
//
// The training set is streamed in chunks (memory O(chunk · P) for gradients, plus the output); the
// test set's gradients are kept. Scores are computed in the models' dtype (float32 for loaded
// checkpoints; float64 for tests) and returned in it.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tensor.h"
#include "explain/choices.h"
#include "explain/influence/lissa.h"
#include "explain/influence/per_example.h"
#include "models/model.h"

namespace xdnn::influence {

struct InfluenceData {
  Tensor train_x, train_y;  // (n_train, ...) float, int64 (n_train)
  Tensor test_x, test_y;    // (n_test, ...) float, int64 (n_test); unused by self-influence
};

struct InfluenceOptions {
  ParamSet params = ParamSet::All;
  int64_t projection = 0;  // > 0: project gradients to this many dimensions (seeded Gaussian)
  uint64_t seed = 0;       // projection seed
  int64_t chunk = 256;     // training examples per chunk
  // TracIn, Grad-Dot, Grad-Cos and self-influence over a last layer without projection: the factored
  // routes (factored_scores, factored_self_influence); false forces the generic per-example route
  // (tests compare the two).
  bool factored = true;
  bool progress = false;  // progress bar on stderr
  // Several processes computing one S between them (MPI ranks, explain/cli/cluster.h; each scores its own
  // training examples against every test example): the test side is split too, so that no process repeats
  // another's work. Process `rank` of `ranks` computes the test-side factors of its share of the test
  // examples (whole forward batches; the shares contiguous, in rank order), and all_gather(mine) must
  // return every process's bytes in rank order (MPI_Allgatherv), from which each process takes every
  // test example's factors, bit for bit those one process computes. ranks == 1: nothing is split.
  int rank = 0, ranks = 1;
  std::function<std::string(std::string_view mine)> all_gather;
  // Influence functions only.
  double damping = 0.01;  // λ in (H + λI)
  int cg_max_iterations = 500;
  double cg_tolerance = 1e-6;  // stop when ‖r_j‖ ≤ tol · ‖b_j‖ for every right-hand side j
  std::string solver = "cg";   // how (H + λI) s = g(test) is solved: "cg" (conjugate gradients) | "lissa"
  LissaOptions lissa;          // solver "lissa" (lissa.h)
};

// All the checks that must pass before any long computation, each failing with one line:
// checkpoints of one architecture (same parameter names and shapes), one learning rate per checkpoint
// (`lrs` may be empty when the method needs none), float inputs whose per-example shapes agree between
// train and test, int64 (n,) labels inside [0, classes) (classes from a one-example forward pass), and
// a parameter selection that exists. `need_test`: the method reads test_x / test_y.
void validate_inputs(const std::vector<Model*>& checkpoints, const std::vector<double>* lrs, const InfluenceData& data,
                     const InfluenceOptions& opt, bool need_test);

// Σ_c w_c G_c(test) G_c(train)ᵀ, optionally cosine-normalised per checkpoint (the engine behind
// tracin, grad-dot and grad-cos). Returns (n_test, n_train).
Tensor pairwise_scores(const std::vector<Model*>& checkpoints, const std::vector<double>& weights,
                       const InfluenceData& data, const InfluenceOptions& opt, bool cosine, const std::string& label);

Tensor tracin(const std::vector<Model*>& checkpoints, const std::vector<double>& lrs, const InfluenceData& data,
              const InfluenceOptions& opt);
Tensor grad_dot(const std::vector<Model*>& checkpoints, const InfluenceData& data, const InfluenceOptions& opt);
Tensor grad_cos(const std::vector<Model*>& checkpoints, const InfluenceData& data, const InfluenceOptions& opt);
// (n_train)
Tensor self_influence(const std::vector<Model*>& checkpoints, const std::vector<double>& lrs, const InfluenceData& data,
                      const InfluenceOptions& opt);
// (n_test, n_train), at the last checkpoint; --params last-layer only (see influence_function.cpp).
Tensor influence_function(const std::vector<Model*>& checkpoints, const InfluenceData& data,
                          const InfluenceOptions& opt);

// The registry of influence methods (explain/choices.h): what the CLI's --method, the Python binding and
// the C API accept, and what each needs from its caller.
struct InfluenceMethodInfo {
  std::string name;             // "tracin"
  std::string description;      // one line, for --help
  bool needs_lr = false;        // weights checkpoint c by its learning rate η_c (TracIn)
  bool needs_test = true;       // scores (n_test, n_train); false: one score per training example (n_train)
  bool solves_hessian = false;  // (H + λI)⁻¹: takes --damping and --solver
  bool negative_helps = false;  // its strongest proponents are the most negative scores
  std::function<Tensor(const std::vector<Model*>& checkpoints, const std::vector<double>& lrs,
                       const InfluenceData& data, const InfluenceOptions& opt)>
      run;
};
explain::ChoiceRegistry<InfluenceMethodInfo>& influence_methods();

// A one-line progress bar on stderr ("label [#####     ]  45%  27000/60000  12.3 s"), redrawn at most
// every 0.2 s, only when enabled.
class Progress {
 public:
  Progress(std::string label, int64_t total, bool enabled);
  ~Progress();
  void add(int64_t done);

 private:
  void draw(bool final);
  std::string label_;
  int64_t total_, done_ = 0;
  bool enabled_;
  double start_, last_ = -1;
};

// The last-layer route of pairwise_scores (TracInCP-fast, Pruthi et al. 2020, §3.2; factored_scores.cpp):
//   S = Σ_c w_c (Δ_c Δ'_cᵀ) ⊙ (A_c A'_cᵀ + 1)    Δ, A: test seeds and last-layer inputs; Δ', A': train
// (+ 1 only with a bias), from forward passes alone; `cosine` divides each checkpoint's term by
// ‖g(test_j)‖ ‖g(train_i)‖ = √(‖δ_j‖²(‖a_j‖² + 1)) √(‖δ_i‖²(‖a_i‖² + 1)). Returns an undefined tensor
// (nothing computed) when some checkpoint's selection is not one factored output node
// (GradientComputer::prepare_factors).
// Rows [b, e) of t (n, ...), a contiguous tensor, are this process's; the other processes' rows come from
// opt.all_gather, which returns every process's rows in rank order (the shares are contiguous and ordered,
// so that is t's rows in order). One process (opt.ranks == 1): nothing to do.
void gather_rows(const InfluenceOptions& opt, Tensor& t, int64_t b, int64_t e);

// opt: only its rank / ranks / all_gather are read (the split of the test side).
Tensor factored_scores(const std::vector<Model*>& checkpoints, const std::vector<double>& weights,
                       const InfluenceData& data, bool cosine, Progress& bar,
                       const InfluenceOptions& opt = InfluenceOptions{});
// The last-layer route of self_influence: s_i = Σ_c w_c ‖δ_c,i‖² (‖a_c,i‖² + 1), from forward passes
// alone; undefined under the same condition as factored_scores.
Tensor factored_self_influence(const std::vector<Model*>& checkpoints, const std::vector<double>& weights,
                               const InfluenceData& data, Progress& bar);

}  // namespace xdnn::influence
