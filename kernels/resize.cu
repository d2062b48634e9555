// Resize on the GPU (CPU twin: engine/cpu/resize.cpp; bodies: kernels/resize_body.h). The taps, a few
// numbers per output index, are built on the host from shapes and copied once a call.
#include <string>
#include <vector>

#include "engine/dispatch.h"
#include "kernels/cuda_backend.h"
#include "kernels/resize_body.h"

namespace xdnn::cuda {
namespace {

template <class V>
Tensor on_device(const std::vector<V>& v) {
  return Tensor::from_vector({static_cast<int64_t>(v.size())}, v).to(Device::CUDA);
}

}  // namespace

Tensor resize(const Tensor& x, const ops::ResizeTaps& taps) {
  expect_cuda(x, "resize");
  std::vector<int64_t> ints;
  std::vector<double> doubles;
  const ResizeMap m = resize_pack_taps(taps, x.shape(), ints, doubles);
  const Tensor di = on_device(ints), dd = on_device(doubles);
  Shape ys(m.y_dims, m.y_dims + m.ndim);
  Tensor y = Tensor::empty(ys, x.dtype(), Device::CUDA);
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(
        y.numel(),
        ResizeBody<T>{x.device_data<T>(), y.device_data<T>(), di.device_data<int64_t>(), dd.device_data<double>(), m},
        "resize");
    return 0;
  });
  return y;
}

Tensor resize_backward(const Tensor& gy, const ops::ResizeTaps& taps, const Shape& x_shape) {
  expect_cuda(gy, "resize_backward");
  std::vector<int64_t> ints;
  std::vector<double> doubles;
  const ResizeMap m = resize_pack_preimages(taps, x_shape, ints, doubles);
  const Tensor di = on_device(ints), dd = on_device(doubles.empty() ? std::vector<double>{0.0} : doubles);
  Tensor gx = Tensor::empty(x_shape, gy.dtype(), Device::CUDA);
  dispatch_float(gy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(gx.numel(),
               ResizeBackwardBody<T>{gy.device_data<T>(), gx.device_data<T>(), di.device_data<int64_t>(),
                                     dd.device_data<double>(), m},
               "resize_backward");
    return 0;
  });
  return gx;
}

}  // namespace xdnn::cuda
