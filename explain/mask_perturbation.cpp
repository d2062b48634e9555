// Mask optimisation for meaningful and extremal perturbations; see mask_perturbation.h.
#include "explain/mask_perturbation.h"

#include <algorithm>
#include <cmath>

#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "engine/ops_onnx.h"
#include "engine/ops_optim.h"
#include "engine/ops_sort.h"
#include "explain/baseline.h"
#include "explain/perturbation.h"
#include "explain/point.h"
#include "explain/targets.h"

namespace xdnn::explain {

Tensor gaussian_blur(const Tensor& x, double sigma) {
  // Float64 on x's device. Separable: each plane (N·C, 1, H, W) is padded by r repeated edge values (the
  // clamped edges) and convolved with the (1, 2r + 1) taps along the width, then the same along the height.
  const Tensor x64 = x.to(DType::F64);
  if (sigma <= 0) return x.dtype() == DType::F64 ? x.clone() : x64;
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const int64_t r = static_cast<int64_t>(std::ceil(3 * sigma));
  std::vector<double> k(2 * r + 1);  // the normalised taps, a constant of σ
  double total = 0;
  for (int64_t i = -r; i <= r; ++i) total += k[i + r] = std::exp(-0.5 * i * i / (sigma * sigma));
  for (double& v : k) v /= total;
  const Tensor along_w = Tensor::from_vector({1, 1, 1, 2 * r + 1}, k).to(x.device());
  const Tensor along_h = Tensor::from_vector({1, 1, 2 * r + 1, 1}, k).to(x.device());
  const Tensor planes = x64.reshape({N * C, 1, H, W});
  const Tensor rows = ops::conv2d_forward(ops::pad_axes(planes, {0, 0, 0, r}, {0, 0, 0, r}, ops::PadMode::Edge, 0),
                                          along_w, Tensor(), ops::Conv2dGeometry{});
  const Tensor out = ops::conv2d_forward(ops::pad_axes(rows, {0, 0, r, 0}, {0, 0, r, 0}, ops::PadMode::Edge, 0),
                                         along_h, Tensor(), ops::Conv2dGeometry{});
  return out.reshape({N, C, H, W});
}

namespace {

double positive(const Options& o, const std::string& name, double fallback, bool allow_zero) {
  const double v = o.get_double(name, fallback);
  if (!std::isfinite(v) || v < 0 || (!allow_zero && v == 0))
    throw Error("--" + name + " " + o.get(name, "") + ": expected a number " + (allow_zero ? ">= 0" : "> 0"));
  return v;
}

// The bilinear upsampling of the mask as ops::resize taps: (N·h, w) -> (N·H, W), the samples' rows stacked on
// one axis (block-diagonal taps: each output row reads rows of its own sample only), half-pixel centres
// (explain/upsample.h's rule: s = (y + 1/2)·h/H − 1/2 clamped below at 0, y0 = ⌊s⌋, y1 = min(y0 + 1, h − 1)).
// Two axes instead of (N, 1, h, w)'s four: 4 tap combinations per output instead of 16, the same sums.
ops::ResizeAxisTaps bilinear_taps(int64_t out, int64_t in, int64_t blocks) {
  ops::ResizeAxisTaps t;
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t y = 0; y < out; ++y) {
      const double s = std::max((static_cast<double>(y) + 0.5) * scale - 0.5, 0.0);
      const int64_t y0 = std::min(static_cast<int64_t>(std::floor(s)), in - 1);
      t.i0.push_back(b * in + y0), t.i1.push_back(b * in + std::min(y0 + 1, in - 1));
      const double lambda = s - static_cast<double>(y0);
      t.w0.push_back(1.0 - lambda), t.w1.push_back(lambda);
    }
  return t;
}

// The TV term's gradient per neighbouring pair, d = m(b) − m(a): λ β |d|^(β−1) sign(d) / pairs, as an op chain
// (same rounding order as the formula read left to right).
Tensor tv_pair_gradient(const Tensor& d, double tv, double beta, const Tensor& pairs) {
  const Tensor power = ops::pointwise(ops::Pointwise::PowScalar, ops::unary(ops::Unary::Abs, d), beta - 1.0);
  return ops::div(ops::mul(ops::scale(power, tv * beta), ops::unary(ops::Unary::Sign, d)), pairs);
}

// g (N, 1, h, w) plus the TV term's gradient of m (N, 1, h, w). Each cell gets its pairs' terms in the order
// a raster walk over the pairs' first cells adds them: + the vertical pair above, + the horizontal pair on
// its left, − its own horizontal pair, − its own vertical pair.
Tensor add_tv_gradient(Tensor g, const Tensor& m, double tv, double beta, int64_t pairs) {
  const int64_t N = m.dim(0), h = m.dim(2), w = m.dim(3);
  const Tensor count = ops::full({1}, static_cast<double>(pairs), DType::F64, m.device());
  Tensor horizontal, vertical;  // (N, 1, h, w − 1), (N, 1, h − 1, w)
  if (w > 1)
    horizontal = tv_pair_gradient(ops::sub(ops::strided_slice(m, {0, 0, 0, 1}, {1, 1, 1, 1}, {N, 1, h, w - 1}),
                                           ops::strided_slice(m, {0, 0, 0, 0}, {1, 1, 1, 1}, {N, 1, h, w - 1})),
                                  tv, beta, count);
  if (h > 1)
    vertical = tv_pair_gradient(ops::sub(ops::strided_slice(m, {0, 0, 1, 0}, {1, 1, 1, 1}, {N, 1, h - 1, w}),
                                         ops::strided_slice(m, {0, 0, 0, 0}, {1, 1, 1, 1}, {N, 1, h - 1, w})),
                                tv, beta, count);
  auto placed = [](const Tensor& t, std::vector<int64_t> before, std::vector<int64_t> after) {
    return ops::pad_axes(t, before, after, ops::PadMode::Constant, 0.0);
  };
  if (h > 1) g = ops::add(g, placed(vertical, {0, 0, 1, 0}, {0, 0, 0, 0}));
  if (w > 1) g = ops::add(g, placed(horizontal, {0, 0, 0, 1}, {0, 0, 0, 0}));
  if (w > 1) g = ops::sub(g, placed(horizontal, {0, 0, 0, 0}, {0, 0, 0, 1}));
  if (h > 1) g = ops::sub(g, placed(vertical, {0, 0, 0, 0}, {0, 0, 1, 0}));
  return g;
}

// The extremal area term's target r (N, 1, h, w) on m's device: per sample, the cells whose stable rank in
// sort(m) is among the last `ones` get 1, the others 0. target_of_rank (h·w) float64 is that 0/1 vector by
// rank (r_k of ‖sort(m) − r‖²), so r = target_of_rank[rank(m)], a gather of the ranks.
Tensor area_targets(const Tensor& m, const Tensor& target_of_rank) {
  const int64_t N = m.dim(0), hw = m.numel() / N;
  const Tensor ranks = ops::stable_rank_last_axis(m.reshape({N, hw}));  // (N, h·w) int64
  return ops::gather_axis(target_of_rank, ranks, 0).reshape(m.shape());
}

}  // namespace

Attribution optimise_mask(const ExplainRequest& req, MaskGame game, const std::string& method) {
  check_request(req);
  if (!req.input.is_float() || req.input.ndim() != 4)
    throw Error(method + ": expected a float image batch (N, C, H, W), got " + req.input.describe());
  // A static-batch export (Model::exported_batch) runs one sample per call: optimise sample by sample.
  if (req.model->exported_batch > 0 && req.input.dim(0) > 1)
    return for_each_sample(req, [&](const ExplainRequest& one) { return optimise_mask(one, game, method); });
  const Options& o = req.options;
  const Model& model = *req.model;
  const Tensor x = model_input(req);
  // Everything image-sized runs where x lives: p, x − p, the mask m (N, 1, h, w), its Adam state, its
  // upsampling M and the blend Φ, the extremal game's area term (ranks of m, engine/ops_sort.h).
  const Device device = x.device();
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), HW = H * W;
  const ScoreKind score = parse_score(o.get("score", "prob"));
  const int64_t steps = o.get_int("steps", 300);
  if (steps < 1 || steps > 100000) throw Error("--steps " + std::to_string(steps) + ": expected 1..100000");
  const double lr = positive(o, "lr", 0.1, false);
  const int64_t scale = o.get_int("mask-scale", 4);
  if (scale < 1 || scale > std::max(H, W))
    throw Error("--mask-scale " + std::to_string(scale) + ": expected 1.." + std::to_string(std::max(H, W)));
  const std::string kind = o.get("perturbation", "blur");
  const double sigma = positive(o, "sigma", 3.0, true);
  const double l1 = game == MaskGame::Extremal ? 0.0 : positive(o, "l1", 1.0, true);
  const double tv = game == MaskGame::Extremal ? 0.0 : positive(o, "tv", 0.2, true);
  const double beta = game == MaskGame::Extremal ? 3.0 : positive(o, "tv-beta", 3.0, false);
  const double area = game == MaskGame::Extremal ? o.get_double("area", 0.1) : 0.0;
  const double area_weight = game == MaskGame::Extremal ? positive(o, "area-weight", 300.0, true) : 0.0;
  if (game == MaskGame::Extremal && !(area > 0 && area < 1))
    throw Error("--area " + o.get("area", "") + ": expected a fraction of the image in (0, 1)");

  // The perturbed image p (N, C, H, W), float64.
  const Tensor x64 = x.to(DType::F64);
  Tensor p;
  if (kind == "blur") {
    p = gaussian_blur(x, sigma);
  } else if (kind == "constant") {
    Options b;
    b.values["baseline"] = o.get("baseline", "").empty() ? "0" : o.get("baseline", "");
    b.arrays = o.arrays;
    p = baseline_for(b, x).to(DType::F64);
  } else if (kind == "noise") {
    // η drawn serially on the host in flat order (Box–Muller), then one copy to the device.
    SplitMix64 rng(parse_seed(o));
    rng.skip(2 * static_cast<uint64_t>(req.first_sample) * static_cast<uint64_t>(C * HW));  // earlier samples' draws
    std::vector<double> eta(static_cast<size_t>(N * C * HW));
    for (double& e : eta) {
      const double u1 = rng.uniform(), u2 = rng.uniform();
      e = sigma * std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(6.283185307179586 * u2);
    }
    p = ops::add(x64, Tensor::from_vector(x.shape(), eta).to(device));
  } else {
    throw Error("--perturbation '" + kind + "': expected blur, constant or noise");
  }
  const Tensor diff = ops::sub(x64, p);  // ∂Φ/∂M per channel

  const int64_t h = (H + scale - 1) / scale, w = (W + scale - 1) / scale, hw = h * w;
  const ops::ResizeTaps taps{bilinear_taps(H, h, N), bilinear_taps(W, w, 1)};  // (N·h, w) -> (N·H, W)
  auto upsample = [&](const Tensor& mask) { return ops::resize(mask.reshape({N * h, w}), taps).reshape({N, 1, H, W}); };
  const Shape mask_shape{N, 1, h, w};
  Tensor m = ops::full(mask_shape, game == MaskGame::Deletion ? 1.0 : 0.5, DType::F64, device);
  Tensor adam_m = ops::full(mask_shape, 0.0, DType::F64, device),
         adam_v = ops::full(mask_shape, 0.0, DType::F64, device);
  const int64_t ones = static_cast<int64_t>(std::ceil(area * static_cast<double>(hw)));
  const int64_t pairs = h * (w - 1) + (h - 1) * w;
  const Tensor cells = ops::full({1}, static_cast<double>(hw), DType::F64, device);
  std::vector<double> target_by_rank(static_cast<size_t>(hw), 0.0);  // the last `ones` ranks get 1
  for (int64_t k = std::max<int64_t>(hw - ones, 0); k < hw; ++k) target_by_rank[k] = 1.0;
  const Tensor target_of_rank = Tensor::from_vector({hw}, target_by_rank).to(device);
  for (int64_t step = 1; step <= steps; ++step) {
    const Tensor M = upsample(m);                       // (N, 1, H, W)
    const Tensor phi = ops::add(p, ops::mul(M, diff));  // Φ = p + M ⊙ (x − p), M broadcast over the channels
    const Tape tape = model.forward({phi.to(x.dtype())});
    const Tensor gx = score_gradient(model, tape, model.inputs()[0], req.targets, score).to(DType::F64);
    // ∂(±s)/∂M = ± Σ_c ∂s/∂Φ ⊙ (x − p) (channels summed in order), then back through the upsampling (Mᵀ).
    Tensor gM = ops::reduce_axes(ops::ReduceOp::Sum, ops::mul(gx, diff), {N, 1, H, W})[0];
    if (game != MaskGame::Deletion) gM = ops::unary(ops::Unary::Neg, gM);
    Tensor g = ops::resize_backward(gM.reshape({N * H, W}), taps, {N * h, w}).reshape(mask_shape);  // (N, 1, h, w)
    if (l1 > 0) g = ops::add_scalar(g, (game == MaskGame::Deletion ? -l1 : l1) / static_cast<double>(hw));
    if (tv > 0 && pairs > 0) g = add_tv_gradient(g, m, tv, beta, pairs);
    if (area_weight > 0) {  // ‖sort(m) − r‖²: the k-th smallest element is pulled to r_k
      // The weight grows linearly over the steps (the paper raises it during the optimisation too), so
      // the score first decides which cells rise and the area term then fixes how many stay.
      const double ramp = area_weight * static_cast<double>(step) / static_cast<double>(steps);
      g = ops::add(g, ops::div(ops::scale(ops::sub(m, area_targets(m, target_of_rank)), ramp * 2.0), cells));
    }
    // Adam (Kingma & Ba 2015, Algorithm 1, in PyTorch's arrangement), then clip to [0, 1].
    ops::AdamStep adam;
    adam.lr = lr, adam.t = step;
    ops::adam_step_inplace(m, g, adam_m, adam_v, adam);
    m = ops::clip(m, 0.0, 1.0);
  }
  const Tensor M = upsample(m);
  const Tensor out = game == MaskGame::Deletion ? ops::sub(ops::full(M.shape(), 1.0, DType::F64, device), M) : M;
  Attribution a{out.to(model.dtype()), method, o.values, parse_seed(o)};
  a.parameters["mask"] = std::to_string(h) + "x" + std::to_string(w);
  return a;
}

}  // namespace xdnn::explain
