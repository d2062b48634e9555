// Model-randomisation sanity checks (Adebayo et al. 2018): see sanity.h.
#include "explain/evaluate/sanity.h"
#include "engine/check.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/error.h"
#include "engine/ops_fill.h"
#include "engine/random.h"

namespace xdnn::explain {

double pearson_correlation(const std::vector<double>& a, const std::vector<double>& b) {
  auto constant = [](const std::vector<double>& v) {
    return std::all_of(v.begin(), v.end(), [&](double x) { return x == v[0]; });
  };
  if (a.empty() || constant(a) || constant(b)) return 0.0;
  const double n = static_cast<double>(a.size());
  double ma = 0, mb = 0;
  for (size_t i = 0; i < a.size(); ++i) ma += a[i], mb += b[i];
  ma /= n, mb /= n;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  if (!(saa > 0.0) || !(sbb > 0.0)) return 0.0;  // undefined; rounding must not turn it into noise
  return sab / std::sqrt(saa * sbb);
}

namespace {

// Ranks 1..n, tied values sharing their average rank.
std::vector<double> average_ranks(const std::vector<double>& v) {
  std::vector<int64_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return v[i] < v[j]; });
  std::vector<double> rank(v.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    for (size_t k = i; k <= j; ++k) rank[order[k]] = 0.5 * static_cast<double>(i + j) + 1.0;
    i = j + 1;
  }
  return rank;
}

std::vector<double> min_max_scaled(std::vector<double> v) {
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  const double l = *lo, range = *hi - *lo;
  for (double& x : v) x = range > 0.0 ? (x - l) / range : 0.0;
  return v;
}

}  // namespace

double spearman(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> aa(a.size()), bb(b.size());
  for (size_t i = 0; i < a.size(); ++i) aa[i] = std::abs(a[i]), bb[i] = std::abs(b[i]);
  return pearson_correlation(average_ranks(aa), average_ranks(bb));
}

double ssim(const std::vector<double>& a_in, const std::vector<double>& b_in, int64_t h, int64_t w) {
  const int64_t win = 7;
  if (h < win || w < win)
    throw Error("--similarity ssim: the maps are " + std::to_string(h) + "x" + std::to_string(w) +
                ", smaller than the 7x7 window");
  const std::vector<double> a = min_max_scaled(a_in), b = min_max_scaled(b_in);
  const double c1 = 0.01 * 0.01, c2 = 0.03 * 0.03, np = static_cast<double>(win * win);
  const double cov_norm = np / (np - 1.0);  // sample covariance
  double sum = 0.0;
  int64_t count = 0;
  for (int64_t y = 0; y + win <= h; ++y)
    for (int64_t x = 0; x + win <= w; ++x) {
      double ma = 0, mb = 0, aa = 0, bb = 0, ab = 0;
      for (int64_t dy = 0; dy < win; ++dy)
        for (int64_t dx = 0; dx < win; ++dx) {
          const double va = a[(y + dy) * w + x + dx], vb = b[(y + dy) * w + x + dx];
          ma += va, mb += vb, aa += va * va, bb += vb * vb, ab += va * vb;
        }
      ma /= np, mb /= np, aa /= np, bb /= np, ab /= np;
      const double va = cov_norm * (aa - ma * ma), vb = cov_norm * (bb - mb * mb), vab = cov_norm * (ab - ma * mb);
      sum += ((2 * ma * mb + c1) * (2 * vab + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
      ++count;
    }
  return sum / static_cast<double>(count);
}

std::vector<double> hog_features(const std::vector<double>& map, int64_t h, int64_t w, int64_t cell) {
  const int64_t bins = 9, cy = h / cell, cx = w / cell;
  if (cell < 1 || cy < 2 || cx < 2)
    throw Error("--similarity hog: a " + std::to_string(h) + "x" + std::to_string(w) +
                    " map holds fewer than 2x2 cells of " + std::to_string(cell) + "x" + std::to_string(cell) +
                    " pixels",
                "lower --hog-cell");
  std::vector<double> hist(cy * cx * bins, 0.0);
  const double pi = 3.14159265358979323846;
  for (int64_t y = 0; y < cy * cell; ++y)
    for (int64_t x = 0; x < cx * cell; ++x) {
      const double gx = (x > 0 && x + 1 < w) ? map[y * w + x + 1] - map[y * w + x - 1] : 0.0;
      const double gy = (y > 0 && y + 1 < h) ? map[(y + 1) * w + x] - map[(y - 1) * w + x] : 0.0;
      double angle = std::atan2(gy, gx) * 180.0 / pi;  // (−180, 180]
      if (angle < 0) angle += 180.0;
      if (angle >= 180.0) angle -= 180.0;
      const int64_t bin = std::min<int64_t>(static_cast<int64_t>(angle / 20.0), bins - 1);
      hist[((y / cell) * cx + x / cell) * bins + bin] += std::sqrt(gx * gx + gy * gy);
    }
  std::vector<double> out;
  const double eps = 1e-5;
  for (int64_t by = 0; by + 1 < cy; ++by)
    for (int64_t bx = 0; bx + 1 < cx; ++bx) {
      std::vector<double> v;
      for (int64_t dy = 0; dy < 2; ++dy)
        for (int64_t dx = 0; dx < 2; ++dx)
          for (int64_t k = 0; k < bins; ++k) v.push_back(hist[((by + dy) * cx + bx + dx) * bins + k]);
      for (int pass = 0; pass < 2; ++pass) {  // L2-Hys: normalise, clip at 0.2, normalise again
        double n2 = 0.0;
        for (double x : v) n2 += x * x;
        const double norm = std::sqrt(n2 + eps * eps);
        for (double& x : v) x = pass == 0 ? std::min(x / norm, 0.2) : x / norm;
      }
      out.insert(out.end(), v.begin(), v.end());
    }
  return out;
}

std::vector<OptionSpec> randomisation_options() {
  return {{"similarity", "spearman", "spearman (of absolute values), ssim or hog", "{spearman,ssim,hog}"},
          {"seed", "0", "seed of the random parameters"},
          {"hog-cell", "8", "HOG cell size in pixels (--similarity hog)"}};
}

namespace {

void randomise_node(Model& model, int node, uint64_t seed) {
  Rng rng(seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(node) + 1);
  for (Param* p : model.nodes()[node].layer->params()) {
    // σ from a host copy; the draws are serial on the host (the same numbers on every device) and copied
    // into the parameter where it lives, rounded to its dtype.
    Tensor& v = p->value;
    const std::vector<double> trained = ops::value_vector(v);
    double ss = 0.0;
    for (double t : trained) ss += t * t;
    const double sigma = v.numel() ? std::sqrt(ss / static_cast<double>(v.numel())) : 0.0;
    std::vector<double> random(trained.size());
    for (double& r : random) r = sigma * rng.normal();
    v.copy_from(Tensor::from_vector(v.shape(), random).to(v.dtype()));
  }
}

}  // namespace

std::vector<double> map_similarities(const Tensor& original, const Tensor& other, const Options& options,
                                     const std::string& name) {
  const std::string similarity = options.get("similarity", "spearman");
  if (similarity != "spearman" && similarity != "ssim" && similarity != "hog")
    throw Error("--similarity '" + similarity + "': expected spearman, ssim or hog");
  const int64_t cell = options.get_int("hog-cell", 8);
  if (original.ndim() < 2 || original.numel() == 0)
    throw Error(name + ": expected a non-empty attribution batch (N, ...), got " + original.describe());
  if (other.shape() != original.shape())
    throw Error(name + ": the method returned " + shape_str(other.shape()) + " on the changed model, " +
                shape_str(original.shape()) + " on the trained one");
  // The similarities are host statistics of the two maps' copies (float64).
  const std::vector<double> a0 = ops::value_vector(original), a1 = ops::value_vector(other);
  const int64_t N = original.dim(0), P = original.numel() / N;
  // The 2-D map of a sample: (C, H, W) summed over C; (N, D) maps only for spearman.
  int64_t h = 1, w = P;
  if (original.ndim() == 4) h = original.dim(2), w = original.dim(3);
  if (similarity != "spearman" && original.ndim() != 4)
    throw Error("--similarity " + similarity + " compares image maps (N, C, H, W), got " + original.describe());
  auto sample_map = [&](const std::vector<double>& a, int64_t n, bool spatial) {
    std::vector<double> v(a.begin() + n * P, a.begin() + (n + 1) * P);
    if (!spatial || v.size() == static_cast<size_t>(h * w)) return v;
    std::vector<double> m(h * w, 0.0);
    for (size_t i = 0; i < v.size(); ++i) m[i % (h * w)] += v[i];
    return m;
  };
  std::vector<double> out(N);
  for (int64_t n = 0; n < N; ++n) {
    if (similarity == "spearman") {
      out[n] = spearman(sample_map(a0, n, false), sample_map(a1, n, false));
      continue;
    }
    const std::vector<double> ma = sample_map(a0, n, true), mb = sample_map(a1, n, true);
    out[n] = similarity == "ssim" ? ssim(ma, mb, h, w)
                                  : pearson_correlation(hog_features(min_max_scaled(ma), h, w, cell),
                                                        hog_features(min_max_scaled(mb), h, w, cell));
  }
  return out;
}

MetricResult randomisation_check(const MetricRequest& req, Randomisation scheme) {
  const std::string name = scheme == Randomisation::Cascading ? "cascading-randomisation" : "independent-randomisation";
  if (!req.explain || !req.fresh_model)
    throw Error(name + " re-runs the explanation method on randomised copies of the model",
                "name the method with --methods instead of giving an --attribution file");
  const uint64_t seed = static_cast<uint64_t>(req.options.get_int("seed", 0));
  map_similarities(req.attribution, req.attribution, req.options, name);  // options and shapes, before any work
  const int64_t N = req.attribution.dim(0);
  Model model = req.fresh_model();
  std::vector<int> layers;  // parameterised nodes, output first
  for (int k = static_cast<int>(model.nodes().size()) - 1; k >= 0; --k)
    if (!model.nodes()[k].layer->params().empty()) layers.push_back(k);
  check(!layers.empty(), name + ": the model has no parameters to randomise");
  const int64_t L = static_cast<int64_t>(layers.size());
  std::vector<double> values(N * L);  // (N, L)
  for (int64_t j = 0; j < L; ++j) {
    if (scheme == Randomisation::Independent && j > 0) model = req.fresh_model();
    randomise_node(model, layers[j], seed);
    const std::vector<double> sim =
        map_similarities(req.attribution, req.explain(model, req.input, req.targets), req.options, name);
    for (int64_t n = 0; n < N; ++n) values[n * L + j] = sim[n];
  }
  MetricResult out;
  out.values = Tensor::from_vector({N, L}, values);
  for (int64_t n = 0; n < N; ++n) {
    double s = 0.0;
    for (int64_t j = 0; j < L; ++j) s += values[n * L + j];
    out.summary.push_back(scheme == Randomisation::Cascading ? values[n * L + L - 1] : s / static_cast<double>(L));
  }
  out.summary_name = req.options.get("similarity", "spearman");
  return out;
}

}  // namespace xdnn::explain
