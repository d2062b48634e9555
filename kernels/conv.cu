// 2-D convolution on the GPU (CPU twin: engine/cpu/conv.cpp): im2col / col2im kernels
// (kernels/conv_body.h) around cuBLAS products, and the dispatch between this path and cuDNN
// (kernels/cudnn_conv.cu).
//
// Per chunk of nb samples and group g (Og = O/G, K = C/G·KH·KW, P = OH·OW, R = C·KH·KW):
//   forward       y_n[g] (Og, P) = W[g] (Og, K) · col_n[g] (K, P) (+ b)   batched over n, W shared (stride 0)
//   input grad    dcol_n[g] (K, P) = W[g]ᵀ · gy_n[g] (Og, P), then the col2im gather  (no atomics)
//   weight grad   gW[g] (Og, K) += gyᵀ[g] (Og, nb·P) · colᵀ[g] (K, nb·P)ᵀ     one product per chunk
//   per example   gW_n[g] (Og, K) = gy_n[g] (Og, P) · col_n[g]ᵀ              batched over n
// Pointwise convolutions (1x1, stride 1, no padding) use x itself as col. Chunks bound the col buffer
// (256 MiB, set_im2col_buffer_bytes); sums over chunks run in chunk order, so results do not depend on anything but the
// inputs.
//
// Which path: decide_conv_route() (kernels/conv_route.h) from conv_algo() (cuda_ops.h) and what cuDNN
// answers. Auto takes cuDNN for what cuDNN expresses (symmetric padding, a non-empty batch, tensors within
// its 32-bit element counts) and im2col otherwise, and falls back to im2col whenever cuDNN refuses
// (NOT_SUPPORTED, BAD_PARAM, no usable algorithm, library not loadable); XDNN_LOG=conv prints the route
// of each distinct configuration once; per-example weight gradients are always im2col (cuDNN has no per-example
// filter gradient). Without a GPU nobody has measured which is faster per shape: the default follows
// the usual expectation (cuDNN's implicit-GEMM / Winograd kernels beat im2col + GEMM), and the choice
// must be measured on the target GPU (bench) before it is trusted; XDNN_CUDA_CONV=im2col|cudnn|auto
// overrides it.
#include <cstdlib>
#include <string>
#include <type_traits>

#include "engine/dispatch.h"
#include "kernels/blas_args.h"
#include "kernels/conv_body.h"
#include "kernels/conv_route.h"
#include "kernels/cuda_libs.h"
#include "kernels/data_movement_body.h"

namespace xdnn::cuda {
namespace {

constexpr size_t kDefaultColBytes = size_t(256) << 20;  // col buffer bound per chunk
size_t col_bytes = kDefaultColBytes;                    // set_im2col_buffer_bytes (tests)

ConvDims conv_dims(const Shape& xs, const Shape& ws, const ops::Conv2dGeometry& g) {
  const Shape ys = ops::conv2d_output_shape(xs, ws, g);
  ConvDims d{};
  d.N = xs[0], d.C = xs[1], d.H = xs[2], d.W = xs[3], d.O = ws[0], d.KH = ws[2], d.KW = ws[3];
  d.OH = ys[2], d.OW = ys[3], d.G = g.groups, d.Cg = d.C / d.G, d.Og = d.O / d.G;
  d.K = d.Cg * d.KH * d.KW, d.P = d.OH * d.OW, d.R = d.C * d.KH * d.KW;
  return d;
}

void check_groups(const Shape& xs, const Shape& ws, const ops::Conv2dGeometry& g, const char* what) {
  if (xs.size() != 4 || ws.size() != 4)
    throw Error(std::string(what) + ": expected x (N, C, H, W) and w (O, C/groups, KH, KW), got " + shape_str(xs) +
                " and " + shape_str(ws));
  if (g.groups < 1 || xs[1] % g.groups != 0 || ws[0] % g.groups != 0 || ws[1] * g.groups != xs[1])
    throw Error(std::string(what) + ": " + std::to_string(g.groups) + " groups do not fit x " + shape_str(xs) +
                " and w " + shape_str(ws));
}

bool is_pointwise(const ConvDims& d, const ops::Conv2dGeometry& g) {
  return d.KH == 1 && d.KW == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_top == 0 && g.pad_left == 0 &&
         g.pad_bottom == 0 && g.pad_right == 0;
}

int64_t chunk_samples(const ConvDims& d, size_t elem) {
  const size_t per = static_cast<size_t>(d.R * d.P) * elem;
  const int64_t nb = per ? static_cast<int64_t>(col_bytes / per) : d.N;
  return nb < 1 ? 1 : (nb > d.N ? d.N : nb);
}

// Row-major C (M, N) = op(A) op(B) + beta C for `batch` matrices at the given element strides (0: shared),
// rows contiguous (lda/ldb the row lengths, ldc = N). See kernels/blas_args.h for the mapping.
template <class T>
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, int64_t sa, const T* B,
          int64_t ldb, int64_t sb, double beta, T* C, int64_t sc, int64_t batch) {
  if (M == 0 || N == 0 || batch == 0) return;
  const T one = T(1), be = static_cast<T>(beta);
  const ColumnMajorGemm c = column_major_gemm(ta, tb, M, N, K, lda, ldb);
  const auto op = [](bool t) { return t ? CUBLAS_OP_T : CUBLAS_OP_N; };
  const int m = static_cast<int>(c.m), n = static_cast<int>(c.n), k = static_cast<int>(c.k);
  const int l1 = static_cast<int>(c.ld_first), l2 = static_cast<int>(c.ld_second), lc = static_cast<int>(c.ldc);
  std::lock_guard<std::mutex> lock(library_mutex());
  cublasHandle_t h = blas_handle();
  if constexpr (std::is_same_v<T, float>)
    check_cublas(cublas().sgemm_strided_batched(h, op(c.trans_first), op(c.trans_second), m, n, k, &one, B, l1, sb, A,
                                                l2, sa, &be, C, lc, sc, static_cast<int>(batch)),
                 "cublasSgemmStridedBatched");
  else
    check_cublas(cublas().dgemm_strided_batched(h, op(c.trans_first), op(c.trans_second), m, n, k, &one, B, l1, sb, A,
                                                l2, sa, &be, C, lc, sc, static_cast<int>(batch)),
                 "cublasDgemmStridedBatched");
}

void check_dims_fit(const ConvDims& d, const char* what) {
  const int64_t limit = int64_t(1) << 31;
  if (d.R * d.P >= limit || d.O * d.K >= limit || d.O * d.P >= limit || d.C * d.H * d.W >= limit)
    throw Error(std::string(what) + ": a per-sample matrix exceeds cuBLAS's 32-bit sizes");
}

// Columns of samples [n0, n0 + nb) into col (layout per Im2colBody), or x itself for pointwise convolutions.
template <class T>
const T* columns(const Tensor& x, const ConvDims& d, const ops::Conv2dGeometry& g, int64_t n0, int64_t nb,
                 bool sample_major, Tensor& col) {
  if (is_pointwise(d, g) && sample_major) return x.device_data<T>() + n0 * d.C * d.H * d.W;
  launch_map(nb * d.R * d.P, Im2colBody<T>{x.device_data<T>(), col.device_data<T>(), d, g, n0, nb, sample_major},
             "im2col");
  return col.device_data<T>();
}

ConvAlgo& algo_setting() {
  static ConvAlgo a = parse_conv_algo(std::getenv("XDNN_CUDA_CONV"));
  return a;
}

// Appends cuDNN's explanation of a refusal to the decision's reason.
RouteDecision after_cudnn(const ConvConfig& c, CudnnOutcome outcome, const std::string& detail) {
  RouteDecision d = decide_conv_route(algo_setting(), c, outcome);
  if (!detail.empty()) d.reason += ": " + detail;
  return d;
}

}  // namespace

void set_conv_algo(ConvAlgo a) { algo_setting() = a; }
void set_im2col_buffer_bytes(size_t bytes) { col_bytes = bytes ? bytes : kDefaultColBytes; }
ConvAlgo conv_algo() { return algo_setting(); }

Tensor conv2d_forward_im2col(const Tensor& x, const Tensor& w, const Tensor& b, const ops::Conv2dGeometry& g) {
  const ConvDims d = conv_dims(x.shape(), w.shape(), g);
  check_dims_fit(d, "conv2d_forward");
  Tensor y = Tensor::empty({d.N, d.O, d.OH, d.OW}, x.dtype(), Device::CUDA);
  const int64_t nb_max = chunk_samples(d, dtype_size(x.dtype()));
  Tensor col = is_pointwise(d, g) ? Tensor() : Tensor::empty({nb_max * d.R * d.P}, x.dtype(), Device::CUDA);
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pw = w.device_data<T>();
    T* py = y.device_data<T>();
    for (int64_t n0 = 0; n0 < d.N; n0 += nb_max) {
      const int64_t nb = d.N - n0 < nb_max ? d.N - n0 : nb_max;
      const T* pc = columns<T>(x, d, g, n0, nb, true, col);
      T* yc = py + n0 * d.O * d.P;
      if (b.defined()) launch_map(nb * d.O * d.P, BiasFillBody<T>{b.device_data<T>(), yc, d.O, d.P}, "conv2d_bias");
      for (int64_t gi = 0; gi < d.G; ++gi)
        gemm<T>(false, false, d.Og, d.P, d.K, pw + gi * d.Og * d.K, d.K, 0, pc + gi * d.K * d.P, d.P, d.R * d.P,
                b.defined() ? 1.0 : 0.0, yc + gi * d.Og * d.P, d.O * d.P, nb);
    }
    return 0;
  });
  return y;
}

Tensor conv2d_backward_input_im2col(const Tensor& gy, const Tensor& w, const Shape& x_shape,
                                    const ops::Conv2dGeometry& g) {
  const ConvDims d = conv_dims(x_shape, w.shape(), g);
  check_dims_fit(d, "conv2d_backward_input");
  Tensor gx = Tensor::empty(x_shape, gy.dtype(), Device::CUDA);
  const bool direct = is_pointwise(d, g);  // col2im is the identity: the product writes gx
  const int64_t nb_max = chunk_samples(d, dtype_size(gy.dtype()));
  Tensor dcol = direct ? Tensor() : Tensor::empty({nb_max * d.R * d.P}, gy.dtype(), Device::CUDA);
  dispatch_float(gy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T *pw = w.device_data<T>(), *pg = gy.device_data<T>();
    for (int64_t n0 = 0; n0 < d.N; n0 += nb_max) {
      const int64_t nb = d.N - n0 < nb_max ? d.N - n0 : nb_max;
      T* pc = direct ? gx.device_data<T>() + n0 * d.C * d.H * d.W : dcol.device_data<T>();
      for (int64_t gi = 0; gi < d.G; ++gi)
        gemm<T>(true, false, d.K, d.P, d.Og, pw + gi * d.Og * d.K, d.K, 0, pg + n0 * d.O * d.P + gi * d.Og * d.P, d.P,
                d.O * d.P, 0.0, pc + gi * d.K * d.P, d.R * d.P, nb);
      if (!direct)
        launch_map(nb * d.C * d.H * d.W, Col2imBody<T>{pc, gx.device_data<T>() + n0 * d.C * d.H * d.W, d, g}, "col2im");
    }
    return 0;
  });
  return gx;
}

void conv2d_backward_weight_im2col(const Tensor& x, const Tensor& gy, Tensor& gw, bool accumulate,
                                   const ops::Conv2dGeometry& g) {
  const ConvDims d = conv_dims(x.shape(), gw.shape(), g);
  check_dims_fit(d, "conv2d_backward_weight");
  if (d.N == 0) {  // an empty sum
    if (!accumulate) zero_bytes(gw.raw_device_data(), static_cast<size_t>(gw.numel()) * dtype_size(gw.dtype()));
    return;
  }
  const int64_t nb_max = chunk_samples(d, dtype_size(x.dtype()));
  Tensor colT = Tensor::empty({nb_max * d.R * d.P}, x.dtype(), Device::CUDA);
  Tensor gyT = Tensor::empty({nb_max * d.O * d.P}, x.dtype(), Device::CUDA);
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    for (int64_t n0 = 0; n0 < d.N; n0 += nb_max) {
      const int64_t nb = d.N - n0 < nb_max ? d.N - n0 : nb_max, L = nb * d.P;
      columns<T>(x, d, g, n0, nb, false, colT);  // (R, nb, P)
      // gyT (O, nb, P) = gy[n0 : n0 + nb] (nb, O, P) with the first two axes swapped.
      const StridedMap m = strided_map({d.O, nb, d.P}, {d.P, d.O * d.P, 1}, n0 * d.O * d.P, "conv2d_backward_weight");
      launch_map(d.O * L, StridedCopyBody<T>{gy.device_data<T>(), gyT.device_data<T>(), m}, "conv2d_gy_transpose");
      const double beta = (n0 == 0 && !accumulate) ? 0.0 : 1.0;
      for (int64_t gi = 0; gi < d.G; ++gi)
        gemm<T>(false, true, d.Og, d.K, L, gyT.device_data<T>() + gi * d.Og * L, L, 0,
                colT.device_data<T>() + gi * d.K * L, L, 0, beta, gw.device_data<T>() + gi * d.Og * d.K, 0, 1);
    }
    return 0;
  });
}

Tensor conv2d_backward_weight_per_example(const Tensor& x, const Tensor& gy, const Shape& w_shape,
                                          const ops::Conv2dGeometry& g) {
  expect_cuda(x, "conv2d_backward_weight_per_example");
  expect_cuda(gy, "conv2d_backward_weight_per_example");
  ops::expect_float(x, "conv2d_backward_weight_per_example");
  ops::expect_same_dtype(x, gy, "conv2d_backward_weight_per_example");
  if (w_shape.size() != 4) throw Error("conv2d_backward_weight_per_example: weight shape " + shape_str(w_shape));
  check_groups(x.shape(), w_shape, g, "conv2d_backward_weight_per_example");
  const ConvDims d = conv_dims(x.shape(), w_shape, g);
  check_dims_fit(d, "conv2d_backward_weight_per_example");
  ops::expect_shape(gy, {d.N, d.O, d.OH, d.OW}, "conv2d_backward_weight_per_example gradient");
  Shape out_shape = w_shape;
  out_shape.insert(out_shape.begin(), d.N);
  Tensor out = Tensor::empty(out_shape, x.dtype(), Device::CUDA);
  const int64_t wsize = shape_numel(w_shape), nb_max = chunk_samples(d, dtype_size(x.dtype()));
  Tensor col = is_pointwise(d, g) ? Tensor() : Tensor::empty({nb_max * d.R * d.P}, x.dtype(), Device::CUDA);
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pg = gy.device_data<T>();
    for (int64_t n0 = 0; n0 < d.N; n0 += nb_max) {
      const int64_t nb = d.N - n0 < nb_max ? d.N - n0 : nb_max;
      const T* pc = columns<T>(x, d, g, n0, nb, true, col);
      for (int64_t gi = 0; gi < d.G; ++gi)
        gemm<T>(false, true, d.Og, d.K, d.P, pg + n0 * d.O * d.P + gi * d.Og * d.P, d.P, d.O * d.P, pc + gi * d.K * d.P,
                d.P, d.R * d.P, 0.0, out.device_data<T>() + n0 * wsize + gi * d.Og * d.K, wsize, nb);
    }
    return 0;
  });
  return out;
}

Tensor conv2d_backward_bias(const Tensor& gy, bool per_example) {
  expect_cuda(gy, "conv2d_backward_bias");
  ops::expect_float(gy, "conv2d_backward_bias");
  if (gy.ndim() != 4) throw Error("conv2d_backward_bias: expected (N, O, OH, OW), got " + gy.describe());
  const int64_t N = gy.dim(0), O = gy.dim(1), P = gy.dim(2) * gy.dim(3);
  Tensor part = Tensor::empty({N, O}, gy.dtype(), Device::CUDA);
  dispatch_float(gy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(N * O, BiasGradSampleBody<T>{gy.device_data<T>(), part.device_data<T>(), P}, "conv2d_bias_grad");
    return 0;
  });
  if (per_example) return part;
  Tensor out = Tensor::empty({O}, gy.dtype(), Device::CUDA);
  dispatch_float(gy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(O, BiasGradTotalBody<T>{part.device_data<T>(), out.device_data<T>(), N, O}, "conv2d_bias_grad_total");
    return 0;
  });
  return out;
}

// ---- the ops:: entry points: checks of engine/cpu/conv.cpp, then the path conv_algo() selects ---------------

Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const ops::Conv2dGeometry& g) {
  expect_cuda(x, "conv2d_forward");
  expect_cuda(w, "conv2d_forward");
  ops::expect_float(x, "conv2d_forward");
  ops::expect_same_dtype(x, w, "conv2d_forward");
  check_groups(x.shape(), w.shape(), g, "conv2d_forward");
  if (b.defined()) {
    expect_cuda(b, "conv2d_forward bias");
    ops::expect_same_dtype(x, b, "conv2d_forward bias");
    ops::expect_shape(b, {w.dim(0)}, "conv2d_forward bias");
  }
  ops::conv2d_output_shape(x.shape(), w.shape(), g);  // geometry checks
  const ConvConfig c{ConvPass::Forward, x.dtype(), x.shape(), w.shape(), g};
  RouteDecision d = decide_conv_route(algo_setting(), c, CudnnOutcome::NotTried);
  Tensor y;
  if (d.route == ConvRoute::Cudnn) {
    std::string detail;
    d = after_cudnn(c, try_conv2d_forward_cudnn(x, w, b, g, y, &detail), detail);
  }
  if (d.route == ConvRoute::Im2col) y = conv2d_forward_im2col(x, w, b, g);
  report_conv_route(c, d);
  return y;
}

Tensor conv2d_backward_input(const Tensor& gy, const Tensor& w, const Shape& x_shape, const ops::Conv2dGeometry& g) {
  expect_cuda(gy, "conv2d_backward_input");
  expect_cuda(w, "conv2d_backward_input");
  ops::expect_float(gy, "conv2d_backward_input");
  ops::expect_same_dtype(gy, w, "conv2d_backward_input");
  check_groups(x_shape, w.shape(), g, "conv2d_backward_input");
  const Shape ys = ops::conv2d_output_shape(x_shape, w.shape(), g);
  ops::expect_shape(gy, ys, "conv2d_backward_input gradient");
  const ConvConfig c{ConvPass::BackwardInput, gy.dtype(), x_shape, w.shape(), g};
  RouteDecision d = decide_conv_route(algo_setting(), c, CudnnOutcome::NotTried);
  Tensor gx;
  if (d.route == ConvRoute::Cudnn) {
    std::string detail;
    d = after_cudnn(c, try_conv2d_backward_input_cudnn(gy, w, x_shape, g, gx, &detail), detail);
  }
  if (d.route == ConvRoute::Im2col) gx = conv2d_backward_input_im2col(gy, w, x_shape, g);
  report_conv_route(c, d);
  return gx;
}

void conv2d_backward_weight(const Tensor& x, const Tensor& gy, Tensor& gw, bool accumulate,
                            const ops::Conv2dGeometry& g) {
  expect_cuda(x, "conv2d_backward_weight");
  expect_cuda(gy, "conv2d_backward_weight");
  expect_cuda(gw, "conv2d_backward_weight");
  ops::expect_float(x, "conv2d_backward_weight");
  ops::expect_same_dtype(x, gw, "conv2d_backward_weight");
  ops::expect_same_dtype(x, gy, "conv2d_backward_weight");
  check_groups(x.shape(), gw.shape(), g, "conv2d_backward_weight");
  const Shape ys = ops::conv2d_output_shape(x.shape(), gw.shape(), g);
  ops::expect_shape(gy, ys, "conv2d_backward_weight gradient");
  const ConvConfig c{ConvPass::BackwardWeight, x.dtype(), x.shape(), gw.shape(), g};
  RouteDecision d = decide_conv_route(algo_setting(), c, CudnnOutcome::NotTried);
  if (d.route == ConvRoute::Cudnn) {
    std::string detail;
    d = after_cudnn(c, try_conv2d_backward_weight_cudnn(x, gy, gw, accumulate, g, &detail), detail);
  }
  if (d.route == ConvRoute::Im2col) conv2d_backward_weight_im2col(x, gy, gw, accumulate, g);
  report_conv_route(c, d);
}

}  // namespace xdnn::cuda
