// Kernel bodies of the recurrent cells (kernels/rnn_cells.cu): one thread per (n, j) of the (N, H) state,
// the formulas and gate layouts of engine/cpu/rnn_cells.cpp (PyTorch: LSTM i, f, g, o; GRU r, z, n).
// mask (N) or nullptr: rows with mask 0 keep their previous state and pass gradients through.
#pragma once
#include "kernels/common_body.h"

namespace xdnn::cuda {

template <class T>
XDNN_HOST_DEVICE inline bool row_on(const T* mask, int64_t n) {
  return mask == nullptr || mask[n] != T(0);
}

// a (N, 4H) activated gates, c, h (N, H); k = n·H + j.
template <class T>
struct LstmForwardBody {
  const T *z, *c_prev, *h_prev, *mask;
  T *a, *c, *h;
  int64_t H;
  XDNN_HOST_DEVICE void operator()(int64_t k) const {
    const int64_t n = k / H, j = k % H;
    const T* zr = z + n * 4 * H;
    T* ar = a + n * 4 * H;
    const T i = ksigmoid(zr[j]), f = ksigmoid(zr[H + j]), g = ktanh(zr[2 * H + j]), o = ksigmoid(zr[3 * H + j]);
    ar[j] = i, ar[H + j] = f, ar[2 * H + j] = g, ar[3 * H + j] = o;
    const T cn = f * c_prev[k] + i * g;
    const bool on = row_on(mask, n);
    c[k] = on ? cn : c_prev[k];
    h[k] = on ? o * ktanh(cn) : h_prev[k];
  }
};

// dz (N, 4H), dc_prev, dh_direct (N, H).
template <class T>
struct LstmBackwardBody {
  const T *dh, *dc, *a, *c_prev, *c, *mask;
  T *dz, *dc_prev, *dh_direct;
  int64_t H;
  XDNN_HOST_DEVICE void operator()(int64_t k) const {
    const int64_t n = k / H, j = k % H;
    T* dzr = dz + n * 4 * H;
    if (!row_on(mask, n)) {
      dc_prev[k] = dc[k];
      dh_direct[k] = dh[k];
      dzr[j] = dzr[H + j] = dzr[2 * H + j] = dzr[3 * H + j] = T(0);
      return;
    }
    const T* ar = a + n * 4 * H;
    const T i = ar[j], f = ar[H + j], g = ar[2 * H + j], o = ar[3 * H + j];
    const T tc = ktanh(c[k]);
    const T dct = dc[k] + dh[k] * o * (T(1) - tc * tc);
    dzr[j] = dct * g * i * (T(1) - i);
    dzr[H + j] = dct * c_prev[k] * f * (T(1) - f);
    dzr[2 * H + j] = dct * i * (T(1) - g * g);
    dzr[3 * H + j] = dh[k] * tc * o * (T(1) - o);
    dc_prev[k] = dct * f;
    dh_direct[k] = T(0);
  }
};

// xi, hh (N, 3H) pre-activations; a (N, 3H) = r, z, n; h (N, H).
template <class T>
struct GruForwardBody {
  const T *xi, *hh, *h_prev, *mask;
  T *a, *h;
  int64_t H;
  XDNN_HOST_DEVICE void operator()(int64_t k) const {
    const int64_t n = k / H, j = k % H;
    const T *xr = xi + n * 3 * H, *hr = hh + n * 3 * H;
    T* ar = a + n * 3 * H;
    const T r = ksigmoid(xr[j] + hr[j]), zg = ksigmoid(xr[H + j] + hr[H + j]);
    const T nn = ktanh(xr[2 * H + j] + r * hr[2 * H + j]);
    ar[j] = r, ar[H + j] = zg, ar[2 * H + j] = nn;
    h[k] = row_on(mask, n) ? (T(1) - zg) * nn + zg * h_prev[k] : h_prev[k];
  }
};

// dxi, dhh (N, 3H), dh_direct (N, H).
template <class T>
struct GruBackwardBody {
  const T *dh, *a, *hh, *h_prev, *mask;
  T *dxi, *dhh, *dh_direct;
  int64_t H;
  XDNN_HOST_DEVICE void operator()(int64_t k) const {
    const int64_t n = k / H, j = k % H;
    T *dxr = dxi + n * 3 * H, *dhr = dhh + n * 3 * H;
    if (!row_on(mask, n)) {
      dh_direct[k] = dh[k];
      dxr[j] = dxr[H + j] = dxr[2 * H + j] = T(0);
      dhr[j] = dhr[H + j] = dhr[2 * H + j] = T(0);
      return;
    }
    const T *ar = a + n * 3 * H, *hr = hh + n * 3 * H;
    const T r = ar[j], zg = ar[H + j], nn = ar[2 * H + j], g = dh[k];
    const T dn = g * (T(1) - zg) * (T(1) - nn * nn);  // at n's pre-activation
    const T dzp = g * (h_prev[k] - nn) * zg * (T(1) - zg);
    const T drp = dn * hr[2 * H + j] * r * (T(1) - r);
    dxr[j] = drp, dhr[j] = drp;
    dxr[H + j] = dzp, dhr[H + j] = dzp;
    dxr[2 * H + j] = dn, dhr[2 * H + j] = dn * r;
    dh_direct[k] = g * zg;
  }
};

// Elman: h = tanh(z) or relu(z); masked rows keep h_prev.
template <class T>
struct RnnForwardBody {
  const T *z, *h_prev, *mask;
  T* h;
  int64_t H;
  bool relu;
  XDNN_HOST_DEVICE void operator()(int64_t k) const {
    const T v = z[k];
    h[k] = !row_on(mask, k / H) ? h_prev[k] : (relu ? (v > T(0) ? v : T(0)) : ktanh(v));
  }
};

// dz = dh ⊙ act'(z) from h (relu'(0) = 0, tanh' = 1 − h²); masked rows pass dh on.
template <class T>
struct RnnBackwardBody {
  const T *dh, *h, *mask;
  T *dz, *dh_direct;
  int64_t H;
  bool relu;
  XDNN_HOST_DEVICE void operator()(int64_t k) const {
    const bool on = row_on(mask, k / H);
    dz[k] = on ? dh[k] * (relu ? (h[k] > T(0) ? T(1) : T(0)) : T(1) - h[k] * h[k]) : T(0);
    dh_direct[k] = on ? T(0) : dh[k];
  }
};

}  // namespace xdnn::cuda
