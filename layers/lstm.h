// LSTM (Hochreiter & Schmidhuber 1997, with forget gate; PyTorch nn.LSTM, batch_first = True).
// Shapes, parameter names and the batch-first states: see layers/rnn.h. Gate order i, f, g, o:
//   z_t = W_ih x_t + b_ih + W_hh h_{t−1} + b_hh            (4H)
//   i = σ(z_i), f = σ(z_f), g = tanh(z_g), o = σ(z_o)
//   c_t = f ⊙ c_{t−1} + i ⊙ g,    h_t = o ⊙ tanh(c_t)
// Outputs {y (N, T, D·H), h_n (N, L·D, H), c_n (N, L·D, H)}.
//
// LRP (Arras et al. 2017, "Explaining recurrent neural network predictions in sentiment analysis";
// ../shared/golden/README.md "LRP for the LSTM"), rule "epsilon" with ε = Rule::epsilon and
// stab_ε(z) = z + ε·sign(z), sign(0) = +1. Relevance R_y at y_t and R_{h_n} at h_n arrive at h_t;
// R_{c_n} at c_T. Going back over the steps of each direction (t = T..1 for the forward one):
//   R_c(t) += R_h(t)                      the hidden state hands all its relevance to the cell; the output
//                                         gate and tanh get none
//   R_c(t−1) = (f ⊙ c_{t−1}) ⊙ R_c(t) / stab_ε(c_t)
//   R_g(t)   = (i ⊙ g) ⊙ R_c(t) / stab_ε(c_t)                      signal-take-all: gates i, f get nothing
//   s = R_g(t) / stab_ε(z_g),  z_g = W_g x_t + U_g h_{t−1} + b_g  (both biases of the g gate; the bias
//                                                                 share is absorbed, not redistributed)
//   R_x(t) = x_t ⊙ W_gᵀ s,     R_h(t−1) += h_{t−1} ⊙ U_gᵀ s
// Stacked layers: R_x of layer l is the relevance at layer l−1's output sequence; bidirectional: both
// directions' R_x add up at the shared input. Padded steps (t ≥ length) pass R_h and R_c through
// unchanged and give the input nothing. Returned: {R_x (N, T, I), undefined (lengths), R_h0, R_c0}
// for the inputs given. Without biases and with ε → 0, Σ R_x + Σ R_h0 + Σ R_c0 = Σ R at the outputs.
#pragma once
#include "layers/rnn.h"

namespace xdnn {

class LSTM : public Recurrent {
 public:
  LSTM(const std::string& name, const RecurrentConfig& cfg, DType dtype = DType::F32)
      : Recurrent(name, RecurrentCell::LSTM, cfg, dtype) {}
  const char* kind() const override { return "LSTM"; }
  Tensors relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule) override;
  std::vector<std::string> relevance_rules() const override { return {"epsilon"}; }
};

}  // namespace xdnn
