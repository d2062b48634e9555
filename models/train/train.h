// Mini-batch training of a Model with softmax cross-entropy, and evaluation.
//
// One epoch: shuffle the training indices with Rng(seed, epoch) (Fisher-Yates), cut them into batches of
// batch_size (the last one may be smaller, as PyTorch's drop_last=False), and for each batch: forward in
// training mode, mean cross-entropy over the batch, backward with ParamGrad::Accumulate into zeroed
// grads, optimizer step. After each epoch: test loss and accuracy in inference mode, and a checkpoint
// DIR/epoch-K.safetensors (+ optimizer sidecar, models/train/checkpoint.h).
//
// Adversarial training (Madry et al., ICLR 2018, eq. 2.1, the saddle-point problem): with cfg.adversarial
// set, each batch is replaced by its adversarial examples (PGD in the L∞ ball of `radius` with a random
// start, explain/attack.h) before the forward pass: min_θ E[max_{‖δ‖∞≤ε} L(θ, x + δ, y)]. The batch's
// attack seed is drawn from Rng(seed, epoch, stream 3), one per batch in order. After each epoch the test
// set is also attacked (seeds from (seed, stream 4), the same every epoch) and the robust accuracy is
// reported beside the clean one and written into the checkpoint's metadata ("robust_accuracy").
//
// Determinism: every random stream is derived from (seed, epoch) — initialisation from seed alone
// (models/zoo.h), the epoch's shuffle and dropout masks from (seed, epoch) — so a run resumed from
// epoch-K continues bit-identically to the uninterrupted run, and the layers' own thread-count
// independence makes the whole run bit-identical for any number of threads.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "models/io/safetensors.h"
#include "models/model.h"
#include "models/train/optim.h"

namespace xdnn {

// A labelled data set: x (N, ...) float32 (images) or int64 (token ids (N, T)), y (N) int64 class ids.
struct LabeledData {
  Tensor x;
  Tensor y;
  int64_t size() const { return x.defined() ? x.dim(0) : 0; }
  LabeledData head(int64_t n) const;  // first n examples (views)
};

// Mean softmax cross-entropy over the batch. logits: (N, K), labels: (N) int64 in [0, K).
// grad_logits (optional): (N, K) = (softmax(logits) − onehot(labels)) / N. (layers/cross_entropy.h)
double softmax_cross_entropy(const Tensor& logits, const Tensor& labels, Tensor* grad_logits);

struct EvalResult {
  double loss = 0;      // mean cross-entropy
  double accuracy = 0;  // fraction of argmax(logits) == label (first maximum wins)
  int64_t count = 0;
};
EvalResult evaluate(const Model& model, const LabeledData& data, int64_t batch_size = 1000);

// evaluate() one batch at a time, for data read as a stream (FashionMnistStream): the same batches in
// the same order give the same bits as evaluate().
struct EvalSums {
  double loss_sum = 0;  // Σ over batches of (mean batch loss) · (batch size)
  int64_t correct = 0, count = 0;
  EvalResult result() const;
};
void evaluate_batch(const Model& model, Tensor x, const Tensor& y, EvalSums& sums);

// PGD for adversarial training. `perturb` is supplied by the caller (models/ sits below explain/, where
// the attacks live): it returns adversarial examples for x (B, ...) in the model's dtype with labels y
// (B) int64, starting from a random point of the ball drawn from Rng(seed), inside the box [0, 1].
struct AdversarialConfig {
  std::string method;  // "pgd"; empty: standard training
  double radius = 0;   // ε, L∞
  int64_t steps = 0;
  double step_size = 0;
  std::function<Tensor(const Model& model, const Tensor& x, const Tensor& y, uint64_t seed)> perturb;
  bool enabled() const { return !method.empty(); }
  std::string describe() const;  // "pgd radius 0.1 steps 7 step 0.025": the checkpoint's "adversarial" entry
};

// Accuracy on the adversarial examples of `data` (batches of batch_size, the batch starting at example b
// attacked with seed + b): the robust accuracy of Madry et al.
EvalResult evaluate_adversarial(const Model& model, const LabeledData& data, const AdversarialConfig& adv,
                                uint64_t seed, int64_t batch_size = 1000);

struct TrainConfig {
  std::string architecture;  // zoo name, recorded in checkpoints
  int epochs = 1;            // total epochs (a resumed run stops at the same total)
  uint64_t seed = 0;
  OptimizerConfig optimizer;  // optimizer.lr is the learning rate of epoch 1
  // Exponential decay per epoch (PyTorch's ExponentialLR stepped once per epoch): the learning rate of
  // epoch K is optimizer.lr · lr_decay^(K−1). 1 = constant.
  double lr_decay = 1.0;
  int64_t batch_size = 64;
  std::string out_dir;   // checkpoints go here; empty = none
  std::string resume;    // checkpoint to continue from; empty = start fresh
  bool progress = true;  // progress bar on stderr when it is a terminal, else a line per epoch
  // Extra checkpoint metadata: what rebuilding the model needs beyond `architecture` (a text model's
  // sizes "text.*", "class_names", "vocab"). Keys of the training loop's own entries are rejected.
  Metadata extra_metadata;
  AdversarialConfig adversarial;  // empty method: standard training
};

struct EpochResult {
  int epoch = 0;  // 1-based
  double lr = 0;
  double train_loss = 0;  // mean over the epoch's examples
  EvalResult test;
  EvalResult robust;       // adversarial training only: accuracy on PGD examples of the test set (count 0 otherwise)
  double seconds = 0;      // training time of the epoch (without evaluation)
  std::string checkpoint;  // path written, if any
};

// Trains `model` in place (built by the zoo with cfg.seed). With cfg.resume the model's weights and the
// optimizer state are loaded from the checkpoint, whose metadata must match cfg (architecture, seed,
// optimizer, batch size, training set size), and training continues with the next epoch.
// `on_epoch` is called after each epoch.
std::vector<EpochResult> train_model(Model& model, const LabeledData& train, const LabeledData& test,
                                     const TrainConfig& cfg,
                                     const std::function<void(const EpochResult&)>& on_epoch = {});

// The learning rate of `epoch` (1-based) under cfg's schedule.
double epoch_lr(const TrainConfig& cfg, int epoch);

// The (seed, epoch) stream seeds. Exposed for tests.
uint64_t epoch_seed(uint64_t seed, int epoch, uint64_t stream);

}  // namespace xdnn
