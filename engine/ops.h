// ops: what layers and explainers compute with (and Tensor's own bookkeeping). Each function checks
// its operands' metadata once and calls the entry of the same name in the table of their device
// (engine/backend.h): the CPU implementations in engine/cpu/<family>.cpp (templates over float and
// double), the CUDA backend's <family>.cu twins, or the Strict test device. A new primitive lands with its
// table entry, its CPU twin, its CUDA kernel, a kernel test and a bench entry.
//
// Conventions: all tensors contiguous; float ops accept F32 or F64 (all operands the same dtype);
// results are new tensors unless the name ends in _inplace / _into.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/random.h"
#include "engine/tensor.h"

namespace xdnn::ops {

// ---- checks ---------------------------------------------------------------------------------------
// Throws "<what>: expected <dtype>, got <dtype>" style errors.
void expect_float(const Tensor& t, const char* what);
void expect_same_dtype(const Tensor& a, const Tensor& b, const char* what);
void expect_shape(const Tensor& t, const Shape& s, const char* what);

// ---- matrix products (engine/cpu/gemm.cpp) -----------------------------------------------------------
// c = op(a) op(b) for 2-D a, b. op = transpose when the flag is set.
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a = false, bool transpose_b = false);
// c = alpha op(a) op(b) + beta c, c preallocated.
void matmul_into(const Tensor& a, const Tensor& b, Tensor& c, bool transpose_a, bool transpose_b, double alpha,
                 double beta);

// ---- element-wise (engine/cpu/elementwise.cpp) -----------------------------------------------------------
enum class Unary {
  Relu,
  Sigmoid,
  Tanh,
  Exp,
  Log,
  Sqrt,
  Abs,
  Neg,
  Square,
  Reciprocal,
  PositivePart,  // max(x, 0)
  NegativePart,  // min(x, 0)
  Sign,          // sign with sign(0) = 0
  SignPlus,      // sign with sign(0) = +1 (the LRP stabiliser's convention)
  Step,          // [x > 0]
};
Tensor unary(Unary op, const Tensor& x);

enum class Binary { Add, Sub, Mul, Div, Max, Min };
// NumPy broadcasting between a and b.
Tensor binary(Binary op, const Tensor& a, const Tensor& b);
inline Tensor add(const Tensor& a, const Tensor& b) { return binary(Binary::Add, a, b); }
inline Tensor sub(const Tensor& a, const Tensor& b) { return binary(Binary::Sub, a, b); }
inline Tensor mul(const Tensor& a, const Tensor& b) { return binary(Binary::Mul, a, b); }
inline Tensor div(const Tensor& a, const Tensor& b) { return binary(Binary::Div, a, b); }
// Sums a broadcast gradient back to `shape` (the reverse of broadcasting `shape` to g.shape()).
Tensor sum_to_shape(const Tensor& g, const Shape& shape);

Tensor scale(const Tensor& x, double a);                  // a x
Tensor add_scalar(const Tensor& x, double a);             // x + a
void add_inplace(Tensor& y, const Tensor& x);             // y += x (same shape)
void axpy_inplace(Tensor& y, double a, const Tensor& x);  // y += a x (same shape)
// LRP stabiliser: z + eps * sign(z) with sign(0) = +1.
Tensor stabilize(const Tensor& z, double eps);
Tensor clip(const Tensor& x, double lo, double hi);

// ---- reductions --------------------------------------------------------------------------------------
double sum_all(const Tensor& x);  // accumulated in double, fixed order
double dot_all(const Tensor& a, const Tensor& b);

// ---- convolution (engine/cpu/conv.cpp) ------------------------------------------------------------------
// x: (N, C, H, W), w: (O, C/groups, KH, KW) (PyTorch OIHW), b: (O) or undefined, y: (N, O, OH, OW).
// Padding may be asymmetric (ONNX pads); padded positions are zero.
struct Conv2dGeometry {
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t groups = 1;
};
Shape conv2d_output_shape(const Shape& x_shape, const Shape& w_shape, const Conv2dGeometry& g);
Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dGeometry& g);
// gx (x_shape) = Wᵀ ⋆ gy: the input-gradient of <gy, conv(x, w)>. w_flipped, when defined, must be
// conv2d_flipped_weights(w) (the caller vouches for it; only its shape is checked): the CPU's stride-1 route
// then reads it row by row instead of w through an offset table, with the same bits (engine/cpu/conv_flipped.h
// says where that pays); other routes and devices ignore it.
Tensor conv2d_backward_input(const Tensor& gy, const Tensor& w, const Shape& x_shape, const Conv2dGeometry& g,
                             const Tensor& w_flipped = Tensor());
// wf (C, O, KH, KW) = w (O, C, KH, KW) transposed and flipped: wf[c, o, i, j] = w[o, c, KH−1−i, KW−1−j], the
// weights of the input gradient as a forward convolution (one group). Built once by a layer whose weights no
// longer change (Layer::freeze).
Tensor conv2d_flipped_weights(const Tensor& w);
// gw (shape of w) = Σ_n gy_n ⋆ x_n; overwrites gw, or adds to it when `accumulate`. Deterministic for any
// thread count (fixed chunks of samples summed in order).
void conv2d_backward_weight(const Tensor& x, const Tensor& gy, Tensor& gw, bool accumulate, const Conv2dGeometry& g);
// The same gw, and gb (O) += Σ_n Σ_p gy_n, the bias gradient, summed in the same pass over gy (training).
// Its order (vector lane sums per chunk of samples, chunks in order) differs from conv2d_backward_bias's,
// so the last bits may too; deterministic for any thread count.
void conv2d_backward_weight_bias(const Tensor& x, const Tensor& gy, Tensor& gw, bool accumulate, Tensor& gb,
                                 const Conv2dGeometry& g);
// Per-example weight gradients: (N, O, C/groups, KH, KW), one pass over the batch.
Tensor conv2d_backward_weight_per_example(const Tensor& x, const Tensor& gy, const Shape& w_shape,
                                          const Conv2dGeometry& g);
// Bias gradient: Σ over batch and positions -> (O), or per example -> (N, O).
Tensor conv2d_backward_bias(const Tensor& gy, bool per_example);

// ---- pooling (engine/cpu/pooling.cpp) ------------------------------------------------------------------
// x: (N, C, H, W) -> (N, C, OH, OW). Padding may be asymmetric (ONNX pads).
struct Pool2dGeometry {
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  bool ceil_mode = false;
};
Shape pool2d_output_shape(const Shape& x_shape, const Pool2dGeometry& g);
// Max over each window (padding acts as −∞). argmax (I64, shape of y) receives the flat index h·W + w in
// the input plane of the FIRST element in row-major window order equal to the maximum.
Tensor maxpool2d_forward(const Tensor& x, const Pool2dGeometry& g, Tensor& argmax);
// Routes each gy element to its arg-max (windows that overlap add up).
Tensor maxpool2d_backward(const Tensor& gy, const Tensor& argmax, const Shape& x_shape);
// Training's 2x2 stride-2 max-pool (float32 on the CPU, no padding, dilation or ceil_mode, at most 32
// outputs per row: maxpool2d_tap_codes_apply): y as maxpool2d_forward, and instead of flat arg-max indices
// each window's winning tap (i, j) (same first-maximum rule) as 2 bits, one int64 word per output row
// (bit ow = j, bit 32 + ow = i of output ow), codes (N·C·OH); maxpool2d_backward_tap_codes routes gy by them
// (same bits as maxpool2d_backward).
bool maxpool2d_tap_codes_apply(const Tensor& x, const Pool2dGeometry& g);
Tensor maxpool2d_forward_tap_codes(const Tensor& x, const Pool2dGeometry& g, Tensor& codes);
Tensor maxpool2d_backward_tap_codes(const Tensor& gy, const Tensor& codes, const Shape& x_shape);
// What a window's sum is divided by: 1 (sum pooling), the window size clipped to the padded input
// (count_include_pad), or the number of real input elements in it.
enum class PoolDivisor { Sum, WindowIncludingPad, WindowExcludingPad };
Tensor avgpool2d_forward(const Tensor& x, const Pool2dGeometry& g, PoolDivisor div);
Tensor avgpool2d_backward(const Tensor& gy, const Shape& x_shape, const Pool2dGeometry& g, PoolDivisor div);

// ---- activations (engine/cpu/activations.cpp) -----------------------------------------------------------
Tensor leaky_relu(const Tensor& x, double slope);  // x > 0 ? x : slope·x
// g ⊙ (x > 0 ? 1 : slope); with positive_grad_only, max(g, 0) ⊙ (x > 0 ? 1 : slope) (guided backprop).
Tensor leaky_relu_backward(const Tensor& x, const Tensor& g, double slope, bool positive_grad_only);
// ReLU for training: y = max(x, 0) as unary Relu, and mask, int64 (⌈numel / 64⌉) with bit i % 64 of word
// i / 64 = [x_i > 0], which relu_backward_mask reads instead of x (a bit instead of a float per element).
// On CUDA the mask is left undefined (use leaky_relu_backward with x).
Tensor relu_with_mask(const Tensor& x, Tensor& mask);
// leaky_relu_backward(x, g, 0, positive_grad_only), same bits, from relu_with_mask's mask of x.
Tensor relu_backward_mask(const Tensor& mask, const Tensor& g, bool positive_grad_only);
Tensor sigmoid_backward(const Tensor& y, const Tensor& g);  // g ⊙ y ⊙ (1 − y), y = σ(x)
Tensor tanh_backward(const Tensor& y, const Tensor& g);     // g ⊙ (1 − y²), y = tanh(x)
// Inverted-dropout mask: 1/(1 − p) with probability 1 − p, else 0 (all 0 for p = 1); drawn in flat order.
Tensor dropout_mask(const Shape& shape, double p, Rng& rng, DType dtype);

// ---- softmax and cross-entropy (engine/cpu/softmax.cpp) ---------------------------------------------------
// Over any axis (negative counts from the end); max-subtracted, sums in double.
Tensor softmax(const Tensor& x, int axis);
Tensor log_softmax(const Tensor& x, int axis);
// Input gradients from the forward output y and its gradient dy.
Tensor softmax_backward(const Tensor& y, const Tensor& dy, int axis);      // y ⊙ (dy − Σ y ⊙ dy)
Tensor log_softmax_backward(const Tensor& y, const Tensor& dy, int axis);  // dy − e^y Σ dy
// logits (N, C), labels int64 (N): L_n = logsumexp(z_n) − z_n[y_n] -> (N). Labels outside [0, C) throw
// naming the label, the sample and the valid range.
Tensor cross_entropy_per_example(const Tensor& logits, const Tensor& labels);
// scale · ∂L_n/∂z_n = scale · (softmax(z_n) − onehot(y_n)) -> (N, C).
Tensor cross_entropy_backward(const Tensor& logits, const Tensor& labels, double scale);

// ---- batch normalisation (engine/cpu/batchnorm.cpp) -------------------------------------------------------
// x: (N, C, ...) viewed as (N, C, S); per-channel tensors are (C).
// Per-channel mean and biased variance over N·S values (double accumulation, fixed order).
std::vector<Tensor> batchnorm_stats(const Tensor& x);  // {mean, var}
// y = γ (x − mean) / sqrt(var + eps) + β
Tensor batchnorm_forward(const Tensor& x, const Tensor& mean, const Tensor& var, const Tensor& gamma,
                         const Tensor& beta, double eps);
// {dx, dγ, dβ}. batch_stats: mean/var are x's own batch statistics (training), so dx includes their
// dependence on x. per_example: dγ, dβ are (N, C) instead of (C).
std::vector<Tensor> batchnorm_backward(const Tensor& gy, const Tensor& x, const Tensor& mean, const Tensor& var,
                                       const Tensor& gamma, double eps, bool batch_stats, bool per_example);

// ---- sequence models (engine/cpu/sequence.cpp, engine/cpu/rnn_cells.cpp) -----------------------------
// y = x with its axes permuted: y.shape[i] = x.shape[perm[i]]. Any dtype.
Tensor permute_axes(const Tensor& x, const std::vector<int>& perm);
// Embedding lookup: table (V, d), ids int64 (...) -> (..., d). Throws naming the first id outside
// [0, V) and the valid range.
Tensor gather_rows(const Tensor& table, const Tensor& ids);
// Scatter-add of g (..., d) into rows of a (V, d) tensor: out[ids[i]] += g[i]. Serial, fixed order.
Tensor scatter_add_rows(const Tensor& g, const Tensor& ids, int64_t num_rows);
// Concatenation / slicing along the last axis (all other axes equal).
Tensor concat_last_axis(const std::vector<Tensor>& xs);
Tensor slice_last_axis(const Tensor& x, int64_t begin, int64_t end);
// NumPy broadcasting of x to `shape` (ONNX Expand is broadcast(x.shape, shape)); any dtype.
Tensor broadcast_to(const Tensor& x, const Shape& shape);
// Element-wise select with broadcasting: cond != 0 ? x : y (cond int64 or float; x, y same dtype, any).
Tensor where(const Tensor& cond, const Tensor& x, const Tensor& y);
// Batched product of 3-D tensors: c[b] = op(a[b]) op(b[b]); a (B, M, K) or (B, K, M) when transposed.
Tensor batched_matmul(const Tensor& a, const Tensor& b, bool transpose_a = false, bool transpose_b = false);
// Softmax over the last axis (max-subtracted); backward from y and dy: dx = y ⊙ (dy − Σ y ⊙ dy).
Tensor softmax_last_axis(const Tensor& x);
Tensor softmax_last_axis_backward(const Tensor& y, const Tensor& dy);
// Layer normalisation over the trailing `d` elements of each row (no affine part): returns
// {xhat (shape of x), rstd (rows)} with rstd = 1/sqrt(var + eps), var the biased variance.
std::vector<Tensor> layer_norm_forward(const Tensor& x, int64_t d, double eps);
// dx from dxhat: rstd ⊙ (dxhat − mean(dxhat) − xhat ⊙ mean(dxhat ⊙ xhat)) per row.
Tensor layer_norm_backward(const Tensor& dxhat, const Tensor& xhat, const Tensor& rstd);
// Row-wise mean of the last axis subtracted: x − mean_last(x) (the transpose of centring, too).
Tensor center_last_axis(const Tensor& x);
// GELU: x Φ(x) (exact, erf) or the tanh approximation; its derivative for backward.
Tensor gelu(const Tensor& x, bool tanh_approximation);
Tensor gelu_derivative(const Tensor& x, bool tanh_approximation);
Tensor erf(const Tensor& x);
Tensor erf_derivative(const Tensor& x);  // 2/sqrt(pi) exp(-x²)

// Recurrent cells (PyTorch gate layouts). `mask` (N) float or undefined: rows with mask 0 keep their
// state (padding past a sequence's length). Cell outputs are new tensors.
// LSTM: z (N, 4H) pre-activations in gate order i, f, g, o; returns {a (N, 4H) = σ(i), σ(f), tanh(g),
// σ(o); c (N, H); h (N, H)}.
std::vector<Tensor> lstm_cell_forward(const Tensor& z, const Tensor& c_prev, const Tensor& h_prev, const Tensor& mask);
// From dh, dc (N, H) at the step's outputs: {dz (N, 4H), dc_prev (N, H), dh_prev_direct (N, H)} where
// dh_prev_direct is what reaches h_prev other than through the recurrent matmul (masked rows).
std::vector<Tensor> lstm_cell_backward(const Tensor& dh, const Tensor& dc, const Tensor& a, const Tensor& c_prev,
                                       const Tensor& c, const Tensor& mask);
// GRU: xi = x W_ihᵀ + b_ih, hh = h W_hhᵀ + b_hh (N, 3H) in gate order r, z, n; returns {a (N, 3H) =
// r, z, n; h (N, H)} with n = tanh(xi_n + r ⊙ hh_n), h = (1 − z) ⊙ n + z ⊙ h_prev.
std::vector<Tensor> gru_cell_forward(const Tensor& xi, const Tensor& hh, const Tensor& h_prev, const Tensor& mask);
// {dxi (N, 3H), dhh (N, 3H), dh_prev_direct (N, H)}.
std::vector<Tensor> gru_cell_backward(const Tensor& dh, const Tensor& a, const Tensor& hh, const Tensor& h_prev,
                                      const Tensor& mask);
// Elman: h = act(z) with act tanh or relu (relu'(0) = 0); masked rows keep h_prev.
Tensor rnn_cell_forward(const Tensor& z, const Tensor& h_prev, const Tensor& mask, bool relu);
// {dz (N, H), dh_prev_direct (N, H)} from dh and the step's output h.
std::vector<Tensor> rnn_cell_backward(const Tensor& dh, const Tensor& h, const Tensor& mask, bool relu);

// ---- parameterised element-wise functions (engine/cpu/pointwise.cpp) -----------------------------------
// y = f(x; a, b): Elu (α = a), Selu (α = a, γ = b), PowScalar (exponent a), Scale (a·x); the rest take no
// parameter. Softplus is evaluated without overflow.
enum class Pointwise {
  Exp,
  Log,
  Sqrt,
  Abs,
  Neg,
  Reciprocal,
  Elu,
  Selu,
  Softplus,
  Softsign,
  PowScalar,
  Sigmoid,
  Tanh,
  Scale,
  Clip,         // min(max(x, a), b) (ONNX Clip; ReLU6 = Clip(0, 6)); derivative 1 on (a, b) open, as hardtanh
  HardSigmoid,  // max(0, min(1, a x + b)); derivative a on the open linear part
  HardSwish,    // x · HardSigmoid(x; 1/6, 1/2); derivative 0 below −3, x/3 + 1/2 on [−3, 3], 1 above
  Mish          // x tanh(softplus(x)) (Misra 2019)
};
Tensor pointwise(Pointwise f, const Tensor& x, double a = 0, double b = 0);
// g ⊙ f'(x), from x and y = f(x) (abs'(0) = 0).
Tensor pointwise_backward(Pointwise f, const Tensor& x, const Tensor& y, const Tensor& g, double a = 0, double b = 0);

// ---- data movement along arbitrary axes, any dtype (engine/cpu/data_movement.cpp) ------------------------
// y[i] = x[start + i ⊙ step] per axis (step may be negative), y of shape out_shape.
Tensor strided_slice(const Tensor& x, const std::vector<int64_t>& starts, const std::vector<int64_t>& steps,
                     const Shape& out_shape);
// The transpose: gy scattered into zeros of x_shape at the sliced positions.
Tensor strided_slice_backward(const Tensor& gy, const std::vector<int64_t>& starts, const std::vector<int64_t>& steps,
                              const Shape& x_shape);
// y.shape[i] = x.shape[perm[i]].
Tensor transpose_axes(const Tensor& x, const std::vector<int64_t>& perm);
// Concatenation along `axis` (all other axes equal, same dtype).
Tensor concat_axis(const std::vector<Tensor>& xs, int64_t axis);
// Padding: pads_begin / pads_end per axis (negative = crop). Constant fills `value`; Reflect mirrors
// without repeating the edge; Edge repeats the edge.
enum class PadMode { Constant, Reflect, Edge };
Tensor pad_axes(const Tensor& x, const std::vector<int64_t>& pads_begin, const std::vector<int64_t>& pads_end,
                PadMode mode, double value);
// The transpose of pad_axes (reflected / repeated positions add up, in a fixed order).
Tensor pad_axes_backward(const Tensor& gy, const std::vector<int64_t>& pads_begin, const std::vector<int64_t>& pads_end,
                         PadMode mode, const Shape& x_shape);
// ONNX Gather: y = data indexed by `indices` (int64, negative counts from the end) along `axis`;
// y.shape = data.shape[:axis] + indices.shape + data.shape[axis+1:]. Throws naming a bad index.
Tensor gather_axis(const Tensor& data, const Tensor& indices, int64_t axis);
// Scatter-add of gy back to data_shape (serial, fixed order).
Tensor gather_axis_backward(const Tensor& gy, const Tensor& indices, int64_t axis, const Shape& data_shape);

}  // namespace xdnn::ops
