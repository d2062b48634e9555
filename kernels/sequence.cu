// Sequence-model data movement on the GPU (CPU twin: engine/cpu/sequence.cpp): axis permutation,
// embedding gather / scatter-add, last-axis concat and slice, broadcasting and where. One thread per
// output element (kernels/data_movement_body.h); the scatter-add is a gather over the inverse index in
// the CPU op's order (no atomics).
#include <string>

#include "engine/dispatch.h"
#include "engine/shape_util.h"
#include "kernels/cuda_backend.h"
#include "kernels/data_movement_body.h"
#include "kernels/index_check.h"

namespace xdnn::cuda {
namespace {

// Ids (int64, on the GPU) checked against [0, V) on the host, with the CPU op's message; the host copy (the
// scatter-add builds its inverse index from it).
Tensor checked_ids(const Tensor& ids, int64_t V, const char* what) {
  expect_cuda(ids, what);
  if (ids.dtype() != DType::I64) throw Error(std::string(what) + ": expected int64 token ids, got " + ids.describe());
  Tensor host = ids.to(Device::CPU);
  const int64_t* pi = host.data<int64_t>();
  for (int64_t i = 0; i < host.numel(); ++i)
    if (pi[i] < 0 || pi[i] >= V) throw Error(std::string(what) + ": id " + std::to_string(pi[i]) + " out of range");
  return host;
}

}  // namespace

Tensor permute_axes(const Tensor& x, const std::vector<int>& perm) {
  expect_cuda(x, "permute_axes");
  const int n = x.ndim();
  if (static_cast<int>(perm.size()) != n)
    throw Error("permute_axes: permutation of the wrong length for " + x.describe());
  std::vector<bool> seen(n, false);
  Shape out(n);
  std::vector<int64_t> stride(n);
  const Shape xs = x.strides();
  for (int i = 0; i < n; ++i) {
    if (perm[i] < 0 || perm[i] >= n || seen[perm[i]])
      throw Error("permute_axes: invalid permutation for " + x.describe());
    seen[perm[i]] = true;
    out[i] = x.shape()[perm[i]];
    stride[i] = xs[perm[i]];
  }
  return strided_copy(x, strided_map(out, stride, 0, "permute_axes"), out, "permute_axes");
}

Tensor gather_rows(const Tensor& table, const Tensor& ids) {
  expect_cuda(table, "embedding table");
  ops::expect_float(table, "embedding table");
  if (table.ndim() != 2) throw Error("embedding table: expected (V, d), got " + table.describe());
  const int64_t V = table.dim(0), d = table.dim(1);
  // Checked on the device: only the first bad position (and its id) comes back (kernels/index_check.h).
  expect_cuda(ids, "embedding ids");
  if (ids.dtype() != DType::I64) throw Error("embedding ids: expected int64 token ids, got " + ids.describe());
  if (const int64_t bad = first_outside(ids, 0, V); bad >= 0)
    throw Error("embedding ids: id " + std::to_string(id_at(ids, bad)) + " at flat position " + std::to_string(bad) +
                " is outside the valid range [0, " + std::to_string(V - 1) + "]");
  Shape out = ids.shape();
  out.push_back(d);
  Tensor y = Tensor::empty(out, table.dtype(), Device::CUDA);
  dispatch_word(table.dtype(), [&](auto word) {
    using E = decltype(word);
    launch_map(y.numel(),
               GatherBody<E>{static_cast<const E*>(table.raw_device_data()), ids.device_data<int64_t>(),
                             static_cast<E*>(y.raw_device_data()), V, ids.numel(), d},
               "gather_rows");
    return 0;
  });
  return y;
}

Tensor scatter_add_rows(const Tensor& g, const Tensor& ids, int64_t num_rows) {
  expect_cuda(g, "scatter_add_rows");
  ops::expect_float(g, "scatter_add_rows");
  const int64_t d = g.dim(-1);
  if (g.numel() != ids.numel() * d) throw Error("scatter_add_rows: " + g.describe() + " vs ids " + ids.describe());
  const Tensor host = checked_ids(ids, num_rows, "scatter_add_rows");
  return gather_scatter_add(g, host, num_rows, d, {num_rows, d}, "scatter_add_rows");
}

Tensor concat_last_axis(const std::vector<Tensor>& xs) {
  if (xs.empty()) throw Error("concat_last_axis: no tensors");
  for (const auto& x : xs)
    if (x.ndim() != xs[0].ndim() || x.dtype() != xs[0].dtype())
      throw Error("concat_last_axis: " + x.describe() + " vs " + xs[0].describe());
  return concat_axis(xs, xs[0].ndim() - 1);
}

Tensor slice_last_axis(const Tensor& x, int64_t begin, int64_t end) {
  expect_cuda(x, "slice_last_axis");
  const int64_t D = x.dim(-1);
  if (begin < 0 || end > D || begin > end)
    throw Error("slice_last_axis [" + std::to_string(begin) + ", " + std::to_string(end) + ") of " + x.describe());
  std::vector<int64_t> starts(x.ndim(), 0), steps(x.ndim(), 1);
  starts.back() = begin;
  Shape out = x.shape();
  out.back() = end - begin;
  return strided_copy(x, slice_map(x.shape(), starts, steps, out, "slice_last_axis"), out, "slice_last_axis");
}

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  expect_cuda(x, "broadcast_to");
  const Shape out = broadcast_shapes(x.shape(), shape);
  return strided_copy(x, broadcast_map(x.shape(), out, "broadcast_to"), out, "broadcast_to");
}

Tensor where(const Tensor& cond, const Tensor& x, const Tensor& y) {
  expect_cuda(cond, "where");
  expect_cuda(x, "where");
  expect_cuda(y, "where");
  if (x.dtype() != y.dtype()) throw Error("where: mixed dtypes " + x.describe() + " and " + y.describe());
  const Shape out = broadcast_shapes(broadcast_shapes(cond.shape(), x.shape()), y.shape());
  const StridedMap mc = broadcast_map(cond.shape(), out, "where"), mx = broadcast_map(x.shape(), out, "where"),
                   my = broadcast_map(y.shape(), out, "where");
  // cond != 0 as a byte mask first: one where kernel per word size instead of one per (cond, word) pair.
  Tensor mask = Tensor::empty({(cond.numel() + 7) / 8}, DType::I64, Device::CUDA);
  uint8_t* pm = static_cast<uint8_t*>(mask.raw_device_data());
  if (cond.dtype() == DType::I64)
    launch_map(cond.numel(), NonzeroBody<int64_t>{cond.device_data<int64_t>(), pm}, "where_mask");
  else
    dispatch_float(cond.dtype(), [&](auto zero) {
      using T = decltype(zero);
      launch_map(cond.numel(), NonzeroBody<T>{cond.device_data<T>(), pm}, "where_mask");
      return 0;
    });
  Tensor r = Tensor::empty(out, x.dtype(), Device::CUDA);
  dispatch_word(x.dtype(), [&](auto word) {
    using E = decltype(word);
    launch_map(r.numel(),
               WhereBody<E>{pm, static_cast<const E*>(x.raw_device_data()), static_cast<const E*>(y.raw_device_data()),
                            static_cast<E*>(r.raw_device_data()), mc, mx, my},
               "where");
    return 0;
  });
  return r;
}

}  // namespace xdnn::cuda
