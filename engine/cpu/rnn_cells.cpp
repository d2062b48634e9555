// CPU recurrent cells: the element-wise part of one LSTM / GRU / Elman step (the matrix products are
// ops::matmul calls in the layers). Gate layouts follow PyTorch: LSTM i, f, g, o; GRU r, z, n.
// Rows whose mask entry is 0 keep their previous state (a padded step past the sequence's length), so
// a batch of variable-length sequences behaves like PyTorch's packed sequences.
#include <cmath>

#include "engine/backend.h"
#include "engine/cpu/backend_cpu.h"
#include "engine/dispatch.h"
#include "engine/ops.h"

namespace xdnn::ops {
namespace {

template <class T>
T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

// mask value of row n (1 when there is no mask).
template <class T>
bool row_on(const Tensor& mask, int64_t n) {
  return !mask.defined() || mask.data<T>()[n] != T(0);
}

void check_rows(const Tensor& a, int64_t N, int64_t W, const char* what) {
  if (a.ndim() != 2 || a.dim(0) != N || a.dim(1) != W)
    throw Error(std::string(what) + ": expected (" + std::to_string(N) + ", " + std::to_string(W) + "), got " +
                a.describe());
}

}  // namespace

std::vector<Tensor> lstm_cell_forward(const Tensor& z, const Tensor& c_prev, const Tensor& h_prev, const Tensor& mask) {
  expect_float(z, "lstm cell");
  return backend_of("lstm_cell_forward", z, c_prev, h_prev, mask).lstm_cell_forward(z, c_prev, h_prev, mask);
}

static std::vector<Tensor> cpu_lstm_cell_forward(const Tensor& z, const Tensor& c_prev, const Tensor& h_prev,
                                                 const Tensor& mask) {
  const int64_t N = z.dim(0), H = z.dim(1) / 4;
  check_rows(c_prev, N, H, "lstm cell c_prev");
  check_rows(h_prev, N, H, "lstm cell h_prev");
  Tensor a(z.shape(), z.dtype()), c({N, H}, z.dtype()), h({N, H}, z.dtype());
  dispatch_float(z.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T *pz = z.data<T>(), *pc0 = c_prev.data<T>(), *ph0 = h_prev.data<T>();
    T *pa = a.data<T>(), *pc = c.data<T>(), *ph = h.data<T>();
    for (int64_t n = 0; n < N; ++n) {
      const bool on = row_on<T>(mask, n);
      for (int64_t j = 0; j < H; ++j) {
        const T* zr = pz + n * 4 * H;
        T* ar = pa + n * 4 * H;
        const T i = sigmoid(zr[j]), f = sigmoid(zr[H + j]), g = std::tanh(zr[2 * H + j]), o = sigmoid(zr[3 * H + j]);
        ar[j] = i, ar[H + j] = f, ar[2 * H + j] = g, ar[3 * H + j] = o;
        const T cn = f * pc0[n * H + j] + i * g;
        pc[n * H + j] = on ? cn : pc0[n * H + j];
        ph[n * H + j] = on ? o * std::tanh(cn) : ph0[n * H + j];
      }
    }
    return 0;
  });
  return {a, c, h};
}

std::vector<Tensor> lstm_cell_backward(const Tensor& dh, const Tensor& dc, const Tensor& a, const Tensor& c_prev,
                                       const Tensor& c, const Tensor& mask) {
  return backend_of("lstm_cell_backward", dh, dc, a, c_prev, c, mask).lstm_cell_backward(dh, dc, a, c_prev, c, mask);
}

static std::vector<Tensor> cpu_lstm_cell_backward(const Tensor& dh, const Tensor& dc, const Tensor& a,
                                                  const Tensor& c_prev, const Tensor& c, const Tensor& mask) {
  const int64_t N = a.dim(0), H = a.dim(1) / 4;
  Tensor dz(a.shape(), a.dtype()), dc_prev({N, H}, a.dtype()), dh_direct({N, H}, a.dtype());
  dispatch_float(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T *pdh = dh.data<T>(), *pdc = dc.data<T>(), *pa = a.data<T>(), *pc0 = c_prev.data<T>(), *pc = c.data<T>();
    T *pdz = dz.data<T>(), *pdc0 = dc_prev.data<T>(), *pdh0 = dh_direct.data<T>();
    for (int64_t n = 0; n < N; ++n) {
      const bool on = row_on<T>(mask, n);
      for (int64_t j = 0; j < H; ++j) {
        const int64_t k = n * H + j;
        if (!on) {  // state copied through: gradients pass unchanged, the gates get none
          pdc0[k] = pdc[k];
          pdh0[k] = pdh[k];
          continue;
        }
        const T* ar = pa + n * 4 * H;
        T* dzr = pdz + n * 4 * H;
        const T i = ar[j], f = ar[H + j], g = ar[2 * H + j], o = ar[3 * H + j];
        const T tc = std::tanh(pc[k]);
        const T dct = pdc[k] + pdh[k] * o * (T(1) - tc * tc);
        dzr[j] = dct * g * i * (T(1) - i);
        dzr[H + j] = dct * pc0[k] * f * (T(1) - f);
        dzr[2 * H + j] = dct * i * (T(1) - g * g);
        dzr[3 * H + j] = pdh[k] * tc * o * (T(1) - o);
        pdc0[k] = dct * f;
        pdh0[k] = 0;
      }
    }
    return 0;
  });
  return {dz, dc_prev, dh_direct};
}

std::vector<Tensor> gru_cell_forward(const Tensor& xi, const Tensor& hh, const Tensor& h_prev, const Tensor& mask) {
  expect_float(xi, "gru cell");
  return backend_of("gru_cell_forward", xi, hh, h_prev, mask).gru_cell_forward(xi, hh, h_prev, mask);
}

static std::vector<Tensor> cpu_gru_cell_forward(const Tensor& xi, const Tensor& hh, const Tensor& h_prev,
                                                const Tensor& mask) {
  const int64_t N = xi.dim(0), H = xi.dim(1) / 3;
  check_rows(hh, N, 3 * H, "gru cell hh");
  check_rows(h_prev, N, H, "gru cell h_prev");
  Tensor a(xi.shape(), xi.dtype()), h({N, H}, xi.dtype());
  dispatch_float(xi.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T *px = xi.data<T>(), *ph = hh.data<T>(), *ph0 = h_prev.data<T>();
    T *pa = a.data<T>(), *pout = h.data<T>();
    for (int64_t n = 0; n < N; ++n) {
      const bool on = row_on<T>(mask, n);
      const T *xr = px + n * 3 * H, *hr = ph + n * 3 * H;
      T* ar = pa + n * 3 * H;
      for (int64_t j = 0; j < H; ++j) {
        const T r = sigmoid(xr[j] + hr[j]), zg = sigmoid(xr[H + j] + hr[H + j]);
        const T nn = std::tanh(xr[2 * H + j] + r * hr[2 * H + j]);
        ar[j] = r, ar[H + j] = zg, ar[2 * H + j] = nn;
        const T hp = ph0[n * H + j];
        pout[n * H + j] = on ? (T(1) - zg) * nn + zg * hp : hp;
      }
    }
    return 0;
  });
  return {a, h};
}

std::vector<Tensor> gru_cell_backward(const Tensor& dh, const Tensor& a, const Tensor& hh, const Tensor& h_prev,
                                      const Tensor& mask) {
  return backend_of("gru_cell_backward", dh, a, hh, h_prev, mask).gru_cell_backward(dh, a, hh, h_prev, mask);
}

static std::vector<Tensor> cpu_gru_cell_backward(const Tensor& dh, const Tensor& a, const Tensor& hh,
                                                 const Tensor& h_prev, const Tensor& mask) {
  const int64_t N = a.dim(0), H = a.dim(1) / 3;
  Tensor dxi(a.shape(), a.dtype()), dhh(a.shape(), a.dtype()), dh_direct({N, H}, a.dtype());
  dispatch_float(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T *pdh = dh.data<T>(), *pa = a.data<T>(), *phh = hh.data<T>(), *ph0 = h_prev.data<T>();
    T *pdx = dxi.data<T>(), *pdhh = dhh.data<T>(), *pd0 = dh_direct.data<T>();
    for (int64_t n = 0; n < N; ++n) {
      const bool on = row_on<T>(mask, n);
      const T *ar = pa + n * 3 * H, *hr = phh + n * 3 * H;
      T *dxr = pdx + n * 3 * H, *dhr = pdhh + n * 3 * H;
      for (int64_t j = 0; j < H; ++j) {
        const int64_t k = n * H + j;
        if (!on) {
          pd0[k] = pdh[k];
          continue;
        }
        const T r = ar[j], zg = ar[H + j], nn = ar[2 * H + j], g = pdh[k];
        const T dn = g * (T(1) - zg) * (T(1) - nn * nn);  // at n's pre-activation
        const T dzp = g * (ph0[k] - nn) * zg * (T(1) - zg);
        const T drp = dn * hr[2 * H + j] * r * (T(1) - r);
        dxr[j] = drp, dhr[j] = drp;
        dxr[H + j] = dzp, dhr[H + j] = dzp;
        dxr[2 * H + j] = dn, dhr[2 * H + j] = dn * r;
        pd0[k] = g * zg;
      }
    }
    return 0;
  });
  return {dxi, dhh, dh_direct};
}

Tensor rnn_cell_forward(const Tensor& z, const Tensor& h_prev, const Tensor& mask, bool relu) {
  expect_float(z, "rnn cell");
  return backend_of("rnn_cell_forward", z, h_prev, mask).rnn_cell_forward(z, h_prev, mask, relu);
}

static Tensor cpu_rnn_cell_forward(const Tensor& z, const Tensor& h_prev, const Tensor& mask, bool relu) {
  const int64_t N = z.dim(0), H = z.dim(1);
  check_rows(h_prev, N, H, "rnn cell h_prev");
  Tensor h({N, H}, z.dtype());
  dispatch_float(z.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T *pz = z.data<T>(), *ph0 = h_prev.data<T>();
    T* ph = h.data<T>();
    for (int64_t n = 0; n < N; ++n) {
      const bool on = row_on<T>(mask, n);
      for (int64_t j = 0; j < H; ++j) {
        const T v = pz[n * H + j];
        ph[n * H + j] = on ? (relu ? (v > T(0) ? v : T(0)) : std::tanh(v)) : ph0[n * H + j];
      }
    }
    return 0;
  });
  return h;
}

std::vector<Tensor> rnn_cell_backward(const Tensor& dh, const Tensor& h, const Tensor& mask, bool relu) {
  return backend_of("rnn_cell_backward", dh, h, mask).rnn_cell_backward(dh, h, mask, relu);
}

static std::vector<Tensor> cpu_rnn_cell_backward(const Tensor& dh, const Tensor& h, const Tensor& mask, bool relu) {
  const int64_t N = h.dim(0), H = h.dim(1);
  Tensor dz({N, H}, h.dtype()), dh_direct({N, H}, h.dtype());
  dispatch_float(h.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T *pdh = dh.data<T>(), *ph = h.data<T>();
    T *pdz = dz.data<T>(), *pd0 = dh_direct.data<T>();
    for (int64_t n = 0; n < N; ++n) {
      const bool on = row_on<T>(mask, n);
      for (int64_t j = 0; j < H; ++j) {
        const int64_t k = n * H + j;
        if (!on) {
          pd0[k] = pdh[k];
          continue;
        }
        // relu'(z) = [h > 0] (relu'(0) = 0); tanh'(z) = 1 − h².
        pdz[k] = pdh[k] * (relu ? (ph[k] > T(0) ? T(1) : T(0)) : T(1) - ph[k] * ph[k]);
      }
    }
    return 0;
  });
  return {dz, dh_direct};
}

// This file's entries of the CPU table (engine/cpu/backend_cpu.cpp).
void add_cpu_rnn_cells(Backend& b) {
  b.lstm_cell_forward = cpu_lstm_cell_forward;
  b.lstm_cell_backward = cpu_lstm_cell_backward;
  b.gru_cell_forward = cpu_gru_cell_forward;
  b.gru_cell_backward = cpu_gru_cell_backward;
  b.rnn_cell_forward = cpu_rnn_cell_forward;
  b.rnn_cell_backward = cpu_rnn_cell_backward;
}

}  // namespace xdnn::ops
