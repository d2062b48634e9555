// RISE (Petsiuk, Das & Saenko 2018, eq. 6), exactly as the golden README's §RISE fixes it: with K masks
// m_i (H, W) in [0, 1], each applied to all C channels of an (N, C, H, W) input, and b = --baseline,
//   x'_{n,i} = x_n ⊙ m_i + b (1 − m_i),
//   S_n = Σ_i s(x'_{n,i}) m_i / (K m̄),     m̄ = mean of all mask values (estimates the keep probability).
// Output (N, 1, H, W). Masks come from --masks M.npy (float32 (K, H, W)), or are generated when --masks is
// a number K: the paper's §3.2 recipe with cell size c = --cell pixels: a ⌈H/c⌉ × ⌈W/c⌉ grid of
// Bernoulli(--p) cells, upsampled bilinearly (half-pixel centres) to ((⌈H/c⌉+1)·c, (⌈W/c⌉+1)·c) and
// cropped at a shift (dy, dx) uniform in [0, c)² (SplitMix64 from --seed: the grid's cells row-major,
// then dy, then dx). Generated masks are made chunk by chunk, so memory does not grow with K.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "engine/ops_onnx.h"
#include "explain/finite.h"
#include "explain/perturbation.h"
#include "explain/targets.h"
#include "explain/upsample.h"

namespace xdnn::explain {
namespace {

struct MaskSource {
  Tensor given;  // (K, H, W) float64 on the input's device, or undefined when generated
  int64_t K = 0, H = 0, W = 0, cell = 4;
  double p = 0.5;
  uint64_t seed = 0;

  // Masks i0 .. i0+k−1 as (k, H, W) float64 on `device`; generated ones must be asked for in order. The
  // draws stay a serial host stream (per mask: the grid's cells, dy, dx) and go over in one copy; the
  // upsampling (explain/upsample.h: two matrix products per grid) and the crops run where the masks live.
  Tensor masks(int64_t i0, int64_t k, SplitMix64& rng, Device device) const {
    if (given.defined()) return given.slice_batch(i0, i0 + k);
    const int64_t gh = (H + cell - 1) / cell, gw = (W + cell - 1) / cell;
    const int64_t uh = (gh + 1) * cell, uw = (gw + 1) * cell;
    std::vector<double> cells(static_cast<size_t>(k * gh * gw));
    std::vector<int64_t> dy(static_cast<size_t>(k)), dx(static_cast<size_t>(k));
    for (int64_t j = 0; j < k; ++j) {
      for (int64_t c = 0; c < gh * gw; ++c) cells[static_cast<size_t>(j * gh * gw + c)] = rng.uniform() < p ? 1.0 : 0.0;
      dy[static_cast<size_t>(j)] = static_cast<int64_t>(rng.uniform() * static_cast<double>(cell));
      dx[static_cast<size_t>(j)] = static_cast<int64_t>(rng.uniform() * static_cast<double>(cell));
    }
    const Tensor grids = Tensor::from_vector({k, 1, gh, gw}, cells).to(device);
    const Tensor up = upsample_bilinear(grids, uh, uw);  // (k, 1, uh, uw)
    std::vector<Tensor> crops;                           // mask j: up_j cropped at (dy_j, dx_j), (1, 1, H, W)
    for (int64_t j = 0; j < k; ++j)
      crops.push_back(ops::strided_slice(up.slice_batch(j, j + 1),
                                         {0, 0, dy[static_cast<size_t>(j)], dx[static_cast<size_t>(j)]}, {1, 1, 1, 1},
                                         {1, 1, H, W}));
    return ops::concat_axis(crops, 0).reshape({k, H, W});
  }
};

// --masks as a count of masks to generate; false when the text is not an integer (then it names a file).
bool mask_count(const std::string& text, long long& count) {
  const char* s = text.c_str();
  char* end = nullptr;
  errno = 0;
  count = std::strtoll(s, &end, 10);
  return end != s && *end == '\0' && errno != ERANGE;
}

// OptionSpec::names_file of --masks: every value that is not an integer names a .npy file.
bool masks_name_file(const std::string& value) {
  long long count = 0;
  return !value.empty() && !mask_count(value, count);
}

// The flat index of the first mask value outside [0, 1] (NaN included), −1 if there is none: computed where
// the masks are, only the index comes back.
int64_t first_outside_unit(const Tensor& m) {
  const Tensor flat = m.reshape({m.numel()});
  const int64_t nonfinite = first_nonfinite(flat);
  // [m < 0] + [m > 1] per value (0 for NaN, found above), then its first maximum.
  const Tensor outside = ops::add(ops::unary(ops::Unary::Step, ops::scale(flat, -1.0)),
                                  ops::unary(ops::Unary::Step, ops::add_scalar(flat, -1.0)));
  const std::vector<Tensor> top = ops::reduce_axes(ops::ReduceOp::Max, outside, {1});
  const int64_t first = ops::value_vector(top[0])[0] > 0 ? ops::index_vector(top[1])[0] : -1;
  if (nonfinite < 0 || first < 0) return std::max(nonfinite, first);
  return std::min(nonfinite, first);
}

MaskSource mask_source(const Options& options, int64_t H, int64_t W, Device device) {
  MaskSource src;
  src.H = H, src.W = W;
  const std::string text = options.get("masks", "");
  if (text.empty()) throw Error("rise needs --masks: a float32 .npy (K, H, W) or a number of masks to generate");
  long long count = 0;
  if (mask_count(text, count)) {
    if (count < 1 || count > 10'000'000) throw Error("--masks " + text + ": expected 1..10000000 masks to generate");
    src.K = count;
    src.cell = options.get_int("cell", 4);
    if (src.cell < 1 || src.cell > std::max(H, W))
      throw Error("--cell " + std::to_string(src.cell) + ": expected a cell size in 1.." +
                  std::to_string(std::max(H, W)) + " pixels");
    src.p = options.get_double("p", 0.5);
    if (!(src.p > 0 && src.p <= 1))
      throw Error("--p " + options.get("p", "") + ": expected a keep probability in (0, 1]");
    src.seed = parse_seed(options);
    return src;
  }
  const Tensor& m = options.array("masks");
  if (!m.is_float() || m.ndim() != 3 || m.dim(1) != H || m.dim(2) != W || m.dim(0) < 1)
    throw Error("--masks " + text + ": expected float32 masks (K, " + std::to_string(H) + ", " + std::to_string(W) +
                ") matching the input's height and width, got " + m.describe());
  src.given = m.to(DType::F64).to(device);
  src.K = m.dim(0);
  const int64_t bad = first_outside_unit(src.given);
  if (bad >= 0) {
    const double value =
        ops::value_vector(ops::strided_slice(src.given.reshape({src.given.numel()}), {bad}, {1}, {1}))[0];
    throw Error("--masks " + text + ": value " + std::to_string(value) + " at element " + std::to_string(bad) +
                ", expected values in [0, 1]");
  }
  return src;
}

Attribution rise(const ExplainRequest& req) {
  check_request(req);
  if (!req.input.is_float() || req.input.ndim() != 4)
    throw Error("rise: expected a float image batch (N, C, H, W), got " + req.input.describe(),
                "RISE masks image pixels; use feature-ablation or kernel-shap for token or tabular inputs");
  Perturber p = make_perturber(req, "rise");
  const int64_t N = p.samples(), C = p.x.dim(1), H = p.x.dim(2), W = p.x.dim(3), HW = H * W;
  const Device device = p.x.device();
  const MaskSource src = mask_source(req.options, H, W, device);
  SplitMix64 rng(src.seed);
  // The masks of the current chunk (k, H, W): made by the fill, weighted by their scores right after the
  // forward.
  Tensor chunk;
  // sum (N, HW) float64: Σ_j s_{n,j} m_j; mask_total (1): Σ of every mask value. Both are running sums in
  // mask order (accumulate_weighted_rows: the same bits whatever the chunking).
  Tensor sum = ops::full({N, HW}, 0.0, DType::F64, device), mask_total = ops::full({1}, 0.0, DType::F64, device);
  // Copy j of sample n: x·m_j + b·(1 − m_j) in float64, rounded to x's dtype, on x's device (-m + 1 is
  // exactly 1 - m).
  const Tensor x64 = p.x.to(DType::F64).reshape({1, N, C, HW}), b64 = p.baseline.to(DType::F64).reshape({1, N, C, HW});
  auto fill = [&](int64_t s0, int64_t k, Tensor& rows) {
    chunk = src.masks(s0, k, rng, device);
    // Σ 1·m over the chunk's values in flat order: the running total, one value a row.
    ops::accumulate_weighted_rows(mask_total, chunk, std::vector<double>(static_cast<size_t>(k * HW), 1.0));
    const Tensor m = chunk.reshape({k, 1, 1, HW});
    const Tensor keep = ops::mul(x64, m), fill_in = ops::mul(b64, ops::add_scalar(ops::scale(m, -1.0), 1.0));
    rows = ops::add(keep, fill_in).to(rows.dtype()).reshape(rows.shape());
  };
  auto accumulate = [&](int64_t, int64_t k, const double* scores) {  // sum_n += Σ_j s_{n,j} m_j, in mask order
    std::vector<double> weights(static_cast<size_t>(k));
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t j = 0; j < k; ++j) weights[static_cast<size_t>(j)] = scores[j * N + n];
      Tensor row = sum.slice_batch(n, n + 1);  // shares sum's storage
      ops::accumulate_weighted_rows(row, chunk, weights);
    }
  };
  p.score_copies(src.K, fill, accumulate);
  const double mbar = ops::value_vector(mask_total)[0] / static_cast<double>(src.K * HW);
  if (!(mbar > 0)) throw Error("rise: every mask value is 0, nothing is ever kept");
  // S_n = sum_n / (K m̄), divided (not multiplied by the reciprocal) as the host loop did.
  const Tensor out =
      ops::div(sum, ops::full({1}, static_cast<double>(src.K) * mbar, DType::F64, device)).reshape({N, 1, H, W});
  Attribution a{out.to(req.model->dtype()), "rise", req.options.values, src.seed};
  a.parameters["masks"] = std::to_string(src.K);
  a.parameters["mask_mean"] = std::to_string(mbar);
  return a;
}

MethodRegistration reg{
    {"rise",
     "RISE (Petsiuk et al. 2018): score-weighted mean of random soft masks",
     {{"masks", "1000", "float32 .npy of masks (K, H, W) in [0, 1], or a number K of masks to generate", "FILE|INT",
       masks_name_file},
      {"cell", "4", "generated masks: grid cell size in pixels"},
      {"p", "0.5", "generated masks: probability that a cell is kept", "FLOAT"},
      kOptSeed,
      kOptGroupBaseline,
      kOptScore},
     rise}};

}  // namespace
}  // namespace xdnn::explain
