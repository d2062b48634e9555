// Conv2d: y = W ⋆ x + b (cross-correlation, as PyTorch's nn.Conv2d and ONNX Conv).
//   x: (N, C, H, W)   W: (O, C/groups, KH, KW) (OIHW)   b: (O)   y: (N, O, OH, OW)
//   OH = ⌊(H + pad_top + pad_bottom − dilation_h·(KH − 1) − 1) / stride_h⌋ + 1, likewise OW.
// 1-D input (N, C, L) is treated as (N, C, 1, L) with a (1, KW) kernel (ONNX Conv over one spatial axis):
// construct with kernel_h = 1 and zero vertical padding; the weight is stored as (O, C/groups, 1, KW), so
// an importer reshapes a 1-D weight (O, C/groups, KW) into it. The output is then (N, O, OL).
//
// Compute: im2col + packed GEMM in engine/cpu/conv.cpp (ops::conv2d_*). Every output position goes through
// the same GEMM, so identical receptive fields give bit-identical outputs anywhere in the image.
// Conv2d is LinearLike, so it has every rule of layers/lrp_rules.h; the clamped kernels (W⁺, W⁻) act as
// convolutions with the same geometry and zero padding.
//
// Example: Conv2d conv("conv1", 1, 8, 3, 3, Conv2dOptions::same(1, 1));   // stride 1, padding 1
#pragma once
#include <cstdint>
#include <mutex>

#include "engine/ops.h"
#include "layers/layer.h"

namespace xdnn {

struct Conv2dOptions {
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t groups = 1;
  bool bias = true;
  // false: the weight (and bias) tensors are left undefined for the caller to set (the ONNX importer
  // hands over the file's tensors; zeros of a 9 MB weight written and freed would add to peak memory).
  bool allocate = true;
  // Symmetric square settings, PyTorch style: stride, padding and dilation the same along H and W.
  static Conv2dOptions same(int64_t stride, int64_t padding, int64_t dilation = 1, int64_t groups = 1,
                            bool bias = true) {
    Conv2dOptions o;
    o.stride_h = o.stride_w = stride;
    o.pad_top = o.pad_left = o.pad_bottom = o.pad_right = padding;
    o.dilation_h = o.dilation_w = dilation;
    o.groups = groups;
    o.bias = bias;
    return o;
  }
};

class Conv2d : public Layer, public LinearLike {
 public:
  // Parameters `<name>.weight` (O, C/groups, KH, KW) and `<name>.bias` (O); zero until init() or loaded.
  Conv2d(const std::string& name, int64_t in_channels, int64_t out_channels, int64_t kernel_h, int64_t kernel_w,
         const Conv2dOptions& options = {}, DType dtype = DType::F32);
  // PyTorch's default (kaiming_uniform with a = √5): U(±1/√fan_in) for weight and bias,
  // fan_in = C/groups · KH · KW. Weight first, then bias, each in flat order.
  void init(Rng& rng);

  const char* kind() const override { return "Conv2d"; }
  std::vector<Param*> params() override;  // unfreezes (see freeze)
  std::vector<const Param*> read_params() const override;
  // From here on the layer keeps what its passes would otherwise rebuild per call (the same bits):
  // - W⁺ and W⁻ for the sign-split LRP rules (weight_positive_part / weight_negative_part), built on first use;
  // - on the CPU, for a stride-1, one-group convolution with a kernel larger than 1x1, the flipped forms
  //   (ops::conv2d_flipped_weights) of W, W⁺ and W⁻ that its input gradient reads instead of the weights
  //   through an offset table: faster where the weights are out of the caches (engine/cpu/conv_input_gradient.cpp).
  //   A form's copy is built by its kFlipAtPass-th input gradient after freeze(), not before: building them for
  //   all of ResNet-18 took 47 ms in a fresh process and saves 5-8 ms per saliency pass, so a run of one or two
  //   passes (or a forward-only one) would only pay for them.
  void freeze() override;
  static constexpr int kFlipAtPass = 3;
  enum class WeightForm { Plain, Positive, Negative };  // W, W⁺, W⁻
  // As built so far: undefined unless frozen and enough input gradients with that form ran.
  Tensor flipped_weights(WeightForm form = WeightForm::Plain) const;
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
  const LinearLike* as_linear() const override { return this; }

  // LinearLike (x may be 3-D or 4-D as in forward)
  const Tensor& weight() const override { return weight_.value; }
  const Tensor& bias() const override { return bias_.value; }
  const Tensor& saved_input(const Saved& saved) const override { return saved.tensor("x"); }
  Tensor weight_positive_part() const override;  // kept while frozen
  Tensor weight_negative_part() const override;
  Tensor linear_forward(const Tensor& x, const Tensor& W, const Tensor& b) const override;
  Tensor linear_backward_input(const Tensor& s, const Tensor& W, const Shape& x_shape) const override;

  const std::string& name() const { return name_; }
  int64_t in_channels() const { return in_; }
  int64_t out_channels() const { return out_; }
  const ops::Conv2dGeometry& geometry() const { return geom_; }
  Param& weight_param() {
    kept_.reset(false, false);
    return weight_;
  }
  Param& bias_param() { return bias_; }

 private:
  Tensor as_4d(const Tensor& x) const;  // validates x and views 1-D input as (N, C, 1, L)

  std::string name_;
  int64_t in_, out_;
  ops::Conv2dGeometry geom_;
  Param weight_, bias_;  // bias_.value undefined when options.bias == false
  // What a frozen layer keeps (freeze()), under a lock: a model may be explained from several threads. A copy of
  // the layer starts unfrozen.
  struct Kept {
    Kept() = default;
    Kept(const Kept&) {}
    Kept& operator=(const Kept&) {
      reset(false, false);
      return *this;
    }
    void reset(bool freeze, bool flip_input_gradient) {
      std::lock_guard<std::mutex> lock(mutex);
      frozen = freeze;
      flip = flip_input_gradient;
      ++generation;
      for (Form& f : forms) f = Form();
    }
    struct Form {
      Tensor weights;  // W⁺ or W⁻ once asked for (undefined for W: the layer's own weight_.value)
      int passes = 0;  // input gradients with this form since freeze()
      Tensor flipped;  // built by the kFlipAtPass-th of them
    };
    std::mutex mutex;
    bool frozen = false, flip = false;
    uint64_t generation = 0;  // resets so far: what was built in an earlier one is not kept
    Form forms[3];            // indexed by WeightForm
  };
  mutable Kept kept_;
  Tensor kept_part(WeightForm form) const;    // W⁺ or W⁻, kept while frozen
  Tensor flipped_for(const Tensor& W) const;  // the flipped form of W if it is W, W⁺ or W⁻ as kept, and frozen
};

}  // namespace xdnn
