// Data movement along arbitrary axes on the GPU (CPU twin: engine/cpu/data_movement.cpp), any dtype:
// elements move as 4- or 8-byte words. Shape logic and the preimage lists of the backward passes are
// built on the host (kernels/data_movement_body.h); the kernels are one thread per output element, the
// adding backward passes gathers in the CPU op's order (no atomics).
#include <cstring>
#include <string>

#include "engine/dispatch.h"
#include "engine/shape_util.h"
#include "kernels/cuda_backend.h"
#include "kernels/data_movement_body.h"
#include "kernels/index_check.h"

namespace xdnn::cuda {
namespace {

void check_rank(const Tensor& x, size_t n, const char* what) {
  if (static_cast<size_t>(x.ndim()) != n)
    throw Error(std::string(what) + ": expected " + std::to_string(n) + " per-axis values for input " + x.describe());
}

PadKind pad_kind(ops::PadMode mode) {
  return mode == ops::PadMode::Constant ? PadKind::Constant
                                        : (mode == ops::PadMode::Reflect ? PadKind::Reflect : PadKind::Edge);
}

Tensor to_device(const std::vector<int64_t>& v) {
  return Tensor::from_vector({static_cast<int64_t>(v.size())}, v).to(Device::CUDA);
}

// Checks indices (on the GPU) against [−A, A) on the host; returns the host copy.
Tensor checked_indices(const Tensor& indices, int64_t A, int64_t axis, const Tensor& data) {
  expect_cuda(indices, "gather");
  if (indices.dtype() != DType::I64) throw Error("gather: indices must be int64, got " + indices.describe());
  Tensor host = indices.to(Device::CPU);
  const int64_t* pi = host.data<int64_t>();
  for (int64_t k = 0; k < host.numel(); ++k)
    if (pi[k] < -A || pi[k] >= A)
      throw Error("gather: index " + std::to_string(pi[k]) + " is outside [" + std::to_string(-A) + ", " +
                  std::to_string(A) + ") for axis " + std::to_string(axis) + " of " + data.describe());
  return host;
}

}  // namespace

Tensor strided_copy(const Tensor& x, const StridedMap& m, const Shape& out_shape, const char* what) {
  Tensor y = Tensor::empty(out_shape, x.dtype(), Device::CUDA);
  dispatch_word(x.dtype(), [&](auto word) {
    using E = decltype(word);
    launch_map(y.numel(),
               StridedCopyBody<E>{static_cast<const E*>(x.raw_device_data()), static_cast<E*>(y.raw_device_data()), m},
               what);
    return 0;
  });
  return y;
}

Tensor strided_slice(const Tensor& x, const std::vector<int64_t>& starts, const std::vector<int64_t>& steps,
                     const Shape& out_shape) {
  expect_cuda(x, "slice");
  check_rank(x, starts.size(), "slice");
  check_rank(x, steps.size(), "slice");
  check_rank(x, out_shape.size(), "slice");
  return strided_copy(x, slice_map(x.shape(), starts, steps, out_shape, "slice"), out_shape, "strided_slice");
}

Tensor strided_slice_backward(const Tensor& gy, const std::vector<int64_t>& starts, const std::vector<int64_t>& steps,
                              const Shape& x_shape) {
  expect_cuda(gy, "slice backward");
  const SliceBackMap m = slice_back_map(x_shape, starts, steps, gy.shape(), "slice backward");
  Tensor gx = Tensor::empty(x_shape, gy.dtype(), Device::CUDA);
  dispatch_word(gy.dtype(), [&](auto word) {
    using E = decltype(word);
    launch_map(
        gx.numel(),
        SliceBackwardBody<E>{static_cast<const E*>(gy.raw_device_data()), static_cast<E*>(gx.raw_device_data()), m},
        "strided_slice_backward");
    return 0;
  });
  return gx;
}

Tensor transpose_axes(const Tensor& x, const std::vector<int64_t>& perm) {
  expect_cuda(x, "transpose");
  check_rank(x, perm.size(), "transpose");
  const PermutedShape permuted = permuted_shape(x, perm);
  const Shape& out = permuted.shape;
  const std::vector<int64_t>& stride = permuted.source_strides;
  return strided_copy(x, strided_map(out, stride, 0, "transpose"), out, "transpose_axes");
}

Tensor concat_axis(const std::vector<Tensor>& xs, int64_t axis) {
  for (const Tensor& t : xs) expect_cuda(t, "concat");
  const Shape out = concat_shape(xs, axis);
  const Tensor& a = xs[0];
  int64_t inner = 1;
  for (int d = static_cast<int>(axis) + 1; d < a.ndim(); ++d) inner *= out[d];
  Tensor y = Tensor::empty(out, a.dtype(), Device::CUDA);
  dispatch_word(a.dtype(), [&](auto word) {
    using E = decltype(word);
    int64_t at = 0;
    for (const Tensor& t : xs) {
      const int64_t len = t.dim(static_cast<int>(axis)) * inner;
      if (len > 0)
        launch_map(t.numel(),
                   ConcatCopyBody<E>{static_cast<const E*>(t.raw_device_data()), static_cast<E*>(y.raw_device_data()),
                                     len, out[axis] * inner, at},
                   "concat_axis");
      at += len;
    }
    return 0;
  });
  return y;
}

Tensor pad_axes(const Tensor& x, const std::vector<int64_t>& pb, const std::vector<int64_t>& pe, ops::PadMode mode,
                double value) {
  expect_cuda(x, "pad");
  check_rank(x, pb.size(), "pad");
  check_rank(x, pe.size(), "pad");
  const PadMap m = pad_map(x.shape(), pb, pe, pad_kind(mode));
  Shape out(m.out_dims, m.out_dims + m.ndim);
  Tensor y = Tensor::empty(out, x.dtype(), Device::CUDA);
  dispatch_word(x.dtype(), [&](auto word) {
    using E = decltype(word);
    E fill = 0;  // the constant's bits in x's dtype (4-byte words: float32; 8-byte: float64 or int64)
    if constexpr (sizeof(E) == 4) {
      const float f = static_cast<float>(value);
      std::memcpy(&fill, &f, sizeof(E));
    } else if (x.dtype() == DType::F64) {
      std::memcpy(&fill, &value, sizeof(E));
    } else {
      const int64_t i = static_cast<int64_t>(value);
      std::memcpy(&fill, &i, sizeof(E));
    }
    launch_map(y.numel(),
               PadBody<E>{static_cast<const E*>(x.raw_device_data()), static_cast<E*>(y.raw_device_data()), fill, m},
               "pad_axes");
    return 0;
  });
  return y;
}

Tensor pad_axes_backward(const Tensor& gy, const std::vector<int64_t>& pb, const std::vector<int64_t>& pe,
                         ops::PadMode mode, const Shape& x_shape) {
  expect_cuda(gy, "pad backward");
  ops::expect_float(gy, "pad backward");
  PadBackMap m;
  const Tensor csr = to_device(pad_backward_csr(x_shape, pb, pe, pad_kind(mode), m));
  Tensor gx = Tensor::empty(x_shape, gy.dtype(), Device::CUDA);
  dispatch_float(gy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(gx.numel(), PadBackwardBody<T>{gy.device_data<T>(), csr.device_data<int64_t>(), gx.device_data<T>(), m},
               "pad_axes_backward");
    return 0;
  });
  return gx;
}

Tensor gather_axis(const Tensor& data, const Tensor& indices, int64_t axis) {
  expect_cuda(data, "gather");
  if (indices.dtype() != DType::I64) throw Error("gather: indices must be int64, got " + indices.describe());
  if (axis < 0 || axis >= data.ndim()) throw Error("gather: axis out of range for " + data.describe());
  const int64_t A = data.dim(static_cast<int>(axis));
  // Checked on the device: only the first bad position (and its index) comes back (kernels/index_check.h).
  expect_cuda(indices, "gather");
  if (const int64_t bad = first_outside(indices, -A, A); bad >= 0)
    throw Error("gather: index " + std::to_string(id_at(indices, bad)) + " is outside [" + std::to_string(-A) + ", " +
                std::to_string(A) + ") for axis " + std::to_string(axis) + " of " + data.describe());
  int64_t inner = 1;
  for (int d = static_cast<int>(axis) + 1; d < data.ndim(); ++d) inner *= data.dim(d);
  Shape out(data.shape().begin(), data.shape().begin() + axis);
  out.insert(out.end(), indices.shape().begin(), indices.shape().end());
  out.insert(out.end(), data.shape().begin() + axis + 1, data.shape().end());
  Tensor y = Tensor::empty(out, data.dtype(), Device::CUDA);
  dispatch_word(data.dtype(), [&](auto word) {
    using E = decltype(word);
    launch_map(y.numel(),
               GatherBody<E>{static_cast<const E*>(data.raw_device_data()), indices.device_data<int64_t>(),
                             static_cast<E*>(y.raw_device_data()), A, indices.numel(), inner},
               "gather_axis");
    return 0;
  });
  return y;
}

// Gather backward / scatter-add of gy (outer, K, inner) into (outer, A, inner) through the host-built
// inverse index (kernels/data_movement_body.h).
Tensor gather_scatter_add(const Tensor& gy, const Tensor& host_indices, int64_t A, int64_t inner,
                          const Shape& out_shape, const char* what) {
  const int64_t K = host_indices.numel();
  const Tensor csr = to_device(inverse_index_csr(host_indices.data<int64_t>(), K, A));
  Tensor gx = Tensor::empty(out_shape, gy.dtype(), Device::CUDA);
  dispatch_float(gy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const int64_t* pc = csr.device_data<int64_t>();
    launch_map(gx.numel(), GatherBackwardBody<T>{gy.device_data<T>(), pc, pc + A + 1, gx.device_data<T>(), A, K, inner},
               what);
    return 0;
  });
  return gx;
}

Tensor gather_axis_backward(const Tensor& gy, const Tensor& indices, int64_t axis, const Shape& data_shape) {
  expect_cuda(gy, "gather backward");
  ops::expect_float(gy, "gather backward");
  if (axis < 0 || axis >= static_cast<int64_t>(data_shape.size()))
    throw Error("gather backward: axis out of range for " + shape_str(data_shape));
  const int64_t A = data_shape[axis];
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= data_shape[d];
  for (size_t d = axis + 1; d < data_shape.size(); ++d) inner *= data_shape[d];
  const Tensor host = checked_indices(indices, A, axis, gy);
  if (gy.numel() != outer * host.numel() * inner)
    throw Error("gather backward: gradient " + gy.describe() + " does not match indices " + indices.describe() +
                " and data shape " + shape_str(data_shape));
  return gather_scatter_add(gy, host, A, inner, data_shape, "gather_axis_backward");
}

}  // namespace xdnn::cuda
