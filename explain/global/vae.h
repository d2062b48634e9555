// A small variational autoencoder (Kingma & Welling 2014, "Auto-encoding variational Bayes", §2.4 and
// appendix B) built from xdnn's own layers and trained with its Adam, whose decoder is the generator prior
// of activation maximisation (Nguyen et al. 2016; explain/global/activation_max.h).
//
//   encoder  x (N, ...) -> Flatten -> Linear(P, H) "fc1" -> ReLU -> Linear(H, 2d) "fc2" = [μ, log σ²] (N, 2d)
//   decoder  z (N, d)   -> Linear(d, H) "fc1" -> ReLU -> Linear(H, P) "fc2" (logits l) -> Sigmoid (N, P)
//
// Loss per example, the negative ELBO with a Bernoulli decoder (binary cross-entropy on pixels in [0, 1]):
//   L = Σ_i softplus(l_i) − x_i l_i  +  ½ Σ_j (μ_j² + σ_j² − log σ_j² − 1),   z = μ + σ ⊙ ε,  ε ~ N(0, I)
// averaged over the batch. Gradients (the reparameterisation trick, eq. 10):
//   ∂L/∂l = σ(l) − x;   ∂L/∂μ = ∂L/∂z + μ;   ∂L/∂log σ² = ½ ∂L/∂z ⊙ ε ⊙ σ + ½ (σ² − 1)
// then each network's own backward pass. The loss and these gradients run through ops:: on the networks'
// device. Determinism: one Rng(seed) stream draws the initialisation, each epoch's shuffle and every ε in
// order, serially on the host (ε goes to the device as one copy a batch), so a run is the same bits for any
// thread count, and the CPU's bits on the Strict device.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "models/io/safetensors.h"
#include "models/model.h"

namespace xdnn::explain {

struct VaeConfig {
  int64_t latent = 8;    // d
  int64_t hidden = 256;  // H
  int64_t epochs = 10;
  int64_t batch_size = 128;
  double lr = 1e-3;  // Adam
  uint64_t seed = 0;
};

struct Vae {
  Model encoder, decoder;
  Shape image_shape;  // one example's shape, e.g. (1, 28, 28); P = its product
};

// Both networks, initialised as PyTorch's nn.Linear from `rng` (encoder first). The decoder's
// input_shape is (d) and its output (N, P).
Vae build_vae(const Shape& image_shape, int64_t latent, int64_t hidden, Rng& rng);

// The batch's mean negative ELBO for images x (B, ...image shape) in [0, 1], on the networks' device, and
// noise eps (B, d) float64 (copied to x's device); with `accumulate` each parameter's gradient is added to
// its Param::grad.
double vae_loss(const Vae& vae, const Tensor& x, const Tensor& eps, bool accumulate);

// Trains `vae` on images (N, ...image shape) in [0, 1] (host), each batch copied to the device of the
// networks' parameters; `log(epoch, mean loss)` after each epoch (1-based).
// Returns the mean loss of each epoch.
std::vector<double> train_vae(Vae& vae, const Tensor& images, const VaeConfig& cfg,
                              const std::function<void(int64_t, double)>& log = {});

// The decoder as a safetensors checkpoint (format "xdnn-vae-decoder-1", the latent and hidden sizes and the
// image shape in the metadata, plus `extra` entries), and back: the decoder with input_shape (d) and the
// image shape it draws. A file of another kind or with other tensors is a one-line Error naming it.
void save_vae_decoder(const std::string& path, Vae& vae, const Metadata& extra);
Model load_vae_decoder(const std::string& path, Shape* image_shape);

}  // namespace xdnn::explain
