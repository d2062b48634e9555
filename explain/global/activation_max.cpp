// Activation maximisation: see activation_max.h for the objective and the papers.
#include "explain/global/activation_max.h"

#include <cmath>
#include <map>

#include "engine/check.h"
#include "engine/error.h"
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

// out[n, p, (i + dy) mod H, (j + dx) mod W] = in[n, p, i, j] (sign = +1), or the inverse (sign = −1).
void roll(const double* in, double* out, int64_t rows, const Planes& g,
          const std::vector<std::pair<int64_t, int64_t>>& shifts, int sign) {
  const int64_t plane = g.H * g.W, per = g.planes * plane;
  for (int64_t n = 0; n < rows; ++n) {
    const int64_t dy = ((sign * shifts[n].first) % g.H + g.H) % g.H, dx = ((sign * shifts[n].second) % g.W + g.W) % g.W;
    for (int64_t p = 0; p < g.planes; ++p) {
      const double* src = in + n * per + p * plane;
      double* dst = out + n * per + p * plane;
      for (int64_t i = 0; i < g.H; ++i)
        for (int64_t j = 0; j < g.W; ++j) dst[((i + dy) % g.H) * g.W + (j + dx) % g.W] = src[i * g.W + j];
    }
  }
}

std::string unit_label(const Model& model, const VisualizeTarget& t, int vid, int64_t unit) {
  const bool is_output = vid == model.outputs()[0];
  if (is_output && unit < static_cast<int64_t>(model.class_names.size()))
    return "class " + std::to_string(unit) + " " + model.class_names[unit];
  return model.value_name(vid) + (t.channel ? " channel " : " unit ") + std::to_string(unit);
}

// Gradient of the generator's pixels g_x (U, per) back to its latent: (U, d) float64.
Tensor generator_backward(const Model& gen, const Tape& tape, const Tensor& gx) {
  const int out = gen.outputs()[0];
  const Tensor& y = tape.values.at(out);
  const Tensor seed = gx.reshape(y.shape()).to(y.dtype()).to(y.device());
  std::vector<Tensor> grads = gen.backward(tape, {{out, seed}});
  const Tensor& gz = grads.at(gen.inputs()[0]);
  check(gz.defined(), "visualize: the generator's output does not depend on its latent");
  return gz.to(Device::CPU).to(DType::F64).clone();
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
  const Planes g = planes_of(sample_shape(x));
  const int64_t per = x.numel() / U;
  const int vid = target_value(model, target);
  Tensor shifted(x.shape(), DType::F64);
  roll(x.data<double>(), shifted.data<double>(), U, g, shifts, +1);
  const Tape tape = model.forward({shifted.to(model.dtype()).to(target.device)});
  const Tensor& a = tape.values.at(vid);
  const TargetGeometry tg = geometry(a, U, model.value_name(vid));
  const Tensor a64 = a.to(Device::CPU).to(DType::F64);
  Tensor seed = Tensor::zeros(a.shape(), DType::F64);
  std::vector<double> J(U), act(U);
  for (int64_t n = 0; n < U; ++n) {
    const int64_t u = target.units[n];
    const double* an = a64.data<double>() + n * tg.per;
    double* sn = seed.data<double>() + n * tg.per;
    if (target.channel) {
      const int64_t S = tg.per / tg.channels;  // positions per channel
      double sum = 0;
      for (int64_t i = u * S; i < (u + 1) * S; ++i) {
        sum += an[i];
        sn[i] = 1.0 / static_cast<double>(S);
      }
      act[n] = sum / static_cast<double>(S);
    } else {
      act[n] = an[u];
      sn[u] = 1.0;
    }
  }
  const double* px = x.data<double>();
  double* pg = nullptr;
  if (grad) {
    std::vector<Tensor> grads = model.backward(tape, {{vid, seed.to(a.dtype()).to(target.device)}});
    const Tensor& gx = grads.at(model.inputs()[0]);
    *grad = Tensor::zeros(x.shape(), DType::F64);
    if (gx.defined()) roll(gx.to(Device::CPU).to(DType::F64).data<double>(), grad->data<double>(), U, g, shifts, -1);
    pg = grad->data<double>();
  }
  // The penalties and their gradients, per row on the unshifted image.
  for (int64_t n = 0; n < U; ++n) {
    double l2 = 0, l1 = 0, tv = 0;
    const double* xn = px + n * per;
    double* gn = pg ? pg + n * per : nullptr;
    for (int64_t i = 0; i < per; ++i) {
      l2 += xn[i] * xn[i];
      l1 += std::abs(xn[i]);
      if (gn) gn[i] -= 2 * s.l2 * xn[i] + s.l1 * (xn[i] > 0 ? 1.0 : xn[i] < 0 ? -1.0 : 0.0);
    }
    for (int64_t p = 0; p < g.planes; ++p) {
      const int64_t base = p * g.H * g.W;
      for (int64_t i = 0; i < g.H; ++i)
        for (int64_t j = 0; j < g.W; ++j) {
          const int64_t k = base + i * g.W + j;
          if (i + 1 < g.H) {
            const double d = xn[k + g.W] - xn[k];
            tv += d * d;
            if (gn) gn[k + g.W] -= 2 * s.tv * d, gn[k] += 2 * s.tv * d;
          }
          if (j + 1 < g.W) {
            const double d = xn[k + 1] - xn[k];
            tv += d * d;
            if (gn) gn[k + 1] -= 2 * s.tv * d, gn[k] += 2 * s.tv * d;
          }
        }
    }
    J[n] = act[n] - s.l2 * l2 - s.l1 * l1 - s.tv * tv;
  }
  if (activation) *activation = act;
  return J;
}

Tensor unit_activations(const Model& model, const Tensor& x, const VisualizeTarget& target) {
  const int vid = target_value(model, target);
  const int64_t N = x.dim(0), U = static_cast<int64_t>(target.units.size()), batch = 256;
  Tensor out({N, U}, DType::F64);
  for (int64_t begin = 0; begin < N; begin += batch) {
    const int64_t end = std::min(N, begin + batch);
    const Tape tape = model.forward({x.slice_batch(begin, end).to(model.dtype()).to(target.device)});
    const Tensor a = tape.values.at(vid).to(Device::CPU).to(DType::F64);
    const TargetGeometry tg = geometry(a, end - begin, model.value_name(vid));
    for (int64_t n = 0; n < end - begin; ++n)
      for (int64_t k = 0; k < U; ++k) {
        const int64_t u = target.units[k];
        check(u >= 0 && u < (target.channel ? tg.channels : tg.per), "--units " + std::to_string(u) + ": out of range");
        const double* an = a.data<double>() + n * tg.per;
        double v = 0;
        if (target.channel) {
          const int64_t S = tg.per / tg.channels;
          for (int64_t i = u * S; i < (u + 1) * S; ++i) v += an[i];
          v /= static_cast<double>(S);
        } else {
          v = an[u];
        }
        out.data<double>()[(begin + n) * U + k] = v;
      }
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
  Tensor theta({U, dim}, DType::F64);
  // Pixels: the box's centre plus a little noise; a latent: a draw of the VAE's prior N(0, I), so that each
  // unit starts from a different picture the generator can draw.
  const double centre = 0.5 * (s.low + s.high), spread = s.init_scale * (s.high - s.low);
  const int64_t count = U * dim;
  for (int64_t i = 0; i < count; ++i)
    theta.data<double>()[i] = generator ? rng.normal() : centre + spread * rng.normal();

  auto image_of = [&](const Tensor& th, Tape* tape) {
    if (!generator) return th.reshape(shape);
    Tape t = generator->forward({th.to(generator->dtype()).to(target.device)});
    const Tensor y = t.values.at(generator->outputs()[0]);
    check(y.numel() == U * per, "visualize: the generator draws " + y.describe() + ", the model takes (" +
                                    std::to_string(U) + ", " + std::to_string(per) + " values)");
    Tensor x = y.to(Device::CPU).to(DType::F64).clone().reshape(shape);
    if (tape) *tape = std::move(t);
    return x;
  };

  VisualizeResult r;
  const std::vector<std::pair<int64_t, int64_t>> none(U, {0, 0});
  visualize_objective(model, target, {}, image_of(theta, nullptr), none, nullptr, &r.start);
  VisualizeSettings pen = s;
  if (generator) pen.l2 = 0;  // λ₂ is on the latent
  Tensor m = Tensor::zeros({U, dim}, DType::F64), v = Tensor::zeros({U, dim}, DType::F64);
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  std::vector<std::pair<int64_t, int64_t>> shifts(U);
  for (int64_t step = 1; step <= s.steps; ++step) {
    for (auto& sh : shifts) {
      sh.first = g.H > 1 ? static_cast<int64_t>(rng.below(2 * s.jitter + 1)) - s.jitter : 0;
      sh.second = g.W > 1 ? static_cast<int64_t>(rng.below(2 * s.jitter + 1)) - s.jitter : 0;
    }
    Tape gen_tape;
    const Tensor x = image_of(theta, &gen_tape);
    Tensor gx;
    visualize_objective(model, target, pen, x, shifts, &gx);
    Tensor gt = generator ? generator_backward(*generator, gen_tape, gx) : gx.reshape({U, dim});
    double* th = theta.data<double>();
    double* pg = gt.data<double>();
    if (generator)
      for (int64_t i = 0; i < count; ++i) pg[i] -= 2 * s.l2 * th[i];
    const double c1 = 1 - std::pow(b1, static_cast<double>(step)), c2 = 1 - std::pow(b2, static_cast<double>(step));
    double* pm = m.data<double>();
    double* pv = v.data<double>();
    for (int64_t i = 0; i < count; ++i) {
      pm[i] = b1 * pm[i] + (1 - b1) * pg[i];
      pv[i] = b2 * pv[i] + (1 - b2) * pg[i] * pg[i];
      th[i] += s.lr * (pm[i] / c1) / (std::sqrt(pv[i] / c2) + eps);  // ascent
      if (!generator) th[i] = std::min(s.high, std::max(s.low, th[i]));
    }
  }
  const Tensor final_x = image_of(theta, nullptr);
  visualize_objective(model, target, {}, final_x, none, nullptr, &r.activation);
  r.images = final_x.to(DType::F32);
  for (int64_t u : target.units) r.labels.push_back(unit_label(model, target, vid, u));
  return r;
}

}  // namespace xdnn::explain
