// Leave-one-out evaluation of the influence methods (issue 6): the gold standard Koh & Liang 2017 (§5.1,
// Fig. 2) and Pruthi et al. 2020 compare against. On a small Fashion-MNIST subset, a small MLP is trained
// deterministically by full-batch gradient descent (same initialisation, same steps); then for K
// randomly chosen training examples it is retrained from the same initialisation without that example,
// and the change of each of T test losses, ΔL_j(i) = L_j(θ₋ᵢ) − L_j(θ), is the ground truth. Each method's
// scores predict ΔL up to a positive factor:
//   TracIn / Grad-Dot / Grad-Cos   S[j,i] > 0: train_i is a proponent, removing it raises L_j   (ΔL ∝ S)
//   influence functions            I[j,i] = dL_j/dε for up-weighting train_i; removal is ε = −1/n (ΔL ∝ −I)
// and the bench prints, per method, the Spearman rank correlation with ΔL over the K removed examples,
// averaged over the T test points (with the smallest and largest of the T values).
//
//   bench_loo [--train 300] [--remove 30] [--test 6] [--hidden 32] [--steps 300] [--lr 0.1]
//             [--every 30] [--damping 0.01] [--seed 0] [--fashion-mnist DIR]
//
// (--steps 30 --every 3: the same early in training, where TracIn's first-order picture holds best.)
//
// TracIn's checkpoints are the weights every `every` steps (the first after `every` steps), each with
// learning rate lr·every (full-batch GD gives every example the same weight per step). Single-checkpoint
// methods and influence functions use the final weights. Training runs in float64, so ΔL is not buried
// in rounding noise.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "engine/random.h"
#include "explain/influence/hessian.h"
#include "explain/influence/hvp.h"
#include "explain/influence/influence.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/relu.h"
#include "models/io/fashion_mnist.h"
#include "models/train/train.h"

using namespace xdnn;

namespace {

struct Config {
  int64_t n_train = 300, n_remove = 30, n_test = 6, hidden = 32;
  int steps = 300, every = 30;
  double lr = 0.1, damping = 0.01;
  uint64_t seed = 0;
  std::string dir;
};

Model make_mlp(const Config& c) {
  Model m;
  m.add_input("input");
  Rng rng(c.seed);
  auto fc1 = std::make_shared<Linear>("fc1", 784, c.hidden);
  fc1->init(rng);
  auto fc2 = std::make_shared<Linear>("fc2", c.hidden, 10);
  fc2->init(rng);
  m.append("flatten", std::make_shared<Flatten>());
  m.append("fc1", fc1);
  m.append("relu", std::make_shared<ReLU>());
  m.append("fc2", fc2);
  m.to(DType::F64);
  return m;
}

Tensor rows_without(const Tensor& t, int64_t skip) {
  if (skip < 0) return t;
  Shape s = t.shape();
  s[0] -= 1;
  Tensor out(s, t.dtype());
  if (skip > 0) out.slice_batch(0, skip).copy_from(t.slice_batch(0, skip));
  if (skip + 1 < t.dim(0)) out.slice_batch(skip, s[0]).copy_from(t.slice_batch(skip + 1, t.dim(0)));
  return out;
}

// Full-batch gradient descent on the mean cross-entropy, from the seed's initialisation; `snapshots`
// (optional) receives a model every c.every steps.
Model train(const Config& c, const Tensor& x, const Tensor& y, std::vector<Model>* snapshots) {
  Model m = make_mlp(c);
  BackwardOptions bo;
  bo.param_grad = ParamGrad::Accumulate;
  for (int step = 1; step <= c.steps; ++step) {
    for (Param* p : m.params()) p->grad = Tensor();
    const Tape t = m.forward({x});
    Tensor g;
    softmax_cross_entropy(t.values[m.outputs()[0]], y, &g);
    m.backward(t, {{m.outputs()[0], g}}, bo);
    for (Param* p : m.params()) ops::axpy_inplace(p->value, -c.lr, p->grad);
    if (snapshots && step % c.every == 0) {
      Model s = make_mlp(c);
      for (Param* p : s.params()) p->value.copy_from(m.find_param(p->name)->value);
      snapshots->push_back(std::move(s));
    }
  }
  return m;
}

std::vector<double> test_losses(const Model& m, const Tensor& x, const Tensor& y) {
  std::vector<double> losses;
  influence::cross_entropy_seed(m.predict(x), y, &losses);
  return losses;
}

std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < order.size();) {  // ties share their mean rank
    size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    for (size_t k = i; k <= j; ++k) r[order[k]] = 0.5 * static_cast<double>(i + j);
    i = j + 1;
  }
  return r;
}

double spearman(const std::vector<double>& a, const std::vector<double>& b) {
  const std::vector<double> ra = ranks(a), rb = ranks(b);
  const double n = static_cast<double>(a.size());
  const double ma = std::accumulate(ra.begin(), ra.end(), 0.0) / n, mb = std::accumulate(rb.begin(), rb.end(), 0.0) / n;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < ra.size(); ++i) {
    sab += (ra[i] - ma) * (rb[i] - mb);
    saa += (ra[i] - ma) * (ra[i] - ma);
    sbb += (rb[i] - mb) * (rb[i] - mb);
  }
  return saa > 0 && sbb > 0 ? sab / std::sqrt(saa * sbb) : 0.0;
}

// Largest eigenvalue of a symmetric operator by power iteration (LiSSA's scale must exceed it).
double largest_eigenvalue(const std::function<Tensor(const Tensor&)>& apply, int64_t P) {
  Rng rng(7);
  Tensor v({1, P}, DType::F64);
  for (int64_t i = 0; i < P; ++i) v.data<double>()[i] = rng.normal();
  double lambda = 0;
  for (int it = 0; it < 30; ++it) {
    double norm = 0;
    for (int64_t i = 0; i < P; ++i) norm += v.data<double>()[i] * v.data<double>()[i];
    v = ops::scale(v, 1.0 / std::sqrt(norm));
    const Tensor Hv = apply(v);
    lambda = 0;
    for (int64_t i = 0; i < P; ++i) lambda += v.data<double>()[i] * Hv.data<double>()[i];
    v = Hv;
  }
  return std::abs(lambda);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  CLI::App app{"bench_loo: leave-one-out retraining against every influence method (Spearman)"};
  app.add_option("--train", c.n_train, "training images")->check(CLI::PositiveNumber);
  app.add_option("--remove", c.n_remove, "training images removed one at a time")->check(CLI::PositiveNumber);
  app.add_option("--test", c.n_test, "test images")->check(CLI::PositiveNumber);
  app.add_option("--hidden", c.hidden, "hidden units of the MLP")->check(CLI::PositiveNumber);
  app.add_option("--steps", c.steps, "full-batch training steps")->check(CLI::PositiveNumber);
  app.add_option("--every", c.every, "steps between checkpoints")->check(CLI::PositiveNumber);
  app.add_option("--lr", c.lr, "learning rate")->check(CLI::PositiveNumber);
  app.add_option("--damping", c.damping, "influence-function damping")->check(CLI::NonNegativeNumber);
  app.add_option("--seed", c.seed, "seed");
  app.add_option("--fashion-mnist", c.dir, "Fashion-MNIST folder");
  CLI11_PARSE(app, argc, argv);
  try {
    const auto t_start = std::chrono::steady_clock::now();
    LabeledImages tr = load_fashion_mnist("train", c.dir, c.n_train), te = load_fashion_mnist("test", c.dir, c.n_test);
    const Tensor x = tr.images.to(DType::F64), y = tr.labels, tx = te.images.to(DType::F64), ty = te.labels;
    std::vector<Model> snaps;
    const Model base = train(c, x, y, &snaps);
    const std::vector<double> base_loss = test_losses(base, tx, ty);
    double train_acc = 0;
    {
      const Tensor z = base.predict(x);
      for (int64_t n = 0; n < c.n_train; ++n) {
        int64_t best = 0;
        for (int64_t k = 1; k < 10; ++k)
          if (z.item(n * 10 + k) > z.item(n * 10 + best)) best = k;
        train_acc += best == y.data<int64_t>()[n];
      }
      train_acc /= static_cast<double>(c.n_train);
    }
    // The K removed examples: a seeded random subset.
    std::vector<int64_t> idx(c.n_train);
    std::iota(idx.begin(), idx.end(), 0);
    Rng rng(c.seed + 17);
    for (int64_t i = c.n_train - 1; i > 0; --i) std::swap(idx[i], idx[rng.below(i + 1)]);
    idx.resize(c.n_remove);
    std::vector<std::vector<double>> delta(c.n_test, std::vector<double>(c.n_remove));  // [test][removed]
    const auto t_loo = std::chrono::steady_clock::now();
    for (int64_t r = 0; r < c.n_remove; ++r) {
      const Model m = train(c, rows_without(x, idx[r]), rows_without(y, idx[r]), nullptr);
      const std::vector<double> l = test_losses(m, tx, ty);
      for (int64_t j = 0; j < c.n_test; ++j) delta[j][r] = l[j] - base_loss[j];
    }
    const double loo_seconds = seconds_since(t_loo);
    double mean_abs = 0;
    for (const auto& d : delta)
      for (double v : d) mean_abs += std::abs(v) / static_cast<double>(c.n_test * c.n_remove);
    std::printf(
        "leave-one-out: MLP 784-%lld-10 (float64), %lld Fashion-MNIST training images, full-batch GD %d steps lr "
        "%g (train accuracy %.3f), %lld removed examples x %lld test points, mean |dL| %.3g; retraining took %.1f s\n",
        static_cast<long long>(c.hidden), static_cast<long long>(c.n_train), c.steps, c.lr, train_acc,
        static_cast<long long>(c.n_remove), static_cast<long long>(c.n_test), mean_abs, loo_seconds);

    influence::InfluenceData data;
    data.train_x = x;
    data.train_y = y;
    data.test_x = tx;
    data.test_y = ty;
    std::vector<Model*> ckpts;
    for (auto& s : snaps) ckpts.push_back(&s);
    const std::vector<double> lrs(ckpts.size(), c.lr * c.every);
    std::vector<Model*> last = {ckpts.back()};

    // LiSSA's scale: 1.5 x the largest eigenvalue (power iteration) of each route's Hessian + damping.
    influence::FullHvp full(*ckpts.back(), x, y);
    const double lmax_all = largest_eigenvalue([&](const Tensor& V) { return full.apply(V); }, full.size());
    const influence::LastLayerCurvature curv = influence::last_layer_curvature(*ckpts.back(), x, 256);
    const double lmax_ll =
        largest_eigenvalue([&](const Tensor& V) { return influence::last_layer_hvp(curv, V); }, curv.size());

    struct Method {
      std::string name;
      std::function<Tensor()> run;
      double sign;
    };
    auto opts = [&](influence::ParamSet set) {
      influence::InfluenceOptions o;
      o.params = set;
      o.damping = c.damping;
      return o;
    };
    // LiSSA with scale 1.5 (λ_max + damping) (above the largest eigenvalue, so the recursion converges), depth
    // 1000, batch 64, one recursion.
    auto lissa = [&](influence::ParamSet set, double lmax) {
      auto o = opts(set);
      o.solver = "lissa";
      o.lissa.scale = 1.5 * (lmax + c.damping);
      o.lissa.depth = 1000;
      o.lissa.batch = 64;
      o.lissa.repeats = 1;
      return o;
    };
    using influence::ParamSet;
    std::vector<Method> methods = {
        {"TracIn, all parameters", [&] { return influence::tracin(ckpts, lrs, data, opts(ParamSet::All)); }, 1},
        {"TracIn, last layer", [&] { return influence::tracin(ckpts, lrs, data, opts(ParamSet::LastLayer)); }, 1},
        {"TracIn, random projection 256",
         [&] {
           auto o = opts(ParamSet::All);
           o.projection = 256;
           o.seed = 1;
           return influence::tracin(ckpts, lrs, data, o);
         },
         1},
        {"Grad-Dot, all parameters", [&] { return influence::grad_dot(last, data, opts(ParamSet::All)); }, 1},
        {"Grad-Cos, all parameters", [&] { return influence::grad_cos(last, data, opts(ParamSet::All)); }, 1},
        {"influence function, all, CG", [&] { return influence::influence_function(last, data, opts(ParamSet::All)); },
         -1},
        {"influence function, all, LiSSA",
         [&] { return influence::influence_function(last, data, lissa(ParamSet::All, lmax_all)); }, -1},
        {"influence function, last layer, CG",
         [&] { return influence::influence_function(last, data, opts(ParamSet::LastLayer)); }, -1},
        {"influence function, last layer, LiSSA",
         [&] { return influence::influence_function(last, data, lissa(ParamSet::LastLayer, lmax_ll)); }, -1},
    };
    std::printf("largest Hessian eigenvalue (power iteration): all parameters %.4g, last layer %.4g; damping %g\n",
                lmax_all, lmax_ll, c.damping);
    std::printf(
        "| method | Spearman with LOO (mean over %lld test points) | min | max | time |\n|---|---|---|---|---|\n",
        static_cast<long long>(c.n_test));
    for (const Method& meth : methods) {
      const auto t0 = std::chrono::steady_clock::now();
      Tensor S;
      try {
        S = meth.run();
      } catch (const std::exception& e) {
        std::printf("| %s | failed: %s | | | |\n", meth.name.c_str(), e.what());
        continue;
      }
      const double sec = seconds_since(t0);
      double mean = 0, lo = 2, hi = -2;
      for (int64_t j = 0; j < c.n_test; ++j) {
        std::vector<double> pred(c.n_remove);
        for (int64_t r = 0; r < c.n_remove; ++r) pred[r] = meth.sign * S.item(j * c.n_train + idx[r]);
        const double rho = spearman(pred, delta[j]);
        mean += rho / static_cast<double>(c.n_test);
        lo = std::min(lo, rho);
        hi = std::max(hi, rho);
      }
      std::printf("| %s | %.3f | %.3f | %.3f | %.2f s |\n", meth.name.c_str(), mean, lo, hi, sec);
      std::fflush(stdout);
    }
    std::printf("total %.1f s\n", seconds_since(t_start));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_loo: %s\n", e.what());
    return 1;
  }
  return 0;
}
