#include "models/token_padding.h"

#include <string>
#include <vector>

#include "engine/ops_fill.h"

namespace xdnn {

Tensors TokenPadding::forward(const Tensors& x, Saved&, const ForwardOptions&) {
  const Tensor& ids = x.at(0);
  const std::string range = "1.." + (max_len_ >= 0 ? std::to_string(max_len_) : std::string("any"));
  if (!ids.defined() || ids.dtype() != DType::I64 || ids.ndim() != 2)
    throw Error("input 'ids': expected int64 token ids (N, T), got " +
                (ids.defined() ? ids.describe() : std::string("nothing")));
  const int64_t N = ids.dim(0), T = ids.dim(1);
  if (T == 0) throw Error("input 'ids': empty sequences (T = 0), expected a length in " + range);
  if (max_len_ >= 0 && T > max_len_)
    throw Error("input 'ids': sequence length " + std::to_string(T) +
                " is longer than the model's positional table, "
                "expected a length in " +
                range);
  // The ids are read back to the host (ops::index_vector, N·T int64: a copy from a device) because each
  // bad id must be named by sample and position; the lengths and the mask go back to the ids' device.
  const std::vector<int64_t> id = ops::index_vector(ids);
  std::vector<int64_t> len(static_cast<size_t>(N)), msk(static_cast<size_t>(N * T));
  for (int64_t n = 0; n < N; ++n) {
    int64_t last = -1;
    for (int64_t t = 0; t < T; ++t) {
      const int64_t v = id[n * T + t];
      if (v < 0 || v >= vocab_)
        throw Error("input 'ids': id " + std::to_string(v) + " at sample " + std::to_string(n) + ", position " +
                    std::to_string(t) + " is outside the vocabulary [0, " + std::to_string(vocab_ - 1) + "]");
      if (v != pad_) last = t;
    }
    if (last < 0)
      throw Error("input 'ids': sample " + std::to_string(n) + " is empty (only padding id " + std::to_string(pad_) +
                  "), expected at least one token");
    len[n] = last + 1;
    for (int64_t t = 0; t < T; ++t) msk[n * T + t] = t > last ? 1 : 0;
  }
  return {Tensor::from_vector({N}, len).to(ids.device()), Tensor::from_vector({N, T}, msk).to(ids.device())};
}

}  // namespace xdnn
