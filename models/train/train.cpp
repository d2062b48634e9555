#include "models/train/train.h"
#include "engine/check.h"

#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <numeric>

#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "layers/cross_entropy.h"
#include "models/train/checkpoint.h"

namespace xdnn {

LabeledData LabeledData::head(int64_t n) const {
  if (n < 0 || n >= size()) return *this;
  return {x.slice_batch(0, n), y.slice_batch(0, n)};
}

double softmax_cross_entropy(const Tensor& logits, const Tensor& labels, Tensor* grad_logits) {
  if (logits.ndim() != 2 || !logits.is_float())
    throw Error("cross-entropy: expected float logits (N, K), got " + logits.describe());
  const double loss = cross_entropy(logits, labels, LossReduction::Mean);
  if (grad_logits) *grad_logits = cross_entropy_backward(logits, labels, LossReduction::Mean);
  return loss;
}

namespace {

// Copies examples idx[begin, end) of `data` into a fresh batch.
LabeledData gather(const LabeledData& data, const std::vector<int64_t>& idx, size_t begin, size_t end) {
  const std::vector<int64_t> rows(idx.begin() + static_cast<std::ptrdiff_t>(begin),
                                  idx.begin() + static_cast<std::ptrdiff_t>(end));
  const Tensor at = Tensor::from_vector({static_cast<int64_t>(rows.size())}, rows);
  return {ops::gather_axis(data.x, at.to(data.x.device()), 0), ops::gather_axis(data.y, at.to(data.y.device()), 0)};
}

void check_data(const LabeledData& d, const char* what) {
  if (!d.x.defined() || d.size() == 0) throw Error(std::string(what) + " set is empty");
  if (!d.y.defined() || d.y.dtype() != DType::I64 || d.y.ndim() != 1 || d.y.dim(0) != d.size())
    throw Error(std::string(what) + " labels: expected int64 (" + std::to_string(d.size()) + "), got " +
                (d.y.defined() ? d.y.describe() : std::string("nothing")));
}

std::string number_text(double v) {  // shortest round-trip text
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// "[=====>    ] 312/938  loss 0.5123  2310 img/s  ETA 3s" on one rewritten stderr line.
void draw_progress(int epoch, int epochs, int64_t done, int64_t total, double loss, double rate, double eta,
                   const char* unit) {
  const int width = 24;
  const int filled = static_cast<int>(width * done / std::max<int64_t>(total, 1));
  char bar[width + 1];
  for (int i = 0; i < width; ++i) bar[i] = i < filled ? '=' : (i == filled ? '>' : ' ');
  bar[width] = 0;
  std::fprintf(stderr, "\repoch %d/%d [%s] %lld/%lld  loss %.4f  %.0f %s/s  ETA %.0fs   ", epoch, epochs, bar,
               static_cast<long long>(done), static_cast<long long>(total), loss, rate, unit, eta);
  std::fflush(stderr);
}

}  // namespace

void evaluate_batch(const Model& model, Tensor x, const Tensor& y, EvalSums& sums) {
  if (x.is_float() && model.dtype() != x.dtype()) x = x.to(model.dtype());  // token ids stay int64
  Tensor logits = model.predict(x);
  const int64_t n_batch = x.dim(0), K = logits.dim(1);
  sums.loss_sum += softmax_cross_entropy(logits, y, nullptr) * static_cast<double>(n_batch);
  // Correct predictions (arg-max, first on ties, = label) counted as <onehot(prediction), onehot(label)>.
  const Tensor hits = ops::one_hot(ops::argmax_last_axis(logits), K, DType::F64);
  sums.correct += static_cast<int64_t>(ops::dot_all(hits, ops::one_hot(y.to(logits.device()), K, DType::F64)));
  sums.count += n_batch;
}

EvalResult EvalSums::result() const {
  check(count > 0, "evaluation needs at least one example");
  EvalResult r;
  r.count = count;
  r.loss = loss_sum / static_cast<double>(count);
  r.accuracy = static_cast<double>(correct) / static_cast<double>(count);
  return r;
}

EvalResult evaluate(const Model& model, const LabeledData& data, int64_t batch_size) {
  check_data(data, "evaluation");
  EvalSums sums;
  for (int64_t b = 0; b < data.size(); b += batch_size) {
    const int64_t e = std::min(b + batch_size, data.size());
    evaluate_batch(model, data.x.slice_batch(b, e), data.y.slice_batch(b, e), sums);
  }
  return sums.result();
}

std::string AdversarialConfig::describe() const {
  return method + " radius " + number_text(radius) + " steps " + std::to_string(steps) + " step " +
         number_text(step_size);
}

EvalResult evaluate_adversarial(const Model& model, const LabeledData& data, const AdversarialConfig& adv,
                                uint64_t seed, int64_t batch_size) {
  check_data(data, "evaluation");
  check(static_cast<bool>(adv.perturb), "adversarial evaluation: no attack supplied");
  // Each attacked batch is scored as it is made (evaluate_batch: evaluate()'s batches, so its bits),
  // rather than first copied into an attacked test set.
  EvalSums sums;
  for (int64_t b = 0; b < data.size(); b += batch_size) {
    const int64_t e = std::min(b + batch_size, data.size());
    const Tensor y = data.y.slice_batch(b, e);
    const Tensor x = adv.perturb(model, data.x.slice_batch(b, e).to(model.dtype()), y, seed + static_cast<uint64_t>(b));
    evaluate_batch(model, x.to(model.dtype()), y, sums);
  }
  return sums.result();
}

double epoch_lr(const TrainConfig& cfg, int epoch) {
  return cfg.optimizer.lr * std::pow(cfg.lr_decay, static_cast<double>(epoch - 1));
}

uint64_t epoch_seed(uint64_t seed, int epoch, uint64_t stream) {
  // Distinct odd multipliers keep (seed, epoch, stream) triples apart; Rng's splitmix64 seeding mixes.
  return seed * 0x9E3779B97F4A7C15ULL ^ (static_cast<uint64_t>(epoch) * 0xD1B54A32D192ED03ULL) ^
         (stream * 0x8CB92BA72F3D8DD7ULL);
}

std::vector<EpochResult> train_model(Model& model, const LabeledData& train, const LabeledData& test,
                                     const TrainConfig& cfg, const std::function<void(const EpochResult&)>& on_epoch) {
  check_data(train, "training");
  check(cfg.batch_size > 0, "batch size must be positive, got " + std::to_string(cfg.batch_size));
  if (!(cfg.lr_decay > 0) || !std::isfinite(cfg.lr_decay))
    throw Error("learning-rate decay must be a positive finite factor, got " + std::to_string(cfg.lr_decay));
  check(cfg.epochs > 0, "number of epochs must be positive, got " + std::to_string(cfg.epochs));
  check(model.outputs().size() == 1, "training needs a model with one output (logits)");
  const AdversarialConfig& adv = cfg.adversarial;
  if (adv.enabled()) {
    check(adv.method == "pgd", "--adversarial '" + adv.method + "': expected pgd");
    check(adv.radius >= 0 && std::isfinite(adv.radius), "--radius must be a finite number >= 0");
    check(adv.steps >= 1, "--pgd-steps must be >= 1, got " + std::to_string(adv.steps));
    check(adv.step_size >= 0 && std::isfinite(adv.step_size), "--pgd-step-size must be a finite number >= 0");
    check(static_cast<bool>(adv.perturb), "adversarial training: no attack supplied");
    check(train.x.is_float(), "adversarial training needs float inputs (images), not token ids");
  }
  Optimizer opt(cfg.optimizer, model.params());
  int first_epoch = 1;

  if (!cfg.resume.empty()) {
    const Metadata m = read_checkpoint_metadata(cfg.resume);
    auto expect = [&](const std::string& key, const std::string& want) {
      // Checkpoints written before adversarial training existed have no "adversarial" entry: standard.
      const std::string got =
          key == "adversarial" && !m.count(key) ? std::string("none") : metadata_get(m, key, cfg.resume);
      if (got != want)
        throw Error(cfg.resume + ": checkpoint has " + key + " " + got + ", this run has " + want,
                    "a resumed run must use the checkpoint's settings to continue the same run");
    };
    expect("architecture", cfg.architecture);
    expect("seed", std::to_string(cfg.seed));
    expect("optimizer", describe(cfg.optimizer));
    expect("batch_size", std::to_string(cfg.batch_size));
    expect("lr_decay", number_text(cfg.lr_decay));
    expect("train_size", std::to_string(train.size()));
    expect("adversarial", adv.enabled() ? adv.describe() : "none");
    load_checkpoint(cfg.resume, model);
    load_optimizer_state(optimizer_state_path(cfg.resume), opt);
    first_epoch = static_cast<int>(metadata_get_int(m, "epoch", cfg.resume)) + 1;
    if (first_epoch > cfg.epochs)
      throw Error(cfg.resume + ": checkpoint is after epoch " + std::to_string(first_epoch - 1) +
                  ", nothing left to do for --epochs " + std::to_string(cfg.epochs));
  }
  if (!cfg.out_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(cfg.out_dir, ec);
    if (ec) throw Error("cannot create checkpoint directory " + cfg.out_dir + ": " + ec.message());
  }

  // The checkpoint's metadata after `epoch`, trained at learning rate `lr` (models/train/checkpoint.h), with
  // the epoch's test results.
  auto checkpoint_metadata = [&](int epoch, double lr, const EpochResult& r) {
    Metadata m;
    m["format"] = "xdnn-checkpoint-1";
    m["architecture"] = cfg.architecture;
    m["epoch"] = std::to_string(epoch);
    m["seed"] = std::to_string(cfg.seed);
    put_optimizer_metadata(m, cfg.optimizer);  // "optimizer" and the settings, base_lr
    m["lr"] = number_text(lr);                 // the learning rate used during this epoch (TracIn)
    m["lr_decay"] = number_text(cfg.lr_decay);
    m["batch_size"] = std::to_string(cfg.batch_size);
    m["train_size"] = std::to_string(train.size());
    m["adversarial"] = adv.enabled() ? adv.describe() : "none";
    if (r.test.count) m["test_accuracy"] = number_text(r.test.accuracy);
    if (r.robust.count) m["robust_accuracy"] = number_text(r.robust.accuracy);
    for (const auto& [key, value] : cfg.extra_metadata) {
      if (m.count(key))
        throw Error("checkpoint metadata: extra entry '" + key + "' would replace the training loop's own");
      m[key] = value;
    }
    return m;
  };
  checkpoint_metadata(1, cfg.optimizer.lr, {});  // bad extra entries fail before any training

  const bool tty = cfg.progress && isatty(fileno(stderr));
  const int out_id = model.outputs()[0];
  const int64_t N = train.size();
  const int64_t batches = (N + cfg.batch_size - 1) / cfg.batch_size;
  std::vector<EpochResult> results;
  for (int epoch = first_epoch; epoch <= cfg.epochs; ++epoch) {
    const double t0 = now_seconds();
    opt.set_lr(epoch_lr(cfg, epoch));
    std::vector<int64_t> order(static_cast<size_t>(N));
    std::iota(order.begin(), order.end(), 0);
    Rng shuffle_rng(epoch_seed(cfg.seed, epoch, 1));
    for (int64_t i = N - 1; i > 0; --i) std::swap(order[i], order[shuffle_rng.below(static_cast<uint64_t>(i + 1))]);
    Rng dropout_rng(epoch_seed(cfg.seed, epoch, 2));
    Rng attack_rng(epoch_seed(cfg.seed, epoch, 3));  // one PGD start seed per batch
    ForwardOptions fopt;
    fopt.training = true;
    fopt.rng = &dropout_rng;
    BackwardOptions bopt;
    bopt.param_grad = ParamGrad::Accumulate;
    bopt.input_grad = false;  // parameter gradients only: the first layer skips the image gradient

    double loss_sum = 0, last_draw = 0;
    for (int64_t b = 0; b < batches; ++b) {
      const size_t begin = static_cast<size_t>(b * cfg.batch_size);
      const size_t end = std::min(begin + static_cast<size_t>(cfg.batch_size), static_cast<size_t>(N));
      LabeledData batch = gather(train, order, begin, end);
      if (batch.x.is_float() && batch.x.dtype() != model.dtype()) batch.x = batch.x.to(model.dtype());
      if (adv.enabled()) batch.x = adv.perturb(model, batch.x, batch.y, attack_rng.next_u64()).to(model.dtype());
      Tape tape = model.forward({batch.x}, fopt);
      Tensor grad_logits;
      const double loss = softmax_cross_entropy(tape.values[out_id], batch.y, &grad_logits);
      if (!std::isfinite(loss))
        throw Error("training diverged: loss is " + std::to_string(loss) + " at epoch " + std::to_string(epoch) +
                        ", batch " + std::to_string(b + 1),
                    "try a smaller --lr");
      loss_sum += loss * static_cast<double>(end - begin);
      opt.zero_grad();
      model.backward(tape, {{out_id, grad_logits}}, bopt);
      opt.step();
      if (tty) {
        const double t = now_seconds();
        if (t - last_draw > 0.1 || b + 1 == batches) {
          last_draw = t;
          const double rate = static_cast<double>(end) / std::max(t - t0, 1e-9);
          draw_progress(epoch, cfg.epochs, b + 1, batches, loss_sum / static_cast<double>(end), rate,
                        static_cast<double>(N - static_cast<int64_t>(end)) / rate, train.x.is_float() ? "img" : "seq");
        }
      }
    }
    EpochResult r;
    r.epoch = epoch;
    r.lr = opt.config().lr;
    r.seconds = now_seconds() - t0;
    r.train_loss = loss_sum / static_cast<double>(N);
    if (tty) std::fprintf(stderr, "\n");
    if (test.size() > 0) r.test = evaluate(model, test);
    if (test.size() > 0 && adv.enabled()) r.robust = evaluate_adversarial(model, test, adv, epoch_seed(cfg.seed, 0, 4));
    if (!cfg.out_dir.empty()) {
      r.checkpoint =
          (std::filesystem::path(cfg.out_dir) / ("epoch-" + std::to_string(epoch) + ".safetensors")).string();
      const Metadata m = checkpoint_metadata(epoch, r.lr, r);
      save_checkpoint(r.checkpoint, model, m);
      save_optimizer_state(optimizer_state_path(r.checkpoint), opt);
    }
    if (cfg.progress && !tty && adv.enabled())
      std::fprintf(stderr,
                   "epoch %d/%d: train loss %.4f (adversarial), test accuracy %.4f, robust accuracy %.4f, %.1f s\n",
                   epoch, cfg.epochs, r.train_loss, r.test.accuracy, r.robust.accuracy, r.seconds);
    else if (cfg.progress && !tty)
      std::fprintf(stderr, "epoch %d/%d: train loss %.4f, test accuracy %.4f, %.1f s\n", epoch, cfg.epochs,
                   r.train_loss, r.test.accuracy, r.seconds);
    results.push_back(r);
    if (on_epoch) on_epoch(r);
  }
  return results;
}

}  // namespace xdnn
