// Prediction difference analysis (Zintgraf, Cohen, Adel & Welling, "Visualizing deep neural network
// decisions: prediction difference analysis", ICLR 2017). A patch x_i of the value v (the input, or the
// activation named by --layer) is removed by sampling it, and the class probability without it,
//   p(c | v\i) = Σ_{x_i} p(x_i | v\i) p(c | v\i, x_i)  ≈  (1/S) Σ_s p(c | v with x_i := x_i^(s))   (eq. 3),
// is compared with p(c | v) as a weight of evidence (eq. 2, in bits; --log-base e for nats):
//   WE_i = log2 odds(c | v) − log2 odds(c | v\i),   odds(p) = p / (1 − p),
// with both probabilities Laplace-corrected first, p → (p·N_train + 1) / (N_train + K) (§4, K classes,
// N_train = --train-size), so that p = 0 or 1 gives finite odds. Sampling (§3.2):
//   - marginal: x_i^(s) is the same patch of a row drawn uniformly from --background (B, ...) (the
//     input's samples; at a hidden layer their activations), or, without it, from the other samples of
//     the batch;
//   - conditional: x_i^(s) ~ N(x_i | v_frame) where (x_i, frame) is a multivariate Gaussian fitted on
//     every (k+2l) × (k+2l) patch of the background (translation invariant, as the paper fits its
//     Gaussian over all patch positions); frame = the pixels within l (--frame) of the patch; near the
//     border only the frame pixels inside the value condition (the marginal of the fitted Gaussian).
// Patches (§3.3): k×k windows (k = --window) sliding with --stride over (N, C, H, W) values, (1, k) over
// (N, C, L) and (N, D) ones (read as (N, C, 1, L) and (N, 1, 1, D)); starts 0, s, 2s, ... plus H − k when
// the stride skips it, so every position is covered by a full window. A patch spans every channel
// (--channels all), or one channel at a time (--channels each: the paper's hidden-layer analysis of single
// feature maps). A position's relevance is the mean WE over the windows that contain it (§3.3).
// The perturbed copies go through the model in bounded chunks (explain/copies.h); at a hidden layer the
// chunk's input rows are the batch repeated and the layer's value is replaced (Model::forward's `replace`).
// The layers below it run again on the repeated rows (their outputs are then discarded): cheaper schemes that
// start the forward at the layer would have to know which earlier values carry the batch, and the shape
// arithmetic of ONNX exports (Shape -> Gather -> Reshape, made from the input) must see the stacked batch.
// Random draws: one stream per sample n, seeded by --seed and first_sample + n (so a batch split into
// passes draws the same numbers), consumed in window order; the thread count never enters.
#include <algorithm>
#include <array>
#include <cmath>
#include <map>

#include "engine/check.h"
#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "engine/ops_onnx.h"
#include "engine/random.h"
#include "explain/conditional_gaussian.h"
#include "explain/copies.h"
#include "explain/finite.h"
#include "explain/influence/influence.h"
#include "explain/perturbation.h"
#include "explain/point.h"
#include "explain/targets.h"

namespace xdnn::explain {
namespace {

constexpr int64_t kMaxSamples = 100'000;
constexpr int64_t kMaxGaussianDim = 1024;  // (channels · (k+2l)²): the fit is O(dim²) memory, O(dim³) time
constexpr const char* kName = "prediction-difference";

struct Settings {
  int64_t window = 4, stride = 1, samples = 10, frame = 2, train_size = 60000;
  bool conditional = true, each_channel = false, bits = true;
  uint64_t seed = 0;
  std::string layer;
};

Settings read_settings(const Options& o) {
  Settings s;
  s.window = o.get_int("window", 4);
  s.stride = o.get_int("stride", 1);
  s.samples = o.get_int("samples", 10);
  s.frame = o.get_int("frame", 2);
  s.train_size = o.get_int("train-size", 60000);
  check(s.window >= 1, "--window " + std::to_string(s.window) + ": expected a patch size >= 1");
  check(s.stride >= 1, "--stride " + std::to_string(s.stride) + ": expected a stride >= 1");
  // A stride beyond the window leaves positions in no window: their mean evidence would be 0/0 (NaN).
  check(s.stride <= s.window, "--stride " + std::to_string(s.stride) + ": expected at most --window " +
                                  std::to_string(s.window) + " (a larger stride leaves positions in no window)");
  check(s.samples >= 1 && s.samples <= kMaxSamples,
        "--samples " + std::to_string(s.samples) + ": expected 1.." + std::to_string(kMaxSamples) + " per patch");
  check(s.frame >= 0, "--frame " + std::to_string(s.frame) + ": expected a frame width >= 0");
  check(s.train_size >= 1, "--train-size " + std::to_string(s.train_size) +
                               ": expected the number of training examples (>= 1) of the Laplace correction");
  const std::string sampling = o.get("sampling", "conditional");
  check(sampling == "conditional" || sampling == "marginal",
        "--sampling '" + sampling + "': expected conditional or marginal");
  s.conditional = sampling == "conditional";
  const std::string channels = o.get("channels", "all");
  check(channels == "all" || channels == "each", "--channels '" + channels + "': expected all or each");
  s.each_channel = channels == "each";
  const std::string base = o.get("log-base", "2");
  check(base == "2" || base == "e", "--log-base '" + base + "': expected 2 (bits) or e (nats)");
  s.bits = base == "2";
  s.seed = parse_seed(o);
  s.layer = o.get("layer", "");
  return s;
}

// The value as (N, C, H, W) and the window's (kh, kw).
struct Geometry {
  int64_t N = 0, C = 0, H = 0, W = 0, kh = 0, kw = 0, fh = 0, fw = 0;  // fh, fw: frame widths
  int64_t per() const { return C * H * W; }
};

Geometry geometry(const Tensor& v, const Settings& s, const std::string& what) {
  check(v.defined() && v.is_float() && v.ndim() >= 2 && v.ndim() <= 4,
        std::string(kName) + ": " + what + " must be a float (N, C, H, W), (N, C, L) or (N, D) tensor, got " +
            (v.defined() ? v.describe() : std::string("nothing")));
  Geometry g;
  g.N = v.dim(0);
  g.C = v.ndim() == 2 ? 1 : v.dim(1);
  g.H = v.ndim() == 4 ? v.dim(2) : 1;
  g.W = v.dim(-1);
  g.kh = v.ndim() == 4 ? s.window : 1;
  g.kw = s.window;
  check(g.kh <= g.H && g.kw <= g.W, "--window " + std::to_string(s.window) + ": larger than " + what + " " +
                                        shape_str(v.shape()) + " (a patch must fit inside it)");
  g.fh = v.ndim() == 4 ? s.frame : 0;
  g.fw = s.frame;
  return g;
}

// Window starts along an axis of size D: 0, s, 2s, ... ≤ D − k, plus D − k when the stride skips it.
std::vector<int64_t> starts(int64_t D, int64_t k, int64_t s) {
  std::vector<int64_t> out;
  for (int64_t p = 0; p <= D - k; p += s) out.push_back(p);
  if (out.back() != D - k) out.push_back(D - k);
  return out;
}

struct Window {
  int64_t c0, c1, y0, x0;      // channels [c0, c1), rows [y0, y0 + kh), columns [x0, x0 + kw)
  std::vector<int64_t> patch;  // flat element indices of one sample (c, y, x order)
  std::vector<int64_t> frame;  // conditional: the frame's elements inside the value
  const ConditionalGaussian* gaussian = nullptr;
};

// Background rows at the value: (B, per) float64 on the input's device. Input: --background as given;
// hidden layer: its activations, computed in chunks.
Tensor background_at(const ExplainRequest& req, const Tensor& x, int value_id, bool at_input, const Geometry& g) {
  const std::string path = req.options.get("background", "");
  if (path.empty()) return Tensor();
  const Tensor& b = req.options.array("background");
  Shape want = x.shape();
  want[0] = b.ndim() > 0 ? b.dim(0) : 0;
  const bool ok = b.dtype() == x.dtype() || (b.is_float() && x.is_float());
  Shape sample = x.shape();
  sample[0] = -1;
  check(ok && b.shape() == want && want[0] >= 1, "--background " + path + ": expected " +
                                                     std::string(x.is_float() ? "float32" : "int64") + " samples (B" +
                                                     shape_str(sample).substr(3) + " with B >= 1, got " + b.describe());
  const int64_t bad = first_nonfinite(b);  // -1 for int64 ids
  check(bad < 0, "--background " + path + ": element " + std::to_string(bad) + " is not finite");
  const Tensor bx = b.is_float() ? b.to(req.model->dtype()) : b;
  if (at_input) return bx.to(DType::F64).reshape({want[0], g.per()}).to(x.device());
  Tensor out({want[0], g.per()}, DType::F64, x.device());
  for (int64_t b0 = 0; b0 < want[0]; b0 += 64) {
    const int64_t b1 = std::min(want[0], b0 + 64);
    const Tensor v = req.model->forward({bx.slice_batch(b0, b1).clone().to(x.device())}).values.at(value_id);
    check(v.defined() && v.numel() == (b1 - b0) * g.per(),
          "--background " + path + ": its activations at --layer do not have one sample's shape per row");
    out.slice_batch(b0, b1).copy_from(v.to(DType::F64).reshape({b1 - b0, g.per()}));
  }
  return out;
}

// Fits the Gaussian of one channel set's (k+2l) × (k+2l) patches over every position of every row of `rows`
// ((R, per) float64, on any device). Coordinates in (c − c0, oy, ox) order; the patches of a row in (y, x)
// order. The patches are gathered and their sums (about the first patch) made where the rows are, a few rows
// at a time; only the sums (dim and dim²) come back to the host's fit.
Gaussian fit_patches(const Tensor& rows, const Geometry& g, int64_t c0, int64_t c1) {
  const int64_t oh = g.kh + 2 * g.fh, ow = g.kw + 2 * g.fw, dim = (c1 - c0) * oh * ow;
  const int64_t P = (g.H - oh + 1) * (g.W - ow + 1);  // patch positions per row
  std::vector<int64_t> index;                         // (P, dim): a row's element of patch p, coordinate i
  for (int64_t y = 0; y + oh <= g.H; ++y)
    for (int64_t x = 0; x + ow <= g.W; ++x)
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t dy = 0; dy < oh; ++dy)
          for (int64_t dx = 0; dx < ow; ++dx) index.push_back((c * g.H + y + dy) * g.W + x + dx);
  const Tensor patch_index = Tensor::from_vector({P, dim}, index).to(rows.device());
  // About 2^22 gathered values a step (a step takes at least one row).
  const int64_t step = std::max<int64_t>(1, (int64_t{1} << 22) / (P * dim));
  GaussianFit fit(dim);
  Tensor shift;  // (1, dim): the first patch
  for (int64_t r0 = 0; r0 < rows.dim(0); r0 += step) {
    const int64_t r1 = std::min(rows.dim(0), r0 + step);
    const Tensor block = ops::gather_axis(rows.slice_batch(r0, r1), patch_index, 1).reshape({(r1 - r0) * P, dim});
    std::vector<double> first;
    if (!shift.defined()) {
      shift = ops::strided_slice(block, {0, 0}, {1, 1}, {1, dim});
      first = ops::value_vector(shift);
    }
    const Tensor centred = ops::sub(block, shift);
    const Tensor column_sums = ops::reduce_axes(ops::ReduceOp::Sum, centred, {1, dim})[0];
    fit.add_sums((r1 - r0) * P, first, ops::value_vector(column_sums),
                 ops::value_vector(ops::matmul(centred, centred, true, false)));
  }
  return fit.finish(1e-6);
}

// Every window of the value, with its patch and (conditional sampling) frame elements and conditional.
std::vector<Window> make_windows(const Geometry& g, const Settings& s, const Tensor& fit_rows,
                                 std::map<std::array<int64_t, 5>, ConditionalGaussian>& cache,
                                 std::vector<Gaussian>& fitted) {
  std::vector<std::pair<int64_t, int64_t>> sets;  // channel ranges
  if (s.each_channel)
    for (int64_t c = 0; c < g.C; ++c) sets.push_back({c, c + 1});
  else
    sets.push_back({0, g.C});
  const int64_t oh = g.kh + 2 * g.fh, ow = g.kw + 2 * g.fw;
  if (s.conditional) {
    const int64_t dim = (sets[0].second - sets[0].first) * oh * ow;
    check(oh <= g.H && ow <= g.W, "--frame " + std::to_string(s.frame) + ": the patch and its frame (" +
                                      std::to_string(oh) + " x " + std::to_string(ow) + ") do not fit in the value (" +
                                      std::to_string(g.H) + " x " + std::to_string(g.W) +
                                      "); lower --frame or --window");
    check(dim <= kMaxGaussianDim,
          "--sampling conditional: the Gaussian over a patch and its frame would have " + std::to_string(dim) +
              " dimensions (at most " + std::to_string(kMaxGaussianDim) + ")",
          "use --channels each, a smaller --window or --frame, or --sampling marginal");
    for (const auto& [c0, c1] : sets) fitted.push_back(fit_patches(fit_rows, g, c0, c1));
  }
  std::vector<Window> out;
  const std::vector<int64_t> ys = starts(g.H, g.kh, s.stride), xs = starts(g.W, g.kw, s.stride);
  for (size_t set = 0; set < sets.size(); ++set) {
    const auto [c0, c1] = sets[set];
    for (int64_t y0 : ys)
      for (int64_t x0 : xs) {
        Window w{c0, c1, y0, x0, {}, {}, nullptr};
        std::vector<int64_t> free, given;  // coordinates of the fitted Gaussian
        for (int64_t c = c0; c < c1; ++c)
          for (int64_t oy = 0; oy < oh; ++oy)
            for (int64_t ox = 0; ox < ow; ++ox) {
              const int64_t y = y0 - g.fh + oy, x = x0 - g.fw + ox;
              if (y < 0 || y >= g.H || x < 0 || x >= g.W) continue;
              const int64_t coord = ((c - c0) * oh + oy) * ow + ox, element = (c * g.H + y) * g.W + x;
              const bool inside = oy >= g.fh && oy < g.fh + g.kh && ox >= g.fw && ox < g.fw + g.kw;
              (inside ? w.patch : w.frame).push_back(element);
              (inside ? free : given).push_back(coord);
            }
        if (s.conditional) {
          // Windows with the same clipping share the conditional (translation invariance).
          const std::array<int64_t, 5> key{static_cast<int64_t>(set), std::min(y0, g.fh), std::min(x0, g.fw),
                                           std::min(g.H - g.kh - y0, g.fh), std::min(g.W - g.kw - x0, g.fw)};
          auto it = cache.find(key);
          if (it == cache.end()) it = cache.emplace(key, condition(fitted[set], free, given)).first;
          w.gaussian = &it->second;
        }
        out.push_back(std::move(w));
      }
  }
  return out;
}

// A conditional's parameters on the value's device: μ_a (1, d_a), μ_b (1, d_b), the gain (d_a, d_b) and the
// Cholesky factor L (d_a, d_a).
struct DeviceConditional {
  Tensor mean_free, mean_given, gain, chol;
  int64_t da = 0, db = 0;
};

DeviceConditional on_device(const ConditionalGaussian& c, Device device) {
  DeviceConditional d;
  d.da = static_cast<int64_t>(c.free.size());
  d.db = static_cast<int64_t>(c.given.size());
  d.mean_free = Tensor::from_vector({1, d.da}, c.mean_free).to(device);
  d.chol = Tensor::from_vector({d.da, d.da}, c.chol).to(device);
  if (d.db > 0) {
    d.mean_given = Tensor::from_vector({1, d.db}, c.mean_given).to(device);
    d.gain = Tensor::from_vector({d.da, d.db}, c.gain).to(device);
  }
  return d;
}

// Draws of x_a | x_b for the N samples of v64 ((N, per) float64), frame = the window's given elements and z
// (c·N, d_a) standard normals (row j·N + n: draw j of sample n): μ_a + gain (x_b − μ_b) + L z, (c·N, d_a).
Tensor conditional_draws(const DeviceConditional& d, const Tensor& v64, const std::vector<int64_t>& frame,
                         const Tensor& z) {
  const int64_t N = v64.dim(0), c = z.dim(0) / N;
  Tensor mean = d.mean_free.reshape({1, 1, d.da});  // (N or 1, d_a) as (1, N or 1, d_a)
  if (d.db > 0) {
    const Tensor given = ops::gather_axis(v64, Tensor::from_vector({d.db}, frame).to(v64.device()), 1);  // (N, d_b)
    mean = ops::add(ops::matmul(ops::sub(given, d.mean_given), d.gain, false, true), d.mean_free).reshape({1, N, d.da});
  }
  return ops::add(ops::matmul(z, d.chol, false, true).reshape({c, N, d.da}), mean).reshape({c * N, d.da});
}

// The mean evidence of each element over the windows that contain it: we (N, nw + 1), column nw 0 ->
// (N, per). Each element sums its windows' values in window order (padded with column nw up to the largest
// number of windows an element is in), then divides by their count.
Tensor mean_over_windows(const Tensor& we, const std::vector<Window>& windows, int64_t per) {
  const int64_t N = we.dim(0), nw = static_cast<int64_t>(windows.size());
  std::vector<std::vector<int64_t>> containing(static_cast<size_t>(per));
  for (int64_t wi = 0; wi < nw; ++wi)
    for (int64_t e : windows[wi].patch) containing[static_cast<size_t>(e)].push_back(wi);
  size_t L = 1;
  for (const auto& list : containing) L = std::max(L, list.size());
  std::vector<int64_t> index(static_cast<size_t>(per) * L, nw);
  std::vector<double> count(static_cast<size_t>(per));
  for (int64_t e = 0; e < per; ++e) {
    const auto& list = containing[static_cast<size_t>(e)];
    std::copy(list.begin(), list.end(), index.begin() + e * static_cast<int64_t>(L));
    count[static_cast<size_t>(e)] = static_cast<double>(list.size());
  }
  const int64_t l = static_cast<int64_t>(L);
  const Tensor picked = ops::gather_axis(we, Tensor::from_vector({per, l}, index).to(we.device()), 1);  // (N, per, L)
  const Tensor sums = ops::reduce_axes(ops::ReduceOp::Sum, picked, {N, per, 1})[0].reshape({N, per});
  return ops::div(sums, Tensor::from_vector({per}, count).to(we.device()));
}

double laplace(double p, int64_t n_train, int64_t K) {
  return (p * static_cast<double>(n_train) + 1.0) / static_cast<double>(n_train + K);
}

double log_odds(double p, bool bits) {
  const double l = std::log(p / (1.0 - p));
  return bits ? l / std::log(2.0) : l;
}

Attribution prediction_difference(const ExplainRequest& req) {
  const Model& model = *req.model;
  const Settings s = read_settings(req.options);
  const Tensor x = model_input(req);
  const Tape tape = model.forward({x});
  const bool at_input = s.layer.empty();
  check(!at_input || x.is_float(), std::string(kName) +
                                       ": token inputs need --layer (a float activation such as "
                                       "the embedding output) to perturb");
  int value_id = model.inputs()[0];
  if (!at_input) {
    try {
      value_id = model.value_id(s.layer);
    } catch (const Error& e) {
      throw Error("--layer " + s.layer + ": " + e.what(), e.hint());
    }
  }
  const Tensor v = tape.values.at(value_id);
  const std::string what = at_input ? "the input" : "--layer " + s.layer;
  const Geometry g = geometry(v, s, what);
  check(g.N == x.dim(0), "--layer " + s.layer + ": " + v.describe() + " does not have the batch (" +
                             std::to_string(x.dim(0)) + " samples) on axis 0");
  // The value's rows stay on its device. The draws are a seeded host stream per sample (the marginal's
  // source rows, the conditional's normals); each chunk's perturbed rows are gathered there, from the value,
  // the background or the chunk's conditional draws, through an index table made on the host.
  const Device device = v.device();
  const Tensor v64 = v.to(DType::F64).reshape({g.N, g.per()});
  const Tensor background = background_at(req, x, value_id, at_input, g);
  check(background.defined() || g.N >= 2 || s.conditional,
        std::string(kName) +
            ": marginal sampling without --background draws patches from the other samples of "
            "the batch, and it holds one",
        "give --background B.npy (samples of the input's shape)");
  std::map<std::array<int64_t, 5>, ConditionalGaussian> cache;
  std::vector<Gaussian> fitted;
  const std::vector<Window> windows = make_windows(g, s, background.defined() ? background : v64, cache, fitted);

  const Tensor& logits = tape_logits(model, tape);
  const int64_t K = logits.dim(1), N = g.N, per = g.per(), nw = static_cast<int64_t>(windows.size());
  const std::vector<double> p_full = target_scores(logits, req.targets, ScoreKind::Prob);
  std::vector<Rng> rng;
  for (int64_t n = 0; n < N; ++n)
    rng.emplace_back(s.seed + 0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(req.first_sample + n + 1));
  // The marginal's sources, one flat table: the batch's rows, then the background's.
  const Tensor marginal_table =
      s.conditional ? Tensor() : (background.defined() ? ops::concat_axis({v64, background}, 0) : v64).reshape({-1});
  std::map<const ConditionalGaussian*, DeviceConditional> conditionals;

  // Copies s = w·S + j (window w, draw j) of the batch, in chunks; p_sum[n·nw + w] = Σ_j p(c | copy).
  const int64_t S = s.samples, copies = nw * S, per_call = copies_per_call(model, x, copies);
  std::vector<double> p_sum(N * nw, 0.0);
  influence::Progress bar(kName, copies * N, req.progress && copies * N >= 4096);
  for (int64_t s0 = 0; s0 < copies; s0 += per_call) {
    const int64_t k = std::min(per_call, copies - s0);
    // from[(j·N + n)·per + e]: where element e of copy j of sample n comes from in `table` (the sample's own
    // value outside the patch).
    std::vector<int64_t> from(static_cast<size_t>(k * N * per));
    for (int64_t j = 0; j < k; ++j)
      for (int64_t n = 0; n < N; ++n)
        for (int64_t e = 0; e < per; ++e) from[static_cast<size_t>((j * N + n) * per + e)] = n * per + e;
    Tensor table = marginal_table;
    if (!s.conditional) {  // marginal: the patch of another row
      for (int64_t j = 0; j < k; ++j) {
        const Window& w = windows[(s0 + j) / S];
        for (int64_t n = 0; n < N; ++n) {
          int64_t source = 0;  // a row of marginal_table
          if (background.defined()) {
            source = N + static_cast<int64_t>(rng[n].below(background.dim(0)));
          } else {
            source = static_cast<int64_t>(rng[n].below(N - 1));
            if (source >= n) ++source;  // the other samples of the batch
          }
          for (int64_t e : w.patch) from[static_cast<size_t>((j * N + n) * per + e)] = source * per + e;
        }
      }
    } else {  // conditional: the chunk's draws, window by window, after the batch's rows
      std::vector<Tensor> draws;
      int64_t offset = N * per;
      for (int64_t j = 0; j < k;) {
        const int64_t wi = (s0 + j) / S, j1 = std::min(k, (wi + 1) * S - s0);  // window wi's copies [j, j1)
        const Window& w = windows[wi];
        const int64_t da = static_cast<int64_t>(w.patch.size());
        std::vector<double> z;  // (j1 − j, N, da) normals, each sample's from its own stream
        for (int64_t c = j; c < j1; ++c)
          for (int64_t n = 0; n < N; ++n) {
            for (int64_t i = 0; i < da; ++i) z.push_back(rng[n].normal());
            for (int64_t i = 0; i < da; ++i)
              from[static_cast<size_t>((c * N + n) * per + w.patch[i])] = offset + ((c - j) * N + n) * da + i;
          }
        auto it = conditionals.find(w.gaussian);
        if (it == conditionals.end()) it = conditionals.emplace(w.gaussian, on_device(*w.gaussian, device)).first;
        draws.push_back(
            conditional_draws(it->second, v64, w.frame, Tensor::from_vector({(j1 - j) * N, da}, z).to(device))
                .reshape({-1}));
        offset += (j1 - j) * N * da;
        j = j1;
      }
      draws.insert(draws.begin(), v64.reshape({-1}));
      table = ops::concat_axis(draws, 0);
    }
    Shape shape = v.shape();
    shape[0] = k * N;
    const Tensor rows = ops::gather_axis(table, Tensor::from_vector({k * N, per}, from).to(device), 0);
    const Tensor value = rows.reshape(shape).to(v.dtype());
    const Tape t = at_input ? model.forward({value}) : model.forward({repeat_rows(x, k)}, {}, {{value_id, value}});
    const std::vector<double> p = target_scores(tape_logits(model, t), repeat_targets(req.targets, k), ScoreKind::Prob);
    for (int64_t j = 0; j < k; ++j)
      for (int64_t n = 0; n < N; ++n) p_sum[n * nw + (s0 + j) / S] += p[j * N + n];
    bar.add(k * N);
  }

  // WE per window (host numbers, from the host's probabilities): (N, nw + 1), the last column 0.
  std::vector<double> we(static_cast<size_t>(N * (nw + 1)), 0.0);
  for (int64_t wi = 0; wi < nw; ++wi)
    for (int64_t n = 0; n < N; ++n) {
      const double p_without = p_sum[n * nw + wi] / static_cast<double>(S);
      we[static_cast<size_t>(n * (nw + 1) + wi)] =
          log_odds(laplace(p_full[n], s.train_size, K), s.bits) - log_odds(laplace(p_without, s.train_size, K), s.bits);
    }
  const Tensor out =
      mean_over_windows(Tensor::from_vector({N, nw + 1}, we).to(device), windows, per).reshape(v.shape());
  Attribution a{out.to(model.dtype()), kName, req.options.values, s.seed};
  a.parameters["windows"] = std::to_string(nw);
  a.parameters["value"] = at_input ? "input" : s.layer;
  return a;
}

bool background_names_file(const std::string& value) { return !value.empty(); }

MethodRegistration reg{
    {kName,
     "prediction difference analysis (Zintgraf et al. 2017): weight of evidence of patches removed by "
     "marginal or conditional sampling",
     {{"window", "4", "patch size k: k x k windows over (N, C, H, W) values, k over (N, C, L) and (N, D) ones"},
      {"stride", "1", "step between windows (every position stays covered)"},
      {"samples", "10", "draws per patch (1..100000)"},
      {"sampling", "conditional", "conditional (Gaussian given the frame) or marginal (patches of other samples)",
       "{conditional,marginal}"},
      {"frame", "2", "conditional sampling: width l of the frame the patch is conditioned on"},
      {"background", "",
       "float32 .npy of samples (B, ...) of the input's shape: the marginal's patches and the conditional's fit "
       "(default: the batch itself)",
       "FILE", background_names_file},
      {"layer", "", "tensor name of a hidden activation to analyse instead of the input", "TENSOR"},
      {"channels", "all", "a patch spans all channels, or each channel alone", "{all,each}"},
      {"train-size", "60000", "training-set size N of the Laplace correction p -> (pN + 1)/(N + K)"},
      {"log-base", "2", "weight of evidence in bits (log2, the paper's) or nats (ln)", "{2,e}"},
      kOptSeed},
     prediction_difference}};

}  // namespace
}  // namespace xdnn::explain
