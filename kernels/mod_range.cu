// Float Mod and arange on the GPU (CPU twins: engine/cpu/mod_range.cpp; bodies: kernels/mod_range_body.h).
#include <string>

#include "engine/dispatch.h"
#include "engine/shape_util.h"
#include "kernels/cuda_backend.h"
#include "kernels/mod_range_body.h"

namespace xdnn::cuda {

std::vector<Tensor> mod(const Tensor& a, const Tensor& b, bool fmod) {
  expect_cuda(a, "mod");
  expect_cuda(b, "mod");
  const Shape ys = broadcast_shapes(a.shape(), b.shape());
  if (static_cast<int>(ys.size()) > kMaxDims)
    throw Error("mod: at most " + std::to_string(kMaxDims) + " axes on CUDA, got " + shape_str(ys));
  ModMap m;
  m.ndim = static_cast<int>(ys.size());
  const Shape sa = a.strides(), sb = b.strides();
  for (int d = 0; d < m.ndim; ++d) m.dims[d] = ys[d];
  for (int d = 0; d < a.ndim(); ++d) m.a_strides[d + m.ndim - a.ndim()] = a.dim(d) == 1 ? 0 : sa[d];
  for (int d = 0; d < b.ndim(); ++d) m.b_strides[d + m.ndim - b.ndim()] = b.dim(d) == 1 ? 0 : sb[d];
  Tensor y = Tensor::empty(ys, a.dtype(), Device::CUDA), q = Tensor::empty(ys, a.dtype(), Device::CUDA);
  dispatch_float(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(y.numel(),
               ModBody<T>{a.device_data<T>(), b.device_data<T>(), y.device_data<T>(), q.device_data<T>(), fmod, m},
               "mod");
    return 0;
  });
  return {y, q};
}

Tensor arange(const Tensor& start, const Tensor& delta, int64_t n) {
  expect_cuda(start, "arange");
  expect_cuda(delta, "arange");
  Tensor y = Tensor::empty({n}, start.dtype(), Device::CUDA);
  const auto run = [&](auto zero) {
    using T = decltype(zero);
    launch_map(n, ArangeBody<T>{start.device_data<T>(), delta.device_data<T>(), y.device_data<T>()}, "arange");
    return 0;
  };
  if (start.dtype() == DType::I64)
    run(int64_t{0});
  else
    dispatch_float(start.dtype(), run);
  return y;
}

}  // namespace xdnn::cuda
