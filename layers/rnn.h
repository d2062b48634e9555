// Recurrent layers: Elman RNN (tanh / relu), and the shared driver behind LSTM (layers/lstm.h) and GRU
// (layers/gru.h): stacked layers, bidirectional, variable lengths, backpropagation through time with
// parameter gradients none / accumulated / per example.
//
// Conventions (PyTorch nn.RNN / nn.LSTM / nn.GRU with batch_first = True):
//   parameters  <name>.weight_ih_l{k}{_reverse} (G·H, I_k), <name>.weight_hh_l{k}{_reverse} (G·H, H),
//               <name>.bias_ih_l{k}{_reverse} (G·H), <name>.bias_hh_l{k}{_reverse} (G·H); G = 1 (RNN),
//               3 (GRU: r, z, n), 4 (LSTM: i, f, g, o). I_0 = input size, I_k = D·H above (D = 2 if
//               bidirectional).
//   inputs      x (N, T, I) float; [lengths (N) int64, each in [0, T]: steps t ≥ lengths[n] are padding];
//               [h0 (N, L·D, H)]; [c0 (N, L·D, H), LSTM only]. Missing or undefined initial states are 0.
//   outputs     y (N, T, D·H) (forward half first; 0 at padded steps), h_n (N, L·D, H) [, c_n (N, L·D, H)]
//               — the state after each sequence's last valid step (after step 0 for the reverse
//               direction), index l·D + d.
// Unlike PyTorch, initial and final states are batch-first, (N, L·D, H) rather than (L·D, N, H), so
// every tensor of the layer has the sample on axis 0: per-example passes and batch chunking rely on it.
// ONNX's time-major layout is handled by the importer's adapter (models/onnx/ops_sequence.cpp).
//
// Elman step (PyTorch nn.RNN): h_t = act(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh), act = tanh or relu.
#pragma once
#include "layers/layer.h"

namespace xdnn {

enum class RecurrentCell { RnnTanh, RnnRelu, LSTM, GRU };

struct RecurrentConfig {
  int64_t input_size = 0;
  int64_t hidden_size = 0;
  int num_layers = 1;
  bool bidirectional = false;
  bool bias = true;
};

class Recurrent : public Layer {
 public:
  Recurrent(const std::string& name, RecurrentCell cell, const RecurrentConfig& cfg, DType dtype = DType::F32);
  // PyTorch's default: U(−1/√H, 1/√H) for every weight and bias.
  void init(Rng& rng);

  std::vector<Param*> params() override;
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;

  const RecurrentConfig& config() const { return cfg_; }
  RecurrentCell cell() const { return cell_; }
  int64_t gates() const;  // G
  int directions() const { return cfg_.bidirectional ? 2 : 1; }
  // Parameters of layer l, direction d (0 forward, 1 reverse).
  Param& weight_ih(int l, int d) { return params_[4 * (l * directions() + d) + 0]; }
  Param& weight_hh(int l, int d) { return params_[4 * (l * directions() + d) + 1]; }
  Param& bias_ih(int l, int d) { return params_[4 * (l * directions() + d) + 2]; }
  Param& bias_hh(int l, int d) { return params_[4 * (l * directions() + d) + 3]; }

 protected:
  // What forward saves (time-major internally: (T, N, ...)): the integers "inputs" (how many the call had),
  // "N" and "T"; "mask" (T, N), 1 on valid steps, or undefined; the list "layer_inputs", (T, N, I_l) per
  // layer; and per (layer l, direction d), at index l·D + d of each list: "A" (T, N, G·H) the gate
  // activations, "Z" the gate pre-activations (LSTM; GRU: W_h h_{t−1} + b_h), "Hprev" and "Hout" (T, N, H)
  // the state before and after each step, and for LSTM "Cprev" and "Cout" (T, N, H) the cell state.

  std::string name_;
  RecurrentCell cell_;
  RecurrentConfig cfg_;
  std::vector<Param> params_;  // 4 per (layer, direction): weight_ih, weight_hh, bias_ih, bias_hh
};

class RNN : public Recurrent {
 public:
  RNN(const std::string& name, const RecurrentConfig& cfg, bool relu = false, DType dtype = DType::F32)
      : Recurrent(name, relu ? RecurrentCell::RnnRelu : RecurrentCell::RnnTanh, cfg, dtype) {}
  const char* kind() const override { return "RNN"; }
};

}  // namespace xdnn
