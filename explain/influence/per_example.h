// Per-example loss gradients for training-data influence (TracIn, Grad-Dot/Cos, influence functions).
//
// For a model f, inputs x_n and int64 labels y_n, the loss of one example is the cross-entropy of its
// logits, L(x, y) = logsumexp(f(x)) − f_y(x) (natural log, no averaging), and its seed at the logits is
// ∂L/∂f = softmax(f(x)) − onehot(y). g(x, y) is ∂L/∂θ over a chosen parameter set, flattened parameter by
// parameter (selection order, each row-major), so G = [g(x_1, y_1); ...; g(x_N, y_N)] is (N, P).
//
// Per-example gradients come from the layers' native pass (BackwardOptions{param_grad = PerExample}
// gives Param::grad a leading batch axis). One shortcut keeps TracIn over a large training set cheap:
// a fully connected node y = x Wᵀ + b applied to one row per example has the rank-one per-example
// weight gradient g_n = δ_n ⊗ x_n (δ_n = ∂L/∂y_n), so it is kept factored and inner products become
// ⟨δ_a ⊗ x_a, δ_b ⊗ x_b⟩ = (δ_a·δ_b)(x_a·x_b) (the identity behind "ghost norms", Goodfellow 2015).
// Which nodes qualify is not guessed from their kind: a node is used factored only after a probe on one
// example shows that its own per-example pass gives exactly that outer product.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"
#include "models/model.h"

namespace xdnn::influence {

// `all`: every float parameter of the model; `last-layer`: the parameters (weight and bias) of the
// linear-like node that produces the model's (first) output.
enum class ParamSet { All, LastLayer };
ParamSet parse_param_set(const std::string& text);  // "all" | "last-layer", else Error
const char* param_set_name(ParamSet set);

// Checks labels against logits: int64 (N,), each in [0, K). `what` names the data for errors.
void check_labels(const Tensor& labels, int64_t n, int64_t num_classes, const std::string& what);

// logits: (N, K) float; labels: int64 (N). Returns δ = softmax(logits) − onehot(labels), (N, K), in the
// logits' dtype (computed in double). If `losses` is given it receives L per example.
Tensor cross_entropy_seed(const Tensor& logits, const Tensor& labels, std::vector<double>* losses = nullptr);

// One parameter of a selection, at `offset` in the flattened gradient.
struct ParamBlock {
  std::string name;
  Shape shape;
  int node = -1;  // index of the node holding it
  int64_t offset = 0;
  int64_t numel = 0;
  const Param* param = nullptr;  // identity of the parameter (names need not be unique across nodes)
};

struct Selection {
  std::vector<ParamBlock> blocks;
  int64_t size = 0;  // P
  // Parameter names and shapes, for comparing checkpoints ("same architecture").
  std::string signature() const;
};

Selection select_params(Model& model, ParamSet set);

// The per-example gradients of a chunk, block by block (same order as Selection::blocks). A block is
// either dense — `dense` (n, numel) — or rank-one — g_n = vec(left_n ⊗ right_n) with left (n, a),
// right (n, b), numel = a·b (row-major, so left indexes the parameter's first axis).
struct BlockGrad {
  Tensor dense;
  Tensor left, right;
  bool rank_one() const { return left.defined(); }
};

struct ChunkGrads {
  int64_t n = 0;
  std::vector<BlockGrad> blocks;
  Tensor logits;  // (n, K)
  Tensor seed;    // δ at the logits, (n, K)
};

// Gradients laid out for inner products: every dense block side by side in one (n, D) matrix (one GEMM
// instead of one per block), rank-one blocks kept factored.
struct GramFeatures {
  int64_t n = 0;
  Tensor dense;  // (n, D), undefined when every block is rank-one
  std::vector<std::pair<Tensor, Tensor>> rank_one;
};
GramFeatures gram_features(const ChunkGrads& g);

// S = G_a G_bᵀ: (n_a, n_b), in the gradients' dtype.
Tensor gram(const GramFeatures& a, const GramFeatures& b);
Tensor gram(const ChunkGrads& a, const ChunkGrads& b);
// ‖g_n‖², (n), in the gradients' dtype.
Tensor squared_norms(const ChunkGrads& g);
// Dense G of a chunk: (n, P).
Tensor dense_gradients(const ChunkGrads& g);

// The per-example gradients of a last-layer selection kept as factors (Pruthi et al. 2020, §3.2): for an
// output node z = W a + b, g_n = [δ_n ⊗ a_n, δ_n] with δ (n, K) the seed softmax − onehot at the logits
// and a (n, in) the node's input. `bias`: the selection holds b (the δ_n block).
struct LastLayerFactors {
  Tensor delta, act;
  bool bias = false;
};

// Computes per-example gradients of one model chunk by chunk.
class GradientComputer {
 public:
  GradientComputer(Model& model, ParamSet set);
  const Selection& selection() const { return selection_; }
  Model& model() { return *model_; }
  // x: (n, ...) model input; y: int64 (n). n ≥ 1.
  ChunkGrads compute(const Tensor& x, const Tensor& y);
  // Turns off the rank-one shortcut (tests compare both routes).
  void set_factoring(bool on) { factoring_ = on; }

  // Whether factors() gives exactly what compute() gives: the selection is the weight (and bias) of the
  // node that produces the model's output, and compute() on the first (up to two) examples of x, y kept
  // it factored (its rank-one probe passed) with blocks bit-identical to factors() on them. Runs those
  // probes: call it once, on one thread, before factors().
  bool prepare_factors(const Tensor& x, const Tensor& y);
  // The factors of compute(x, y) from one inference-mode forward pass, without the reverse walk: the
  // output node's input and the seed compute() gives it (nothing else reaches that node's output).
  // Const and free of shared state, so several threads may call it at once (CPU models: layers keep no
  // state across inference-mode forward calls). Only after prepare_factors() returned true.
  LastLayerFactors factors(const Tensor& x, const Tensor& y) const;

 private:
  // 1 = rank-one (probed), 0 = dense, -1 = not probed yet; by node.
  int rank_one_state(int node, const Tape& tape, const Tensor& gy);
  // Once per computer: row 0 of a batch of two must equal the batch-of-one gradient, or some node's
  // per-example pass does not see examples along axis 0 (e.g. a sequence-first tensor inside the graph).
  void probe_batch_axis(const Tensor& x, const Tensor& y);
  bool batch_probed_ = false;
  Model* model_;
  Selection selection_;
  std::vector<int> rank_one_;
  bool factoring_ = true;
  int factors_node_ = -1;  // the output node, once prepare_factors() succeeded
  bool factors_bias_ = false;
};

// Seeded Gaussian random projection to k dimensions (Johnson–Lindenstrauss): ĝ = Rᵀ g with
// R_pq ~ N(0, 1)/√k, drawn row by row (p = 0..P−1) from Rng(seed), so ⟨ĝ_a, ĝ_b⟩ ≈ ⟨g_a, g_b⟩ in
// expectation and the same seed gives the same R for any chunking or thread count. R is (P, k); G is
// projected chunk by chunk, so the full (N, P) matrix never exists.
class Projection {
 public:
  // R lives on `device` (the gradients' device).
  Projection(int64_t P, int64_t k, uint64_t seed, DType dtype, Device device = Device::CPU);
  int64_t dim() const { return k_; }
  // Returns a ChunkGrads with one dense block (n, k).
  ChunkGrads apply(const ChunkGrads& g) const;

 private:
  int64_t P_, k_;
  Tensor R_;  // (P, k)
};

// G of a whole data set, (N, P) — or (N, k) with a projection — computed in chunks of `chunk` rows.
Tensor per_example_gradients(Model& model, const Tensor& x, const Tensor& y, ParamSet set,
                             const Projection* projection = nullptr, int64_t chunk = 256);

}  // namespace xdnn::influence
