// GRU (Cho et al. 2014; PyTorch nn.GRU, batch_first = True). Shapes, parameter names and batch-first
// states: see layers/rnn.h. Gate order r, z, n:
//   r = σ(W_ir x_t + b_ir + W_hr h_{t−1} + b_hr),  z = σ(W_iz x_t + b_iz + W_hz h_{t−1} + b_hz)
//   n = tanh(W_in x_t + b_in + r ⊙ (W_hn h_{t−1} + b_hn)),  h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}
// Outputs {y (N, T, D·H), h_n (N, L·D, H)}.
//
// LRP, rule "epsilon" (ε = Rule::epsilon, stab_ε(z) = z + ε·sign(z), sign(0) = +1): the signal-take-all
// treatment Arras et al. (2017, "Explaining recurrent neural network predictions in sentiment analysis")
// give the LSTM (layers/lstm.h), carried over to the GRU's two gated products. The gates z and r are
// weights, not signals, and get no relevance. Going back over the steps of each direction:
//   R_h(t) += R_y(t)
//   share  = R_h(t) / stab_ε(h_t)
//   R_n    = (1 − z) ⊙ n ⊙ share,   R_h(t−1) = z ⊙ h_{t−1} ⊙ share     (h_t = (1 − z) ⊙ n + z ⊙ h_{t−1})
//   tanh hands R_n unchanged to its pre-activation a = W_in x_t + b_in + r ⊙ (W_hn h_{t−1} + b_hn);
//   s = R_n / stab_ε(a),  R_x(t) = x_t ⊙ W_inᵀ s,  R_h(t−1) += h_{t−1} ⊙ W_hnᵀ (r ⊙ s)
// (the bias shares b_in and r ⊙ b_hn are absorbed). Stacked layers, bidirectional directions and padded
// steps as for the LSTM. Returned: {R_x (N, T, I), undefined (lengths), R_h0 (N, L·D, H)} for the inputs
// given. Without biases and with ε → 0, Σ R_x + Σ R_h0 = Σ R at the outputs.
#pragma once
#include "layers/rnn.h"

namespace xdnn {

class GRU : public Recurrent {
 public:
  GRU(const std::string& name, const RecurrentConfig& cfg, DType dtype = DType::F32)
      : Recurrent(name, RecurrentCell::GRU, cfg, dtype) {}
  const char* kind() const override { return "GRU"; }
  Tensors relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule) override;
  std::vector<std::string> relevance_rules() const override { return {"epsilon"}; }
};

}  // namespace xdnn
