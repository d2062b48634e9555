// Attention maps of token models and attention rollout (Abnar & Zuidema 2020, "Quantifying Attention
// Flow in Transformers", §3), for people to look at and as attribution methods.
//
// Where the maps come from (explain/ never names a layer class):
//   1. every node whose layer reports an intermediate value named "attention" (Layer::intermediates,
//      layers/layer.h): (N, h, T, T) — the native MultiheadAttention and TransformerEncoderLayer;
//   2. every node of kind "Softmax" whose output is (N·h, T, T) or (N, h, T, T), T the input's token
//      count: the attention probabilities of an ONNX export, where PyTorch's attention is decomposed
//      into MatMul / Softmax nodes and the heads are stacked sample-major along the first axis (row
//      n·h + head), as torch.nn.functional.multi_head_attention_forward lays them out.
// Maps are returned in topological order (layer 0 first). Rows are queries, columns keys; rows sum to 1.
//
// Rollout: Ã_l = rownorm(½ · mean_heads(A_l) + ½ · I) per layer (the identity stands for the residual
// connection), R = Ã_L · … · Ã_1 (N, T, T); the relevance of token t for query position q is R[q, t].
// A model that classifies from the mean over tokens uses the mean of R's rows (query "mean"; rows of
// padding tokens, those no query attends to, are left out), a [CLS]-style model row 0 ("first").
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "explain/heatmap.h"
#include "models/model.h"

namespace xdnn::explain {

struct AttentionMap {
  std::string node;  // the node that produced it
  // (N, h, T, T) float64 on the model's device: rollout and query rows run there (ops); the pictures copy
  // it to the host.
  Tensor probs;
};

// Runs the model on token ids (N, T) int64 and returns every attention map. Throws when the input is not
// int64 (N, T) or the model has no attention.
std::vector<AttentionMap> attention_maps(const Model& model, const Tensor& ids);
// The same, from a tape of that forward pass.
std::vector<AttentionMap> attention_maps(const Model& model, const Tape& tape, int64_t N, int64_t T);

// Ã_L · … · Ã_1 per sample: (N, T, T) float64, on the maps' device.
Tensor attention_rollout(const std::vector<AttentionMap>& maps);

// (N, T, T) -> (N, T) float64 on m's device: row q of each sample's matrix; `query` is "mean" (mean of
// the rows), "first", "last" or a position 0..T−1. Throws naming --query otherwise. `valid` ((N, T) 0/1,
// optional, attended_mask's): the "mean" runs over the rows of valid tokens only (padding excluded, as a
// masked mean pooling does; 0 for a sample without one).
Tensor query_row(const Tensor& m, const std::string& query, const Tensor& valid = Tensor());

// Padding seen by attention: token t of sample n is padding when no query of any head of the first map
// attends to it (a key-padding mask makes its column exactly 0). (N, T) float64 on the maps' device: 1 =
// valid token, 0 = padding; undefined without maps.
Tensor attended_mask(const std::vector<AttentionMap>& maps);
// The same as host flags (N·T), for reports and tests.
std::vector<char> attended_tokens(const std::vector<AttentionMap>& maps);

// Token labels for row n of ids (N, T): vocabulary tokens when `vocab` is not empty (ids outside it
// as their number), else the ids themselves.
std::vector<std::string> token_labels(const Tensor& ids, int64_t n, const std::vector<std::string>& vocab);
// The "tokens" list of a vocabulary JSON file ({"tokens": ["<pad>", "<unk>", ...], ...}, the format
// models/text writes next to checkpoints). Throws naming the file when it is missing or malformed.
std::vector<std::string> load_vocabulary_tokens(const std::string& path);

// One (T, T) attention matrix as an image: white (0) .. red (row-independent scale: the matrix's
// maximum), key labels above the columns (vertical), query labels left of the rows, `title` on top.
RgbImage render_attention(const Tensor& matrix, const std::vector<std::string>& labels, const std::string& title,
                          int cell = 18);

// Writes one PNG per (sample, layer, head) into `dir`: attention-s<n>-l<layer>-h<head>.png, plus the
// head mean as h "mean". Returns the paths written. Throws naming the directory when it cannot be written.
std::vector<std::string> write_attention_pngs(const std::string& dir, const std::vector<AttentionMap>& maps,
                                              const Tensor& ids, const std::vector<std::string>& vocab);

}  // namespace xdnn::explain
