// `xdnn train`: trains a zoo model on Fashion-MNIST and writes a checkpoint per epoch (models/train.h).
#include <cstdio>
#include <memory>
#include <string>

#include "engine/parallel.h"
#include "explain/cli/commands.h"
#include "models/checkpoint.h"
#include "models/fashion_mnist.h"
#include "models/train.h"
#include "models/zoo.h"

namespace xdnn::cli {
namespace {

struct TrainOptions {
  std::string model = "fashion-cnn";
  int epochs = 2;
  std::string out;
  uint64_t seed = 0;
  OptimizerConfig optimizer;
  double lr_decay = 1.0;
  int64_t batch_size = 64;
  std::string resume;
  int64_t train_limit = -1;
  int64_t test_limit = -1;
  int threads = 0;
  std::string data_dir;
  bool no_progress = false;
};

void train_command(TrainOptions o, CLI::App* cmd) {
  if (o.resume.size()) {
    // Settings not given on the command line come from the checkpoint, so `--resume CKPT --epochs N`
    // alone continues the same run; settings given must agree with it (train_model checks).
    const Metadata m = read_checkpoint_metadata(o.resume);
    if (cmd->count("--model") == 0) o.model = metadata_get(m, "architecture", o.resume);
    if (cmd->count("--seed") == 0) o.seed = static_cast<uint64_t>(metadata_get_int(m, "seed", o.resume));
    if (cmd->count("--batch-size") == 0) o.batch_size = metadata_get_int(m, "batch_size", o.resume);
    if (cmd->count("--lr-decay") == 0) o.lr_decay = metadata_get_double(m, "lr_decay", o.resume);
    const OptimizerConfig saved = optimizer_from_metadata(m, o.resume);
    if (cmd->count("--optimizer") == 0) o.optimizer.name = saved.name;
    if (cmd->count("--lr") == 0) o.optimizer.lr = saved.lr;
    if (cmd->count("--momentum") == 0) o.optimizer.momentum = saved.momentum;
    if (cmd->count("--nesterov") == 0) o.optimizer.nesterov = saved.nesterov;
    if (cmd->count("--weight-decay") == 0) o.optimizer.weight_decay = saved.weight_decay;
    o.optimizer.beta1 = saved.beta1;
    o.optimizer.beta2 = saved.beta2;
    o.optimizer.eps = saved.eps;
  }
  if (o.threads > 0) set_num_threads(o.threads);
  Model model = build_zoo_model(o.model, o.seed);  // unknown names list the zoo
  validate(o.optimizer);
  const LabeledImages tr = load_fashion_mnist("train", o.data_dir, o.train_limit);
  const LabeledImages te = load_fashion_mnist("test", o.data_dir, o.test_limit);

  TrainConfig cfg;
  cfg.architecture = o.model;
  cfg.epochs = o.epochs;
  cfg.seed = o.seed;
  cfg.optimizer = o.optimizer;
  cfg.lr_decay = o.lr_decay;
  cfg.batch_size = o.batch_size;
  cfg.out_dir = o.out;
  cfg.resume = o.resume;
  cfg.progress = !o.no_progress;
  std::printf("training %s on %lld images (test %lld), %s, batch %lld, seed %llu, %d thread(s)\n", o.model.c_str(),
              static_cast<long long>(tr.images.dim(0)), static_cast<long long>(te.images.dim(0)),
              describe(o.optimizer).c_str(), static_cast<long long>(o.batch_size),
              static_cast<unsigned long long>(o.seed), num_threads());
  std::fflush(stdout);
  train_model(model, {tr.images, tr.labels}, {te.images, te.labels}, cfg, [&](const EpochResult& r) {
    std::printf("epoch %d/%d  train loss %.4f  test loss %.4f  test accuracy %.4f  %.2f s%s%s\n", r.epoch, o.epochs,
                r.train_loss, r.test.loss, r.test.accuracy, r.seconds, r.checkpoint.empty() ? "" : "  -> ",
                r.checkpoint.c_str());
    std::fflush(stdout);
  });
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto o = std::make_shared<TrainOptions>();
  CLI::App* cmd = app.add_subcommand("train", "train a zoo model on Fashion-MNIST, one checkpoint per epoch");
  std::string zoo;
  for (const auto& n : zoo_names()) zoo += (zoo.empty() ? "" : ", ") + n;
  cmd->add_option("--model", o->model, "zoo architecture: " + zoo)->capture_default_str();
  cmd->add_option("--epochs", o->epochs, "total number of epochs (a resumed run stops at the same total)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--out", o->out, "directory for DIR/epoch-K.safetensors checkpoints (+ .optim sidecars)");
  cmd->add_option("--seed", o->seed, "seed of initialisation, shuffling and dropout")->capture_default_str();
  cmd->add_option("--optimizer", o->optimizer.name, "adam or sgd")
      ->capture_default_str()
      ->check(CLI::IsMember({"adam", "sgd"}));
  cmd->add_option("--lr", o->optimizer.lr, "learning rate")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--lr-decay", o->lr_decay, "learning-rate factor per epoch: epoch K uses lr * decay^(K-1)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--momentum", o->optimizer.momentum, "SGD momentum")->capture_default_str();
  cmd->add_flag("--nesterov", o->optimizer.nesterov, "SGD with Nesterov momentum");
  cmd->add_option("--weight-decay", o->optimizer.weight_decay, "L2 weight decay (PyTorch's weight_decay)")
      ->capture_default_str();
  cmd->add_option("--batch-size", o->batch_size, "mini-batch size")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--resume", o->resume,
                  "continue from DIR/epoch-K.safetensors (bit-identical to an uninterrupted run; unspecified "
                  "settings are taken from the checkpoint)");
  cmd->add_option("--train-limit", o->train_limit, "use only the first N training images");
  cmd->add_option("--test-limit", o->test_limit, "evaluate on only the first N test images");
  cmd->add_option("--threads", o->threads, "worker threads (default: $XDNN_NUM_THREADS or all cores)");
  cmd->add_option("--data-dir", o->data_dir, "Fashion-MNIST directory (default /usr/share/datasets/fashion-mnist)");
  cmd->add_flag("--no-progress", o->no_progress, "no progress bar / per-epoch lines on stderr");
  cmd->callback([o, cmd] { train_command(*o, cmd); });
}

}  // namespace xdnn::cli
