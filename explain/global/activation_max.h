// Activation maximisation (feature visualisation): the input that a unit of the network responds to most,
// found by gradient ascent on the input (Erhan, Bengio, Courville & Vincent 2009, "Visualizing higher-layer
// features of a deep network", §3.1; Simonyan, Vedaldi & Zisserman 2014, "Deep inside convolutional
// networks", §2, eq. 1 with L2 decay; Olah, Mordvintsev & Schubert 2017, Distill "Feature Visualization":
// regularisation by penalties and by transformation robustness). For each requested unit u, from a seeded
// start x₀, `steps` Adam steps of ascent on
//   J(x) = a_u(T_t(x)) − λ₂ ‖x‖² − λ₁ ‖x‖₁ − λ_tv TV(x),    TV(x) = Σ_ij (x_i+1,j − x_ij)² + (x_i,j+1 − x_ij)²
// (the squared, β = 2, total variation of Mahendran & Vedaldi 2015, eq. 5), where T_t shifts the image by
// a random whole-pixel offset in [−jitter, jitter]² each step (circularly, so the shift is invertible and
// its gradient is the opposite shift), and x is clipped to the data's box [low, high] after every step.
// The target a_u is, at a named tensor A of the model (its output by default: the class logits):
//   channel  the mean of channel c over its positions, A[n, c, ...] averaged (Olah et al.'s "channel")
//   unit     one element of a sample's activation, by flat index into A[n] (a "neuron")
// On an (N, F) tensor both are the feature's value. The penalties are on x itself: 0 is the black
// background of Fashion-MNIST; give a --box of another centre for other data.
//
// Generator prior (Nguyen, Dosovitskiy, Yosinski, Brox & Clune 2016, "Synthesizing the preferred inputs
// for neurons in neural networks via deep generator networks", eq. 2): with a generator G (the decoder of
// a VAE, explain/global/vae.h) the ascent is on its latent z instead of the pixels,
//   J(z) = a_u(T_t(G(z))) − λ₂ ‖z‖² − λ₁ ‖G(z)‖₁ − λ_tv TV(G(z)),
// so that the picture stays among those G can draw; λ₂ ‖z‖² is the VAE's Gaussian prior on z (Nguyen et
// al. keep z in a box instead). No clipping is needed: G's sigmoid output lies in (0, 1).
//
// All units run as one batch (a row per unit): every random number comes from Rng(seed, step), so the
// result is the same bits for any thread count.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "models/model.h"

namespace xdnn::explain {

struct VisualizeTarget {
  std::string layer;           // tensor name; empty: the model's first output
  bool channel = true;         // channel mean (true) or one element (false)
  std::vector<int64_t> units;  // channel indices, or flat indices into one sample's activation
  // Where the model lives: the ascent's image (or latent), the jitter, the penalties and the Adam state live
  // there too and compute through ops::; the random draws (the start, each step's shifts) are made on the
  // host and go there as one copy; the activations a_u come back as values.
  Device device = Device::CPU;
};

struct VisualizeSettings {
  int64_t steps = 256;
  double lr = 0.05;              // Adam's step size (Kingma & Ba 2015), β = (0.9, 0.999), ε = 1e-8
  double l2 = 0.0;               // λ₂: on x, or on z with a generator
  double l1 = 0.0;               // λ₁
  double tv = 0.0;               // λ_tv
  int64_t jitter = 1;            // the largest shift in pixels (0: none)
  double low = 0.0, high = 1.0;  // the box x is clipped to (pixels without a generator)
  double init_scale = 0.01;      // x₀ = (low + high) / 2 + init_scale·(high − low)·N(0, 1); z₀ ~ N(0, I)
  uint64_t seed = 0;
};

struct VisualizeResult {
  Tensor images;                    // float32 (U, ...input shape) on the host: one image per unit
  std::vector<double> start;        // a_u at x₀ (no shift), per unit
  std::vector<double> activation;   // a_u at the final image (no shift), per unit
  std::vector<std::string> labels;  // "class 3 Dress", "conv2 channel 5", "fc unit 7"
};

// The tensor id of target.layer, checked (one-line Error naming --layer and a few tensors that exist), and
// every unit checked against that tensor's size for an input of `input_shape` (batch axis excluded): an
// index out of range is an Error naming --units, the index, the tensor and its range.
int resolve_target(const Model& model, const Shape& input_shape, const VisualizeTarget& target);

// Every unit's activation on every row of x (N, ...input shape): (N, U) float64 on the host (a table for the
// user), row n unit u = a_u(x_n).
Tensor unit_activations(const Model& model, const Tensor& x, const VisualizeTarget& target);

// The objective J and its gradient ∂J/∂x for the image batch x (U, ...input shape), float64, row u aimed at
// unit u, with the images shifted by shifts[u] = (dy, dx) before the model sees them (penalties on the
// unshifted x). The λ₂ term is on x (pass l2 = 0 when it is on a latent). Returns J per row; fills a_u
// per row in `activation` when given, and grad (float64, x's shape) on target.device. (Exposed for the
// finite-difference test.)
std::vector<double> visualize_objective(const Model& model, const VisualizeTarget& target, const VisualizeSettings& s,
                                        const Tensor& x, const std::vector<std::pair<int64_t, int64_t>>& shifts,
                                        Tensor* grad, std::vector<double>* activation = nullptr);

// The ascent, on pixels (generator == nullptr) or on the latent of `generator`, a model from latents
// (U, d) to pixels (U, prod(input_shape)) or (U, ...input shape) in the model's input range.
VisualizeResult visualize(const Model& model, const Shape& input_shape, const VisualizeTarget& target,
                          const VisualizeSettings& s, const Model* generator = nullptr);

// "0,3,5" -> {0, 3, 5}; "all" -> every channel (or unit) of the target for `input_shape`.
std::vector<int64_t> parse_units(const Model& model, const Shape& input_shape, const VisualizeTarget& target,
                                 const std::string& text);

}  // namespace xdnn::explain
