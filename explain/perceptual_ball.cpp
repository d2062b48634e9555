// Perceptual-ball adversarial saliency (Elliott, Law & Russell, "Explaining classifiers using adversarial
// perturbations on the perceptual ball", CVPR 2021). An adversarial perturbation δ of the input x changes
// the target's score s (--score) while it stays on the "perceptual ball": small in the input and in the
// activations a_l of chosen layers, so that it cannot hide in directions the network's features ignore
// and instead concentrates on the object (the paper's §3). The paper adds the ball as a penalty
// γ Σ_l ‖a_l(x + δ) − a_l(x)‖² to its objective; here it is the feasible set of a projected gradient method,
//   B = { δ : ‖δ_n‖₂ ≤ ε  and  ‖a_l(x_n + δ_n) − a_l(x_n)‖₂ ≤ ρ ‖a_l(x_n)‖₂ for every l in --layers },
// with ε = --input-radius and ρ = --radius (relative, since activation norms differ by orders of magnitude
// from layer to layer). Each sample n takes --steps steps
//   δ ← P_B(δ ∓ α g / ‖g‖₂),   g = ∇_x s(x_n + δ)   (− for --direction lower, the paper's adversarial
//                                                     direction; + for raise; α = --step-size),
// where P_B scales the step into the input ball and then halves it (up to 20 times; after that the
// sample stays put for this step) until every layer constraint holds: the activation constraints have no
// closed-form projection, and backtracking from the last feasible point keeps every iterate inside B.
// --init r starts from a random point at radius r·ε (a seeded Gaussian direction, then the same
// backtracking), PGD's random start; 0 (the default) starts at δ = 0.
// Output: the paper's saliency, the per-pixel Euclidean size of the change over channels, sqrt(mean_c δ²),
// as (N, 1, H, W) for images (optionally Gaussian-blurred, --sigma pixels; the paper blurs with σ = 2 at
// 224 px), |δ| of the input's shape otherwise; or δ itself with --output perturbation.
// Cost per step: one forward and one backward pass, plus one forward per halving.
#include <cmath>

#include "engine/check.h"
#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "engine/ops_onnx.h"
#include "engine/random.h"
#include "explain/mask_perturbation.h"
#include "explain/options.h"
#include "explain/perturbation.h"
#include "explain/point.h"
#include "explain/targets.h"

namespace xdnn::explain {
namespace {

constexpr const char* kName = "perceptual-ball";
constexpr int64_t kMaxSteps = 10'000, kMaxLayers = 64, kMaxHalvings = 20;

struct Settings {
  double radius = 0.05, input_radius = 1.0, step_size = 0.1, init = 0.0, sigma = 0.0;
  int64_t steps = 50;
  bool lower = true, perturbation = false;
  ScoreKind score = ScoreKind::Logit;
  uint64_t seed = 0;
};

Settings read_settings(const Options& o) {
  Settings s;
  s.radius = o.get_double("radius", 0.05);
  s.input_radius = o.get_double("input-radius", 1.0);
  s.step_size = o.get_double("step-size", 0.1);
  s.init = o.get_double("init", 0.0);
  s.sigma = o.get_double("sigma", 0.0);
  s.steps = o.get_int("steps", 50);
  check(std::isfinite(s.radius) && s.radius >= 0,
        "--radius " + o.get("radius", "") + ": expected a relative activation radius >= 0");
  check(std::isfinite(s.input_radius) && s.input_radius > 0,
        "--input-radius " + o.get("input-radius", "") + ": expected an L2 radius > 0");
  check(std::isfinite(s.step_size) && s.step_size > 0,
        "--step-size " + o.get("step-size", "") + ": expected an L2 step length > 0");
  check(s.init >= 0 && s.init <= 1,
        "--init " + o.get("init", "") + ": expected a fraction of --input-radius in [0, 1]");
  check(std::isfinite(s.sigma) && s.sigma >= 0, "--sigma " + o.get("sigma", "") + ": expected a blur in pixels >= 0");
  check(s.steps >= 1 && s.steps <= kMaxSteps,
        "--steps " + std::to_string(s.steps) + ": expected 1.." + std::to_string(kMaxSteps));
  const std::string direction = o.get("direction", "lower");
  check(direction == "lower" || direction == "raise", "--direction '" + direction + "': expected lower or raise");
  s.lower = direction == "lower";
  const std::string output = o.get("output", "saliency");
  check(output == "saliency" || output == "perturbation",
        "--output '" + output + "': expected saliency or perturbation");
  s.perturbation = output == "perturbation";
  s.score = parse_score(o.get("score", "logit"));
  s.seed = parse_seed(o);
  return s;
}

// The constrained activations: --layers as tensor names, or every ReLU output when it is empty.
std::vector<int> ball_layers(const Model& model, const std::string& text) {
  std::vector<int> ids;
  if (text.empty()) {
    for (const Node& node : model.nodes())
      if (std::string(node.layer->kind()) == "ReLU")
        for (int out : node.outputs)
          if (out >= 0) ids.push_back(out);
  } else {
    size_t begin = 0;
    while (begin <= text.size()) {
      const size_t comma = std::min(text.find(',', begin), text.size());
      const std::string name = text.substr(begin, comma - begin);
      check(!name.empty(), "--layers '" + text + "': expected comma-separated tensor names");
      try {
        ids.push_back(model.value_id(name));
      } catch (const Error& e) {
        throw Error("--layers " + name + ": " + e.what(), e.hint());
      }
      begin = comma + 1;
    }
  }
  check(static_cast<int64_t>(ids.size()) <= kMaxLayers,
        "--layers: " + std::to_string(ids.size()) + " constrained activations, at most " + std::to_string(kMaxLayers));
  return ids;
}

// ‖t_n‖₂ of every row of t (N, per), as (N, 1) on t's device: squares summed in ascending order.
Tensor row_norms(const Tensor& t) {
  const Tensor squares = ops::unary(ops::Unary::Square, t);
  return ops::unary(ops::Unary::Sqrt, ops::reduce_axes(ops::ReduceOp::Sum, squares, {t.dim(0), 1})[0]);
}

// 1 at the rows n where flags[n], else 0: (N, 1) float64 on `device`, a select's condition.
Tensor row_flags(const std::vector<bool>& flags, Device device) {
  std::vector<double> v(flags.size());
  for (size_t n = 0; n < flags.size(); ++n) v[n] = flags[n] ? 1.0 : 0.0;
  return Tensor::from_vector({static_cast<int64_t>(flags.size()), 1}, v).to(device);
}

struct Ball {
  const Model* model = nullptr;
  std::vector<int> layers;
  std::vector<Tensor> reference;  // a_l(x) as (N, per_l) float64, on the model's device
  std::vector<double> radius;     // (layers · N): ρ ‖a_l(x_n)‖₂

  // Which samples of `tape` (rows x + δ) are inside every activation constraint. The distances are computed
  // on the device; only their N values per layer come back for the backtracking's decision.
  std::vector<bool> inside(const Tape& tape, int64_t N) const {
    std::vector<bool> ok(N, true);
    for (size_t l = 0; l < layers.size(); ++l) {
      const Tensor a = tape.values.at(layers[l]).to(DType::F64).reshape(reference[l].shape());
      const std::vector<double> distance = ops::value_vector(row_norms(ops::sub(a, reference[l])));
      for (int64_t n = 0; n < N; ++n) ok[n] = ok[n] && distance[n] <= radius[l * N + n];
    }
    return ok;
  }
};

Ball make_ball(const Model& model, const Tape& tape, const std::vector<int>& layers, int64_t N, double rho) {
  Ball b;
  b.model = &model;
  b.layers = layers;
  for (int id : layers) {
    const Tensor& a = tape.values.at(id);
    check(a.defined() && a.is_float() && a.ndim() >= 1 && a.dim(0) == N,
          "--layers " + model.value_name(id) + ": expected a float activation with the batch (" + std::to_string(N) +
              " samples) on axis 0, got " + (a.defined() ? a.describe() : std::string("nothing")));
    b.reference.push_back(a.to(DType::F64).reshape({N, a.numel() / N}));
    for (double norm : ops::value_vector(row_norms(b.reference.back()))) b.radius.push_back(rho * norm);
  }
  return b;
}

// x + δ as the model computes on it: (N, per) float64 sums, in x's shape and the model's dtype (x64 and δ
// live on the model's device).
Tensor shifted(const Tensor& x64, const Tensor& delta, const Shape& shape, DType dtype) {
  return ops::add(x64, delta).reshape(shape).to(dtype);
}

// Moves every sample n from δ_n towards target_n (both (N, per)), halving the move until x + δ is inside the
// ball; samples that find no feasible point keep δ_n. Returns the tape of x + δ when its last forward pass
// was at the accepted point of every sample (the next step's forward), or an empty tape.
Tape backtrack(const Ball& ball, const Tensor& x64, const Shape& shape, DType dtype, Tensor& delta,
               const Tensor& target) {
  const int64_t N = delta.dim(0);
  const Device device = delta.device();
  std::vector<double> t(N, 1.0);
  std::vector<bool> done(N, false);
  const Tensor move = ops::sub(target, delta);  // δ stays put until a row is accepted, so the move does too
  for (int64_t h = 0; h <= kMaxHalvings; ++h) {
    // trial_n = δ_n + t_n (target_n − δ_n) for the rows still searching (t_n a power of 2: the product is
    // exact), δ_n for the rows done.
    const Tensor step = Tensor::from_vector({N, 1}, t).to(device);
    const Tensor trial = ops::where(row_flags(done, device), delta, ops::add(delta, ops::mul(step, move)));
    Tape tape = ball.model->forward({shifted(x64, trial, shape, dtype)});
    const std::vector<bool> ok = ball.inside(tape, N);
    std::vector<bool> accepted(N, false);
    bool all = true;
    for (int64_t n = 0; n < N; ++n) {
      accepted[n] = !done[n] && ok[n];
      done[n] = done[n] || ok[n];
      all = all && done[n];
      t[n] /= 2;
    }
    delta = ops::where(row_flags(accepted, device), trial, delta);
    if (all) return tape;
  }
  return Tape();
}

Attribution perceptual_ball(const ExplainRequest& req) {
  const Model& model = *req.model;
  const Settings s = read_settings(req.options);
  const Tensor x = model_input(req);
  check(x.is_float(), std::string(kName) + ": expected a float input, got " + x.describe(),
        "the perturbation moves input values; token ids cannot move");
  const std::vector<int> layers = ball_layers(model, req.options.get("layers", ""));
  const int64_t N = x.dim(0), per = x.numel() / N;
  const Tape tape0 = model.forward({x});
  tape_logits(model, tape0);  // checks the output is (N, classes) before any step
  const Ball ball = make_ball(model, tape0, layers, N, s.radius);
  // δ (N, per), the steps and the projections run on x's device; the ball's distances come back as N numbers
  // per layer and forward pass for the backtracking's decisions.
  const Device device = x.device();
  const Tensor x64 = x.to(DType::F64).reshape({N, per});
  Tensor delta = ops::full({N, per}, 0.0, DType::F64, device);
  Tape tape;         // the tape of x + δ when known
  if (s.init > 0) {  // a random start at radius init·ε, direction ~ N(0, I) per sample
    // The draws are serial on the host (one stream per sample), then one copy to the device.
    std::vector<double> draws(static_cast<size_t>(N * per));
    for (int64_t n = 0; n < N; ++n) {
      Rng rng(s.seed + 0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(req.first_sample + n + 1));
      for (int64_t i = 0; i < per; ++i) draws[n * per + i] = rng.normal();
    }
    const Tensor direction = Tensor::from_vector({N, per}, draws).to(device);
    const Tensor length =
        ops::binary(ops::Binary::Max, row_norms(direction), ops::full({1}, 1e-300, DType::F64, device));
    const Tensor target =
        ops::mul(direction, ops::div(ops::full({N, 1}, s.init * s.input_radius, DType::F64, device), length));
    tape = backtrack(ball, x64, x.shape(), x.dtype(), delta, target);
  }
  const double sign = s.lower ? -1.0 : 1.0;
  const Tensor zero = ops::full({1}, 0.0, DType::F64, device),
               radius = ops::full({N, 1}, s.input_radius, DType::F64, device);
  for (int64_t step = 0; step < s.steps; ++step) {
    if (tape.values.empty()) tape = model.forward({shifted(x64, delta, x.shape(), x.dtype())});
    const Tensor g =
        score_gradient(model, tape, model.inputs()[0], req.targets, s.score).to(DType::F64).reshape({N, per});
    // target = δ ± α g / ‖g‖₂ (rows with g = 0 stay), then scaled back onto ‖δ‖₂ = ε where it left the input ball.
    const Tensor gnorm = row_norms(g);
    const Tensor move = ops::div(ops::scale(g, sign * s.step_size), gnorm);
    Tensor target = ops::add(delta, ops::where(ops::unary(ops::Unary::Step, gnorm), move, zero));
    const Tensor tnorm = row_norms(target);
    const Tensor outside = ops::unary(ops::Unary::Step, ops::add_scalar(tnorm, -s.input_radius));  // ‖target‖ > ε
    target = ops::where(outside, ops::mul(target, ops::div(radius, tnorm)), target);
    tape = backtrack(ball, x64, x.shape(), x.dtype(), delta, target);
  }

  Attribution a{Tensor(), kName, req.options.values, s.seed};
  a.parameters["layers"] = std::to_string(layers.size());
  // How far the score moved: the mean over samples of s(x + δ) − s(x).
  if (tape.values.empty()) tape = model.forward({shifted(x64, delta, x.shape(), x.dtype())});
  const std::vector<double> before = target_scores(tape_logits(model, tape0), req.targets, s.score);
  const std::vector<double> after = target_scores(tape_logits(model, tape), req.targets, s.score);
  double change = 0;
  for (int64_t n = 0; n < N; ++n) change += (after[n] - before[n]) / static_cast<double>(N);
  a.parameters["score_change"] = std::to_string(change);
  if (s.perturbation || x.ndim() != 4) {
    const Tensor out = delta.reshape(x.shape());
    a.values = (s.perturbation ? out : ops::unary(ops::Unary::Abs, out)).to(model.dtype());
    return a;
  }
  // sqrt(mean_c δ²) per pixel: (N, C, H, W) -> (N, 1, H, W), channels summed in order.
  const Tensor squares = ops::unary(ops::Unary::Square, delta.reshape(x.shape()));
  const Tensor sums = ops::reduce_axes(ops::ReduceOp::Sum, squares, {N, 1, x.dim(2), x.dim(3)})[0];
  const Tensor channels = ops::full({1}, static_cast<double>(x.dim(1)), DType::F64, device);
  const Tensor map = ops::unary(ops::Unary::Sqrt, ops::div(sums, channels));
  a.values = (s.sigma > 0 ? gaussian_blur(map, s.sigma) : map).to(model.dtype());
  return a;
}

MethodRegistration reg{
    {kName,
     "perceptual-ball adversarial saliency (Elliott et al. 2021): the input change of a PGD attack kept small in "
     "chosen layers' activations",
     {{"layers", "", "tensor names whose activations the ball constrains (default: every ReLU output)", "TENSOR,..."},
      {"radius", "0.05", "activation radius, relative: ||a(x+d) - a(x)|| <= radius * ||a(x)|| per layer"},
      {"input-radius", "1.0", "L2 radius of the input change"},
      {"steps", "50", "PGD steps (1..10000)"},
      {"step-size", "0.1", "L2 length of each step"},
      {"direction", "lower", "lower the target's score (adversarial, the paper's) or raise it", "{lower,raise}"},
      {"init", "0", "random start at this fraction of --input-radius (0: start at the input)", "FLOAT"},
      {"sigma", "0", "Gaussian blur of the saliency map, in pixels", "FLOAT"},
      {"output", "saliency", "the saliency map (N, 1, H, W) or the perturbation itself", "{saliency,perturbation}"},
      kOptScore,
      kOptSeed},
     perceptual_ball}};

}  // namespace
}  // namespace xdnn::explain
