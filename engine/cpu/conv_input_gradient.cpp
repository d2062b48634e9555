// ops::conv2d_backward_input's checks before the device's table entry (engine/cpu/conv.cpp has the CPU's), and
// the flipped weights a caller may hand it (ops.h). Why the flipped weights: the CPU runs a stride-1 input
// gradient as the forward convolution of gy with wf (engine/cpu/conv_flipped.h) and otherwise reads w through
// an offset table, the MR rows of one output channel's taps in kh·kw·MR contiguous values and the next
// channel's further on. Once a weight tensor no longer fits the caches (ResNet-18's layer3 and layer4: 2.4 and
// 9.4 MB, and a model's weights stream from memory on every pass), those scattered reads ran the input
// gradient at 1.3-1.5x its forward; a layer whose weights no longer change builds wf once (Layer::freeze).
#include "engine/backend.h"
#include "engine/dispatch.h"
#include "engine/ops.h"

namespace xdnn::ops {

Tensor conv2d_backward_input(const Tensor& gy, const Tensor& w, const Shape& x_shape, const Conv2dGeometry& g,
                             const Tensor& w_flipped) {
  expect_float(gy, "conv2d_backward_input");
  expect_same_dtype(gy, w, "conv2d_backward_input");
  if (x_shape.size() != 4 || w.ndim() != 4)
    throw Error("conv2d_backward_input: expected 4-D shapes, got x " + shape_str(x_shape) + " and w " + w.describe());
  if (g.groups < 1 || w.dim(0) % g.groups != 0 || w.dim(1) * g.groups != x_shape[1])
    throw Error("conv2d_backward_input: " + std::to_string(g.groups) + " groups do not fit x " + shape_str(x_shape) +
                " and w " + w.describe());
  if (w_flipped.defined()) {
    const Shape want = {w.dim(1), w.dim(0), w.dim(2), w.dim(3)};
    if (g.groups != 1 || w_flipped.shape() != want || w_flipped.dtype() != w.dtype() ||
        w_flipped.device() != w.device())
      throw Error("conv2d_backward_input: flipped weights " + w_flipped.describe() + " do not fit w " + w.describe() +
                  " (expected " + shape_str(want) + ", one group, w's dtype and device)");
  }
  return backend_of("conv2d_backward_input", gy, w).conv2d_backward_input(gy, w, x_shape, g, w_flipped);
}

Tensor conv2d_flipped_weights(const Tensor& w) {
  if (w.ndim() != 4 || !w.is_float())
    throw Error("conv2d_flipped_weights: expected float weights (O, C, KH, KW), got " + w.describe());
  const int64_t O = w.dim(0), C = w.dim(1), KH = w.dim(2), KW = w.dim(3), taps = KH * KW;
  if (w.device() != Device::CPU)  // (C, O, KH, KW), then each kernel read backwards along both spatial axes
    return strided_slice(transpose_axes(w, {1, 0, 2, 3}), {0, 0, KH - 1, KW - 1}, {1, 1, -1, -1}, {C, O, KH, KW});
  // On the host, one serial pass (a frozen layer builds it under its lock, which must not wait for the thread
  // pool): row c of wf is written in order, each kernel read backwards from w. The generic transpose and
  // reversed slice above took 240 ms for ResNet-18's 44 MB of such weights.
  Tensor wf = Tensor::empty({C, O, KH, KW}, w.dtype());
  dispatch_float(w.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* src = w.data<T>();
    T* dst = wf.data<T>();
    for (int64_t c = 0; c < C; ++c)
      for (int64_t o = 0; o < O; ++o) {
        const T* k = src + (o * C + c) * taps;
        T* d = dst + (c * O + o) * taps;
        for (int64_t t = 0; t < taps; ++t) d[t] = k[taps - 1 - t];
      }
    return 0;
  });
  return wf;
}

}  // namespace xdnn::ops
