// `xdnn train`: trains a zoo model and writes a checkpoint per epoch (models/train/train.h). Image models train
// on Fashion-MNIST; text models (text-lstm, text-transformer) on --data austen-words | austen-chars |
// trigger (models/io/), sized by the data set: vocabulary, classes and max length go into the
// checkpoint's metadata ("text.*", models/zoo.h) and the vocabulary JSON next to it (DIR/vocab.json),
// so `--model DIR/epoch-K.safetensors` rebuilds the model anywhere.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>

#include "engine/device.h"
#include "engine/parallel.h"
#include "explain/attack.h"
#include "explain/cli/commands.h"
#include "models/io/corpus.h"
#include "models/io/fashion_mnist.h"
#include "models/io/tokenizer.h"
#include "models/io/trigger_task.h"
#include "models/load.h"
#include "models/train/checkpoint.h"
#include "models/train/train.h"
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
  std::string device = "cpu";
  // Text models.
  std::string data;        // fashion-mnist | austen-words | austen-chars | trigger; empty: by model
  int64_t max_len = -1;    // tokens per row; -1: the data set's default
  int64_t vocab = -1;      // vocabulary size (Austen: most frequent tokens + <pad>, <unk>; trigger: total)
  uint64_t data_seed = 0;  // split / generation seed (independent of --seed, so runs share a test set)
  TextModelConfig text;    // embed_dim, hidden_size, bidirectional, num_layers, num_heads, pooling, positional
  // Adversarial training (models/train/train.h): --adversarial pgd --radius E --pgd-steps K --pgd-step-size A.
  std::string adversarial = "none";
  double radius = 0.1;
  int64_t pgd_steps = 7;
  double pgd_step_size = -1;  // default 2.5·radius/steps (Madry et al. 2018, §B)
};

// Reads the checkpoint's "adversarial" entry ("none" or "pgd radius R steps K step A") into o.
void adversarial_from_metadata(const Metadata& m, const std::string& path, TrainOptions& o) {
  if (!m.count("adversarial") || m.at("adversarial") == "none") {
    o.adversarial = "none";
    return;
  }
  std::istringstream in(m.at("adversarial"));
  std::string w1, w2, w3;
  if (!(in >> o.adversarial >> w1 >> o.radius >> w2 >> o.pgd_steps >> w3 >> o.pgd_step_size) || w1 != "radius" ||
      w2 != "steps" || w3 != "step")
    throw Error(path + ": metadata 'adversarial' is '" + m.at("adversarial") +
                "', expected 'none' or 'pgd radius R steps K step A'");
}

// A text data set as the training loop takes it, with what the checkpoint must record.
struct TextData {
  LabeledData train, test;
  text::Vocabulary vocab;
  std::vector<std::string> class_names;
  int64_t max_len = 0;
  std::string description;
};

TextData load_text_data(const TrainOptions& o) {
  TextData d;
  if (o.data == "trigger") {
    // Synthetic trigger task (models/io/trigger_task.h, make_trigger_split).
    const int64_t max_len = o.max_len > 0 ? o.max_len : 16;
    const text::TriggerSplit split =
        text::make_trigger_split(max_len, o.vocab, o.data_seed, o.train_limit > 0 ? o.train_limit : 4000,
                                 o.test_limit > 0 ? o.test_limit : 1000);
    const text::TriggerTask &tr = split.train, &te = split.test;
    d.train = {tr.data.ids, tr.data.labels};
    d.test = {te.data.ids, te.data.labels};
    d.vocab = tr.data.vocab;
    d.class_names = tr.data.class_names;
    d.max_len = max_len;
    d.description = "the trigger task";
  } else if (o.data == "austen-words" || o.data == "austen-chars") {
    text::AustenOptions a;
    a.dir = o.data_dir;
    a.level = o.data == "austen-words" ? text::TokenLevel::Word : text::TokenLevel::Char;
    a.max_len = o.max_len > 0 ? o.max_len : (a.level == text::TokenLevel::Word ? 48 : 160);
    if (o.vocab > 0) a.vocab_size = o.vocab;
    a.seed = o.data_seed;
    text::AustenSplit sp = text::load_austen_sentences(a);
    d.train = LabeledData{sp.train.ids, sp.train.labels}.head(o.train_limit);
    d.test = LabeledData{sp.test.ids, sp.test.labels}.head(o.test_limit);
    d.vocab = sp.train.vocab;
    d.class_names = sp.train.class_names;
    d.max_len = a.max_len;
    d.description =
        std::string("Austen sentences (") + (a.level == text::TokenLevel::Word ? "words" : "characters") + ")";
  } else {
    throw Error("--data '" + o.data + "' is not a text data set",
                "text models take austen-words, austen-chars or trigger");
  }
  return d;
}

void train_command(TrainOptions o, CLI::App* cmd) {
  const Device device = select_device(o.device, "--device");
  if (o.resume.size()) {
    // Settings not given on the command line come from the checkpoint, so `--resume CKPT --epochs N`
    // alone continues the same run; settings given must agree with it (train_model checks).
    const Metadata m = read_checkpoint_metadata(o.resume);
    if (cmd->count("--model") == 0) o.model = metadata_get(m, "architecture", o.resume);
    if (cmd->count("--data") == 0 && m.count("data")) o.data = m.at("data");
    if (cmd->count("--data-seed") == 0 && m.count("data_seed"))
      o.data_seed = static_cast<uint64_t>(metadata_get_int(m, "data_seed", o.resume));
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
    if (cmd->count("--adversarial") == 0) {
      TrainOptions saved_adv = o;
      adversarial_from_metadata(m, o.resume, saved_adv);
      o.adversarial = saved_adv.adversarial;
      if (cmd->count("--radius") == 0) o.radius = saved_adv.radius;
      if (cmd->count("--pgd-steps") == 0) o.pgd_steps = saved_adv.pgd_steps;
      if (cmd->count("--pgd-step-size") == 0) o.pgd_step_size = saved_adv.pgd_step_size;
    }
  }
  if (o.adversarial == "none" && (cmd->count("--radius") || cmd->count("--pgd-steps") || cmd->count("--pgd-step-size")))
    throw Error("--radius, --pgd-steps and --pgd-step-size are for adversarial training", "add --adversarial pgd");
  if (o.threads > 0) set_num_threads(o.threads);
  const bool text_model = is_text_zoo_name(o.model);
  if (o.data.empty()) o.data = text_model ? "" : "fashion-mnist";
  if (text_model && o.data.empty())
    throw Error("--model " + o.model + " needs --data", "text models take austen-words, austen-chars or trigger");
  if (!text_model && o.data != "fashion-mnist")
    throw Error("--data " + o.data + " is for text models, --model " + o.model + " is an image model",
                "use --model text-lstm or text-transformer");
  validate(o.optimizer);

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
  if (o.adversarial == "pgd")
    cfg.adversarial = explain::pgd_adversary(
        o.radius, o.pgd_steps,
        o.pgd_step_size >= 0 ? o.pgd_step_size : 2.5 * o.radius / static_cast<double>(o.pgd_steps));
  if (cfg.adversarial.enabled() && text_model)
    throw Error("--adversarial: adversarial training is for image models, --model " + o.model + " reads token ids");
  auto report = [&](const EpochResult& r) {
    char robust[64] = "";
    if (r.robust.count) std::snprintf(robust, sizeof robust, "  robust accuracy %.4f", r.robust.accuracy);
    std::printf("epoch %d/%d  train loss %.4f  test loss %.4f  test accuracy %.4f%s  %.2f s%s%s\n", r.epoch, o.epochs,
                r.train_loss, r.test.loss, r.test.accuracy, robust, r.seconds, r.checkpoint.empty() ? "" : "  -> ",
                r.checkpoint.c_str());
    std::fflush(stdout);
  };

  if (!text_model) {
    Model model = build_zoo_model(o.model, o.seed);  // unknown names list the zoo
    const LabeledImages tr = load_fashion_mnist("train", o.data_dir, o.train_limit);
    const LabeledImages te = load_fashion_mnist("test", o.data_dir, o.test_limit);
    std::printf("training %s on %lld images (test %lld), %s, batch %lld, seed %llu, %d thread(s)%s%s\n",
                o.model.c_str(), static_cast<long long>(tr.images.dim(0)), static_cast<long long>(te.images.dim(0)),
                describe(o.optimizer).c_str(), static_cast<long long>(o.batch_size),
                static_cast<unsigned long long>(o.seed), num_threads(),
                cfg.adversarial.enabled() ? ", adversarial: " : "",
                cfg.adversarial.enabled() ? cfg.adversarial.describe().c_str() : "");
    std::fflush(stdout);
    // The model and both data sets on the device; batches are gathered there (models/train/train.cpp).
    model.to(device);
    train_model(model, {tr.images.to(device), tr.labels.to(device)}, {te.images.to(device), te.labels.to(device)}, cfg,
                report);
    return;
  }

  const TextData d = load_text_data(o);
  TextModelConfig tc = o.text;
  if (!o.resume.empty()) {
    // The architecture's sizes come from the checkpoint (the data options above must reproduce them).
    tc = text_config_from_metadata(read_checkpoint_metadata(o.resume), o.resume);
    if (tc.vocab_size != d.vocab.size() || tc.max_len != d.max_len)
      throw Error(o.resume + ": checkpoint is for vocabulary " + std::to_string(tc.vocab_size) + ", max length " +
                      std::to_string(tc.max_len) + ", the data gives " + std::to_string(d.vocab.size()) + ", " +
                      std::to_string(d.max_len),
                  "resume with the run's --data, --vocab and --max-len");
  }
  tc.vocab_size = d.vocab.size();
  tc.num_classes = static_cast<int64_t>(d.class_names.size());
  tc.max_len = d.max_len;
  tc.pad_id = text::kPadId;
  Model model = build_text_model(o.model, tc, o.seed);
  model.class_names = d.class_names;
  put_text_config_metadata(cfg.extra_metadata, tc);
  cfg.extra_metadata["class_names"] = class_names_metadata(d.class_names);
  cfg.extra_metadata["data"] = o.data;
  cfg.extra_metadata["data_seed"] = std::to_string(o.data_seed);
  if (!o.out.empty()) {
    // The vocabulary next to the checkpoints (models/io/tokenizer.h): decoding ids for reports.
    std::filesystem::create_directories(o.out);
    const std::string vocab_path =
        text::vocabulary_path_for_checkpoint((std::filesystem::path(o.out) / "epoch-1.safetensors").string());
    text::save_vocabulary(vocab_path, d.vocab, d.class_names);
    cfg.extra_metadata["vocab"] = std::filesystem::path(vocab_path).filename().string();
  }
  std::printf(
      "training %s on %lld sequences of %s (test %lld; vocabulary %lld, %lld classes, max length %lld), %s, "
      "batch %lld, seed %llu, %d thread(s)\n",
      o.model.c_str(), static_cast<long long>(d.train.size()), d.description.c_str(),
      static_cast<long long>(d.test.size()), static_cast<long long>(tc.vocab_size),
      static_cast<long long>(tc.num_classes), static_cast<long long>(tc.max_len), describe(o.optimizer).c_str(),
      static_cast<long long>(o.batch_size), static_cast<unsigned long long>(o.seed), num_threads());
  std::fflush(stdout);
  model.to(device);
  train_model(model, {d.train.x.to(device), d.train.y.to(device)}, {d.test.x.to(device), d.test.y.to(device)}, cfg,
              report);
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto o = std::make_shared<TrainOptions>();
  CLI::App* cmd = app.add_subcommand(
      "train", "train a zoo model (Fashion-MNIST, or text: Austen sentences / trigger task), one checkpoint per epoch");
  if (!builds_options(*cmd)) return;  // see commands.h
  std::string zoo;
  for (const auto& n : zoo_names()) zoo += (zoo.empty() ? "" : ", ") + n;
  for (const auto& n : text_zoo_names()) zoo += ", " + n;
  cmd->add_option("--model", o->model, "zoo architecture: " + zoo)->capture_default_str();
  cmd->add_option("--epochs", o->epochs, "total number of epochs (a resumed run stops at the same total)")
      ->capture_default_str()
      ->check(between(1, 100000));
  cmd->add_option("--out", o->out, "directory for DIR/epoch-K.safetensors checkpoints (+ .optim sidecars)");
  cmd->add_option("--seed", o->seed, "seed of initialisation, shuffling and dropout")->capture_default_str();
  cmd->add_option("--optimizer", o->optimizer.name, "adam or sgd")
      ->capture_default_str()
      ->check(CLI::IsMember({"adam", "sgd"}));
  cmd->add_option("--lr", o->optimizer.lr, "learning rate")->capture_default_str()->check(at_least(0));
  cmd->add_option("--lr-decay", o->lr_decay, "learning-rate factor per epoch: epoch K uses lr * decay^(K-1)")
      ->capture_default_str()
      ->check(greater_than(0));
  cmd->add_option("--momentum", o->optimizer.momentum, "SGD momentum")->capture_default_str();
  cmd->add_flag("--nesterov", o->optimizer.nesterov, "SGD with Nesterov momentum");
  cmd->add_option("--weight-decay", o->optimizer.weight_decay, "L2 weight decay (PyTorch's weight_decay)")
      ->capture_default_str();
  cmd->add_option("--batch-size", o->batch_size, "mini-batch size")->capture_default_str()->check(between(1, 1 << 16));
  cmd->add_option("--resume", o->resume,
                  "continue from DIR/epoch-K.safetensors (bit-identical to an uninterrupted run; unspecified "
                  "settings are taken from the checkpoint)");
  cmd->add_option("--train-limit", o->train_limit,
                  "use only the first N training images (text: sequences; trigger: generate N, default 4000)")
      ->check(between(1, 1e7));
  cmd->add_option("--test-limit", o->test_limit,
                  "evaluate on only the first N test images (trigger: generate N, default 1000)")
      ->check(between(1, 1e7));
  cmd->add_option("--threads", o->threads, "worker threads (default: $XDNN_NUM_THREADS or all cores)")
      ->check(between(1, 1024));
  cmd->add_option("--data-dir", o->data_dir,
                  "Fashion-MNIST directory (default /usr/share/datasets/fashion-mnist); for austen-*: the "
                  "janeaustenr data directory (default $XDNN_JANEAUSTEN_DIR or the R site library)");
  cmd->add_option("--data", o->data,
                  "fashion-mnist (image models, the default) | austen-words | austen-chars | trigger (text models)")
      ->check(CLI::IsMember({"fashion-mnist", "austen-words", "austen-chars", "trigger"}));
  cmd->add_option("--max-len", o->max_len,
                  "text: tokens per sequence (default austen-words 48, austen-chars 160, "
                  "trigger 16)")
      ->check(between(1, 100000));
  cmd->add_option("--vocab", o->vocab,
                  "text: vocabulary size (Austen: most frequent training tokens, default "
                  "10000; trigger: total, default 56)")
      ->check(between(1, 10000000));
  cmd->add_option("--data-seed", o->data_seed, "text: seed of the train/test split or of the generated task")
      ->capture_default_str();
  cmd->add_option("--embed-dim", o->text.embed_dim, "text: embedding width")
      ->capture_default_str()
      ->check(between(1, 65536));
  cmd->add_option("--hidden", o->text.hidden_size, "text: LSTM hidden size / transformer feed-forward width")
      ->capture_default_str()
      ->check(between(1, 65536));
  cmd->add_flag("--bidirectional", o->text.bidirectional, "text-lstm: bidirectional LSTM");
  cmd->add_option("--layers", o->text.num_layers, "text-transformer: encoder layers")
      ->capture_default_str()
      ->check(between(1, 1000));
  cmd->add_option("--heads", o->text.num_heads, "text-transformer: attention heads")
      ->capture_default_str()
      ->check(between(1, 1024));
  cmd->add_option("--pooling", o->text.pooling,
                  "text: last | mean (text-lstm, default last), mean | first "
                  "(text-transformer, default mean)");
  cmd->add_option("--positional", o->text.positional, "text-transformer: learned (default) | sinusoidal");
  cmd->add_option("--adversarial", o->adversarial,
                  "none (default) | pgd: train on PGD examples with a random start (Madry et al. 2018) and report "
                  "the robust test accuracy")
      ->check(CLI::IsMember({"none", "pgd"}));
  cmd->add_option("--radius", o->radius, "adversarial training: L-infinity radius")
      ->capture_default_str()
      ->check(between(0, 1));
  cmd->add_option("--pgd-steps", o->pgd_steps, "adversarial training: PGD steps")
      ->capture_default_str()
      ->check(between(1, 1000));
  cmd->add_option("--pgd-step-size", o->pgd_step_size,
                  "adversarial training: PGD step size (default 2.5 radius / steps)")
      ->check(between(0, 1));
  cmd->add_flag("--no-progress", o->no_progress, "no progress bar / per-epoch lines on stderr");
  cmd->add_option("--device", o->device,
                  "cpu (default), cuda, or strict (the test device: host reads of its memory fail)");
  cmd->callback([o, cmd] {
    // Before loading anything. Strict runs the CPU's kernels on memory host code may not read: the proof,
    // without a GPU, that training computes only through ops:: and so runs on cuda (issue 17).
    select_device(o->device, "--device");
    train_command(*o, cmd);
  });
}

}  // namespace xdnn::cli
