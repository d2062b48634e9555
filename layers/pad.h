// Pad: constant, reflect or edge padding per axis (ONNX Pad; negative pads crop). Any dtype.
//   x: (d_0, ..., d_{n-1}) -> y: (d_i + begin_i + end_i)
// The pads may arrive at run time as an int64 input (ONNX Pad-11+ `pads`, layout [begins..., ends...]).
// Backward: the transpose (ops::pad_axes_backward; reflected / repeated positions add up).
// LRP: the same linear map transposed, i.e. relevance of padded constants is dropped ("pass").
#pragma once
#include "engine/ops.h"
#include "layers/layer.h"

namespace xdnn {

class Pad : public Layer {
 public:
  // pads: [begin_0, ..., begin_{n-1}, end_0, ..., end_{n-1}] (ONNX layout); empty = read from input 1.
  Pad(ops::PadMode mode, std::vector<int64_t> pads, double value = 0.0)
      : mode_(mode), pads_(std::move(pads)), value_(value) {}
  // ONNX auto_pad SAME_UPPER / SAME_LOWER for a window over the last kernel.size() axes: pads chosen per
  // call from the input size so that out = ⌈in / stride⌉; total = max(0, (out − 1)·stride + (k − 1)·d + 1 − in),
  // the odd element at the end (upper) or the beginning (lower). Filled with `value` (0 for Conv, −∞ for
  // MaxPool).
  // ONNX Pad-18 `axes`: the pads cover only these axes ([begins..., ends...] of len(axes) each).
  void set_axes(std::vector<int64_t> axes) { axes_ = std::move(axes); }
  static Pad same(std::vector<int64_t> kernel, std::vector<int64_t> stride, std::vector<int64_t> dilation, bool upper,
                  double value);
  const char* kind() const override { return "Pad"; }
  RelevancePass relevance_pass() const override { return RelevancePass::Backward; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;

 private:
  std::vector<int64_t> same_pads(const Shape& x) const;
  ops::PadMode mode_;
  std::vector<int64_t> pads_;
  std::vector<int64_t> axes_;
  double value_;
  std::vector<int64_t> same_kernel_, same_stride_, same_dilation_;  // non-empty: SAME mode
  bool same_upper_ = true;
};

}  // namespace xdnn
