#include "explain/influence/hvp.h"
#include "engine/check.h"

#include <algorithm>
#include <string>

#include "engine/ops.h"
#include "engine/ops_fill.h"

namespace xdnn::influence {

namespace {

// acc += t without writing into a tensor another value may share (backward passes may return views).
void accumulate(Tensor& acc, const Tensor& t) {
  if (!t.defined()) return;
  acc = acc.defined() ? ops::add(acc, t) : t;
}

bool any_defined(const std::vector<Tensor>& v) {
  for (const Tensor& t : v)
    if (t.defined()) return true;
  return false;
}

// R{δ} = p ⊙ (R{z} − p·R{z}) for δ = softmax(z) − onehot(y), p = softmax(z): (diag p − p pᵀ) R{z} row by
// row, which is softmax's own backward (engine/ops.h softmax_backward) applied to R{z}. z, R{z}: (rows, K).
Tensor seed_tangent(const Tensor& z, const Tensor& Rz) { return ops::softmax_backward(ops::softmax(z, 1), Rz, 1); }

}  // namespace

FullHvp::FullHvp(Model& model, const Tensor& x, const Tensor& y, int64_t chunk)
    : model_(&model), x_(x), y_(y), chunk_(chunk), selection_(select_params(model, ParamSet::All)) {
  if (model.inputs().size() != 1)
    throw Error("influence-function --params all: expected a model with one input, got " +
                std::to_string(model.inputs().size()));
  check(!model.outputs().empty(), "influence-function --params all: the model has no output");
  if (x_.is_float() && x_.dtype() != model.dtype()) x_ = x_.to(model.dtype());
  for (const Node& n : model.nodes()) {
    std::vector<int> ids;
    for (Param* p : n.layer->params()) {
      int id = -1;
      for (size_t b = 0; b < selection_.blocks.size(); ++b)
        if (selection_.blocks[b].param == p) id = static_cast<int>(b);
      ids.push_back(id);
    }
    blocks_of_node_.push_back(ids);
  }
  // One product on one example: every node's R-operator runs (an unsupported one throws naming itself).
  std::vector<double> v(static_cast<size_t>(size()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = 1.0 / static_cast<double>(1 + i % 7);
  apply(Tensor::from_vector({1, size()}, v), std::vector<int64_t>{0});
}

Tensor FullHvp::apply(const Tensor& V) const { return apply_on(V, x_, y_); }

Tensor FullHvp::apply(const Tensor& V, const std::vector<int64_t>& rows) const {
  check(!rows.empty(), "FullHvp: no examples selected");
  for (int64_t r : rows)
    if (r < 0 || r >= x_.dim(0)) throw Error("FullHvp: example index out of range");
  // The rows gathered where the examples live.
  const Tensor index = Tensor::from_vector({static_cast<int64_t>(rows.size())}, rows).to(x_.device());
  return apply_on(V, ops::gather_axis(x_, index, 0), ops::gather_axis(y_, index.to(y_.device()), 0));
}

Tensor FullHvp::apply_on(const Tensor& V, const Tensor& x, const Tensor& y) const {
  if (V.dtype() != DType::F64 || V.ndim() != 2 || V.dim(1) != size())
    throw Error("FullHvp: expected float64 (k, " + std::to_string(size()) + "), got " + V.describe());
  Tensor out = Tensor::empty(V.shape(), DType::F64, V.device());
  for (int64_t j = 0; j < V.dim(0); ++j)
    out.slice_batch(j, j + 1).copy_from(apply_one(V.slice_batch(j, j + 1).reshape({size()}), x, y));
  return out;
}

Tensor FullHvp::apply_one(const Tensor& v, const Tensor& x_all, const Tensor& y_all) const {
  Model& m = *model_;
  const auto& nodes = m.nodes();
  const DType dt = m.dtype();
  const Device device = x_all.device();
  // The direction, parameter by parameter, in the model's dtype on its device.
  std::vector<Tensor> dir(selection_.blocks.size());
  for (size_t b = 0; b < dir.size(); ++b) {
    const ParamBlock& pb = selection_.blocks[b];
    dir[b] = v.slice_batch(pb.offset, pb.offset + pb.numel).reshape(pb.shape).to(device).to(dt);
  }
  auto node_dir = [&](size_t k) {
    std::vector<Tensor> vk;
    for (int b : blocks_of_node_[k]) vk.push_back(b >= 0 ? dir[b] : Tensor());
    return vk;
  };
  auto named = [&](size_t k, const Error& e) {
    return Error(
        "influence-function --params all: node '" + nodes[k].name + "' (" + nodes[k].layer->kind() + "): " + e.what(),
        "use --params last-layer");
  };
  std::vector<Tensor> hv(selection_.blocks.size());
  const int out_id = m.outputs()[0];
  const int64_t N = x_all.dim(0);
  for (int64_t c0 = 0; c0 < N; c0 += chunk_) {
    const int64_t c1 = std::min(N, c0 + chunk_);
    const Tape tape = m.forward({x_all.slice_batch(c0, c1)});
    // Forward R-pass, in topological order.
    std::vector<Tensor> R(m.num_values());
    for (size_t k = 0; k < nodes.size(); ++k) {
      const Node& n = nodes[k];
      std::vector<Tensor> rx;
      for (int id : n.inputs) rx.push_back(R[id]);
      const std::vector<Tensor> vk = node_dir(k);
      if (!any_defined(rx) && !any_defined(vk)) continue;
      std::vector<Tensor> ry;
      try {
        ry = n.layer->r_forward(rx, vk, tape.saved[k]);
      } catch (const Error& e) {
        throw named(k, e);
      }
      for (size_t o = 0; o < n.outputs.size() && o < ry.size(); ++o) R[n.outputs[o]] = ry[o];
    }
    const Tensor& z = tape.values[out_id];
    const Tensor yb = y_all.slice_batch(c0, c1);
    std::vector<Tensor> G(m.num_values()), RG(m.num_values());
    G[out_id] = cross_entropy_seed(z, yb);
    RG[out_id] = R[out_id].defined() ? seed_tangent(z, R[out_id]) : Tensor();
    // Reverse R-pass, in reverse topological order; values read by several nodes sum their gradients.
    for (size_t k = nodes.size(); k-- > 0;) {
      const Node& n = nodes[k];
      std::vector<Tensor> gy, rgy, rx;
      for (int id : n.outputs) {
        gy.push_back(G[id]);
        rgy.push_back(RG[id]);
      }
      if (!any_defined(gy) && !any_defined(rgy)) continue;
      for (int id : n.inputs) rx.push_back(R[id]);
      std::vector<Tensor> gx, rgx, rgp;
      try {
        gx = any_defined(gy) ? n.layer->backward(gy, tape.saved[k], BackwardOptions{}) : std::vector<Tensor>{};
        rgx = n.layer->r_backward(gy, rgy, rx, node_dir(k), tape.saved[k], rgp);
      } catch (const Error& e) {
        throw named(k, e);
      }
      for (size_t i = 0; i < rgp.size() && i < blocks_of_node_[k].size(); ++i)
        if (blocks_of_node_[k][i] >= 0) accumulate(hv[blocks_of_node_[k][i]], rgp[i]);
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        if (i < gx.size()) accumulate(G[n.inputs[i]], gx[i]);
        if (i < rgx.size()) accumulate(RG[n.inputs[i]], rgx[i]);
      }
    }
  }
  // Hv = (1/N) Σ_n R{g_θ}: each block in float64 divided by N, the blocks side by side (P), returned on v's
  // device (the solvers' float64 vectors).
  std::vector<Tensor> parts;
  const Tensor count = ops::full({1}, static_cast<double>(N), DType::F64, device);
  for (size_t b = 0; b < hv.size(); ++b) {
    const ParamBlock& pb = selection_.blocks[b];
    const Tensor h = hv[b].defined() ? hv[b].to(DType::F64) : ops::full(pb.shape, 0.0, DType::F64, device);
    if (h.numel() != pb.numel)
      throw Error("FullHvp: R{g} of '" + pb.name + "' is " + h.describe() + ", expected " + shape_str(pb.shape));
    parts.push_back(ops::div(h.reshape({pb.numel}), count));
  }
  return (parts.size() == 1 ? parts[0] : ops::concat_axis(parts, 0)).to(v.device());
}

}  // namespace xdnn::influence
