// Activation maximisation: see activation_max.h for the objective and the papers.
#include "explain/global/activation_max.h"

#include <cmath>
#include <map>

#include "engine/check.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "engine/ops_onnx.h"
#include "engine/ops_optim.h"
#include "engine/random.h"
#include "explain/options.h"

namespace xdnn::explain {
namespace {

constexpr int64_t kMaxSteps = 100'000, kMaxUnits = 4096, kMaxJitter = 64;

int target_value(const Model& model, const VisualizeTarget& target) {
  check(!model.outputs().empty(), "visualize: the model has no output");
  if (target.layer.empty()) return model.outputs()[0];
  try {
    return model.value_id(target.layer);
  } catch (const Error& e) {
    throw Error("--layer " + target.layer + ": " + e.what(), e.hint());
  }
}

// The size of one sample's activation, and its channels (axis 1; 1 for an (N,) tensor).
struct TargetGeometry {
  int64_t per = 0, channels = 0;
};

TargetGeometry geometry(const Tensor& a, int64_t rows, const std::string& name) {
  check(a.defined() && a.is_float() && a.ndim() >= 1 && a.dim(0) == rows,
        "--layer " + name + ": expected a float tensor with the batch (" + std::to_string(rows) + ") on axis 0, got " +
            (a.defined() ? a.describe() : std::string("nothing")));
  TargetGeometry g;
  g.per = a.numel() / rows;
  g.channels = a.ndim() >= 2 ? a.dim(1) : 1;
  return g;
}

// Image planes of one sample: (planes, H, W) with H = W = 1 views for inputs that are not pictures.
struct Planes {
  int64_t planes = 1, H = 1, W = 1;
};

Planes planes_of(const Shape& sample) {
  Planes p;
  int64_t per = 1;
  for (int64_t d : sample) per *= d;
  if (sample.size() >= 2) {
    p.H = sample[sample.size() - 2];
    p.W = sample.back();
  } else {
    p.W = per;
  }
  p.planes = per / (p.H * p.W);
  return p;
}

Shape sample_shape(const Tensor& x) { return Shape(x.shape().begin() + 1, x.shape().end()); }

// The jitter's circular shift as a gather over the flat (rows · per) image: out[n, p, (i + dy) mod H,
// (j + dx) mod W] = in[n, p, i, j] with (dy, dx) = sign · shifts[n] (sign −1: the inverse shift, the
// gradient's way back). The index is built on the host from the shifts (the step's random draws) and goes
// to `device` as one copy; the gather runs there.
Tensor roll_index(int64_t rows, const Planes& g, const std::vector<std::pair<int64_t, int64_t>>& shifts, int sign,
                  Device device) {
  const int64_t plane = g.H * g.W, per = g.planes * plane;
  std::vector<int64_t> index(static_cast<size_t>(rows * per));
  for (int64_t n = 0; n < rows; ++n) {
    const int64_t dy = ((sign * shifts[n].first) % g.H + g.H) % g.H, dx = ((sign * shifts[n].second) % g.W + g.W) % g.W;
    for (int64_t p = 0; p < g.planes; ++p) {
      const int64_t base = n * per + p * plane;
      for (int64_t i = 0; i < g.H; ++i)
        for (int64_t j = 0; j < g.W; ++j)
          index[base + ((i + dy) % g.H) * g.W + (j + dx) % g.W] = base + i * g.W + j;  // out <- in
    }
  }
  return Tensor::from_vector({rows * per}, index).to(device);
}

bool any_shift(const std::vector<std::pair<int64_t, int64_t>>& shifts) {
  for (const auto& [dy, dx] : shifts)
    if (dy != 0 || dx != 0) return true;
  return false;
}

Tensor roll(const Tensor& x, const Tensor& index) {
  return ops::gather_axis(x.reshape({x.numel()}), index, 0).reshape(x.shape());
}

// An int64 (n) tensor of `values` on `device` (unit indices and the flat positions derived from them).
Tensor indices_on(const std::vector<int64_t>& values, Device device) {
  return Tensor::from_vector({static_cast<int64_t>(values.size())}, values).to(device);
}

// a_u of every row n for its own unit units[n]: a (U, ...) -> float64 (U) on a's device. Channel: the mean
// of channel units[n] of row n (its S positions summed in order in float64, then divided by S); unit:
// element units[n] of row n. Only the picked values are converted to float64.
Tensor row_unit_values(const Tensor& a, const TargetGeometry& tg, const VisualizeTarget& t) {
  const int64_t U = a.dim(0);
  const int64_t width = t.channel ? tg.channels : tg.per, S = t.channel ? tg.per / tg.channels : 1;
  std::vector<int64_t> flat(static_cast<size_t>(U));
  for (int64_t n = 0; n < U; ++n) flat[n] = n * width + t.units[n];
  const Tensor picked = ops::gather_axis(a.reshape({U * width, S}), indices_on(flat, a.device()), 0).to(DType::F64);
  if (!t.channel) return picked.reshape({U});
  const Tensor sum = ops::reduce_axes(ops::ReduceOp::Sum, picked, {U, 1})[0].reshape({U});
  return ops::div(sum, ops::full({1}, static_cast<double>(S), DType::F64, a.device()));
}

// The backward seed ∂a_u/∂A for every row's own unit, in A's dtype and shape: 1/S on the S positions of
// channel units[n] (channel), or 1 at element units[n] (unit), 0 elsewhere.
Tensor unit_seed(const Tensor& a, const TargetGeometry& tg, const VisualizeTarget& t) {
  const int64_t U = a.dim(0);
  const Tensor units = indices_on(t.units, a.device());
  if (!t.channel) return ops::one_hot(units, tg.per, a.dtype()).reshape(a.shape());
  const int64_t S = tg.per / tg.channels;
  const Tensor spread =
      ops::broadcast_to(ops::one_hot(units, tg.channels, a.dtype()).reshape({U, tg.channels, 1}), {U, tg.channels, S});
  return ops::scale(spread, 1.0 / static_cast<double>(S)).reshape(a.shape());
}

// x (U, planes, H, W) float64 -> its differences along `axis` (2: rows, 3: columns): x[k + 1] − x[k].
Tensor neighbour_differences(const Tensor& x, int axis) {
  Shape out = x.shape();
  out[axis] -= 1;
  std::vector<int64_t> next = {0, 0, 0, 0};
  next[axis] = 1;
  return ops::sub(ops::strided_slice(x, next, {1, 1, 1, 1}, out),
                  ops::strided_slice(x, {0, 0, 0, 0}, {1, 1, 1, 1}, out));
}

// The squared total variation's gradient along `axis` (2: rows, 3: columns) of x (U, planes, H, W):
// ∂/∂x[k] Σ (x[k + 1] − x[k])² = 2 (2 x[k] − x[k − 1] − x[k + 1]) with x[−1] = x[0] and x[last + 1] = x[last]
// (an edge pad: the pairs that do not exist add nothing). Returns the neighbours' sum x[k − 1] + x[k + 1];
// the caller weighs it and adds x's own part.
Tensor tv_neighbours(const Tensor& x, int axis) {
  std::vector<int64_t> none = {0, 0, 0, 0}, one = {0, 0, 0, 0}, two = {0, 0, 0, 0};
  one[axis] = 1, two[axis] = 2;
  const Tensor padded = ops::pad_axes(x, one, one, ops::PadMode::Edge, 0.0);  // (.., n + 2, ..) along axis
  const std::vector<int64_t> steps = {1, 1, 1, 1};
  return ops::add(ops::strided_slice(padded, none, steps, x.shape()),
                  ops::strided_slice(padded, two, steps, x.shape()));
}

// Per-row sums of x (U, ...) -> (U).
Tensor row_sums(const Tensor& x) {
  const int64_t U = x.dim(0);
  return ops::reduce_axes(ops::ReduceOp::Sum, x.reshape({U, x.numel() / U}), {U, 1})[0].reshape({U});
}

// One evaluation of the objective on x (U, ...) float64 on target.device: a_u per row (U), and with
// `grad` ∂J/∂x (x's shape, float64, same device); with `objective` J per row (U). `seed`: the backward seed
// of an earlier evaluation on the same units, or an undefined tensor it is stored in (it is the same every
// step of an ascent).
struct Evaluation {
  Tensor activation, grad, objective;
};

Evaluation evaluate_objective(const Model& model, const VisualizeTarget& target, const VisualizeSettings& s,
                              const Tensor& x, const std::vector<std::pair<int64_t, int64_t>>& shifts, bool grad,
                              bool objective, Tensor& seed) {
  const int64_t U = x.dim(0);
  const Device device = target.device;
  const Planes g = planes_of(sample_shape(x));
  const int vid = target_value(model, target);
  const bool shifted = any_shift(shifts);
  const Tensor seen = shifted ? roll(x, roll_index(U, g, shifts, +1, device)) : x;
  const Tape tape = model.forward({seen.to(model.dtype())});
  const Tensor& a = tape.values.at(vid);
  const TargetGeometry tg = geometry(a, U, model.value_name(vid));
  Evaluation e;
  e.activation = row_unit_values(a, tg, target);
  if (!grad && !objective) return e;
  // The penalties on the unshifted image, viewed as (U, planes, H, W), along the axes with two or more pixels.
  const Tensor x4 = x.reshape({U, g.planes, g.H, g.W});
  std::vector<int> tv_axes;
  for (int axis : {2, 3})
    if (x4.dim(axis) > 1) tv_axes.push_back(axis);
  if (grad) {
    if (!seed.defined()) seed = unit_seed(a, tg, target);
    std::vector<Tensor> grads = model.backward(tape, {{vid, seed}});
    const Tensor& gx = grads.at(model.inputs()[0]);
    if (gx.defined()) {
      const Tensor g64 = gx.to(DType::F64).reshape(x.shape());
      e.grad = shifted ? roll(g64, roll_index(U, g, shifts, -1, device)) : g64.clone();
    } else {
      e.grad = ops::full(x.shape(), 0.0, DType::F64, device);
    }
    // ∂/∂x of −λ₂ ‖x‖² − λ₁ ‖x‖₁ − λ_tv TV(x).
    if (s.l2 != 0) ops::axpy_inplace(e.grad, -2 * s.l2, x);
    if (s.l1 != 0) ops::axpy_inplace(e.grad, -s.l1, ops::unary(ops::Unary::Sign, x));
    if (s.tv != 0)
      for (int axis : tv_axes) {  // −λ_tv (4 x − 2 (x[k − 1] + x[k + 1]))
        ops::axpy_inplace(e.grad, -4 * s.tv, x);
        ops::axpy_inplace(e.grad, 2 * s.tv, tv_neighbours(x4, axis).reshape(x.shape()));
      }
  }
  if (objective) {
    // J = a_u − λ₂ Σ x² − λ₁ Σ |x| − λ_tv Σ d², per row.
    e.objective = e.activation.clone();
    ops::axpy_inplace(e.objective, -s.l2, row_sums(ops::unary(ops::Unary::Square, x)));
    ops::axpy_inplace(e.objective, -s.l1, row_sums(ops::unary(ops::Unary::Abs, x)));
    for (int axis : tv_axes)
      ops::axpy_inplace(e.objective, -s.tv, row_sums(ops::unary(ops::Unary::Square, neighbour_differences(x4, axis))));
  }
  return e;
}

std::string unit_label(const Model& model, const VisualizeTarget& t, int vid, int64_t unit) {
  const bool is_output = vid == model.outputs()[0];
  if (is_output && unit < static_cast<int64_t>(model.class_names.size()))
    return "class " + std::to_string(unit) + " " + model.class_names[unit];
  return model.value_name(vid) + (t.channel ? " channel " : " unit ") + std::to_string(unit);
}

// Gradient of the generator's pixels g_x (U, per) back to its latent: (U, d) float64 on g_x's device.
Tensor generator_backward(const Model& gen, const Tape& tape, const Tensor& gx) {
  const int out = gen.outputs()[0];
  const Tensor& y = tape.values.at(out);
  const Tensor seed = gx.reshape(y.shape()).to(y.dtype()).to(y.device());
  std::vector<Tensor> grads = gen.backward(tape, {{out, seed}});
  const Tensor& gz = grads.at(gen.inputs()[0]);
  check(gz.defined(), "visualize: the generator's output does not depend on its latent");
  return gz.to(DType::F64).clone();
}

}  // namespace

int resolve_target(const Model& model, const Shape& input_shape, const VisualizeTarget& target) {
  check(!model.takes_token_ids(), "visualize: the model takes token ids; gradient ascent needs a float input",
        "use an image or other float-input model");
  const int vid = target_value(model, target);
  Shape shape = {1};
  shape.insert(shape.end(), input_shape.begin(), input_shape.end());
  const Tape tape = model.forward({Tensor::zeros(shape, model.dtype()).to(target.device)});
  const TargetGeometry g = geometry(tape.values.at(vid), 1, model.value_name(vid));
  const int64_t limit = target.channel ? g.channels : g.per;
  for (int64_t u : target.units)
    check(u >= 0 && u < limit, "--units " + std::to_string(u) + ": tensor '" + model.value_name(vid) + "' has " +
                                   std::to_string(limit) + (target.channel ? " channels" : " units per sample") +
                                   " (0.." + std::to_string(limit - 1) + ")");
  return vid;
}

std::vector<int64_t> parse_units(const Model& model, const Shape& input_shape, const VisualizeTarget& target,
                                 const std::string& text) {
  VisualizeTarget t = target;
  t.units.clear();
  if (text == "all") {
    const int vid = resolve_target(model, input_shape, t);
    Shape shape = {1};
    shape.insert(shape.end(), input_shape.begin(), input_shape.end());
    const TargetGeometry g =
        geometry(model.forward({Tensor::zeros(shape, model.dtype()).to(target.device)}).values.at(vid), 1,
                 model.value_name(vid));
    const int64_t count = target.channel ? g.channels : g.per;
    check(count <= kMaxUnits,
          "--units all: tensor '" + model.value_name(vid) + "' has " + std::to_string(count) + " units, more than " +
              std::to_string(kMaxUnits) + " images",
          "name a few: --units 0,1,2");
    std::vector<int64_t> all(count);
    for (int64_t i = 0; i < count; ++i) all[i] = i;
    return all;
  }
  std::vector<int64_t> units = parse_int_list("units", text);
  check(!units.empty() && static_cast<int64_t>(units.size()) <= kMaxUnits,
        "--units '" + text + "': expected 1 to " + std::to_string(kMaxUnits) + " indices, or all");
  return units;
}

std::vector<double> visualize_objective(const Model& model, const VisualizeTarget& target, const VisualizeSettings& s,
                                        const Tensor& x, const std::vector<std::pair<int64_t, int64_t>>& shifts,
                                        Tensor* grad, std::vector<double>* activation) {
  const int64_t U = x.dim(0);
  check(x.dtype() == DType::F64 && static_cast<int64_t>(target.units.size()) == U &&
            static_cast<int64_t>(shifts.size()) == U,
        "visualize_objective: expected float64 x with one row per unit and per shift");
  Tensor seed;
  const Evaluation e = evaluate_objective(model, target, s, x.to(target.device), shifts, grad != nullptr, true, seed);
  if (grad) *grad = e.grad;
  if (activation) *activation = ops::value_vector(e.activation);
  return ops::value_vector(e.objective);
}

Tensor unit_activations(const Model& model, const Tensor& x, const VisualizeTarget& target) {
  const int vid = target_value(model, target);
  const int64_t N = x.dim(0), U = static_cast<int64_t>(target.units.size()), batch = 256;
  Tensor out({N, U}, DType::F64);  // a table for the user: on the host
  const Tensor units = indices_on(target.units, target.device);
  for (int64_t begin = 0; begin < N; begin += batch) {
    const int64_t end = std::min(N, begin + batch), rows = end - begin;
    const Tape tape = model.forward({x.slice_batch(begin, end).to(model.dtype()).to(target.device)});
    const Tensor& a = tape.values.at(vid);
    const TargetGeometry tg = geometry(a, rows, model.value_name(vid));
    for (int64_t u : target.units)
      check(u >= 0 && u < (target.channel ? tg.channels : tg.per), "--units " + std::to_string(u) + ": out of range");
    // Every unit on every row: (rows, U, S) channel positions summed in float64 and divided by S, or (rows, U).
    const int64_t width = target.channel ? tg.channels : tg.per, S = target.channel ? tg.per / tg.channels : 1;
    const Tensor picked = ops::gather_axis(a.reshape({rows, width, S}), units, 1).to(DType::F64);
    const Tensor values =
        target.channel ? ops::div(ops::reduce_axes(ops::ReduceOp::Sum, picked, {rows, U, 1})[0].reshape({rows, U}),
                                  ops::full({1}, static_cast<double>(S), DType::F64, target.device))
                       : picked.reshape({rows, U});
    out.slice_batch(begin, end).copy_from(values);
  }
  return out;
}

VisualizeResult visualize(const Model& model, const Shape& input_shape, const VisualizeTarget& target,
                          const VisualizeSettings& s, const Model* generator) {
  check(s.steps >= 1 && s.steps <= kMaxSteps,
        "--steps " + std::to_string(s.steps) + ": expected 1.." + std::to_string(kMaxSteps));
  check(std::isfinite(s.lr) && s.lr > 0, "--lr: expected a step size > 0");
  check(std::isfinite(s.l2) && s.l2 >= 0, "--l2: expected a weight >= 0");
  check(std::isfinite(s.l1) && s.l1 >= 0, "--l1: expected a weight >= 0");
  check(std::isfinite(s.tv) && s.tv >= 0, "--tv: expected a weight >= 0");
  check(s.jitter >= 0 && s.jitter <= kMaxJitter,
        "--jitter " + std::to_string(s.jitter) + ": expected 0.." + std::to_string(kMaxJitter) + " pixels");
  check(std::isfinite(s.low) && std::isfinite(s.high) && s.low < s.high, "--box: expected low < high");
  check(std::isfinite(s.init_scale) && s.init_scale >= 0, "visualize: init scale must be >= 0");
  check(!target.units.empty(), "--units: no unit named");
  check(static_cast<int64_t>(target.units.size()) <= kMaxUnits,
        "--units: at most " + std::to_string(kMaxUnits) + " units at once");
  const int vid = resolve_target(model, input_shape, target);
  const int64_t U = static_cast<int64_t>(target.units.size());
  Shape shape = {U};
  shape.insert(shape.end(), input_shape.begin(), input_shape.end());
  const Planes g = planes_of(input_shape);
  const int64_t per = g.planes * g.H * g.W;
  Rng rng(s.seed);

  // The parameter the ascent moves: the pixels (U, per) or the latent (U, d).
  int64_t dim = per;
  if (generator) {
    check(generator->input_shape.size() == 1 && generator->input_shape[0] > 0,
          "visualize: the generator declares no latent size (input_shape (d))");
    dim = generator->input_shape[0];
  }
  // Pixels: the box's centre plus a little noise; a latent: a draw of the VAE's prior N(0, I), so that each
  // unit starts from a different picture the generator can draw. Drawn serially on the host, one copy.
  const double centre = 0.5 * (s.low + s.high), spread = s.init_scale * (s.high - s.low);
  std::vector<double> start(static_cast<size_t>(U * dim));
  for (double& t : start) t = generator ? rng.normal() : centre + spread * rng.normal();
  const Device device = target.device;
  Tensor theta = Tensor::from_vector({U, dim}, start).to(device);

  // The image (U, ...input shape) float64 on the device; the generator's tape when asked.
  auto image_of = [&](const Tensor& th, Tape* tape) {
    if (!generator) return th.reshape(shape);
    Tape t = generator->forward({th.to(generator->dtype())});
    const Tensor y = t.values.at(generator->outputs()[0]);
    check(y.numel() == U * per, "visualize: the generator draws " + y.describe() + ", the model takes (" +
                                    std::to_string(U) + ", " + std::to_string(per) + " values)");
    Tensor x = y.to(DType::F64).reshape(shape);
    if (tape) *tape = std::move(t);
    return x;
  };

  VisualizeResult r;
  const std::vector<std::pair<int64_t, int64_t>> none(U, {0, 0});
  Tensor seed;  // the backward seed, made by the first step
  r.start = ops::value_vector(
      evaluate_objective(model, target, {}, image_of(theta, nullptr), none, false, false, seed).activation);
  VisualizeSettings pen = s;
  if (generator) pen.l2 = 0;  // λ₂ is on the latent
  Tensor m = ops::full({U, dim}, 0.0, DType::F64, device), v = ops::full({U, dim}, 0.0, DType::F64, device);
  ops::AdamStep adam;  // β = (0.9, 0.999), ε = 1e-8
  adam.lr = s.lr;
  std::vector<std::pair<int64_t, int64_t>> shifts(U);
  for (int64_t step = 1; step <= s.steps; ++step) {
    for (auto& sh : shifts) {
      sh.first = g.H > 1 ? static_cast<int64_t>(rng.below(2 * s.jitter + 1)) - s.jitter : 0;
      sh.second = g.W > 1 ? static_cast<int64_t>(rng.below(2 * s.jitter + 1)) - s.jitter : 0;
    }
    Tape gen_tape;
    const Tensor x = image_of(theta, &gen_tape);
    const Tensor gx = evaluate_objective(model, target, pen, x, shifts, true, false, seed).grad;
    Tensor gt = generator ? generator_backward(*generator, gen_tape, gx) : gx.reshape({U, dim});
    if (generator && s.l2 != 0) ops::axpy_inplace(gt, -2 * s.l2, theta);  // −λ₂ ‖z‖²
    // Ascent on J is Adam's descent on −J.
    adam.t = step;
    ops::adam_step_inplace(theta, ops::unary(ops::Unary::Neg, gt), m, v, adam);
    if (!generator) theta = ops::clip(theta, s.low, s.high);
  }
  const Tensor final_x = image_of(theta, nullptr);
  r.activation = ops::value_vector(evaluate_objective(model, target, {}, final_x, none, false, false, seed).activation);
  r.images = final_x.to(DType::F32).to(Device::CPU);  // the pictures, for the user
  for (int64_t u : target.units) r.labels.push_back(unit_label(model, target, vid, u));
  return r;
}

}  // namespace xdnn::explain
