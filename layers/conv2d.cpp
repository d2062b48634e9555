#include "layers/conv2d.h"

#include <cmath>

#include "engine/ops_fill.h"

namespace xdnn {

Conv2d::Conv2d(const std::string& name, int64_t in_channels, int64_t out_channels, int64_t kernel_h, int64_t kernel_w,
               const Conv2dOptions& o, DType dtype)
    : name_(name), in_(in_channels), out_(out_channels) {
  if (in_channels < 1 || out_channels < 1 || kernel_h < 1 || kernel_w < 1 || o.groups < 1 ||
      in_channels % o.groups != 0 || out_channels % o.groups != 0)
    throw Error("Conv2d " + name + ": invalid configuration in=" + std::to_string(in_channels) + " out=" +
                std::to_string(out_channels) + " kernel=" + std::to_string(kernel_h) + "x" + std::to_string(kernel_w) +
                " groups=" + std::to_string(o.groups) + " (channels must be divisible by groups)");
  if (o.stride_h < 1 || o.stride_w < 1 || o.dilation_h < 1 || o.dilation_w < 1 || o.pad_top < 0 || o.pad_left < 0 ||
      o.pad_bottom < 0 || o.pad_right < 0)
    throw Error("Conv2d " + name + ": stride and dilation must be >= 1 and padding >= 0");
  geom_ = {o.stride_h,  o.stride_w,   o.pad_top,    o.pad_left, o.pad_bottom,
           o.pad_right, o.dilation_h, o.dilation_w, o.groups};
  weight_.name = name + ".weight";
  if (o.allocate) weight_.value = Tensor({out_channels, in_channels / o.groups, kernel_h, kernel_w}, dtype);
  bias_.name = name + ".bias";  // named even when absent, so a canonizer can add one (BN folding)
  if (o.bias && o.allocate) bias_.value = Tensor({out_channels}, dtype);
}

void Conv2d::init(Rng& rng) {
  const Shape& s = weight_.value.shape();
  const double bound = 1.0 / std::sqrt(static_cast<double>(s[1] * s[2] * s[3]));
  ops::fill_uniform_inplace(weight_.value, -bound, bound, rng);
  if (bias_.value.defined()) ops::fill_uniform_inplace(bias_.value, -bound, bound, rng);
}

std::vector<Param*> Conv2d::params() {
  kept_.reset(false, false);  // the caller may change the weights
  if (bias_.value.defined()) return {&weight_, &bias_};
  return {&weight_};
}

std::vector<const Param*> Conv2d::read_params() const {
  if (bias_.value.defined()) return {&weight_, &bias_};
  return {&weight_};
}

void Conv2d::freeze() {
  const Tensor& w = weight_.value;
  kept_.reset(w.defined(), w.defined() && w.device() == Device::CPU && geom_.groups == 1 && geom_.stride_h == 1 &&
                               geom_.stride_w == 1 && w.dim(2) * w.dim(3) > 1);
}

Tensor Conv2d::flipped_weights(WeightForm form) const {
  std::lock_guard<std::mutex> lock(kept_.mutex);
  return kept_.forms[static_cast<int>(form)].flipped;
}

// Built outside the lock: ops::unary may use the thread pool, and a thread holding the layer's lock must not wait
// for the pool (a pool task may be waiting for the lock). Two threads may both build it; the first one kept is
// the one every caller gets, so the flipped form found by its storage is always the kept one's. A reset in
// between (params(), freeze()) starts a new generation, whose weights may differ: nothing built before it is kept.
Tensor Conv2d::kept_part(WeightForm form) const {
  Kept::Form& f = kept_.forms[static_cast<int>(form)];
  bool keep = false;  // not frozen: build, keep nothing
  uint64_t generation = 0;
  {
    std::lock_guard<std::mutex> lock(kept_.mutex);
    if (kept_.frozen && f.weights.defined()) return f.weights;
    keep = kept_.frozen;
    generation = kept_.generation;
  }
  // LinearLike's own definitions, which an unfrozen layer returns as they are.
  Tensor built = form == WeightForm::Positive ? LinearLike::weight_positive_part() : LinearLike::weight_negative_part();
  if (!keep) return built;
  std::lock_guard<std::mutex> lock(kept_.mutex);
  if (!kept_.frozen || kept_.generation != generation) return built;
  if (!f.weights.defined()) f.weights = built;
  return f.weights;
}

Tensor Conv2d::weight_positive_part() const { return kept_part(WeightForm::Positive); }
Tensor Conv2d::weight_negative_part() const { return kept_part(WeightForm::Negative); }

// Which form W is: the layer's own weight by address, W⁺ or W⁻ by storage (the rules hold copies of the kept
// tensors, which share it; a kept tensor stays alive while frozen, so no other tensor can have its storage). A
// rule's other substitute weights (W + γW⁺, W², ...) are none of them and go through the offset table.
Tensor Conv2d::flipped_for(const Tensor& W) const {
  std::lock_guard<std::mutex> lock(kept_.mutex);
  if (!kept_.flip) return Tensor();
  Kept::Form* form = nullptr;
  if (&W == &weight_.value) {
    form = &kept_.forms[static_cast<int>(WeightForm::Plain)];
  } else {
    for (int f = 1; f < 3 && !form; ++f) {
      const Tensor& k = kept_.forms[f].weights;
      if (k.defined() && W.defined() && W.shape() == k.shape() && W.dtype() == k.dtype() &&
          W.raw_device_data() == k.raw_device_data())
        form = &kept_.forms[f];
    }
  }
  if (!form) return Tensor();
  if (!form->flipped.defined() && ++form->passes >= kFlipAtPass)
    form->flipped = ops::conv2d_flipped_weights(W);  // W is the weight, or shares the kept form's storage
  return form->flipped;
}

Tensor Conv2d::as_4d(const Tensor& x) const {
  const bool one_d = x.ndim() == 3 && weight_.value.dim(2) == 1 && geom_.pad_top == 0 && geom_.pad_bottom == 0;
  if (!x.defined() || !x.is_float() || !(x.ndim() == 4 || one_d) || x.dim(1) != in_) {
    const std::string c = std::to_string(in_);
    throw Error("Conv2d " + name_ + ": expected input (N, " + c + ", H, W)" +
                (weight_.value.dim(2) == 1 ? " or (N, " + c + ", L)" : std::string()) + ", got " +
                (x.defined() ? x.describe() : std::string("an undefined tensor")));
  }
  if (x.dtype() != weight_.value.dtype())
    throw Error("Conv2d " + name_ + ": input " + x.describe() + " does not match the " +
                dtype_name(weight_.value.dtype()) + " weight");
  if (x.ndim() == 3) return x.reshape({x.dim(0), x.dim(1), 1, x.dim(2)});
  return x;
}

// x: (N, C, H, W) or (N, C, L); W: (O, C/groups, KH, KW); b: (O) or undefined.
Tensor Conv2d::linear_forward(const Tensor& x, const Tensor& W, const Tensor& b) const {
  Tensor y = ops::conv2d_forward(as_4d(x), W, b, geom_);  // (N, O, OH, OW)
  if (x.ndim() == 3) return y.reshape({y.dim(0), y.dim(1), y.dim(3)});
  return y;
}

Tensor Conv2d::linear_backward_input(const Tensor& s, const Tensor& W, const Shape& x_shape) const {
  Shape x4 = x_shape;
  if (x4.size() == 3) x4.insert(x4.begin() + 2, 1);
  const Shape y4 = ops::conv2d_output_shape(x4, W.shape(), geom_);
  return ops::conv2d_backward_input(s.reshape(y4), W, x4, geom_, flipped_for(W)).reshape(x_shape);
}

Tensors Conv2d::forward(const Tensors& x, Saved& saved, const ForwardOptions&) {
  saved.put("x", x.at(0));  // the weight gradient and LRP rules read it
  Tensor z = linear_forward(x[0], weight_.value, bias_.value);
  saved.put("z", z);  // LRP rules reuse W ⋆ x + b instead of computing it again (layers/lrp_rules.cpp)
  return {z};
}

Tensors Conv2d::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) {
  if (!grad_y.at(0).defined()) return {Tensor()};
  const Tensor& x = saved.tensor("x");
  const Tensor x4 = as_4d(x);
  const Shape y4 = ops::conv2d_output_shape(x4.shape(), weight_.value.shape(), geom_);
  if (grad_y[0].numel() != shape_numel(y4))
    throw Error("Conv2d " + name_ + ": output gradient " + grad_y[0].describe() + " does not match output " +
                shape_str(y4));
  const Tensor gy = grad_y[0].reshape(y4);
  if (opt.param_grad == ParamGrad::Accumulate) {
    const bool had = weight_.grad.defined();
    if (!had) weight_.grad = Tensor(weight_.value.shape(), weight_.value.dtype(), weight_.value.device());
    if (bias_.value.defined()) {  // both in one pass over gy
      if (!bias_.grad.defined()) bias_.grad = Tensor(bias_.value.shape(), bias_.value.dtype(), bias_.value.device());
      ops::conv2d_backward_weight_bias(x4, gy, weight_.grad, had, bias_.grad, geom_);
    } else {
      ops::conv2d_backward_weight(x4, gy, weight_.grad, had, geom_);
    }
  } else if (opt.param_grad == ParamGrad::PerExample) {
    weight_.grad = ops::conv2d_backward_weight_per_example(x4, gy, weight_.value.shape(), geom_);
    if (bias_.value.defined()) bias_.grad = ops::conv2d_backward_bias(gy, true);
  }
  if (!opt.input_grad) return {Tensor()};  // parameter gradients only (the first layer when training)
  return {
      ops::conv2d_backward_input(gy, weight_.value, x4.shape(), geom_, flipped_for(weight_.value)).reshape(x.shape())};
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration conv_basic{{"Conv2d/3x3-pad1", [](Rng& rng) {
                                       auto layer = std::make_shared<Conv2d>("conv", 3, 4, 3, 3,
                                                                             Conv2dOptions::same(1, 1), DType::F64);
                                       layer->init(rng);
                                       return LayerExample{layer, {random_tensor({2, 3, 5, 6}, rng)}};
                                     }}};
LayerExampleRegistration conv_general{{"Conv2d/stride-dilation-groups2-asym-pad-no-bias", [](Rng& rng) {
                                         Conv2dOptions o;
                                         o.stride_h = 2;
                                         o.stride_w = 1;
                                         o.pad_top = 1;
                                         o.pad_left = 0;
                                         o.pad_bottom = 2;
                                         o.pad_right = 1;
                                         o.dilation_h = 1;
                                         o.dilation_w = 2;
                                         o.groups = 2;
                                         o.bias = false;
                                         auto layer = std::make_shared<Conv2d>("conv", 4, 6, 3, 2, o, DType::F64);
                                         layer->init(rng);
                                         return LayerExample{layer, {random_tensor({3, 4, 6, 5}, rng)}};
                                       }}};
LayerExampleRegistration conv_pointwise{{"Conv2d/1x1-pointwise-groups2", [](Rng& rng) {
                                           Conv2dOptions o = Conv2dOptions::same(1, 0, 1, 2);
                                           auto layer = std::make_shared<Conv2d>("conv", 4, 6, 1, 1, o, DType::F64);
                                           layer->init(rng);
                                           return LayerExample{layer, {random_tensor({2, 4, 3, 5}, rng)}};
                                         }}};
LayerExampleRegistration conv_1d{{"Conv2d/1d-input", [](Rng& rng) {
                                    Conv2dOptions o = Conv2dOptions::same(2, 0);
                                    o.pad_left = o.pad_right = 1;
                                    auto layer = std::make_shared<Conv2d>("conv", 3, 2, 1, 3, o, DType::F64);
                                    layer->init(rng);
                                    return LayerExample{layer, {random_tensor({2, 3, 9}, rng)}};
                                  }}};
// Depthwise (groups = C: engine/cpu/conv_depthwise.h), as MobileNetV2's 3x3 layers, and with a channel
// multiplier of 2, stride 2, dilation and asymmetric padding.
LayerExampleRegistration conv_depthwise{{"Conv2d/depthwise-3x3-pad1", [](Rng& rng) {
                                           Conv2dOptions o = Conv2dOptions::same(1, 1, 1, 3);
                                           auto layer = std::make_shared<Conv2d>("conv", 3, 3, 3, 3, o, DType::F64);
                                           layer->init(rng);
                                           return LayerExample{layer, {random_tensor({2, 3, 5, 6}, rng)}};
                                         }}};
LayerExampleRegistration conv_depthwise_multiplier{{"Conv2d/depthwise-multiplier2-stride2-dilation", [](Rng& rng) {
                                                      Conv2dOptions o = Conv2dOptions::same(2, 1, 1, 3);
                                                      o.pad_right = 2;
                                                      o.dilation_w = 2;
                                                      o.bias = false;
                                                      auto layer =
                                                          std::make_shared<Conv2d>("conv", 3, 6, 3, 2, o, DType::F64);
                                                      layer->init(rng);
                                                      return LayerExample{layer, {random_tensor({2, 3, 7, 6}, rng)}};
                                                    }}};
}  // namespace
}  // namespace xdnn
