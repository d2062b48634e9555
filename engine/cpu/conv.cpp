// 2-D convolution on the CPU: im2col + the packed GEMM (engine/cpu/gemm.h), with the batch folded into
// the GEMM's columns.
//
// The batch is cut into chunks of S consecutive samples, S fixed by the shapes alone (chunk_samples).
// Per chunk [n0, n0 + S) and group g (Og = O / groups output channels, Cg = C / groups input channels,
// K = Cg·KH·KW, P = OH·OW output positions, L = S·P columns, column s·P + p = position p of sample n0 + s):
//   col          (C·KH·KW, L)  col[(c, i, j), (s, oh, ow)] = x[n0+s, c, oh·sh − pt + i·dh, ow·sw − pl + j·dw]
//                              (0 outside)
//   gyc          (O, L)        gyc[o, (s, p)] = gy[n0+s, o, p]   (gy is (N, O, P): a gather)
//   forward      yc[g] (Og, L) = W[g] (Og, K) · col[g] (K, L);  y[n0+s, o, p] = yc[o, (s, p)] + b[o]
//                (fused for inference: act(yc + b + r) in the same store, engine/conv_epilogue.h)
//   input grad   dcol[g] (K, L) = W[g]ᵀ (K, Og) · gyc[g] (Og, L);  gx_n = col2im(dcol's columns of n)
//   weight grad  gWᵀ[g] (K, Og) = col[g] (K, L) · gyc[g]ᵀ (L, Og) per chunk, transposed back at the end
// One GEMM per chunk instead of one per sample: the GEMM's fixed costs (driver, packing set-up, the
// transposed weight panel of the input gradient) are paid S times less often, and the weight gradient's
// k sum runs over S·P positions inside the micro-kernel's registers instead of S separate products added
// up in memory.
//
// Bit-identity for identical receptive fields: every output position, border or not, is one column of
// the same GEMM, so it is accumulated by the same micro-kernel in the same k order (the GEMM zero-pads
// edge tiles instead of running a tail path). Max-pool tie routing depends on this (golden README).
// A column's result does not depend on which chunk it lands in, so forward and input gradient give the
// same bits for a sample whatever the batch around it.
//
// Convolutions with few taps per output (one input channel, 3x3: the first layer of an image CNN) skip
// im2col and the GEMM in the forward pass and the weight gradient: engine/cpu/conv_direct.h. Depthwise
// convolutions (groups = C, any channel multiplier) take engine/cpu/conv_depthwise.h in every pass. The
// input gradient of stride-1 convolutions with 32 or more input channels is the forward convolution of gy
// with the flipped weights, read in place (engine/cpu/conv_flipped.h): no Wᵀ packing, no col2im. Small planes
// skip the products of their padding taps, a GEMM per border class of positions (conv_border.h, same bits).
//
// Determinism across thread counts: chunks are independent and split over threads; with a single chunk
// the GEMM itself runs in parallel, which splits output tiles and never the k sum, so both give the same
// bits. The weight gradient is one partial per chunk, added in chunk order: the result depends on N and
// the shapes, never on the thread count.
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "engine/backend.h"
#include "engine/check.h"
#include "engine/conv_pool.h"
#include "engine/cpu/backend_cpu.h"
#include "engine/cpu/conv_border.h"
#include "engine/cpu/conv_chunks.h"
#include "engine/cpu/conv_depthwise.h"
#include "engine/cpu/conv_direct.h"
#include "engine/cpu/conv_direct_avx512.h"
#include "engine/cpu/conv_epilogue.h"
#include "engine/cpu/conv_flipped.h"
#include "engine/cpu/conv_sums.h"
#include "engine/cpu/gemm.h"
#include "engine/cpu/im2col.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/shape_util.h"

namespace xdnn::ops {
namespace {

void check_conv_args(const Tensor& x, const Tensor& w, const Conv2dGeometry& g, const char* what) {
  expect_float(x, what);
  expect_same_dtype(x, w, what);
  if (x.ndim() != 4 || w.ndim() != 4)
    throw Error(std::string(what) + ": expected x (N, C, H, W) and w (O, C/groups, KH, KW), got " + x.describe() +
                " and " + w.describe());
  if (g.groups < 1 || x.dim(1) % g.groups != 0 || w.dim(0) % g.groups != 0 || w.dim(1) * g.groups != x.dim(1))
    throw Error(std::string(what) + ": " + std::to_string(g.groups) + " groups do not fit x " + x.describe() +
                " and w " + w.describe());
}

// Transposed weight gradient of samples [n0, n0 + S): gwT[g] (K, Og) = col[g] (K, S·P) · gyc[g]ᵀ (S·P, Og),
// layout (G, K, Og), overwritten. The transposed product keeps the long K axis on the GEMM's row panels
// and the short Og axis on one column panel (less zero padding).
// With gb (O), also the chunk's bias gradient gb[o] = Σ over the chunk's columns of gyc[o] (lane_sum of
// each row, read while the rows are in cache).
template <class T>
void weight_grad_chunk(const T* px, const T* pgy, const Dims& d, const Conv2dGeometry& g, int64_t n0, int64_t S,
                       bool parallel, T* gwT, T* gb = nullptr) {
  thread_local std::vector<T> colbuf, rowbuf;
  const int64_t L = S * d.P;
  const T* col = chunk_columns(px, d, g, n0, S, colbuf);
  const T* gy = chunk_rows(pgy, d, n0, S, rowbuf);
  if (gb)
    for (int64_t o = 0; o < d.O; ++o) gb[o] = lane_sum(gy + o * L, L);
  for (int64_t gi = 0; gi < d.G; ++gi)
    gemm_any<T>(parallel, false, true, d.K, d.Og, L, col + gi * d.K * L, L, gy + gi * d.Og * L, L, T(0),
                gwT + gi * d.K * d.Og, d.Og);
}

cpu::DepthwiseShape depthwise_shape(const Dims& d) { return {d.N, d.C, d.H, d.W, d.O / d.C, d.KH, d.KW, d.OH, d.OW}; }

}  // namespace

Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dGeometry& g) {
  check_conv_args(x, w, g, "conv2d_forward");
  return backend_of("conv2d_forward", x, w).conv2d_forward(x, w, b, g);
}

// The forward pass; with an epilogue (engine/conv_epilogue.h) the residual sum and the activation are
// applied in the same store as the bias (the GEMM route's scatter pass), or in one pass over y in place
// after the depthwise and direct kernels, which add their bias themselves. With pool (engine/conv_pool.h)
// each plane's store writes its 2x2 maxima instead; the direct and depthwise kernels then write blocks of
// samples into scratch.
static Tensor conv_forward_impl(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dGeometry& g,
                                const Tensor& residual, bool residual_first, ConvActivation act, double lo, double hi,
                                bool pool = false) {
  if (b.defined()) {
    expect_same_dtype(x, b, "conv2d_forward bias");
    expect_shape(b, {w.dim(0)}, "conv2d_forward bias");
  }
  const Dims d = conv_dims(x.shape(), w.shape(), g);
  if (residual.defined()) {
    expect_same_dtype(x, residual, "conv2d_forward_fused residual");
    expect_shape(residual, {d.N, d.O, d.OH, d.OW}, "conv2d_forward_fused residual");
  }
  const int64_t PP = pool ? (d.OH / 2) * (d.OW / 2) : d.P;  // positions per stored plane
  Tensor y = Tensor::empty(pool ? Shape{d.N, d.O, d.OH / 2, d.OW / 2} : Shape{d.N, d.O, d.OH, d.OW},
                           x.dtype());  // every element written below
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    const T* pw = w.data<T>();
    const T* pb = b.defined() ? b.data<T>() : nullptr;
    T* py = y.data<T>();
    const cpu::ConvEpilogue<T> ep{act, static_cast<T>(lo), static_cast<T>(hi),
                                  residual.defined() ? residual.data<T>() : nullptr, residual_first};
    // rows [r0, r1) of y (N·O rows of P), in place, after a kernel that added the bias itself
    const auto epilogue_in_place = [&]() {
      if (!ep.any()) return;
      parallel_for(d.N * d.O, std::max<int64_t>(1, 4096 / std::max<int64_t>(d.P, 1)), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
          cpu::epilogue_row<T>(py + r * d.P, py + r * d.P, d.P, nullptr, ep.residual ? ep.residual + r * d.P : nullptr,
                               ep);
      });
    };
    // kernel(n0, S, dst) writes samples [n0, n0 + S) of the convolution with bias into dst (S, O, OH, OW).
    // With the pool: blocks of at most kPoolBlock samples (a few hundred KB) into a thread's scratch, each
    // plane then stored with its epilogue and pooled; the kernels' own parallel_for runs nested (in order).
    const auto whole_samples = [&](const auto& kernel) {
      if (!pool) {
        kernel(int64_t(0), d.N, py);
        epilogue_in_place();
        return;
      }
      constexpr int64_t kPoolBlock = 8;
      parallel_for(d.N, grain_for_work(d.O * d.P * d.K), [&](int64_t nb, int64_t ne) {
        thread_local std::vector<T> blockbuf;
        for (int64_t n0 = nb; n0 < ne; n0 += kPoolBlock) {
          const int64_t S = std::min(kPoolBlock, ne - n0);
          T* yb = scratch(blockbuf, static_cast<size_t>(S * d.O * d.P));
          kernel(n0, S, yb);
          for (int64_t r = 0; r < S * d.O; ++r) {
            const int64_t row = n0 * d.O + r;
            cpu::epilogue_plane<T>(py + row * PP, yb + r * d.P, d.OH, d.OW, nullptr,
                                   ep.residual ? ep.residual + row * d.P : nullptr, ep, true);
          }
        }
      });
    };
    if (cpu::depthwise_applies(d.C, d.O, d.G)) {
      whole_samples([&](int64_t n0, int64_t S, T* dst) {
        cpu::DepthwiseShape s = depthwise_shape(d);
        s.N = S;
        cpu::depthwise_forward(px + n0 * d.C * d.H * d.W, pw, pb, s, g, dst);
      });
      return 0;
    }
    if (direct_conv_applies<T>(d.C, d.KH, d.KW, d.OW, g)) {  // few taps: no im2col (conv_direct.h)
      whole_samples([&](int64_t n0, int64_t S, T* dst) {
        const T* xs = px + n0 * d.C * d.H * d.W;
        // 512-bit vectors where the GEMM runs them too (same bits, conv_direct_avx512.h), else 256-bit.
        const bool wide =
            cpu::gemm_kernel() == cpu::GemmKernel::Vec512 &&
            cpu::direct_conv_forward_avx512(xs, pw, pb, S, d.C, d.H, d.W, d.O, d.KH, d.KW, d.OH, d.OW, g, dst);
        if (!wide) direct_conv_forward(xs, pw, pb, S, d.C, d.H, d.W, d.O, d.KH, d.KW, d.OH, d.OW, g, dst);
      });
      return 0;
    }
    for_each_chunk(d.N, chunk_samples(d), [&](int64_t n0, int64_t S, bool parallel) {
      thread_local std::vector<T> colbuf, outbuf;
      thread_local std::vector<int64_t> tables;
      const int64_t L = S * d.P;
      // One sample's (O, P) block of y is the chunk layout itself: the GEMM writes it directly.
      T* yc = S == 1 && !pool ? py + n0 * d.O * d.P : scratch(outbuf, static_cast<size_t>(d.O * L));
      if (border_class_gemm<T>(px, d, g, n0, S, parallel, pw, d.K, nullptr, yc)) {
        // the padding taps skipped (conv_border.h), same bits
      } else if (packed_columns_apply<T>(d, L) && !(S == 1 && pointwise(d, g))) {
        const PackedColumns<T> cols = packed_columns(px, d, g, n0, S, colbuf, tables);
        cpu::gemm_packed_b<T>(parallel, d.O, L, d.K, pw, d.K, cols.packer(), yc, L);
      } else {
        const T* col = chunk_columns(px, d, g, n0, S, colbuf);
        for (int64_t gi = 0; gi < d.G; ++gi)
          gemm_any<T>(parallel, false, false, d.Og, L, d.K, pw + gi * d.Og * d.K, d.K, col + gi * d.K * L, L, T(0),
                      yc + gi * d.Og * L, L);
      }
      // Epilogue: y[n0+s, o, :] = act(yc[o, s·P ..] + b[o] + r[n0+s, o, :]), one pass that also scatters the
      // chunk to (S, O, P); over threads when the GEMM was (the chunk is the whole batch).
      if (S == 1 && !pb && !ep.any() && !pool) return;
      const auto rows = [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t s = r / d.O, o = r % d.O, row = (n0 + s) * d.O + o;
          cpu::epilogue_plane<T>(py + row * PP, yc + o * L + s * d.P, d.OH, d.OW, pb ? pb + o : nullptr,
                                 ep.residual ? ep.residual + row * d.P : nullptr, ep, pool);
        }
      };
      if (parallel)
        parallel_for(S * d.O, std::max<int64_t>(1, 4096 / std::max<int64_t>(d.P, 1)), rows);
      else
        rows(0, S * d.O);
    });
    return 0;
  });
  return y;
}

static Tensor cpu_conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dGeometry& g) {
  return conv_forward_impl(x, w, b, g, Tensor(), false, ConvActivation::None, 0.0, 0.0);
}

Tensor conv2d_forward_fused(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& residual,
                            bool residual_first, ConvActivation act, double lo, double hi, const Conv2dGeometry& g) {
  check_conv_args(x, w, g, "conv2d_forward_fused");
  const Backend& be = backend_of("conv2d_forward_fused", x, w, b, residual);
  if (be.conv2d_forward_fused) return be.conv2d_forward_fused(x, w, b, residual, residual_first, act, lo, hi, g);
  Tensor y = conv2d_forward(x, w, b, g);
  if (residual.defined()) y = residual_first ? add(residual, y) : add(y, residual);
  if (act == ConvActivation::Relu) return unary(Unary::Relu, y);
  if (act == ConvActivation::Clip) return pointwise(Pointwise::Clip, y, lo, hi);
  return y;
}

bool conv2d_fused_pool_applies(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& residual,
                               const Conv2dGeometry& g, const Pool2dGeometry& pool) {
  const auto on_cpu = [&](const Tensor& t) {
    return t.device() == Device::CPU && (t.dtype() == DType::F32 || t.dtype() == DType::F64) && t.dtype() == x.dtype();
  };
  if (!x.defined() || !w.defined() || !on_cpu(x) || !on_cpu(w) || (b.defined() && !on_cpu(b)) ||
      (residual.defined() && !on_cpu(residual)) || x.ndim() != 4 || w.ndim() != 4)
    return false;
  if (pool.kernel_h != 2 || pool.kernel_w != 2 || pool.stride_h != 2 || pool.stride_w != 2 || pool.dilation_h != 1 ||
      pool.dilation_w != 1 || pool.pad_top != 0 || pool.pad_left != 0 || pool.pad_bottom != 0 || pool.pad_right != 0 ||
      pool.ceil_mode)
    return false;
  const Shape y = conv2d_output_shape(x.shape(), w.shape(), g);
  return y[2] >= 2 && y[3] >= 2 && y[3] < (int64_t(1) << 30);
}

Tensor conv2d_forward_fused_pool(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& residual,
                                 bool residual_first, ConvActivation act, double lo, double hi, const Conv2dGeometry& g,
                                 const Pool2dGeometry& pool) {
  check_conv_args(x, w, g, "conv2d_forward_fused_pool");
  check(conv2d_fused_pool_applies(x, w, b, residual, g, pool),
        "conv2d_forward_fused_pool: needs float32 or float64 tensors on the CPU, a 2x2 stride-2 pool without "
        "padding, dilation or ceil_mode and a convolution output of at least 2x2; got x " +
            x.describe());
  return conv_forward_impl(x, w, b, g, residual, residual_first, act, lo, hi, true);
}

static Tensor cpu_conv2d_backward_input(const Tensor& gy, const Tensor& w, const Shape& x_shape,
                                        const Conv2dGeometry& g, const Tensor& w_flipped) {
  const Dims d = conv_dims(x_shape, w.shape(), g);
  expect_shape(gy, {d.N, d.O, d.OH, d.OW}, "conv2d_backward_input gradient");
  Tensor gx = Tensor::empty(x_shape, gy.dtype());  // every element written (GEMM or col2im)
  dispatch_float(gy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pg = gy.data<T>();
    const T* pw = w.data<T>();
    T* pgx = gx.data<T>();
    if (cpu::depthwise_applies(d.C, d.O, d.G)) {
      cpu::depthwise_backward_input(pg, pw, depthwise_shape(d), g, pgx);
      return 0;
    }
    if (flipped_forward_applies(d, g)) {  // stride 1: a forward convolution of gy (conv_flipped.h)
      flipped_backward_input(pg, pw, w_flipped.defined() ? w_flipped.data<T>() : nullptr, d, g, pgx);
      return 0;
    }
    for_each_chunk(d.N, chunk_samples(d), [&](int64_t n0, int64_t S, bool parallel) {
      thread_local std::vector<T> colbuf, rowbuf;
      const int64_t L = S * d.P;
      const T* gyc = chunk_rows(pg, d, n0, S, rowbuf);
      // One sample of a pointwise convolution writes dcol = gx_n directly (col2im is the identity there).
      const bool direct = S == 1 && pointwise(d, g);
      const bool rows = !direct && col2im_rows_applies<T>(d, g);
      T* dcol = pgx + n0 * d.C * d.H * d.W;
      if (!direct) {
        const int64_t n = d.C * d.KH * d.KW * L;
        T* buf = scratch(colbuf, static_cast<size_t>(n + 2 * kColMargin));
        std::fill(buf, buf + kColMargin, T(0));
        std::fill(buf + kColMargin + n, buf + n + 2 * kColMargin, T(0));
        dcol = buf + kColMargin;
      }
      for (int64_t gi = 0; gi < d.G; ++gi)
        gemm_any<T>(parallel, true, false, d.K, L, d.Og, pw + gi * d.Og * d.K, d.K, gyc + gi * d.Og * L, L, T(0),
                    dcol + gi * d.K * L, L);
      if (direct) return;
      // Per sample and channel; over the threads when the GEMM was (the chunk is the whole batch: ResNet's
      // stem and stride-2 layers at batch 1). Each plane is one thread's, summed in the same order.
      const auto planes = [&](int64_t sc0, int64_t sc1) {
        for (int64_t sc = sc0; sc < sc1; ++sc) {
          const int64_t s = sc / d.C, c = sc % d.C;
          T* gxn = pgx + (n0 + s) * d.C * d.H * d.W;
          if (rows)
            col2im_rows(dcol + s * d.P, d, g, gxn, L, c, c + 1);
          else
            col2im(dcol + s * d.P, d, g, gxn, L, c, c + 1);
        }
      };
      if (parallel)
        parallel_for(S * d.C, grain_for_work(d.KH * d.KW * d.P), planes);
      else
        planes(0, S * d.C);
    });
    return 0;
  });
  return gx;
}

namespace {

// gw = (or +=) Σ_n gy_n ⋆ x_n; with gb, gb += Σ_n Σ_p gy_n (in the same pass over gy).
void backward_weight_impl(const Tensor& x, const Tensor& gy, Tensor& gw, bool accumulate, Tensor* gb,
                          const Conv2dGeometry& g) {
  check_conv_args(x, gw, g, "conv2d_backward_weight");
  expect_same_dtype(x, gy, "conv2d_backward_weight");
  const Dims d = conv_dims(x.shape(), gw.shape(), g);
  expect_shape(gy, {d.N, d.O, d.OH, d.OW}, "conv2d_backward_weight gradient");
  if (gb) {
    expect_same_dtype(x, *gb, "conv2d_backward_weight_bias");
    expect_shape(*gb, {d.O}, "conv2d_backward_weight_bias bias gradient");
  }
  const int64_t S = chunk_samples(d), chunks = std::max<int64_t>(1, (d.N + S - 1) / S), wsize = gw.numel();
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    const T* pg = gy.data<T>();
    T* pgw = gw.data<T>();
    T* pgb = gb ? gb->data<T>() : nullptr;
    if (cpu::depthwise_applies(d.C, d.O, d.G)) {
      cpu::depthwise_backward_weight(px, pg, depthwise_shape(d), g, accumulate, false, pgw, pgb);
      return 0;
    }
    if (direct_conv_applies<T>(d.C, d.KH, d.KW, d.OW, g)) {  // few taps: no im2col (conv_direct.h)
      direct_conv_backward_weight(px, pg, d.N, d.C, d.H, d.W, d.O, d.KH, d.KW, d.OH, d.OW, g, accumulate, pgw, pgb);
      return 0;
    }
    thread_local std::vector<T> partbuf, biasbuf;
    T* parts = scratch(partbuf, static_cast<size_t>(chunks * wsize));
    T* bparts = pgb ? scratch(biasbuf, static_cast<size_t>(chunks * d.O)) : nullptr;
    if (d.N == 0) std::fill(parts, parts + wsize, T(0));
    if (d.N == 0 && bparts) std::fill(bparts, bparts + d.O, T(0));
    for_each_chunk(d.N, S, [&](int64_t n0, int64_t s, bool parallel) {
      weight_grad_chunk(px, pg, d, g, n0, s, parallel, parts + (n0 / S) * wsize,
                        bparts ? bparts + (n0 / S) * d.O : nullptr);
    });
    for (int64_t c = 1; c < chunks; ++c) {  // chunk partials added in chunk order
      const T* part = parts + c * wsize;
      for (int64_t i = 0; i < wsize; ++i) parts[i] += part[i];
      if (bparts)
        for (int64_t o = 0; o < d.O; ++o) bparts[o] += bparts[c * d.O + o];
    }
    add_transposed(parts, d, accumulate, pgw);
    if (pgb)
      for (int64_t o = 0; o < d.O; ++o) pgb[o] += bparts[o];
    return 0;
  });
}

}  // namespace

void conv2d_backward_weight(const Tensor& x, const Tensor& gy, Tensor& gw, bool accumulate, const Conv2dGeometry& g) {
  return backend_of("conv2d_backward_weight", x, gy, gw).conv2d_backward_weight(x, gy, gw, accumulate, g);
}

static void cpu_conv2d_backward_weight(const Tensor& x, const Tensor& gy, Tensor& gw, bool accumulate,
                                       const Conv2dGeometry& g) {
  backward_weight_impl(x, gy, gw, accumulate, nullptr, g);
}

void conv2d_backward_weight_bias(const Tensor& x, const Tensor& gy, Tensor& gw, bool accumulate, Tensor& gb,
                                 const Conv2dGeometry& g) {
  return backend_of("conv2d_backward_weight_bias", x, gy, gw, gb)
      .conv2d_backward_weight_bias(x, gy, gw, accumulate, gb, g);
}

static void cpu_conv2d_backward_weight_bias(const Tensor& x, const Tensor& gy, Tensor& gw, bool accumulate, Tensor& gb,
                                            const Conv2dGeometry& g) {
  backward_weight_impl(x, gy, gw, accumulate, &gb, g);
}

Tensor conv2d_backward_weight_per_example(const Tensor& x, const Tensor& gy, const Shape& w_shape,
                                          const Conv2dGeometry& g) {
  if (w_shape.size() != 4) throw Error("conv2d_backward_weight_per_example: weight shape " + shape_str(w_shape));
  return backend_of("conv2d_backward_weight_per_example", x, gy).conv2d_backward_weight_per_example(x, gy, w_shape, g);
}

static Tensor cpu_conv2d_backward_weight_per_example(const Tensor& x, const Tensor& gy, const Shape& w_shape,
                                                     const Conv2dGeometry& g) {
  Tensor gw_like(w_shape, x.dtype());
  check_conv_args(x, gw_like, g, "conv2d_backward_weight_per_example");
  expect_same_dtype(x, gy, "conv2d_backward_weight_per_example");
  const Dims d = conv_dims(x.shape(), w_shape, g);
  expect_shape(gy, {d.N, d.O, d.OH, d.OW}, "conv2d_backward_weight_per_example gradient");
  Shape out_shape = w_shape;
  out_shape.insert(out_shape.begin(), d.N);
  Tensor out = Tensor::empty(out_shape, x.dtype());  // every sample's block written below
  const int64_t wsize = shape_numel(w_shape);
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    const T* pg = gy.data<T>();
    T* po = out.data<T>();
    if (cpu::depthwise_applies(d.C, d.O, d.G)) {
      cpu::depthwise_backward_weight(px, pg, depthwise_shape(d), g, false, true, po, static_cast<T*>(nullptr));
      return 0;
    }
    // Chunks of one sample: each sample's gradient is its own product.
    for_each_chunk(d.N, 1, [&](int64_t n, int64_t, bool parallel) {
      thread_local std::vector<T> gwTbuf;
      T* gwT = scratch(gwTbuf, static_cast<size_t>(wsize));
      weight_grad_chunk(px, pg, d, g, n, 1, parallel, gwT);
      add_transposed(gwT, d, false, po + n * wsize);
    });
    return 0;
  });
  return out;
}

Tensor conv2d_backward_bias(const Tensor& gy, bool per_example) {
  expect_float(gy, "conv2d_backward_bias");
  if (gy.ndim() != 4) throw Error("conv2d_backward_bias: expected (N, O, OH, OW), got " + gy.describe());
  return backend_of("conv2d_backward_bias", gy).conv2d_backward_bias(gy, per_example);
}

static Tensor cpu_conv2d_backward_bias(const Tensor& gy, bool per_example) {
  const int64_t N = gy.dim(0), O = gy.dim(1), P = gy.dim(2) * gy.dim(3);
  Tensor out = per_example ? Tensor({N, O}, gy.dtype()) : Tensor({O}, gy.dtype());
  dispatch_float(gy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pg = gy.data<T>();
    T* po = out.data<T>();
    // Per sample and channel a sum over positions in order; the batch sum adds samples in order.
    // Channels are independent, so they are split over threads. The sums of kRows samples run side by
    // side, one chain each: a single chain waits on the adder's latency at every element. Each chain is
    // still the same sequence of additions (the CUDA bodies reproduce these bits, test_cuda_kernels_host).
    constexpr int64_t kRows = 8;
    parallel_for(O, grain_for_work(N * P), [&](int64_t ob, int64_t oe) {
      for (int64_t o = ob; o < oe; ++o) {
        T total = T(0);
        for (int64_t n0 = 0; n0 < N; n0 += kRows) {
          const int64_t rows = std::min(kRows, N - n0);
          const T* r[kRows];
          for (int64_t j = 0; j < kRows; ++j) r[j] = pg + ((n0 + std::min(j, rows - 1)) * O + o) * P;
          T s[kRows] = {};
          for (int64_t p = 0; p < P; ++p)
            for (int64_t j = 0; j < kRows; ++j) s[j] += r[j][p];
          for (int64_t j = 0; j < rows; ++j) {  // rows past the batch (repeats of the last one) are dropped
            if (per_example)
              po[(n0 + j) * O + o] = s[j];
            else
              total += s[j];
          }
        }
        if (!per_example) po[o] = total;
      }
    });
    return 0;
  });
  return out;
}

// This file's entries of the CPU table (engine/cpu/backend_cpu.cpp).
void add_cpu_conv(Backend& b) {
  b.conv2d_forward = cpu_conv2d_forward;
  b.conv2d_forward_fused = [](const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& residual,
                              bool residual_first, ConvActivation act, double lo, double hi, const Conv2dGeometry& g) {
    return conv_forward_impl(x, w, b, g, residual, residual_first, act, lo, hi);
  };
  b.conv2d_backward_input = cpu_conv2d_backward_input;
  b.conv2d_backward_weight = cpu_conv2d_backward_weight;
  b.conv2d_backward_weight_bias = cpu_conv2d_backward_weight_bias;
  b.conv2d_backward_weight_per_example = cpu_conv2d_backward_weight_per_example;
  b.conv2d_backward_bias = cpu_conv2d_backward_bias;
}

}  // namespace xdnn::ops
