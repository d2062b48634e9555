// BatchNorm2d (PyTorch nn.BatchNorm2d, ONNX BatchNormalization):
//   y = γ (x − μ) / sqrt(σ² + eps) + β, per channel.   x: (N, C, H, W) (any (N, C, ...) works), y: shape of x
//   training:   μ, σ² are the batch statistics over (N, H, W) (σ² biased); the running statistics are
//               updated as r ← (1 − momentum)·r + momentum·s with the UNBIASED batch variance for
//               running_var (PyTorch's convention); momentum 0.1.
//   evaluation: μ, σ² are running_mean, running_var.
// Parameters `<name>.weight` (γ, ones), `<name>.bias` (β, zeros); buffers `<name>.running_mean` (zeros),
// `<name>.running_var` (ones) returned by buffers() so checkpoints save them. num_batches_tracked()
// counts training forward calls (PyTorch's buffer of that name; not exposed as a float buffer).
// Per-example parameter gradients are exact in evaluation mode; in training mode samples are coupled
// through the batch statistics, and the per-example split is the one of Σ_n over the batch sums.
// LRP: "pass" — relevance is unchanged, used after the BN has been folded into the preceding Conv/Linear
// (W' = k·W, b' = k·(b − μ) + β with k = γ / sqrt(σ² + eps)); the accessors below are for that canonizer.
#pragma once
#include "layers/layer.h"

namespace xdnn {

class BatchNorm2d : public Layer {
 public:
  BatchNorm2d(const std::string& name, int64_t num_features, double eps = 1e-5, double momentum = 0.1,
              DType dtype = DType::F32);

  const char* kind() const override { return "BatchNorm2d"; }
  RelevancePass relevance_pass() const override { return RelevancePass::PassThrough; }
  std::vector<Param*> params() override { return {&weight_, &bias_}; }
  std::vector<Param*> buffers() override { return {&running_mean_, &running_var_}; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
  // R-operator (layer.h; explain/influence/hvp.h): evaluation mode only (affine in x given the running statistics).
  Tensors r_forward(const Tensors& rx, const Tensors& v, const Saved& saved) override;
  Tensors r_backward(const Tensors& gy, const Tensors& rgy, const Tensors& rx, const Tensors& v, const Saved& saved,
                     Tensors& rg_params) override;

  // For folding (canonizers) and inspection.
  const std::string& name() const { return name_; }
  int64_t num_features() const { return C_; }
  const Tensor& gamma() const { return weight_.value; }
  const Tensor& beta() const { return bias_.value; }
  const Tensor& running_mean() const { return running_mean_.value; }
  const Tensor& running_var() const { return running_var_.value; }
  double eps() const { return eps_; }
  double momentum() const { return momentum_; }
  int64_t num_batches_tracked() const { return batches_; }
  Param& weight_param() { return weight_; }
  Param& bias_param() { return bias_; }
  Param& running_mean_param() { return running_mean_; }
  Param& running_var_param() { return running_var_; }

 private:
  std::string name_;
  int64_t C_;
  double eps_, momentum_;
  int64_t batches_ = 0;
  Param weight_, bias_, running_mean_, running_var_;
};

}  // namespace xdnn
