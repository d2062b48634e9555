// The text models' first node (models/zoo.h): token ids -> sequence lengths and key-padding mask.
// TokenPadding: ids (N, T) int64 -> {lengths (N) int64, key_padding_mask (N, T) int64 (1 = padding)}.
// lengths[n] = 1 + the position of the last non-pad id of sample n (so a pad id inside a sequence is
// read as a token), mask[n, t] = t ≥ lengths[n]. This is the node that checks the ids against the
// model's contract: int64, (N, T), 1 ≤ T ≤ max_len (max_len < 0: any), ids in [0, V), no sample empty.
// Its outputs are integers: nothing flows back (backward and relevance return undefined tensors).
#pragma once
#include "layers/layer.h"

namespace xdnn {

class TokenPadding : public Layer {
 public:
  TokenPadding(int64_t vocab_size, int64_t max_len, int64_t pad_id)
      : vocab_(vocab_size), max_len_(max_len), pad_(pad_id) {}
  const char* kind() const override { return "TokenPadding"; }

  Tensors forward(const Tensors& x, Saved&, const ForwardOptions&) override;
  Tensors backward(const Tensors&, const Saved&, const BackwardOptions&) override { return {Tensor()}; }
  Tensors relevance(const Tensors&, const Saved&, const Rule&) override { return {Tensor()}; }
  std::vector<std::string> relevance_rules() const override { return {"any (integer outputs, nothing flows back)"}; }

  int64_t vocab_size() const { return vocab_; }
  int64_t max_len() const { return max_len_; }  // < 0: any length
  int64_t pad_id() const { return pad_; }

 private:
  int64_t vocab_, max_len_, pad_;
};

}  // namespace xdnn
