#include "explain/influence/hvp.h"

#include <algorithm>
#include <string>

#include "engine/dispatch.h"
#include "engine/ops.h"

namespace xdnn::influence {

FullHvp::FullHvp(Model& model, const Tensor& x, const Tensor& y, int64_t chunk)
    : model_(&model), x_(x), y_(y), chunk_(chunk), selection_(select_params(model, ParamSet::All)) {
  const auto& nodes = model.nodes();
  int prev = model.inputs().size() == 1 ? model.inputs()[0] : -2;
  for (const Node& n : nodes) {
    const std::string what =
        "influence-function --params all: full-model Hessian-vector products support chains "
        "of linear-like, ReLU and reshape nodes (MLPs); node '" +
        n.name + "' (" + n.layer->kind() + ")";
    if (n.inputs.size() != 1 || n.outputs.size() != 1 || n.inputs[0] != prev)
      throw Error(what + " is not part of a single chain", "use --params last-layer");
    const std::string kind = n.layer->kind();
    if (n.layer->as_linear())
      kind_.push_back(0);
    else if (kind == "ReLU")
      kind_.push_back(1);
    else if (kind == "Flatten" || kind == "Reshape" || kind == "Identity")
      kind_.push_back(2);
    else
      throw Error(what + " is not supported", "use --params last-layer");
    if (kind_.back() != 0 && !n.layer->params().empty()) throw Error(what + " has parameters");
    prev = n.outputs[0];
  }
  if (model.outputs().empty() || model.outputs()[0] != prev)
    throw Error("influence-function --params all: the model output is not the end of the node chain");
  if (x_.is_float() && x_.dtype() != model.dtype()) x_ = x_.to(model.dtype());
}

Tensor FullHvp::apply(const Tensor& V) const {
  if (V.dtype() != DType::F64 || V.ndim() != 2 || V.dim(1) != size())
    throw Error("FullHvp: expected float64 (k, " + std::to_string(size()) + "), got " + V.describe());
  Tensor out(V.shape(), DType::F64);
  for (int64_t j = 0; j < V.dim(0); ++j)
    out.slice_batch(j, j + 1).copy_from(apply_one(V.data<double>() + j * size()).reshape({1, size()}));
  return out;
}

Tensor FullHvp::apply_one(const double* v) const {
  Model& m = *model_;
  const auto& nodes = m.nodes();
  const DType dt = m.dtype();
  // The direction, parameter by parameter, in the model's dtype.
  std::vector<Tensor> dir(selection_.blocks.size());
  for (size_t b = 0; b < dir.size(); ++b) {
    const ParamBlock& pb = selection_.blocks[b];
    Tensor t(pb.shape, DType::F64);
    std::copy(v + pb.offset, v + pb.offset + pb.numel, t.data<double>());
    dir[b] = t.to(dt);
  }
  auto block_of = [&](const Param* p) -> int {
    for (size_t b = 0; b < selection_.blocks.size(); ++b)
      if (selection_.blocks[b].param == p) return static_cast<int>(b);
    return -1;
  };
  std::vector<Tensor> hv(selection_.blocks.size());
  const int64_t N = x_.dim(0);
  for (int64_t c0 = 0; c0 < N; c0 += chunk_) {
    const int64_t c1 = std::min(N, c0 + chunk_);
    const Tape tape = m.forward({x_.slice_batch(c0, c1)});
    std::vector<Tensor> R(m.num_values());
    // Forward R-pass.
    for (size_t k = 0; k < nodes.size(); ++k) {
      const Node& n = nodes[k];
      const Tensor& x = tape.values[n.inputs[0]];
      const Tensor& Rx = R[n.inputs[0]];
      Layer& layer = *n.layer;
      Tensor Ry;
      if (kind_[k] == 0) {
        const LinearLike* lin = layer.as_linear();
        Tensor VW, Vb;
        for (Param* p : layer.params()) {
          const int b = block_of(p);
          if (p->value.raw_data() == lin->weight().raw_data()) VW = dir.at(b);
          if (lin->bias().defined() && p->value.raw_data() == lin->bias().raw_data()) Vb = dir.at(b);
        }
        if (!VW.defined()) throw Error("node '" + n.name + "': its weight is not among the model's parameters");
        Ry = lin->linear_forward(x, VW, Vb);
        if (Rx.defined()) ops::add_inplace(Ry, lin->linear_forward(Rx, lin->weight(), Tensor()));
      } else if (Rx.defined()) {
        Ry = kind_[k] == 1 ? layer.backward({Rx}, tape.saved[k], BackwardOptions{}).at(0)
                           : Rx.reshape(tape.values[n.outputs[0]].shape());
      }
      R[n.outputs[0]] = Ry;
    }
    // Seeds: δ = p − onehot(y) and R{δ} = p ⊙ (R{z} − p·R{z}).
    const int out_id = m.outputs()[0];
    const Tensor& z = tape.values[out_id];
    Tensor delta = cross_entropy_seed(z, y_.slice_batch(c0, c1));
    Tensor Rdelta(z.shape(), dt);
    const Tensor& Rz = R[out_id];
    dispatch_float(dt, [&](auto zero) {
      using T = decltype(zero);
      const int64_t rows = z.dim(0), K = z.dim(1);
      const T *pd = delta.data<T>(), *rz = Rz.data<T>();
      const int64_t* yy = y_.slice_batch(c0, c1).data<int64_t>();
      T* rd = Rdelta.data<T>();
      for (int64_t r = 0; r < rows; ++r) {
        double pr = 0;
        for (int64_t o = 0; o < K; ++o) pr += (pd[r * K + o] + (o == yy[r] ? 1.0 : 0.0)) * rz[r * K + o];
        for (int64_t o = 0; o < K; ++o) {
          const double p = pd[r * K + o] + (o == yy[r] ? 1.0 : 0.0);
          rd[r * K + o] = static_cast<T>(p * (rz[r * K + o] - pr));
        }
      }
      return 0;
    });
    // Reverse R-pass.
    Tensor g = delta, Rg = Rdelta;
    BackwardOptions acc;
    acc.param_grad = ParamGrad::Accumulate;
    for (size_t k = nodes.size(); k-- > 0;) {
      const Node& n = nodes[k];
      Layer& layer = *n.layer;
      const Tensor& x = tape.values[n.inputs[0]];
      const Tensor& Rx = R[n.inputs[0]];
      Tensor gx, Rgx;
      if (kind_[k] == 0) {
        const LinearLike* lin = layer.as_linear();
        for (Param* p : layer.params()) p->grad = Tensor();
        Rgx = layer.backward({Rg}, tape.saved[k], acc).at(0);  // Wᵀ ⋆ R{g_y}; params: gradW(R{g_y}, x), gradb
        std::vector<Tensor> first;
        for (Param* p : layer.params()) first.push_back(p->grad);
        std::vector<Tensor> second(first.size());
        if (Rx.defined()) {  // gradW(g_y, R{x}) from the layer's own pass on R{x}
          for (Param* p : layer.params()) p->grad = Tensor();
          Saved s;
          layer.forward({Rx}, s, ForwardOptions{});
          layer.backward({g}, s, acc);
          for (size_t i = 0; i < first.size(); ++i) second[i] = layer.params()[i]->grad;
        }
        Tensor VW;
        auto ps = layer.params();
        for (size_t i = 0; i < ps.size(); ++i) {
          const int b = block_of(ps[i]);
          const bool is_weight = ps[i]->value.raw_data() == lin->weight().raw_data();
          if (is_weight) VW = dir.at(b);
          Tensor h = first[i].defined() ? first[i] : Tensor(ps[i]->value.shape(), dt);
          if (is_weight && second[i].defined()) ops::add_inplace(h, second[i]);
          if (!hv[b].defined())
            hv[b] = h.clone();
          else
            ops::add_inplace(hv[b], h);
          ps[i]->grad = Tensor();
        }
        ops::add_inplace(Rgx, lin->linear_backward_input(g, VW, x.shape()));
        gx = lin->linear_backward_input(g, lin->weight(), x.shape());
      } else if (kind_[k] == 1) {
        gx = layer.backward({g}, tape.saved[k], BackwardOptions{}).at(0);
        Rgx = layer.backward({Rg}, tape.saved[k], BackwardOptions{}).at(0);
      } else {
        gx = g.reshape(x.shape());
        Rgx = Rg.reshape(x.shape());
      }
      g = gx;
      Rg = Rgx;
    }
  }
  Tensor out({size()}, DType::F64);
  for (size_t b = 0; b < hv.size(); ++b) {
    const ParamBlock& pb = selection_.blocks[b];
    const Tensor h = hv[b].defined() ? hv[b].to(DType::F64) : Tensor(pb.shape, DType::F64);
    const double* hp = h.data<double>();
    for (int64_t i = 0; i < pb.numel; ++i) out.data<double>()[pb.offset + i] = hp[i] / static_cast<double>(N);
  }
  return out;
}

}  // namespace xdnn::influence
