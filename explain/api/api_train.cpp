// The public API's training side (explain/api/xdnn.h): train a zoo model, training-data influence, and
// Fashion-MNIST as arrays. Each does what the matching `xdnn train` / `xdnn influence` does
// (explain/cli/cmd_train.cpp, cmd_influence.cpp), so results are the command's bit for bit.
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "engine/error.h"
#include "explain/api/api_internal.h"
#include "explain/influence/influence.h"
#include "explain/options.h"
#include "models/io/fashion_mnist.h"
#include "models/load.h"
#include "models/train/checkpoint.h"
#include "models/train/train.h"
#include "models/zoo.h"

namespace xdnn::api {

namespace {

// Float images are handed to the library as float32 (as the CLI reads them); labels must be int64.
LabeledData labeled(const Array& x, const Array& y, const std::string& what) {
  Tensor tx = to_tensor(x, what + "_x");
  if (tx.is_float()) tx = tx.to(xdnn::DType::F32);
  return {tx, to_tensor(y, what + "_y")};
}

// The learning rate a checkpoint was trained with (its "lr" metadata), as `xdnn influence` reads it.
double checkpoint_lr(const std::string& spec) {
  const bool safetensors = spec.size() > 12 && spec.compare(spec.size() - 12, 12, ".safetensors") == 0;
  if (!safetensors)
    throw xdnn::Error("option lr is required: checkpoint '" + spec + "' carries no learning rate",
                      "give one learning rate per checkpoint, e.g. {\"lr\", \"0.1,0.1,0.1\"}");
  std::string path = spec;
  const size_t colon = spec.find(':');
  if (colon != std::string::npos && !std::ifstream(spec).good()) path = spec.substr(colon + 1);
  return metadata_get_double(read_checkpoint_metadata(path), "lr", path);
}

}  // namespace

std::vector<EpochResult> train(const TrainOptions& o, const Array& train_x, const Array& train_y, const Array& test_x,
                               const Array& test_y) {
  return guarded([&] {
    if (is_text_zoo_name(o.model))
      throw xdnn::Error("api::train: " + o.model + " is a text model",
                        "train text models with `xdnn train --data ...`");
    TrainConfig cfg;
    cfg.architecture = o.model;
    cfg.epochs = o.epochs;
    cfg.seed = o.seed;
    cfg.optimizer.name = o.optimizer;
    cfg.optimizer.lr = o.lr;
    cfg.batch_size = o.batch_size;
    cfg.out_dir = o.out_dir;
    cfg.progress = o.progress;
    if (o.epochs < 1) throw xdnn::Error("api::train: epochs must be >= 1, got " + std::to_string(o.epochs));
    if (o.batch_size < 1) throw xdnn::Error("api::train: batch_size must be >= 1, got " + std::to_string(o.batch_size));
    validate(cfg.optimizer);
    xdnn::Model model = build_zoo_model(o.model, o.seed);  // unknown names list the zoo
    std::vector<EpochResult> out;
    for (const auto& r : train_model(model, labeled(train_x, train_y, "train"), labeled(test_x, test_y, "test"), cfg))
      out.push_back({r.epoch, r.train_loss, r.test.loss, r.test.accuracy, r.seconds, r.checkpoint});
    return out;
  });
}

Array influence(const std::string& method, const std::vector<std::string>& checkpoints, const Array& train_x,
                const Array& train_y, const Array& test_x, const Array& test_y, const Options& options) {
  return guarded([&] {
    const influence::InfluenceMethodInfo& info = influence::influence_methods().find(method);
    const bool self = !info.needs_test;
    const bool needs_lr = info.needs_lr;
    influence::InfluenceOptions opt;
    std::vector<double> lrs;
    for (const auto& [name, value] : options) {
      if (name == "params") {
        opt.params = influence::parse_param_set(value);
      } else if (name == "projection") {
        opt.projection = static_cast<int64_t>(explain::parse_number(value, "projection"));
      } else if (name == "seed") {
        opt.seed = static_cast<uint64_t>(explain::parse_number(value, "seed"));
      } else if (name == "damping") {
        opt.damping = explain::parse_number(value, "damping");
      } else if (name == "chunk") {
        opt.chunk = static_cast<int64_t>(explain::parse_number(value, "chunk"));
      } else if (name == "solver") {
        if (value != "cg" && value != "lissa")
          throw xdnn::Error("solver: expected 'cg' or 'lissa', got '" + value + "'");
        opt.solver = value;
      } else if (name == "lr") {
        std::stringstream ss(value);
        for (std::string t; std::getline(ss, t, ',');) lrs.push_back(explain::parse_number(t, "lr"));
      } else {
        throw xdnn::Error("influence: unknown option '" + name + "'",
                          "options: lr, params, projection, seed, damping, solver, chunk");
      }
    }
    opt.lissa.seed = opt.seed;
    if (opt.solver == "lissa" && !info.solves_hessian)
      throw xdnn::Error("solver lissa: only the influence-function method solves a linear system");
    if (checkpoints.empty()) throw xdnn::Error("influence: no checkpoints given");
    if (!lrs.empty() && lrs.size() != checkpoints.size())
      throw xdnn::Error("lr: " + std::to_string(lrs.size()) + " learning rate(s) for " +
                        std::to_string(checkpoints.size()) + " checkpoint(s); give one per checkpoint");
    if (needs_lr && lrs.empty())
      for (const auto& c : checkpoints) lrs.push_back(checkpoint_lr(c));

    influence::InfluenceData data;
    const LabeledData tr = labeled(train_x, train_y, "train");
    data.train_x = tr.x;
    data.train_y = tr.y;
    if (!self) {
      const LabeledData te = labeled(test_x, test_y, "test");
      data.test_x = te.x;
      data.test_y = te.y;
    }
    std::vector<xdnn::Model> models;
    models.reserve(checkpoints.size());
    for (const auto& c : checkpoints) models.push_back(load_model(c));
    std::vector<xdnn::Model*> ptrs;
    for (auto& m : models) ptrs.push_back(&m);
    influence::validate_inputs(ptrs, needs_lr ? &lrs : nullptr, data, opt, !self);

    const Tensor S = info.run(ptrs, lrs, data, opt);
    return to_array(S.to(xdnn::DType::F32));
  });
}

LabeledArrays fashion_mnist(const std::string& split, int64_t limit, const std::string& dir) {
  return guarded([&] {
    const LabeledImages d = load_fashion_mnist(split, dir, limit);
    return LabeledArrays{to_array(d.images), to_array(d.labels)};
  });
}

}  // namespace xdnn::api
