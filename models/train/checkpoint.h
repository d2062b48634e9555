// Training checkpoints: a model's state dict in safetensors (models/io/safetensors.h) under the PyTorch
// state-dict names and layouts, so `torch.load_file` + `model.load_state_dict` read it unchanged, and
// the optimizer state in a sidecar next to it.
//
//   DIR/epoch-K.safetensors         parameters + buffers (BatchNorm running_mean / running_var /
//                                   num_batches_tracked), metadata (all strings, safetensors
//                                   "__metadata__"):
//                                     format        "xdnn-checkpoint-1"
//                                     architecture  zoo name ("fashion-cnn"), what load_model() builds
//                                     epoch         K (1-based: the state after K epochs)
//                                     seed          training seed
//                                     optimizer     describe(OptimizerConfig), e.g. "adam(lr=0.001, ...)"
//                                     lr            the learning rate used during epoch K (TracIn's η_K)
//                                     batch_size, train_size   (what a resumed run must match)
//                                     lr_decay      per-epoch factor: lr of epoch K = base_lr · lr_decay^(K−1)
//                                     optimizer_name, base_lr, momentum, nesterov, weight_decay, beta1,
//                                     beta2, eps    (the optimizer's settings, one per key)
//   DIR/epoch-K.optim.safetensors   optimizer state: "step", "exp_avg/<param>", "exp_avg_sq/<param>" or
//                                   "momentum_buffer/<param>"; metadata: optimizer config fields.
//
// Loading is strict: every model tensor must be present with the model's shape and dtype, and no extra
// tensor may appear; each failure is one line naming the file, the tensor and what was expected.
#pragma once
#include <map>
#include <string>

#include "models/io/safetensors.h"
#include "models/model.h"
#include "models/train/optim.h"

namespace xdnn {

// Everything a model stores: parameters and buffers, by state-dict name (views of the model's tensors).
std::map<std::string, Tensor> model_state(Model& model);

void save_checkpoint(const std::string& path, Model& model, const Metadata& metadata);
// Loads weights into `model`: every tensor's shape and dtype must equal the model's. Returns the
// file's metadata.
Metadata load_checkpoint(const std::string& path, Model& model);
// Metadata only (cheap: reads the header).
Metadata read_checkpoint_metadata(const std::string& path);

// "DIR/epoch-3.safetensors" -> "DIR/epoch-3.optim.safetensors".
std::string optimizer_state_path(const std::string& checkpoint_path);
void save_optimizer_state(const std::string& path, const Optimizer& opt);
// Restores the state into `opt`; the file's optimizer name must match opt.config().name.
void load_optimizer_state(const std::string& path, Optimizer& opt);

// The optimizer settings as metadata entries (lr included), and back.
void put_optimizer_metadata(Metadata& m, const OptimizerConfig& cfg);
OptimizerConfig optimizer_from_metadata(const Metadata& m, const std::string& source);

// Typed metadata access with one-line errors naming the file and the key.
std::string metadata_get(const Metadata& m, const std::string& key, const std::string& source);
double metadata_get_double(const Metadata& m, const std::string& key, const std::string& source);
int64_t metadata_get_int(const Metadata& m, const std::string& key, const std::string& source);

}  // namespace xdnn
