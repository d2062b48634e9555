// Hidden-layer projections (explain/global/pca.h, tsne.h, scatter.h): PCA against data of known
// covariance; t-SNE's gradient against finite differences of its KL divergence, Barnes–Hut's against the
// exact one, well-separated clusters kept apart (k-nearest-neighbour preservation), the KL decreasing, and
// bit-identical results for 1 and 2 threads.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/parallel.h"
#include "engine/random.h"
#include "explain/global/pca.h"
#include "explain/global/scatter.h"
#include "explain/global/tsne.h"

using namespace xdnn;
using namespace xdnn::explain;

namespace {

// `per` points around each of `k` centres 20 apart in `dim` dimensions (unit-variance noise).
Tensor clusters(int64_t k, int64_t per, int64_t dim, uint64_t seed, std::vector<int64_t>& label) {
  Rng rng(seed);
  std::vector<double> v;
  label.clear();
  for (int64_t c = 0; c < k; ++c)
    for (int64_t i = 0; i < per; ++i) {
      for (int64_t d = 0; d < dim; ++d) v.push_back((d == c ? 20.0 : 0.0) + rng.normal());
      label.push_back(c);
    }
  return Tensor::from_vector({k * per, dim}, v);
}

// Fraction of each point's m nearest neighbours in the embedding that share its label.
double knn_same_label(const Tensor& y, const std::vector<int64_t>& label, int64_t m) {
  const int64_t n = y.dim(0);
  const double* p = y.data<double>();
  int64_t same = 0;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<std::pair<double, int64_t>> d;
    for (int64_t j = 0; j < n; ++j)
      if (j != i) d.push_back({std::hypot(p[2 * i] - p[2 * j], p[2 * i + 1] - p[2 * j + 1]), j});
    std::partial_sort(d.begin(), d.begin() + m, d.end());
    for (int64_t k = 0; k < m; ++k) same += label[static_cast<size_t>(d[static_cast<size_t>(k)].second)] == label[i];
  }
  return static_cast<double>(same) / static_cast<double>(n * m);
}

double norm(const Tensor& t) {
  double s = 0;
  for (int64_t k = 0; k < t.numel(); ++k) s += t.item(k) * t.item(k);
  return std::sqrt(s);
}

}  // namespace

TEST_CASE("pca: components and variances of data with a known covariance") {
  // Four points ±3 v1, ±1 v2 around a mean m: the sample covariance is (18 v1v1ᵀ + 2 v2v2ᵀ) / 3 exactly,
  // eigenvalues 6 and 2/3 along v1 and v2. Five features (F > N: the Gram-matrix path) and, with more
  // copies of the points, N > F (the covariance path).
  const std::vector<double> v1 = {0.6, 0.8, 0, 0, 0}, v2 = {0, 0, -1, 0, 0}, m = {1, 2, 3, 4, 5};
  for (int copies : {1, 3}) {
    std::vector<double> data;
    for (int c = 0; c < copies; ++c)
      for (auto [a, b] : {std::pair{3.0, 0.0}, {-3.0, 0.0}, {0.0, 1.0}, {0.0, -1.0}})
        for (int d = 0; d < 5; ++d) data.push_back(m[d] + a * v1[d] + b * v2[d]);
    const int64_t n = 4 * copies;
    const PcaResult r = pca(Tensor::from_vector({n, 5}, data), 2);
    const double scale = static_cast<double>(n - 1);  // (18 c v1v1ᵀ + 2 c v2v2ᵀ) / (4c − 1)
    CHECK(r.variance[0] == doctest::Approx(18.0 * copies / scale).epsilon(1e-12));
    CHECK(r.variance[1] == doctest::Approx(2.0 * copies / scale).epsilon(1e-12));
    CHECK(r.explained[0] + r.explained[1] == doctest::Approx(1.0));
    // Signs fixed: the largest entry is positive (0.8 of v1; v2 flipped to +e3).
    for (int d = 0; d < 5; ++d) {
      CHECK(r.components.item(d) == doctest::Approx(v1[d]).epsilon(1e-10));
      CHECK(r.components.item(5 + d) == doctest::Approx(-v2[d]).epsilon(1e-10));
      CHECK(r.mean.item(d) == doctest::Approx(m[d]));
    }
    CHECK(r.projection.item(0) == doctest::Approx(3.0));   // +3 v1 → (3, 0)
    CHECK(r.projection.item(5) == doctest::Approx(-1.0));  // +1 v2 → (0, −1)
  }
  CHECK_THROWS_WITH_AS(pca(Tensor::zeros({4, 3}, DType::F64), 4, "--layer fc1"),
                       doctest::Contains("--layer fc1: components must be from 1 to min(N, F) = 3"), Error);
}

TEST_CASE("t-SNE: the gradient is that of the KL divergence; Barnes-Hut approximates it") {
  std::vector<int64_t> label;
  const Tensor x = clusters(3, 20, 6, 11, label);
  const SparseP p = tsne_input_similarities(x, 8.0, -1);
  Rng rng(3);
  std::vector<double> yv(120);
  for (double& v : yv) v = 2.0 * rng.normal();
  const Tensor y = Tensor::from_vector({60, 2}, yv);
  double kl = 0;
  const Tensor g = tsne_gradient(p, y, 0.0, &kl);
  CHECK(kl == doctest::Approx(tsne_kl_exact(p, y)).epsilon(1e-12));
  // Central differences of the exact KL, float64.
  for (int64_t k : {0, 7, 33, 119}) {
    const double h = 1e-5;
    Tensor up = y.clone(), down = y.clone();
    up.set_item(k, y.item(k) + h);
    down.set_item(k, y.item(k) - h);
    const double fd = (tsne_kl_exact(p, up) - tsne_kl_exact(p, down)) / (2 * h);
    CHECK(g.item(k) == doctest::Approx(fd).epsilon(1e-6));
  }
  // Barnes–Hut: the error shrinks with θ.
  auto rel_error = [&](double theta) {
    const Tensor b = tsne_gradient(p, y, theta);
    Tensor diff = b.clone();
    for (int64_t k = 0; k < diff.numel(); ++k) diff.set_item(k, b.item(k) - g.item(k));
    return norm(diff) / norm(g);
  };
  const double e5 = rel_error(0.5), e1 = rel_error(0.1);
  CHECK(e5 < 0.05);
  CHECK(e1 < 0.005);
  CHECK(e1 < e5);
}

TEST_CASE("t-SNE: well-separated clusters stay apart, the KL decreases, exact and Barnes-Hut agree") {
  std::vector<int64_t> label;
  const Tensor x = clusters(4, 40, 8, 5, label);
  TsneOptions opt;
  opt.perplexity = 15;
  opt.iterations = 500;
  opt.kl_every = 25;
  const TsneResult exact = tsne(x, opt);
  CHECK_FALSE(exact.barnes_hut);
  CHECK(knn_same_label(exact.embedding, label, 10) >= 0.99);
  // After the exaggeration stage (iteration 250) the KL only goes down.
  for (size_t k = 0; k < exact.kl.size(); ++k)
    if (exact.kl_iterations[k] > 275) CHECK(exact.kl[k] <= exact.kl[k - 1] + 1e-9);
  CHECK(exact.kl.back() == doctest::Approx(exact.final_kl_exact).epsilon(0.05));
  opt.exact_below = 0;  // Barnes–Hut on the same small set
  const TsneResult bh = tsne(x, opt);
  CHECK(bh.barnes_hut);
  CHECK(knn_same_label(bh.embedding, label, 10) >= 0.99);
  // Each final embedding's KL under its own P; BH's P keeps 46 neighbours of 159, so allow 10 %.
  CHECK(bh.final_kl_exact == doctest::Approx(exact.final_kl_exact).epsilon(0.10));
}

TEST_CASE("t-SNE: bit-identical for 1 and 2 threads (Barnes-Hut); bad input") {
  std::vector<int64_t> label;
  const Tensor x = clusters(5, 240, 6, 9, label);  // 1,200 points
  TsneOptions opt;
  opt.perplexity = 10;
  opt.iterations = 60;
  opt.exaggeration_iterations = 30;
  const int before = num_threads();
  set_num_threads(1);
  const TsneResult a = tsne(x, opt);
  set_num_threads(2);
  const TsneResult b = tsne(x, opt);
  set_num_threads(before);
  CHECK(a.barnes_hut);
  for (int64_t k = 0; k < a.embedding.numel(); ++k) REQUIRE(a.embedding.item(k) == b.embedding.item(k));
  CHECK(a.kl == b.kl);
  opt.perplexity = 1199;
  CHECK_THROWS_WITH_AS(tsne(x, opt, "--layer fc"), doctest::Contains("perplexity"), Error);
  opt.perplexity = 10;
  Tensor bad = x.clone();
  bad.set_item(5, std::nan(""));
  CHECK_THROWS_WITH_AS(tsne(bad, opt, "--layer fc"), doctest::Contains("--layer fc: element 5 is not finite"), Error);
}

TEST_CASE("scatter plot: points in their class colour, a legend entry per class") {
  const Tensor pts = Tensor::from_vector({3, 2}, std::vector<double>{0, 0, 1, 1, 0.5, 0.2});
  const RgbImage img = scatter_plot(pts, {0, 1, 1}, {"zero", "one"}, "test");
  uint8_t c0[3], c1[3];
  class_colour(0, c0);
  class_colour(1, c1);
  int64_t n0 = 0, n1 = 0;
  for (size_t k = 0; k + 2 < img.rgb.size(); k += 3) {
    n0 += std::equal(c0, c0 + 3, &img.rgb[k]);
    n1 += std::equal(c1, c1 + 3, &img.rgb[k]);
  }
  // Each disc is 21 pixels, each legend square 100: one disc of class 0, two of class 1.
  CHECK(n0 == 21 + 100);
  CHECK(n1 == 2 * 21 + 100);
  CHECK_THROWS_AS(scatter_plot(pts, {0, 1}, {}, "x"), Error);
}
