#include "layers/concat.h"

#include "engine/ops.h"

namespace xdnn {

static int64_t norm_axis(int64_t axis, int rank, const char* who) {
  const int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank)
    throw Error(std::string(who) + ": axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
  return a;
}

// Pieces of x along axis a, of the given sizes (views are not possible for inner axes: copies).
static Tensors split_pieces(const Tensor& x, int64_t a, const std::vector<int64_t>& sizes) {
  Tensors out;
  int64_t at = 0;
  std::vector<int64_t> starts(x.ndim(), 0), steps(x.ndim(), 1);
  for (int64_t s : sizes) {
    Shape shape = x.shape();
    shape[a] = s;
    starts[a] = at;
    out.push_back(ops::strided_slice(x, starts, steps, shape));
    at += s;
  }
  return out;
}

// saved: "inputs" x_0, x_1, ... (their shapes and dtypes are used)
Tensors Concat::forward(const Tensors& x, Saved& saved, const ForwardOptions&) {
  if (x.empty() || !x[0].defined()) throw Error("Concat: no input");
  saved.put_list("inputs", x);
  return {ops::concat_axis(x, norm_axis(axis_, x[0].ndim(), "Concat"))};
}

Tensors Concat::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions&) {
  const Tensors& xs = saved.list("inputs");
  if (!grad_y.at(0).defined()) return Tensors(xs.size());
  const int64_t a = norm_axis(axis_, xs[0].ndim(), "Concat");
  std::vector<int64_t> sizes;
  for (const auto& t : xs) sizes.push_back(t.dim(static_cast<int>(a)));
  Tensors g = split_pieces(grad_y[0], a, sizes);
  for (size_t i = 0; i < xs.size(); ++i)
    if (!xs[i].is_float()) g[i] = Tensor();
  return g;
}

// saved: "x", and the number of "inputs" (the gradient vector has one entry per input)
Tensors Split::forward(const Tensors& x, Saved& saved, const ForwardOptions&) {
  const Tensor& t = x.at(0);
  if (!t.defined()) throw Error("Split: input is undefined");
  const int64_t a = norm_axis(axis_, t.ndim(), "Split");
  std::vector<int64_t> sizes = sizes_;
  if (x.size() > 1 && x[1].defined()) {  // opset 13: split sizes as an input
    sizes.clear();
    for (int64_t i = 0, i_end = x[1].numel(); i < i_end; ++i) sizes.push_back(static_cast<int64_t>(x[1].item(i)));
  }
  if (sizes.empty()) {
    const int64_t d = t.dim(static_cast<int>(a));
    if (ceil_chunks_ && num_outputs_ >= 1 && d % num_outputs_ != 0) {
      const int64_t chunk = (d + num_outputs_ - 1) / num_outputs_;
      if (chunk * (num_outputs_ - 1) >= d)
        throw Error("Split: axis of size " + std::to_string(d) + " does not split into " +
                    std::to_string(num_outputs_) + " pieces of " + std::to_string(chunk));
      sizes.assign(num_outputs_ - 1, chunk);
      sizes.push_back(d - chunk * (num_outputs_ - 1));
    } else if (num_outputs_ < 1 || d % num_outputs_ != 0) {
      throw Error("Split: axis of size " + std::to_string(d) + " does not split into " + std::to_string(num_outputs_) +
                  " equal pieces");
    } else {
      sizes.assign(num_outputs_, d / num_outputs_);
    }
  }
  int64_t total = 0;
  for (int64_t s : sizes) {
    if (s < 0 || s > t.dim(static_cast<int>(a))) throw Error("Split: invalid piece size " + std::to_string(s));
    total += s;
  }
  if (total != t.dim(static_cast<int>(a)))
    throw Error("Split: sizes add up to " + std::to_string(total) + ", axis has " +
                std::to_string(t.dim(static_cast<int>(a))));
  saved.put("x", t);
  saved.set_int("inputs", static_cast<int64_t>(x.size()));
  return split_pieces(t, a, sizes);
}

Tensors Split::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions&) {
  const Tensor& x = saved.tensor("x");
  Tensors gx(saved.get_int("inputs"));
  bool any = false;
  for (const auto& g : grad_y) any = any || g.defined();
  if (!any || !x.is_float()) return gx;
  const int64_t a = norm_axis(axis_, x.ndim(), "Split");
  Tensors parts;
  // Recompute the piece sizes from the output count of the forward call (the gradient vector length).
  int64_t d = x.dim(static_cast<int>(a)), at = 0;
  for (size_t i = 0; i < grad_y.size(); ++i) {
    int64_t s = !sizes_.empty() ? sizes_[i]
                                : (grad_y[i].defined() ? grad_y[i].dim(static_cast<int>(a))
                                                       : d / static_cast<int64_t>(grad_y.size()));
    Shape shape = x.shape();
    shape[a] = s;
    parts.push_back(grad_y[i].defined() ? grad_y[i] : Tensor(shape, x.dtype()));
    at += s;
  }
  if (at != d) throw Error("Split backward: piece sizes do not add up to the input axis");
  gx[0] = ops::concat_axis(parts, a);
  return gx;
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration concat_example{
    {"Concat/axis1", [](Rng& rng) {
       return LayerExample{std::make_shared<Concat>(1), {random_tensor({2, 3, 2}, rng), random_tensor({2, 1, 2}, rng)}};
     }}};
LayerExampleRegistration split_example{
    {"Split/sizes", [](Rng& rng) {
       return LayerExample{std::make_shared<Split>(-1, std::vector<int64_t>{1, 3}, 2), {random_tensor({2, 3, 4}, rng)}};
     }}};
LayerExampleRegistration split_equal{
    {"Split/equal", [](Rng& rng) {
       return LayerExample{std::make_shared<Split>(1, std::vector<int64_t>{}, 2), {random_tensor({2, 4}, rng)}};
     }}};
}  // namespace
}  // namespace xdnn
