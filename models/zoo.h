// The model zoo: named architectures built with seeded, PyTorch-default initialisation.
//
//   fashion-mlp     Flatten, Linear(784,64) "fc1", ReLU, Linear(64,10) "fc2"             (golden "mlp")
//   fashion-cnn     Conv2d(1,8,3,p1) "conv1", ReLU, MaxPool2d(2), Conv2d(8,16,3,p1) "conv2", ReLU,
//                   MaxPool2d(2), Flatten, Linear(784,10) "fc"                           (golden "cnn")
//   fashion-resnet  conv-BN-ReLU-pool x2 (16, 32 channels), a residual basic block, MLP head (zoo.cpp)
//   text-lstm         Embedding "embedding", LSTM "lstm" (batch-first, optionally bidirectional), last
//                     state or mean over the valid steps, Linear "fc"
//   text-transformer  Embedding "embedding" + positional "pos_embedding" (learned or sinusoidal),
//                     pre-norm TransformerEncoderLayer "layers.k" with a key-padding mask, LayerNorm
//                     "norm", mean over the valid tokens or the first token, Linear "fc"
//
// Parameter names and layouts are PyTorch's state-dict names for the equivalent nn.Module
// (conv1.weight OIHW, fc.weight (out, in)), so checkpoints load into PyTorch and golden .safetensors
// files load here. The fashion models take (N, 1, 28, 28) float32 in [0, 1] and return logits (N, 10).
// The text models take int64 token ids (N, T), right-padded with TextModelConfig::pad_id, and return
// logits (N, num_classes); their sizes come from the data set (build_text_model).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "models/io/safetensors.h"
#include "models/model.h"

namespace xdnn {

// The image models (build_zoo_model builds them from a name alone) and the text models (build_text_model).
std::vector<std::string> zoo_names();
std::vector<std::string> text_zoo_names();
bool is_zoo_name(const std::string& name);  // either kind
// Builds `name` with parameters initialised from Rng(seed), layer by layer in construction order
// (weight then bias, as PyTorch's reset_parameters). Unknown name -> Error listing the valid names.
// Text names need sizes: they throw pointing at build_text_model.
Model build_zoo_model(const std::string& name, uint64_t seed = 0);

// Sizes and choices of a text model. Vocabulary size, classes and max_len come from the data set.
struct TextModelConfig {
  int64_t vocab_size = 0;      // V: ids in [0, V)
  int64_t num_classes = 0;     // K
  int64_t max_len = 0;         // T_max: longest sequence (the positional table's length)
  int64_t pad_id = 0;          // padding id; a sequence's length is 1 + the position of its last non-pad id
  int64_t embed_dim = 32;      // d
  int64_t hidden_size = 32;    // LSTM: H; transformer: the feed-forward width
  bool bidirectional = false;  // LSTM
  int64_t num_layers = 1;      // transformer encoder layers (the LSTM has one layer)
  int64_t num_heads = 2;       // transformer
  std::string pooling;         // "last" | "mean" (LSTM), "mean" | "first" (transformer); empty: default
  std::string positional;      // "learned" | "sinusoidal" (transformer); empty: learned
};

bool is_text_zoo_name(const std::string& name);  // text-lstm, text-transformer
// Builds a text model, initialised from Rng(seed) in construction order. Checks the sizes (positive,
// known pooling / positional choices) with one-line errors. Input checks at run time: the ids must be
// int64 (N, T) with 1 ≤ T (≤ max_len for the transformer), every id in [0, V), and every sample at
// least one non-pad token; each failure throws one line naming the input, the value and the range.
Model build_text_model(const std::string& name, const TextModelConfig& cfg, uint64_t seed = 0);

// The config as checkpoint metadata ("text.vocab_size", ...), and back (one-line errors naming the
// file and the key).
void put_text_config_metadata(Metadata& m, const TextModelConfig& cfg);
TextModelConfig text_config_from_metadata(const Metadata& m, const std::string& source);

}  // namespace xdnn
