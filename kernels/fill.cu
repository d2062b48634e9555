// Fills, masks, seeds and path points on the GPU (CPU twins: engine/cpu/fill.cpp; bodies:
// kernels/fill_body.h). Arguments arrive checked by the ops:: functions; small host vectors (the
// quadrature's nodes and weights) are copied to the device once per call.
#include <string>
#include <vector>

#include "engine/dispatch.h"
#include "kernels/cuda_backend.h"
#include "kernels/cuda_fill.h"
#include "kernels/fill_body.h"

namespace xdnn::cuda {
namespace {

template <class T>
Tensor host_vector_on_device(const std::vector<double>& v) {
  std::vector<T> cast(v.begin(), v.end());
  Tensor t = Tensor::from_vector({static_cast<int64_t>(v.size())}, cast);
  return t.to(Device::CUDA);
}

}  // namespace

Tensor length_mask(const Tensor& lengths, int64_t T, bool time_major, bool mean, DType dtype) {
  expect_cuda(lengths, "length_mask");
  const int64_t N = lengths.numel();
  Tensor m = time_major ? Tensor::empty({T, N}, dtype, Device::CUDA) : Tensor::empty({N, T}, dtype, Device::CUDA);
  dispatch_float(dtype, [&](auto zero) {
    using F = decltype(zero);
    launch_map(m.numel(), LengthMaskBody<F>{lengths.device_data<int64_t>(), m.device_data<F>(), N, T, time_major, mean},
               "length_mask");
    return 0;
  });
  return m;
}

Tensor attention_mask(int64_t N, int64_t T, bool causal, const Tensor& key_padding, DType dtype) {
  if (key_padding.defined()) expect_cuda(key_padding, "attention_mask");
  Tensor m = Tensor::empty({N, 1, T, T}, dtype, Device::CUDA);
  dispatch_float(dtype, [&](auto zero) {
    using F = decltype(zero);
    if (!key_padding.defined())
      launch_map(m.numel(), AttentionMaskBody<F, F>{nullptr, m.device_data<F>(), T, causal}, "attention_mask");
    else if (key_padding.dtype() == DType::I64)
      launch_map(m.numel(),
                 AttentionMaskBody<F, int64_t>{key_padding.device_data<int64_t>(), m.device_data<F>(), T, causal},
                 "attention_mask");
    else
      dispatch_float(key_padding.dtype(), [&](auto kzero) {
        using K = decltype(kzero);
        launch_map(m.numel(), AttentionMaskBody<F, K>{key_padding.device_data<K>(), m.device_data<F>(), T, causal},
                   "attention_mask");
        return 0;
      });
    return 0;
  });
  return m;
}

Tensor sinusoid_table(int64_t T, int64_t d, DType dtype) {
  Tensor p = Tensor::empty({T, d}, dtype, Device::CUDA);
  dispatch_float(dtype, [&](auto zero) {
    using F = decltype(zero);
    launch_map(p.numel(), SinusoidBody<F>{p.device_data<F>(), d}, "sinusoid_table");
    return 0;
  });
  return p;
}

Tensor one_hot(const Tensor& targets, int64_t K, DType dtype) {
  expect_cuda(targets, "one_hot");
  Tensor y = Tensor::empty({targets.numel(), K}, dtype, Device::CUDA);
  dispatch_float(dtype, [&](auto zero) {
    using F = decltype(zero);
    launch_map(y.numel(), KeepTargetsBody<F>{nullptr, targets.device_data<int64_t>(), y.device_data<F>(), K},
               "one_hot");
    return 0;
  });
  return y;
}

Tensor keep_targets(const Tensor& x, const Tensor& targets) {
  expect_cuda(x, "keep_targets");
  expect_cuda(targets, "keep_targets");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), Device::CUDA);
  dispatch_float(x.dtype(), [&](auto zero) {
    using F = decltype(zero);
    launch_map(y.numel(),
               KeepTargetsBody<F>{x.device_data<F>(), targets.device_data<int64_t>(), y.device_data<F>(), x.dim(1)},
               "keep_targets");
    return 0;
  });
  return y;
}

Tensor argmax_last_axis(const Tensor& x) {
  expect_cuda(x, "argmax");
  Shape s = x.shape();
  const int64_t K = s.back();
  s.pop_back();
  Tensor y = Tensor::empty(s, DType::I64, Device::CUDA);
  dispatch_float(x.dtype(), [&](auto zero) {
    using F = decltype(zero);
    launch_map(y.numel(), ArgmaxRowBody<F>{x.device_data<F>(), y.device_data<int64_t>(), K}, "argmax_last_axis");
    return 0;
  });
  return y;
}

Tensor interpolate_rows(const Tensor& base, const Tensor& delta, const std::vector<double>& alphas) {
  expect_cuda(base, "interpolate_rows");
  expect_cuda(delta, "interpolate_rows");
  Shape s = base.shape();
  s[0] *= static_cast<int64_t>(alphas.size());
  Tensor pts = Tensor::empty(s, base.dtype(), Device::CUDA);
  dispatch_float(base.dtype(), [&](auto zero) {
    using F = decltype(zero);
    const Tensor a = host_vector_on_device<F>(alphas);
    launch_map(pts.numel(),
               InterpolateRowsBody<F>{base.device_data<F>(), delta.device_data<F>(), a.device_data<F>(),
                                      pts.device_data<F>(), base.numel()},
               "interpolate_rows");
    return 0;
  });
  return pts;
}

void accumulate_weighted_rows(Tensor& sum, const Tensor& g, const std::vector<double>& weights) {
  expect_cuda(sum, "accumulate_weighted_rows");
  expect_cuda(g, "accumulate_weighted_rows");
  const Tensor w = host_vector_on_device<double>(weights);
  dispatch_float(g.dtype(), [&](auto zero) {
    using F = decltype(zero);
    launch_map(sum.numel(),
               WeightedRowsBody<F>{g.device_data<F>(), w.device_data<double>(), sum.device_data<double>(), sum.numel(),
                                   static_cast<int64_t>(weights.size())},
               "accumulate_weighted_rows");
    return 0;
  });
}

Tensor maxpool2d_gather(const Tensor& x, const Tensor& argmax) {
  expect_cuda(x, "maxpool2d_gather");
  expect_cuda(argmax, "maxpool2d_gather");
  Tensor y = Tensor::empty(argmax.shape(), x.dtype(), Device::CUDA);
  dispatch_float(x.dtype(), [&](auto zero) {
    using F = decltype(zero);
    launch_map(y.numel(),
               MaxpoolGatherBody<F>{x.device_data<F>(), argmax.device_data<int64_t>(), y.device_data<F>(),
                                    x.dim(2) * x.dim(3), argmax.dim(2) * argmax.dim(3)},
               "maxpool2d_gather");
    return 0;
  });
  return y;
}

}  // namespace xdnn::cuda
