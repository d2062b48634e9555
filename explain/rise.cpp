// RISE (Petsiuk, Das & Saenko 2018, eq. 6), exactly as the golden README's §RISE fixes it: with K masks
// m_i (H, W) in [0, 1], each applied to all C channels of an (N, C, H, W) input, and b = --baseline,
//   x'_{n,i} = x_n ⊙ m_i + b (1 − m_i),
//   S_n = Σ_i s(x'_{n,i}) m_i / (K m̄),     m̄ = mean of all mask values (estimates the keep probability).
// Output (N, 1, H, W). Masks come from --masks M.npy (float32 (K, H, W)), or are generated when --masks is
// a number K: the paper's §3.2 recipe with cell size c = --cell pixels: a ⌈H/c⌉ × ⌈W/c⌉ grid of
// Bernoulli(--p) cells, upsampled bilinearly (half-pixel centres) to ((⌈H/c⌉+1)·c, (⌈W/c⌉+1)·c) and
// cropped at a shift (dy, dx) uniform in [0, c)² (SplitMix64 from --seed: the grid's cells row-major,
// then dy, then dx). Generated masks are made chunk by chunk, so memory does not grow with K.
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "engine/ops.h"
#include "explain/perturbation.h"
#include "explain/targets.h"
#include "explain/upsample.h"

namespace xdnn::explain {
namespace {

struct MaskSource {
  Tensor given;  // (K, H, W) float64, or undefined when generated
  int64_t K = 0, H = 0, W = 0, cell = 4;
  double p = 0.5;
  uint64_t seed = 0;

  // Masks i0 .. i0+k−1 as (k, H, W) float64; generated ones must be asked for in order.
  Tensor masks(int64_t i0, int64_t k, SplitMix64& rng) const {
    if (given.defined()) return given.slice_batch(i0, i0 + k);
    const int64_t gh = (H + cell - 1) / cell, gw = (W + cell - 1) / cell;
    const int64_t uh = (gh + 1) * cell, uw = (gw + 1) * cell;
    Tensor out({k, H, W}, DType::F64);
    for (int64_t j = 0; j < k; ++j) {
      Tensor grid({1, 1, gh, gw}, DType::F64);
      for (int64_t c = 0; c < gh * gw; ++c) grid.set_item(c, rng.uniform() < p ? 1.0 : 0.0);
      const int64_t dy = static_cast<int64_t>(rng.uniform() * static_cast<double>(cell));
      const int64_t dx = static_cast<int64_t>(rng.uniform() * static_cast<double>(cell));
      const Tensor up = upsample_bilinear(grid, uh, uw);  // (1, 1, uh, uw)
      const double* pu = up.data<double>();
      double* po = out.data<double>() + j * H * W;
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) po[y * W + x] = pu[(y + dy) * uw + x + dx];
    }
    return out;
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

MaskSource mask_source(const Options& options, int64_t H, int64_t W) {
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
  src.given = m.to(DType::F64);
  src.K = m.dim(0);
  const double* pm = src.given.data<double>();
  for (int64_t i = 0, i_end = src.given.numel(); i < i_end; ++i)
    if (!(pm[i] >= 0.0 && pm[i] <= 1.0))
      throw Error("--masks " + text + ": value " + std::to_string(pm[i]) + " at element " + std::to_string(i) +
                  ", expected values in [0, 1]");
  return src;
}

Attribution rise(const ExplainRequest& req) {
  check_request(req);
  if (!req.input.is_float() || req.input.ndim() != 4)
    throw Error("rise: expected a float image batch (N, C, H, W), got " + req.input.describe(),
                "RISE masks image pixels; use feature-ablation or kernel-shap for token or tabular inputs");
  Perturber p = make_perturber(req, "rise");
  const int64_t N = p.samples(), C = p.x.dim(1), H = p.x.dim(2), W = p.x.dim(3), HW = H * W;
  const MaskSource src = mask_source(req.options, H, W);
  SplitMix64 rng(src.seed);
  // The masks of the current chunk: made by the fill, weighted by their scores right after the forward.
  Tensor chunk;
  std::vector<double> sum(N * HW, 0.0);
  double mask_total = 0;
  // Copy j of sample n: x·m_j + b·(1 − m_j) in float64, rounded to x's dtype, on x's device (the masks are
  // made on the host, as the fill of a seeded stream, and copied over; -m + 1 is exactly 1 - m).
  const Tensor x64 = p.x.to(DType::F64).reshape({1, N, C, HW}), b64 = p.baseline.to(DType::F64).reshape({1, N, C, HW});
  auto fill = [&](int64_t s0, int64_t k, Tensor& rows) {
    chunk = src.masks(s0, k, rng);
    const double* pm = chunk.data<double>();
    for (int64_t i = 0; i < k * HW; ++i) mask_total += pm[i];
    const Tensor m = chunk.reshape({k, 1, 1, HW}).to(p.x.device());
    const Tensor keep = ops::mul(x64, m), fill_in = ops::mul(b64, ops::add_scalar(ops::scale(m, -1.0), 1.0));
    rows = ops::add(keep, fill_in).to(rows.dtype()).reshape(rows.shape());
  };
  auto accumulate = [&](int64_t, int64_t k, const double* scores) {  // Σ_i s_{n,i} m_i, in mask order
    const double* pm = chunk.data<double>();
    for (int64_t j = 0; j < k; ++j)
      for (int64_t n = 0; n < N; ++n) {
        const double s = scores[j * N + n];
        double* acc = sum.data() + n * HW;
        for (int64_t i = 0; i < HW; ++i) acc[i] += s * pm[j * HW + i];
      }
  };
  p.score_copies(src.K, fill, accumulate);
  const double mbar = mask_total / static_cast<double>(src.K * HW);
  if (!(mbar > 0)) throw Error("rise: every mask value is 0, nothing is ever kept");
  Tensor out({N, 1, H, W}, DType::F64);
  for (int64_t i = 0; i < N * HW; ++i) out.set_item(i, sum[i] / (static_cast<double>(src.K) * mbar));
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
