// Mask optimisation for meaningful and extremal perturbations; see mask_perturbation.h.
#include "explain/mask_perturbation.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/ops.h"
#include "explain/baseline.h"
#include "explain/perturbation.h"
#include "explain/point.h"
#include "explain/targets.h"
#include "explain/upsample.h"

namespace xdnn::explain {

Tensor gaussian_blur(const Tensor& x, double sigma) {
  // On a host copy of x (one transfer each way; the result lives on x's device): to do, a separable
  // filter op with these taps' order.
  const Tensor x64 = x.to(Device::CPU).to(DType::F64);
  if (sigma <= 0) return x64.to(x.device());
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const int64_t r = static_cast<int64_t>(std::ceil(3 * sigma));
  std::vector<double> k(2 * r + 1);
  double total = 0;
  for (int64_t i = -r; i <= r; ++i) total += k[i + r] = std::exp(-0.5 * i * i / (sigma * sigma));
  for (double& v : k) v /= total;
  Tensor tmp({N, C, H, W}, DType::F64), out({N, C, H, W}, DType::F64);
  const double* px = x64.data<double>();
  double* pt = tmp.data<double>();
  double* po = out.data<double>();
  for (int64_t nc = 0; nc < N * C; ++nc) {
    const double* a = px + nc * H * W;
    double* t = pt + nc * H * W;
    double* o = po + nc * H * W;
    for (int64_t y = 0; y < H; ++y)
      for (int64_t xx = 0; xx < W; ++xx) {
        double s = 0;
        for (int64_t i = -r; i <= r; ++i) s += k[i + r] * a[y * W + std::clamp<int64_t>(xx + i, 0, W - 1)];
        t[y * W + xx] = s;
      }
    for (int64_t y = 0; y < H; ++y)
      for (int64_t xx = 0; xx < W; ++xx) {
        double s = 0;
        for (int64_t i = -r; i <= r; ++i) s += k[i + r] * t[std::clamp<int64_t>(y + i, 0, H - 1) * W + xx];
        o[y * W + xx] = s;
      }
  }
  return out.to(x.device());
}

namespace {

double positive(const Options& o, const std::string& name, double fallback, bool allow_zero) {
  const double v = o.get_double(name, fallback);
  if (!std::isfinite(v) || v < 0 || (!allow_zero && v == 0))
    throw Error("--" + name + " " + o.get(name, "") + ": expected a number " + (allow_zero ? ">= 0" : "> 0"));
  return v;
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
  // The mask, its Adam state and the blend Φ are computed on the host (the mask is small; to do: the blend
  // and its gradient as ops): Φ goes to x's device for each forward pass and ∂s/∂Φ comes back, one explicit
  // transfer each way per step.
  const Tensor xh = x.to(Device::CPU);
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
  Tensor p;
  if (kind == "blur") {
    p = gaussian_blur(xh, sigma);
  } else if (kind == "constant") {
    Options b;
    b.values["baseline"] = o.get("baseline", "").empty() ? "0" : o.get("baseline", "");
    b.arrays = o.arrays;
    p = baseline_for(b, xh).to(DType::F64);
  } else if (kind == "noise") {
    p = xh.to(DType::F64).clone();
    SplitMix64 rng(parse_seed(o));
    rng.skip(2 * static_cast<uint64_t>(req.first_sample) * static_cast<uint64_t>(C * HW));  // earlier samples' draws
    double* pp = p.data<double>();
    for (int64_t i = 0, i_end = p.numel(); i < i_end; ++i) {
      const double u1 = rng.uniform(), u2 = rng.uniform();
      pp[i] += sigma * std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(6.283185307179586 * u2);
    }
  } else {
    throw Error("--perturbation '" + kind + "': expected blur, constant or noise");
  }
  const Tensor x64 = xh.to(DType::F64);
  const Tensor diff = ops::sub(x64, p);  // ∂Φ/∂M per channel

  const int64_t h = (H + scale - 1) / scale, w = (W + scale - 1) / scale, hw = h * w;
  const Tensor Ry = resize_matrix(H, h, DType::F64), Rx = resize_matrix(W, w, DType::F64);  // (H, h), (W, w)
  std::vector<double> m(N * hw, game == MaskGame::Deletion ? 1.0 : 0.5), adam_m(N * hw, 0.0), adam_v(N * hw, 0.0);
  const int64_t ones = static_cast<int64_t>(std::ceil(area * static_cast<double>(hw)));
  const int64_t pairs = h * (w - 1) + (h - 1) * w;
  Tensor M({N, 1, H, W}, DType::F64);
  auto upsample = [&]() {
    for (int64_t n = 0; n < N; ++n) {
      const Tensor mn = Tensor::from_vector({h, w}, std::vector<double>(m.begin() + n * hw, m.begin() + (n + 1) * hw));
      M.slice_batch(n, n + 1).copy_from(ops::matmul(ops::matmul(Ry, mn), Rx, false, true).reshape({1, 1, H, W}));
    }
  };
  std::vector<double> g(N * hw);
  for (int64_t step = 1; step <= steps; ++step) {
    upsample();
    // Φ = p + M ⊙ (x − p), all channels.
    Tensor phi({N, C, H, W}, DType::F64);
    double* pphi = phi.data<double>();
    const double* pp = p.data<double>();
    const double* pd = diff.data<double>();
    const double* pM = M.data<double>();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < HW; ++i) {
          const int64_t e = (n * C + c) * HW + i;
          pphi[e] = pp[e] + pM[n * HW + i] * pd[e];
        }
    const Tape tape = model.forward({phi.to(x.dtype()).to(x.device())});
    const Tensor gx = score_gradient(model, tape, model.inputs()[0], req.targets, score).to(Device::CPU).to(DType::F64);
    // ∂(±s)/∂M = ± Σ_c ∂s/∂Φ ⊙ (x − p), then back through the upsampling: R_yᵀ G R_x.
    const double sign = game == MaskGame::Deletion ? 1.0 : -1.0;
    const double* pg = gx.data<double>();
    for (int64_t n = 0; n < N; ++n) {
      Tensor gM({H, W}, DType::F64);
      double* pgm = gM.data<double>();
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < HW; ++i) pgm[i] += sign * pg[(n * C + c) * HW + i] * pd[(n * C + c) * HW + i];
      const Tensor gm = ops::matmul(ops::matmul(Ry, gM, true, false), Rx);  // (h, w)
      for (int64_t i = 0; i < hw; ++i) g[n * hw + i] = gm.item(i);
    }
    for (int64_t n = 0; n < N; ++n) {
      double* gn = g.data() + n * hw;
      const double* mn = m.data() + n * hw;
      if (l1 > 0)
        for (int64_t i = 0; i < hw; ++i) gn[i] += (game == MaskGame::Deletion ? -l1 : l1) / static_cast<double>(hw);
      if (tv > 0 && pairs > 0) {
        auto pair = [&](int64_t a, int64_t b) {
          const double d = mn[b] - mn[a];
          const double t = tv * beta * std::pow(std::abs(d), beta - 1.0) *
                           (d > 0   ? 1.0
                            : d < 0 ? -1.0
                                    : 0.0) /
                           static_cast<double>(pairs);
          gn[b] += t, gn[a] -= t;
        };
        for (int64_t y = 0; y < h; ++y)
          for (int64_t xx = 0; xx < w; ++xx) {
            if (xx + 1 < w) pair(y * w + xx, y * w + xx + 1);
            if (y + 1 < h) pair(y * w + xx, (y + 1) * w + xx);
          }
      }
      if (area_weight > 0) {  // ‖sort(m) − r‖²: the k-th smallest element is pulled to r_k
        // The weight grows linearly over the steps (the paper raises it during the optimisation too), so
        // the score first decides which cells rise and the area term then fixes how many stay.
        const double ramp = area_weight * static_cast<double>(step) / static_cast<double>(steps);
        std::vector<int64_t> order(hw);
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return mn[a] < mn[b]; });
        for (int64_t k = 0; k < hw; ++k) {
          const double r = k >= hw - ones ? 1.0 : 0.0;
          gn[order[k]] += ramp * 2.0 * (mn[order[k]] - r) / static_cast<double>(hw);
        }
      }
    }
    // Adam (Kingma & Ba 2015, Algorithm 1), then clip to [0, 1].
    const double b1 = 0.9, b2 = 0.999, c1 = 1.0 - std::pow(b1, step), c2 = 1.0 - std::pow(b2, step);
    for (int64_t i = 0; i < N * hw; ++i) {
      adam_m[i] = b1 * adam_m[i] + (1 - b1) * g[i];
      adam_v[i] = b2 * adam_v[i] + (1 - b2) * g[i] * g[i];
      m[i] = std::clamp(m[i] - lr * (adam_m[i] / c1) / (std::sqrt(adam_v[i] / c2) + 1e-8), 0.0, 1.0);
    }
  }
  upsample();
  Tensor out = game == MaskGame::Deletion ? ops::sub(Tensor::full(M.shape(), 1.0, DType::F64), M) : M;
  Attribution a{out.to(model.dtype()), method, o.values, parse_seed(o)};
  a.parameters["mask"] = std::to_string(h) + "x" + std::to_string(w);
  return a;
}

}  // namespace xdnn::explain
