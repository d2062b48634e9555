// GRU (Cho et al. 2014; PyTorch nn.GRU, batch_first = True). Shapes, parameter names and batch-first
// states: see layers/rnn.h. Gate order r, z, n:
//   r = σ(W_ir x_t + b_ir + W_hr h_{t−1} + b_hr),  z = σ(W_iz x_t + b_iz + W_hz h_{t−1} + b_hz)
//   n = tanh(W_in x_t + b_in + r ⊙ (W_hn h_{t−1} + b_hn)),  h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}
// Outputs {y (N, T, D·H), h_n (N, L·D, H)}. No LRP rule is defined for the GRU (relevance() throws).
#pragma once
#include "layers/rnn.h"

namespace xdnn {

class GRU : public Recurrent {
 public:
  GRU(const std::string& name, const RecurrentConfig& cfg, DType dtype = DType::F32)
      : Recurrent(name, RecurrentCell::GRU, cfg, dtype) {}
  const char* kind() const override { return "GRU"; }
};

}  // namespace xdnn
