// t-SNE's optimisation: exact and Barnes–Hut gradients, momentum and gains (see tsne.h for the equations).
#include "explain/global/tsne.h"

#include <algorithm>
#include <cmath>

#include "engine/check.h"
#include "engine/parallel.h"
#include "engine/random.h"
#include "explain/global/pca.h"

namespace xdnn::explain {

namespace {

// A quadtree over the embedding (van der Maaten 2014 §4.2). Every cell keeps its point count and the sum
// of its points (the centre of mass is sum / count); a leaf keeps its points as a chain through `next`
// (more than one only for identical points or at the depth limit, where points are nearly identical).
struct QuadTree {
  struct Cell {
    double cx, cy, half;    // the square [cx ± half] × [cy ± half]
    double sx = 0, sy = 0;  // sum of the points inside
    int64_t count = 0;
    int64_t child = -1;  // index of the first of 4 children; -1 for a leaf
    int64_t first = -1;  // a leaf's first point; -1 when empty
  };
  static constexpr int kMaxDepth = 48;
  std::vector<Cell> cells;
  std::vector<int64_t> next;
  const double* y = nullptr;  // (N, 2)

  int quadrant(const Cell& c, int64_t p) const { return (y[2 * p] >= c.cx ? 1 : 0) + (y[2 * p + 1] >= c.cy ? 2 : 0); }

  void build(const double* pts, int64_t n) {
    y = pts;
    double lo[2] = {pts[0], pts[1]}, hi[2] = {pts[0], pts[1]};
    for (int64_t i = 0; i < n; ++i)
      for (int a = 0; a < 2; ++a) lo[a] = std::min(lo[a], pts[2 * i + a]), hi[a] = std::max(hi[a], pts[2 * i + a]);
    const double half = 0.5 * std::max(hi[0] - lo[0], hi[1] - lo[1]) * (1.0 + 1e-9) + 1e-12;
    cells.clear();
    cells.push_back({0.5 * (lo[0] + hi[0]), 0.5 * (lo[1] + hi[1]), half});
    next.assign(static_cast<size_t>(n), -1);
    for (int64_t p = 0; p < n; ++p) insert(p);
  }

  void add_to(int64_t c, int64_t p) {
    cells[c].count += 1;
    cells[c].sx += y[2 * p];
    cells[c].sy += y[2 * p + 1];
  }

  void insert(int64_t p) {
    int64_t c = 0;
    for (int depth = 0;; ++depth) {
      add_to(c, p);
      if (cells[c].child < 0) {
        const int64_t q = cells[c].first;
        if (q < 0 || depth >= kMaxDepth || (y[2 * q] == y[2 * p] && y[2 * q + 1] == y[2 * p + 1])) {
          next[p] = q;  // an empty leaf, or a chain of (nearly) identical points
          cells[c].first = p;
          return;
        }
        // Split: four children; the leaf's chain (identical points) moves to its quadrant's child.
        const int64_t child = static_cast<int64_t>(cells.size());
        const Cell parent = cells[c];
        const double h = parent.half / 2;
        for (int k = 0; k < 4; ++k)
          cells.push_back({parent.cx + ((k & 1) ? h : -h), parent.cy + ((k & 2) ? h : -h), h});
        cells[c].child = child;
        cells[c].first = -1;
        const int64_t target = child + quadrant(parent, q);
        cells[target].first = q;
        for (int64_t r = q; r >= 0; r = next[r]) add_to(target, r);
      }
      c = cells[c].child + quadrant(cells[c], p);
    }
  }

  // The non-empty cells in depth-first order, for a traversal without a stack (children follow their
  // parent; `skip` is the index just past a cell's subtree): memory is read front to back.
  struct FlatCell {
    double mx, my, width2, count;  // centre of mass, squared side, points
    int64_t skip;                  // index after the subtree
    int64_t first;                 // a leaf's first point; -1 for an inner cell
  };
  std::vector<FlatCell> flat;

  // Points in the order their leaves appear: neighbours in space are visited one after another, so
  // their traversals take the same branches (measured: see bench/RESULTS.md, t-SNE).
  std::vector<int64_t> order;

  void flatten() {
    flat.clear();
    flatten_from(0);
    order.clear();
    for (const FlatCell& c : flat)
      for (int64_t r = c.first; r >= 0; r = next[r]) order.push_back(r);
  }
  void flatten_from(int64_t c) {
    const Cell& cell = cells[static_cast<size_t>(c)];
    if (cell.count == 0) return;
    const double inv = 1.0 / static_cast<double>(cell.count);
    const size_t at = flat.size();
    flat.push_back({cell.sx * inv, cell.sy * inv, 4.0 * cell.half * cell.half, static_cast<double>(cell.count), 0,
                    cell.child < 0 ? cell.first : -1});
    if (cell.child >= 0)
      for (int k = 0; k < 4; ++k) flatten_from(cell.child + k);
    flat[at].skip = static_cast<int64_t>(flat.size());
  }

  // Σ_{j≠i} q_ij and Σ_{j≠i} q_ij² (y_i − y_j) with q_ij = (1 + ‖y_i − y_j‖²)⁻¹, a cell standing for its
  // points when its width / distance to its centre of mass < θ.
  void repulsion(int64_t i, double theta, double& z, double f[2]) const {
    const double yi0 = y[2 * i], yi1 = y[2 * i + 1], theta2 = theta * theta;
    const int64_t end = static_cast<int64_t>(flat.size());
    for (int64_t k = 0; k < end;) {
      const FlatCell& c = flat[static_cast<size_t>(k)];
      if (c.first >= 0) {  // a leaf: its points one by one
        for (int64_t r = c.first; r >= 0; r = next[r]) {
          if (r == i) continue;
          const double d0 = yi0 - y[2 * r], d1 = yi1 - y[2 * r + 1];
          const double q = 1.0 / (1.0 + d0 * d0 + d1 * d1);
          z += q;
          f[0] += q * q * d0;
          f[1] += q * q * d1;
        }
        k = c.skip;
        continue;
      }
      const double d0 = yi0 - c.mx, d1 = yi1 - c.my;
      const double d2 = d0 * d0 + d1 * d1;
      if (c.width2 < theta2 * d2) {
        const double q = 1.0 / (1.0 + d2);
        const double cq = c.count * q;
        z += cq;
        f[0] += cq * q * d0;
        f[1] += cq * q * d1;
        k = c.skip;
      } else {
        ++k;  // open the cell: its first child follows it
      }
    }
  }
};

// One gradient evaluation: grad (2N) = 4 (α F_attr − F_rep / Z), and KL(P‖Q) for the un-exaggerated P with
// this evaluation's Z (kl may be null). Exact: F_rep and Z over all pairs (P holds every pair too).
struct Gradient {
  const SparseP& p;
  bool exact = false;
  double theta = 0.5;
  QuadTree tree;
  std::vector<double> attr, rep, zpart, klpart;

  void operator()(const std::vector<double>& y, double exaggeration, std::vector<double>& grad, double* kl) {
    const int64_t n = static_cast<int64_t>(y.size() / 2);
    attr.assign(y.size(), 0.0);
    rep.assign(y.size(), 0.0);
    zpart.assign(static_cast<size_t>(n), 0.0);
    klpart.assign(static_cast<size_t>(n), 0.0);
    if (!exact) {
      tree.build(y.data(), n);
      tree.flatten();
    }
    const int64_t work = exact ? 8 * n : 400;
    const bool want_kl = kl != nullptr;
    // Each point's sums are its own (written to its slots), so neither the order nor the chunking
    // changes a bit of them.
    parallel_for(n, grain_for_work(work), [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        const int64_t i = exact ? k : tree.order[static_cast<size_t>(k)];
        double f[2] = {0, 0}, z = 0;
        if (exact) {
          for (int64_t j = 0; j < n; ++j) {
            if (j == i) continue;
            const double d0 = y[2 * i] - y[2 * j], d1 = y[2 * i + 1] - y[2 * j + 1];
            const double q = 1.0 / (1.0 + d0 * d0 + d1 * d1);
            z += q;
            f[0] += q * q * d0;
            f[1] += q * q * d1;
          }
        } else {
          tree.repulsion(i, theta, z, f);
        }
        rep[2 * i] = f[0];
        rep[2 * i + 1] = f[1];
        zpart[i] = z;
        // Attraction over the row of P (every j in the exact case), and this row's share of the KL only
        // when asked for: its two logarithms per entry cost as much as the rest of the row.
        double kl_i = 0.0, a0 = 0, a1 = 0;
        for (int64_t t = p.row_start[i]; t < p.row_start[i + 1]; ++t) {
          const int64_t j = p.col[t];
          const double d0 = y[2 * i] - y[2 * j], d1 = y[2 * i + 1] - y[2 * j + 1];
          const double q = 1.0 / (1.0 + d0 * d0 + d1 * d1);
          a0 += p.val[t] * q * d0;
          a1 += p.val[t] * q * d1;
          if (want_kl && p.val[t] > 0) kl_i += p.val[t] * (std::log(p.val[t]) - std::log(q));
        }
        attr[2 * i] = a0;
        attr[2 * i + 1] = a1;
        klpart[i] = kl_i;
      }
    });
    double z = 0.0, kl_sum = 0.0;
    for (int64_t i = 0; i < n; ++i) z += zpart[i], kl_sum += klpart[i];
    grad.resize(y.size());
    for (size_t k = 0; k < y.size(); ++k) grad[k] = 4.0 * (exaggeration * attr[k] - rep[k] / z);
    if (kl) *kl = kl_sum + std::log(z);  // Σ p (log p − log q_un) + log Z, as Σ p = 1
  }
};

std::vector<double> initial_embedding(const Tensor& x, const TsneOptions& opt, const std::string& what) {
  const int64_t n = x.dim(0);
  std::vector<double> y(static_cast<size_t>(2 * n));
  if (opt.init == "pca" && x.numel() / n >= 2) {
    const PcaResult r = pca(x, 2, what);
    const double* pr = r.projection.data<double>();
    double mean = 0, sq = 0;
    for (int64_t i = 0; i < n; ++i) mean += pr[2 * i] / static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i) sq += (pr[2 * i] - mean) * (pr[2 * i] - mean) / static_cast<double>(n);
    const double scale = sq > 0 ? 1e-4 / std::sqrt(sq) : 1.0;
    for (size_t k = 0; k < y.size(); ++k) y[k] = pr[k] * scale;
  } else {
    Rng rng(opt.seed);
    for (double& v : y) v = 1e-4 * rng.normal();
  }
  return y;
}

}  // namespace

double tsne_kl_exact(const SparseP& p, const Tensor& embedding) {
  const int64_t n = embedding.dim(0);
  const Tensor e = embedding.to(DType::F64);
  const double* y = e.data<double>();
  std::vector<double> zpart(static_cast<size_t>(n)), klpart(static_cast<size_t>(n));
  parallel_for(n, grain_for_work(4 * n), [&](int64_t b, int64_t end) {
    for (int64_t i = b; i < end; ++i) {
      double z = 0, kl = 0;
      for (int64_t j = 0; j < n; ++j) {
        if (j == i) continue;
        const double d0 = y[2 * i] - y[2 * j], d1 = y[2 * i + 1] - y[2 * j + 1];
        z += 1.0 / (1.0 + d0 * d0 + d1 * d1);
      }
      for (int64_t k = p.row_start[i]; k < p.row_start[i + 1]; ++k) {
        const int64_t j = p.col[k];
        const double d0 = y[2 * i] - y[2 * j], d1 = y[2 * i + 1] - y[2 * j + 1];
        if (p.val[k] > 0) kl += p.val[k] * (std::log(p.val[k]) + std::log(1.0 + d0 * d0 + d1 * d1));
      }
      zpart[i] = z;
      klpart[i] = kl;
    }
  });
  double z = 0, kl = 0;
  for (int64_t i = 0; i < n; ++i) z += zpart[i], kl += klpart[i];
  return kl + std::log(z);
}

Tensor tsne_gradient(const SparseP& p, const Tensor& y, double theta, double* kl) {
  const Tensor y64 = y.to(DType::F64);
  const std::vector<double> pts(y64.data<double>(), y64.data<double>() + y64.numel());
  Gradient gradient{p, theta == 0.0, theta, {}, {}, {}, {}, {}};
  std::vector<double> grad;
  gradient(pts, 1.0, grad, kl);
  return Tensor::from_vector(y.shape(), grad);
}

TsneResult tsne(const Tensor& x, const TsneOptions& opt, const std::string& what) {
  check(x.ndim() >= 2 && x.is_float(), "t-SNE: " + what + ": expected float (N, ...) data, got " + x.describe());
  const int64_t n = x.dim(0);
  check(n >= 3, "t-SNE: " + what + ": needs at least 3 data points, got " + std::to_string(n));
  check(opt.perplexity >= 1 && opt.perplexity < static_cast<double>(n - 1),
        "t-SNE: perplexity " + std::to_string(opt.perplexity) +
            ": expected at least 1 and below N - 1 = " + std::to_string(n - 1) + " (" + what + ")");
  check(opt.iterations >= 1 && opt.exaggeration_iterations >= 0, "t-SNE: iterations must be >= 1");
  check(opt.theta > 0 && opt.theta <= 1, "t-SNE: theta must be in (0, 1], got " + std::to_string(opt.theta));
  check(opt.early_exaggeration >= 1, "t-SNE: early exaggeration must be >= 1");
  check(opt.init == "pca" || opt.init == "random", "t-SNE: init '" + opt.init + "': expected pca or random");
  check(opt.learning_rate >= 0, "t-SNE: learning rate must be >= 0 (0: automatic)");
  const Tensor x64 = x.to(DType::F64);
  for (int64_t k = 0; k < x64.numel(); ++k)
    check(std::isfinite(x64.data<double>()[k]), "t-SNE: " + what + ": element " + std::to_string(k) + " is not finite");

  TsneResult r;
  r.barnes_hut = n >= opt.exact_below;
  // Barnes–Hut keeps the ⌊3·perplexity⌋ nearest neighbours (2014 §4.1); exact keeps all.
  const int64_t neighbours =
      r.barnes_hut ? std::min<int64_t>(n - 1, static_cast<int64_t>(3.0 * opt.perplexity + 1)) : -1;
  const SparseP p = tsne_input_similarities(x64, opt.perplexity, neighbours);
  r.learning_rate =
      opt.learning_rate > 0 ? opt.learning_rate : std::max(static_cast<double>(n) / opt.early_exaggeration / 4.0, 50.0);
  std::vector<double> y = initial_embedding(x64, opt, what);
  std::vector<double> grad, update(y.size(), 0.0), gains(y.size(), 1.0);
  Gradient gradient{p, !r.barnes_hut, opt.theta, {}, {}, {}, {}, {}};
  for (int64_t it = 0; it < opt.iterations; ++it) {
    const bool exaggerated = it < opt.exaggeration_iterations;
    const bool record = (it + 1) % std::max<int64_t>(1, opt.kl_every) == 0 || it + 1 == opt.iterations;
    double kl = 0;
    gradient(y, exaggerated ? opt.early_exaggeration : 1.0, grad, record ? &kl : nullptr);
    if (record) {
      r.kl_iterations.push_back(it + 1);
      r.kl.push_back(kl);
    }
    const double momentum = exaggerated ? 0.5 : 0.8;
    for (size_t k = 0; k < y.size(); ++k) {
      // Gains (Jacobs 1988): grow where the gradient's sign opposes the last step (still going down).
      gains[k] = (update[k] * grad[k] < 0.0) ? gains[k] + 0.2 : gains[k] * 0.8;
      gains[k] = std::max(gains[k], 0.01);
      update[k] = momentum * update[k] - r.learning_rate * gains[k] * grad[k];
      y[k] += update[k];
    }
  }
  r.embedding = Tensor::from_vector({n, 2}, y);
  r.final_kl_exact = tsne_kl_exact(p, r.embedding);
  return r;
}

}  // namespace xdnn::explain
