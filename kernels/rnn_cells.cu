// Recurrent-cell CUDA ops (CPU twin: engine/cpu/rnn_cells.cpp): the element-wise part of one LSTM /
// GRU / Elman step, one thread per (n, j); the matrix products are cuBLAS calls made by the layers
// through ops::matmul. Per-element work in kernels/rnn_cells_body.h.
#include <string>

#include "engine/dispatch.h"
#include "kernels/cuda_backend.h"
#include "kernels/rnn_cells_body.h"

namespace xdnn::cuda {
namespace {

void check_rows(const Tensor& a, int64_t N, int64_t W, const char* what) {
  expect_cuda(a, what);
  if (a.ndim() != 2 || a.dim(0) != N || a.dim(1) != W)
    throw Error(std::string(what) + ": expected (" + std::to_string(N) + ", " + std::to_string(W) + "), got " +
                a.describe());
}

// The mask (N) of the same dtype as the cell's tensors, or nullptr when undefined.
template <class T>
const T* mask_ptr(const Tensor& mask, int64_t N, const char* what) {
  if (!mask.defined()) return nullptr;
  expect_cuda(mask, what);
  if (mask.numel() != N || mask.dtype() != dtype_of<T>())
    throw Error(std::string(what) + ": expected a " + dtype_name(dtype_of<T>()) + " mask of " + std::to_string(N) +
                " rows, got " + mask.describe());
  return mask.device_data<T>();
}

Tensor out(const Shape& s, DType dt) { return Tensor::empty(s, dt, Device::CUDA); }

}  // namespace

std::vector<Tensor> lstm_cell_forward(const Tensor& z, const Tensor& c_prev, const Tensor& h_prev, const Tensor& mask) {
  expect_cuda(z, "lstm cell");
  ops::expect_float(z, "lstm cell");
  if (z.ndim() != 2 || z.dim(1) % 4 != 0) throw Error("lstm cell: expected z (N, 4H), got " + z.describe());
  const int64_t N = z.dim(0), H = z.dim(1) / 4;
  check_rows(c_prev, N, H, "lstm cell c_prev");
  check_rows(h_prev, N, H, "lstm cell h_prev");
  Tensor a = out(z.shape(), z.dtype()), c = out({N, H}, z.dtype()), h = out({N, H}, z.dtype());
  dispatch_float(z.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(N * H,
               LstmForwardBody<T>{z.device_data<T>(), c_prev.device_data<T>(), h_prev.device_data<T>(),
                                  mask_ptr<T>(mask, N, "lstm cell mask"), a.device_data<T>(), c.device_data<T>(),
                                  h.device_data<T>(), H},
               "lstm_cell_forward");
    return 0;
  });
  return {a, c, h};
}

std::vector<Tensor> lstm_cell_backward(const Tensor& dh, const Tensor& dc, const Tensor& a, const Tensor& c_prev,
                                       const Tensor& c, const Tensor& mask) {
  expect_cuda(a, "lstm cell backward");
  ops::expect_float(a, "lstm cell backward");
  const int64_t N = a.dim(0), H = a.dim(1) / 4;
  for (const Tensor* t : {&dh, &dc, &c_prev, &c}) check_rows(*t, N, H, "lstm cell backward");
  Tensor dz = out(a.shape(), a.dtype()), dc_prev = out({N, H}, a.dtype()), dh_direct = out({N, H}, a.dtype());
  dispatch_float(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(N * H,
               LstmBackwardBody<T>{dh.device_data<T>(), dc.device_data<T>(), a.device_data<T>(),
                                   c_prev.device_data<T>(), c.device_data<T>(), mask_ptr<T>(mask, N, "lstm cell mask"),
                                   dz.device_data<T>(), dc_prev.device_data<T>(), dh_direct.device_data<T>(), H},
               "lstm_cell_backward");
    return 0;
  });
  return {dz, dc_prev, dh_direct};
}

std::vector<Tensor> gru_cell_forward(const Tensor& xi, const Tensor& hh, const Tensor& h_prev, const Tensor& mask) {
  expect_cuda(xi, "gru cell");
  ops::expect_float(xi, "gru cell");
  if (xi.ndim() != 2 || xi.dim(1) % 3 != 0) throw Error("gru cell: expected xi (N, 3H), got " + xi.describe());
  const int64_t N = xi.dim(0), H = xi.dim(1) / 3;
  check_rows(hh, N, 3 * H, "gru cell hh");
  check_rows(h_prev, N, H, "gru cell h_prev");
  Tensor a = out(xi.shape(), xi.dtype()), h = out({N, H}, xi.dtype());
  dispatch_float(xi.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(N * H,
               GruForwardBody<T>{xi.device_data<T>(), hh.device_data<T>(), h_prev.device_data<T>(),
                                 mask_ptr<T>(mask, N, "gru cell mask"), a.device_data<T>(), h.device_data<T>(), H},
               "gru_cell_forward");
    return 0;
  });
  return {a, h};
}

std::vector<Tensor> gru_cell_backward(const Tensor& dh, const Tensor& a, const Tensor& hh, const Tensor& h_prev,
                                      const Tensor& mask) {
  expect_cuda(a, "gru cell backward");
  ops::expect_float(a, "gru cell backward");
  const int64_t N = a.dim(0), H = a.dim(1) / 3;
  check_rows(dh, N, H, "gru cell backward dh");
  check_rows(hh, N, 3 * H, "gru cell backward hh");
  check_rows(h_prev, N, H, "gru cell backward h_prev");
  Tensor dxi = out(a.shape(), a.dtype()), dhh = out(a.shape(), a.dtype()), dh_direct = out({N, H}, a.dtype());
  dispatch_float(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(N * H,
               GruBackwardBody<T>{dh.device_data<T>(), a.device_data<T>(), hh.device_data<T>(), h_prev.device_data<T>(),
                                  mask_ptr<T>(mask, N, "gru cell mask"), dxi.device_data<T>(), dhh.device_data<T>(),
                                  dh_direct.device_data<T>(), H},
               "gru_cell_backward");
    return 0;
  });
  return {dxi, dhh, dh_direct};
}

Tensor rnn_cell_forward(const Tensor& z, const Tensor& h_prev, const Tensor& mask, bool relu) {
  expect_cuda(z, "rnn cell");
  ops::expect_float(z, "rnn cell");
  if (z.ndim() != 2) throw Error("rnn cell: expected z (N, H), got " + z.describe());
  const int64_t N = z.dim(0), H = z.dim(1);
  check_rows(h_prev, N, H, "rnn cell h_prev");
  Tensor h = out({N, H}, z.dtype());
  dispatch_float(z.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(N * H,
               RnnForwardBody<T>{z.device_data<T>(), h_prev.device_data<T>(), mask_ptr<T>(mask, N, "rnn cell mask"),
                                 h.device_data<T>(), H, relu},
               "rnn_cell_forward");
    return 0;
  });
  return h;
}

std::vector<Tensor> rnn_cell_backward(const Tensor& dh, const Tensor& h, const Tensor& mask, bool relu) {
  expect_cuda(h, "rnn cell backward");
  ops::expect_float(h, "rnn cell backward");
  const int64_t N = h.dim(0), H = h.dim(1);
  check_rows(dh, N, H, "rnn cell backward dh");
  Tensor dz = out({N, H}, h.dtype()), dh_direct = out({N, H}, h.dtype());
  dispatch_float(h.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(N * H,
               RnnBackwardBody<T>{dh.device_data<T>(), h.device_data<T>(), mask_ptr<T>(mask, N, "rnn cell mask"),
                                  dz.device_data<T>(), dh_direct.device_data<T>(), H, relu},
               "rnn_cell_backward");
    return 0;
  });
  return {dz, dh_direct};
}

}  // namespace xdnn::cuda
