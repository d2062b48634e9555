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
#include "engine/random.h"
#include "explain/conditional_gaussian.h"
#include "explain/copies.h"
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

// Background rows at the value: (B, per) float64. Input: --background as given; hidden layer: its
// activations, computed in chunks.
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
  if (b.is_float())
    for (int64_t i = 0, i_end = b.numel(); i < i_end; ++i)
      check(std::isfinite(b.item(i)), "--background " + path + ": element " + std::to_string(i) + " is not finite");
  const Tensor bx = b.is_float() ? b.to(req.model->dtype()) : b;
  if (at_input) return bx.to(DType::F64).reshape({want[0], g.per()});
  Tensor out({want[0], g.per()}, DType::F64);
  for (int64_t b0 = 0; b0 < want[0]; b0 += 64) {
    const int64_t b1 = std::min(want[0], b0 + 64);
    const Tensor v = req.model->forward({bx.slice_batch(b0, b1).clone().to(x.device())}).values.at(value_id);
    check(v.defined() && v.numel() == (b1 - b0) * g.per(),
          "--background " + path + ": its activations at --layer do not have one sample's shape per row");
    out.slice_batch(b0, b1).copy_from(v.to(Device::CPU).to(DType::F64).reshape({b1 - b0, g.per()}));
  }
  return out;
}

// Fits the Gaussian of one channel set's (k+2l) × (k+2l) patches over every position of every row of `rows`
// ((R, per) float64). Coordinates in (c − c0, oy, ox) order.
Gaussian fit_patches(const Tensor& rows, const Geometry& g, int64_t c0, int64_t c1) {
  const int64_t oh = g.kh + 2 * g.fh, ow = g.kw + 2 * g.fw, dim = (c1 - c0) * oh * ow;
  GaussianFit fit(dim);
  std::vector<double> block;
  const double* p = rows.data<double>();
  for (int64_t r = 0; r < rows.dim(0); ++r) {
    block.clear();
    for (int64_t y = 0; y + oh <= g.H; ++y)
      for (int64_t x = 0; x + ow <= g.W; ++x)
        for (int64_t c = c0; c < c1; ++c)
          for (int64_t dy = 0; dy < oh; ++dy)
            for (int64_t dx = 0; dx < ow; ++dx) block.push_back(p[r * g.per() + (c * g.H + y + dy) * g.W + x + dx]);
    fit.add(block.data(), static_cast<int64_t>(block.size()) / dim);
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
  // The value's rows, their patches and the draws live on the host (the draws are a seeded host stream, the
  // Gaussians are fitted there); each chunk of perturbed rows goes to the value's device in one copy.
  const Tensor v64 = v.to(Device::CPU).to(DType::F64).reshape({g.N, g.per()});
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

  // Copies s = w·S + j (window w, draw j) of the batch, in chunks; p_sum[n·nw + w] = Σ_j p(c | copy).
  const int64_t S = s.samples, copies = nw * S, per_call = copies_per_call(model, N, copies);
  std::vector<double> p_sum(N * nw, 0.0), frame_values, draw;
  influence::Progress bar(kName, copies * N, req.progress && copies * N >= 4096);
  const double* pv = v64.data<double>();
  for (int64_t s0 = 0; s0 < copies; s0 += per_call) {
    const int64_t k = std::min(per_call, copies - s0);
    Tensor rows = repeat_rows(v64, k);  // (k·N, per) float64
    double* r = rows.data<double>();
    for (int64_t j = 0; j < k; ++j) {
      const Window& w = windows[(s0 + j) / S];
      for (int64_t n = 0; n < N; ++n) {
        double* row = r + (j * N + n) * per;
        if (!s.conditional) {  // marginal: the patch of another row
          const double* src = nullptr;
          if (background.defined()) {
            src = background.data<double>() + static_cast<int64_t>(rng[n].below(background.dim(0))) * per;
          } else {
            int64_t other = static_cast<int64_t>(rng[n].below(N - 1));
            if (other >= n) ++other;  // the other samples of the batch
            src = pv + other * per;
          }
          for (int64_t e : w.patch) row[e] = src[e];
          continue;
        }
        frame_values.resize(w.frame.size());
        draw.resize(w.patch.size());
        for (size_t i = 0; i < w.frame.size(); ++i) frame_values[i] = pv[n * per + w.frame[i]];
        w.gaussian->sample(frame_values.data(), rng[n], draw.data());
        for (size_t i = 0; i < w.patch.size(); ++i) row[w.patch[i]] = draw[i];
      }
    }
    Shape shape = v.shape();
    shape[0] = k * N;
    const Tensor value = rows.reshape(shape).to(v.dtype()).to(v.device());
    const Tape t = at_input ? model.forward({value}) : model.forward({repeat_rows(x, k)}, {}, {{value_id, value}});
    const std::vector<double> p = target_scores(tape_logits(model, t), repeat_targets(req.targets, k), ScoreKind::Prob);
    for (int64_t j = 0; j < k; ++j)
      for (int64_t n = 0; n < N; ++n) p_sum[n * nw + (s0 + j) / S] += p[j * N + n];
    bar.add(k * N);
  }

  // WE per window, then the mean over the windows that contain each element.
  std::vector<double> sum(N * per, 0.0), count(per, 0.0);
  for (int64_t wi = 0; wi < nw; ++wi) {
    for (int64_t e : windows[wi].patch) count[e] += 1;
    for (int64_t n = 0; n < N; ++n) {
      const double p_without = p_sum[n * nw + wi] / static_cast<double>(S);
      const double we =
          log_odds(laplace(p_full[n], s.train_size, K), s.bits) - log_odds(laplace(p_without, s.train_size, K), s.bits);
      for (int64_t e : windows[wi].patch) sum[n * per + e] += we;
    }
  }
  Tensor out(v.shape(), DType::F64);
  double* o = out.data<double>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t e = 0; e < per; ++e) o[n * per + e] = sum[n * per + e] / count[e];
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
