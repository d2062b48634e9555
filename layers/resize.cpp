#include "layers/resize.h"

#include <cmath>

#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "engine/ops_onnx.h"

namespace xdnn {

Resize::Resize(ResizeOptions o) : o_(std::move(o)) {
  static const char* coords[] = {"half_pixel", "pytorch_half_pixel",        "align_corners",
                                 "asymmetric", "tf_half_pixel_for_nearest", "half_pixel_symmetric"};
  bool ok = false;
  for (const char* c : coords) ok = ok || o_.coordinates == c;
  if (!ok) throw Error("Resize: unsupported coordinate_transformation_mode '" + o_.coordinates + "'");
  if (o_.nearest_mode != "round_prefer_floor" && o_.nearest_mode != "round_prefer_ceil" && o_.nearest_mode != "floor" &&
      o_.nearest_mode != "ceil")
    throw Error("Resize: unsupported nearest_mode '" + o_.nearest_mode + "'");
}

ops::ResizeTaps Resize::taps(const Shape& xs, const Tensors& x) const {
  const int64_t n = static_cast<int64_t>(xs.size());
  std::vector<int64_t> axes = o_.axes;
  if (axes.empty())
    for (int64_t i = 0; i < n; ++i) axes.push_back(i);
  std::vector<int64_t> sizes = o_.sizes;
  if (o_.runtime_sizes) {
    const Tensor& s = x.at(1);
    if (!s.defined() || s.dtype() != DType::I64 || s.ndim() != 1)
      throw Error("Resize: sizes must be a 1-D int64 tensor, got " + (s.defined() ? s.describe() : "nothing"));
    sizes = ops::index_vector(s);  // shape data: the output's shape depends on it
  }
  const size_t given = sizes.empty() ? o_.scales.size() : sizes.size();
  if (given != axes.size())
    throw Error("Resize: " + std::to_string(given) + " scales / sizes for " + std::to_string(axes.size()) +
                " axes of an input " + shape_str(xs));
  std::vector<double> scale(n, 1.0);
  std::vector<int64_t> out(xs.begin(), xs.end());
  for (size_t k = 0; k < axes.size(); ++k) {
    const int64_t a = axes[k] < 0 ? axes[k] + n : axes[k];
    if (a < 0 || a >= n) throw Error("Resize: axis " + std::to_string(axes[k]) + " out of range for " + shape_str(xs));
    if (!sizes.empty()) {
      out[a] = sizes[k];
      scale[a] = xs[a] > 0 ? static_cast<double>(sizes[k]) / static_cast<double>(xs[a]) : 1.0;
    } else {
      scale[a] = o_.scales[k];
      if (!(scale[a] > 0) || !std::isfinite(scale[a]))
        throw Error("Resize: scale " + std::to_string(scale[a]) + " must be positive");
      out[a] = static_cast<int64_t>(std::floor(static_cast<double>(xs[a]) * scale[a]));
    }
    // Checked before anything is allocated: each output axis below 2^31, the whole tensor below 2^40.
    if (out[a] < 0 || out[a] > (int64_t{1} << 31))
      throw Error("Resize: output size " + std::to_string(out[a]) + " of axis " + std::to_string(a) +
                  " is out of range");
  }
  double total = 1;
  for (int64_t d : out) total *= static_cast<double>(d);
  if (total > static_cast<double>(int64_t{1} << 40)) throw Error("Resize: output is too large");
  ops::ResizeTaps t(n);
  for (int64_t a = 0; a < n; ++a) {
    const int64_t d = xs[a], o = out[a];
    const double s = scale[a];
    ops::ResizeAxisTaps& at = t[a];
    at.i0.resize(o), at.i1.resize(o), at.w0.resize(o), at.w1.resize(o);
    for (int64_t j = 0; j < o; ++j) {
      const double xj = static_cast<double>(j);
      double c = 0;
      const std::string& m = o_.coordinates;
      if (m == "half_pixel") {
        c = (xj + 0.5) / s - 0.5;
      } else if (m == "pytorch_half_pixel") {
        c = o > 1 ? (xj + 0.5) / s - 0.5 : 0.0;
      } else if (m == "align_corners") {
        c = o == 1 ? 0.0 : xj * static_cast<double>(d - 1) / static_cast<double>(o - 1);
      } else if (m == "asymmetric") {
        c = xj / s;
      } else if (m == "tf_half_pixel_for_nearest") {
        c = (xj + 0.5) / s;
      } else {  // half_pixel_symmetric
        const double adj = static_cast<double>(o) / (s * static_cast<double>(d));
        c = static_cast<double>(d) / 2.0 * (1.0 - adj) + (xj + 0.5) / s - 0.5;
      }
      if (s == 1.0 && o == d) c = xj;  // an axis left alone is the identity whatever the mode
      auto clampi = [d](int64_t i) { return i < 0 ? int64_t{0} : (i >= d ? d - 1 : i); };
      if (!o_.linear) {
        double r;
        if (o_.nearest_mode == "floor")
          r = std::floor(c);
        else if (o_.nearest_mode == "ceil")
          r = std::ceil(c);
        else if (o_.nearest_mode == "round_prefer_ceil")
          r = std::floor(c + 0.5);
        else  // round_prefer_floor: halves go down
          r = c - std::floor(c) == 0.5 ? std::floor(c) : std::round(c);
        at.i0[j] = clampi(static_cast<int64_t>(r)), at.i1[j] = at.i0[j], at.w0[j] = 1.0, at.w1[j] = 0.0;
      } else {
        const double f = std::floor(c);
        const int64_t i = static_cast<int64_t>(f);
        at.i0[j] = clampi(i), at.i1[j] = clampi(i + 1), at.w1[j] = c - f, at.w0[j] = 1.0 - (c - f);
      }
    }
  }
  return t;
}

// saved: "inputs" {x [, roi, scales, sizes]} (the taps are recomputed from them)
Tensors Resize::forward(const Tensors& x, Saved& saved, const ForwardOptions&) {
  const Tensor& t = x.at(0);
  ops::expect_float(t, "Resize input");
  const Tensor y = ops::resize(t, taps(t.shape(), x));  // engine/ops_onnx.h
  saved.put_list("inputs", x);
  return {y};
}

Tensors Resize::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions&) {
  const Tensors& in = saved.list("inputs");
  Tensors gx(in.size());
  const Tensor& x = in.at(0);
  if (grad_y.at(0).defined()) gx[0] = ops::resize_backward(grad_y[0], taps(x.shape(), in), x.shape());
  return gx;
}

Tensors Resize::relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule) {
  const Tensors& in = saved.list("inputs");
  Tensors rx(in.size());
  const Tensor& x = in.at(0);
  if (!relevance_y.at(0).defined()) return rx;
  const auto t = taps(x.shape(), in);
  const Tensor s = ops::div(relevance_y[0], ops::stabilize(ops::resize(x, t), rule.stabilizer));
  rx[0] = ops::mul(x, ops::resize_backward(s, t, x.shape()));
  return rx;
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
ResizeOptions linear_options(const char* coordinates) {
  ResizeOptions o;
  o.linear = true;
  o.coordinates = coordinates;
  o.scales = {1.0, 1.0, 2.0, 1.5};
  return o;
}
LayerExampleRegistration bilinear{
    {"Resize/linear-half-pixel", [](Rng& rng) {
       return LayerExample{std::make_shared<Resize>(linear_options("half_pixel")), {random_tensor({2, 2, 3, 4}, rng)}};
     }}};
LayerExampleRegistration align{{"Resize/linear-align-corners-sizes", [](Rng& rng) {
                                  ResizeOptions o = linear_options("align_corners");
                                  o.scales.clear();
                                  o.sizes = {5, 3};
                                  o.axes = {2, 3};
                                  return LayerExample{std::make_shared<Resize>(o), {random_tensor({2, 2, 3, 4}, rng)}};
                                }}};
LayerExampleRegistration nearest{
    {"Resize/nearest-asymmetric", [](Rng& rng) {
       ResizeOptions o;
       o.coordinates = "asymmetric";
       o.nearest_mode = "floor";
       o.scales = {1.0, 1.0, 2.0, 2.0};
       return LayerExample{std::make_shared<Resize>(o), {random_tensor({2, 2, 3, 3}, rng)}};
     }}};
}  // namespace
}  // namespace xdnn
