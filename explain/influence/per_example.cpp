#include "explain/influence/per_example.h"
#include "engine/check.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "engine/random.h"
#include "models/fuse_epilogues.h"

namespace xdnn::influence {

ParamSet parse_param_set(const std::string& text) {
  if (text == "all") return ParamSet::All;
  if (text == "last-layer") return ParamSet::LastLayer;
  throw Error("--params: expected 'all' or 'last-layer', got '" + text + "'");
}

const char* param_set_name(ParamSet set) { return set == ParamSet::All ? "all" : "last-layer"; }

void check_labels(const Tensor& labels, int64_t n, int64_t num_classes, const std::string& what) {
  check(labels.dtype() == DType::I64, what + ": expected int64 labels, got " + labels.describe());
  if (labels.ndim() != 1 || labels.dim(0) != n)
    throw Error(what + ": expected labels of shape (" + std::to_string(n) + "), got " + labels.describe());
  const std::vector<int64_t> y = ops::index_vector(labels);
  for (int64_t i = 0; i < n; ++i)
    if (y[i] < 0 || y[i] >= num_classes)
      throw Error(what + ": label " + std::to_string(y[i]) + " at index " + std::to_string(i) + " is outside [0, " +
                  std::to_string(num_classes) + ")");
}

// softmax(z_n) − onehot(y_n) through ops::cross_entropy_backward (scale 1), on the logits' device; the
// per-example losses (read back only when asked for) also flag non-finite logits.
Tensor cross_entropy_seed(const Tensor& logits, const Tensor& labels, std::vector<double>* losses) {
  ops::expect_float(logits, "logits");
  check(logits.ndim() == 2, "influence: expected logits of shape (N, classes), got " + logits.describe());
  const int64_t n = logits.dim(0), K = logits.dim(1);
  check_labels(labels, n, K, "labels");
  const std::vector<double> loss = ops::value_vector(ops::cross_entropy_per_example(logits, labels));
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(loss[static_cast<size_t>(i)]))
      throw Error("influence: logits of example " + std::to_string(i) + " are not finite");
  if (losses) *losses = loss;
  return ops::cross_entropy_backward(logits, labels, 1.0);
}

std::string Selection::signature() const {
  std::string s;
  for (const auto& b : blocks) s += b.name + shape_str(b.shape) + ";";
  return s;
}

Selection select_params(Model& model, ParamSet set) {
  Selection sel;
  std::map<Param*, int> owner;
  auto add = [&](Param* p, int node) {
    auto it = owner.find(p);
    if (it != owner.end()) {
      if (it->second == node) return;
      throw Error("parameter '" + p->name + "' is shared by nodes '" + model.nodes()[it->second].name + "' and '" +
                  model.nodes()[node].name + "'; per-example gradients of shared parameters are not supported");
    }
    owner[p] = node;
    if (!p->value.is_float()) return;
    ParamBlock b{p->name, p->value.shape(), node, sel.size, p->value.numel(), p};
    sel.size += b.numel;
    sel.blocks.push_back(b);
  };
  auto& nodes = model.nodes();
  if (set == ParamSet::All) {
    for (int k = 0; k < static_cast<int>(nodes.size()); ++k)
      for (Param* p : nodes[k].layer->params()) add(p, k);
  } else {
    check(!model.outputs().empty(), "--params last-layer: the model has no output");
    const int out = model.outputs()[0];
    const int k = model.producer(out);
    if (k < 0) throw Error("--params last-layer: the model output '" + model.value_name(out) + "' is not computed");
    if (!nodes[k].layer->as_linear())
      throw Error("--params last-layer: the output '" + model.value_name(out) + "' is produced by node '" +
                  nodes[k].name + "' (" + nodes[k].layer->kind() + "), which is not a linear-like layer");
    for (Param* p : nodes[k].layer->params()) add(p, k);
  }
  check(!sel.blocks.empty(), std::string("--params ") + param_set_name(set) + ": the model has no parameters");
  return sel;
}

GradientComputer::GradientComputer(Model& model, ParamSet set)
    : model_(&model), selection_(select_params(model, set)), rank_one_(model.nodes().size(), -1) {}

// Probe: run the node's own forward and per-example backward on one random example and compare its
// weight (and bias) gradients with δ ⊗ x (and δ). Random values make the probe non-vacuous. Everything runs
// where the node's weight lives (ops::); only the largest deviation is read back.
int GradientComputer::rank_one_state(int node, const Tape& tape, const Tensor& gy) {
  if (!factoring_) return 0;
  if (rank_one_[node] >= 0) return rank_one_[node];
  int state = 0;
  Layer& layer = *model_->nodes()[node].layer;
  const LinearLike* lin = layer.as_linear();
  if (lin && model_->nodes()[node].outputs.size() == 1) {
    const Tensor& W = lin->weight();
    const Tensor& x = lin->saved_input(tape.saved[node]);
    const bool shapes_ok = W.ndim() == 2 && x.ndim() == 2 && gy.ndim() == 2 && x.dim(1) == W.dim(1) &&
                           gy.dim(1) == W.dim(0) && gy.dim(0) == x.dim(0);
    // Which parameter is the weight and which the bias: the same storage (pointers compared, nothing read).
    Param *pw = nullptr, *pb = nullptr;
    bool others = false;
    for (Param* p : layer.params()) {
      if (p->value.raw_device_data() == W.raw_device_data())
        pw = p;
      else if (lin->bias().defined() && p->value.raw_device_data() == lin->bias().raw_device_data())
        pb = p;
      else
        others = true;
    }
    if (shapes_ok && pw && !others) {
      const int64_t out = W.dim(0), in = W.dim(1);
      Rng rng(12345);
      Tensor x1 = ops::full({1, in}, 0.0, x.dtype(), W.device()), g1 = ops::full({1, out}, 0.0, x.dtype(), W.device());
      ops::fill_uniform_inplace(x1, -1, 1, rng);
      ops::fill_uniform_inplace(g1, -1, 1, rng);
      Saved s;
      layer.forward({x1}, s, ForwardOptions{});
      BackwardOptions bo;
      bo.param_grad = ParamGrad::PerExample;
      layer.backward({g1}, s, bo);
      bool ok = pw->grad.defined() && pw->grad.numel() == out * in;
      double worst = 0;
      // The largest of a tensor's elements (NaN never counts), read back alone.
      auto largest = [](const Tensor& t) {
        const Tensor flat = t.reshape({1, t.numel()});
        return ops::value_vector(ops::gather_axis(t.reshape({t.numel()}), ops::argmax_last_axis(flat), 0))[0];
      };
      if (ok) {  // |grad − g1ᵀ x1| / (|g1ᵀ x1| + 1e-3), element by element
        const Tensor want = ops::matmul(g1, x1, true, false);  // (out, in)
        const Tensor diff = ops::unary(ops::Unary::Abs, ops::sub(pw->grad.reshape({out, in}), want));
        worst = largest(ops::div(diff, ops::add_scalar(ops::unary(ops::Unary::Abs, want), 1e-30 + 1e-3)));
      }
      if (pb) {
        ok = ok && pb->grad.defined() && pb->grad.numel() == out;
        if (ok) worst = std::max(worst, largest(ops::unary(ops::Unary::Abs, ops::sub(pb->grad.reshape({1, out}), g1))));
      }
      state = ok && worst < 1e-5 ? 1 : 0;
      pw->grad = Tensor();
      if (pb) pb->grad = Tensor();
    }
  }
  rank_one_[node] = state;
  return state;
}

void GradientComputer::probe_batch_axis(const Tensor& x, const Tensor& y) {
  batch_probed_ = true;
  const Tensor two = dense_gradients(compute(x.slice_batch(0, 2), y.slice_batch(0, 2))).to(DType::F64);
  const Tensor one = dense_gradients(compute(x.slice_batch(0, 1), y.slice_batch(0, 1))).to(DType::F64);
  const Tensor d = ops::sub(two.slice_batch(0, 1), one);  // row 0 of the batch of two minus the batch of one
  const double num = ops::dot_all(d, d), den = ops::dot_all(one, one);
  const double tol = model_->dtype() == DType::F64 ? 1e-10 : 1e-4;
  if (num > tol * tol * den)
    throw Error(
        "per-example gradients of this model are not separable along the batch axis (the first example's "
        "gradient changes when a second example joins the batch, relative difference " +
            std::to_string(std::sqrt(num / std::max(den, 1e-300))) + ")",
        "a node sees a tensor that is not batch-first; use --params last-layer");
}

ChunkGrads GradientComputer::compute(const Tensor& x_in, const Tensor& y) {
  Tensor x = x_in.is_float() && x_in.dtype() != model_->dtype() ? x_in.to(model_->dtype()) : x_in;
  if (!batch_probed_ && x.dim(0) >= 2) probe_batch_axis(x, y);
  const Model& m = *model_;
  Tape tape = m.forward({x});
  ChunkGrads cg;
  const int out_id = m.outputs().at(0);
  cg.logits = tape.values.at(out_id);
  if (cg.logits.ndim() != 2 || cg.logits.dim(0) != x.dim(0))
    throw Error("influence: expected the model output '" + m.value_name(out_id) + "' to be (N, classes) logits, got " +
                cg.logits.describe());
  cg.n = cg.logits.dim(0);
  cg.seed = cross_entropy_seed(cg.logits, y);
  cg.blocks.resize(selection_.blocks.size());

  std::map<int, std::vector<size_t>> blocks_of_node;
  int earliest = static_cast<int>(m.nodes().size());
  for (size_t b = 0; b < selection_.blocks.size(); ++b) {
    blocks_of_node[selection_.blocks[b].node].push_back(b);
    earliest = std::min(earliest, selection_.blocks[b].node);
  }
  int filled = 0;
  m.reverse_walk(tape, {{out_id, cg.seed}}, [&](int k, const std::vector<Tensor>& gy) -> std::vector<Tensor> {
    if (k < earliest) return {};  // upstream of every selected parameter: nothing left to compute
    Layer& layer = *m.nodes()[k].layer;
    auto it = blocks_of_node.find(k);
    BackwardOptions bo;
    if (it != blocks_of_node.end()) {
      ++filled;
      if (gy.size() == 1 && gy[0].defined() && gy[0].ndim() >= 1 && gy[0].dim(0) == cg.n &&
          rank_one_state(k, tape, gy[0]) == 1) {
        const LinearLike* lin = layer.as_linear();
        const Tensor& xin = lin->saved_input(tape.saved[k]);
        for (size_t b : it->second) {
          const ParamBlock& pb = selection_.blocks[b];
          if (pb.shape.size() == 2)
            cg.blocks[b] = BlockGrad{Tensor(), gy[0], xin};  // weight: δ ⊗ x
          else
            cg.blocks[b] = BlockGrad{gy[0], Tensor(), Tensor()};  // bias: δ
        }
        if (k == earliest) return {};
        return layer.backward(gy, tape.saved[k], bo);
      }
      bo.param_grad = ParamGrad::PerExample;
      std::vector<Tensor> gx = layer.backward(gy, tape.saved[k], bo);
      for (Param* p : layer.params())
        for (size_t b : it->second)
          if (p == selection_.blocks[b].param) {
            if (!p->grad.defined() || p->grad.numel() != cg.n * selection_.blocks[b].numel)
              throw Error("no per-example gradients for '" + p->name + "': expected (" + std::to_string(cg.n) +
                              ", ...), got " + (p->grad.defined() ? p->grad.describe() : "none"),
                          "per-example gradients need the node's input to be batch-first; use --params last-layer");
            cg.blocks[b].dense = p->grad.reshape({cg.n, selection_.blocks[b].numel});
            p->grad = Tensor();  // the layer must not reuse this storage on the next call
          }
      if (k == earliest) return {};
      return gx;
    }
    return layer.backward(gy, tape.saved[k], bo);
  });
  // A selected node that no gradient reached (it does not influence the output) has zero gradients.
  for (size_t b = 0; b < cg.blocks.size(); ++b)
    if (!cg.blocks[b].dense.defined() && !cg.blocks[b].rank_one())
      cg.blocks[b].dense = ops::full({cg.n, selection_.blocks[b].numel}, 0.0, cg.logits.dtype(), cg.logits.device());
  (void)filled;
  return cg;
}

bool GradientComputer::prepare_factors(const Tensor& x, const Tensor& y) {
  factors_node_ = -1;
  const Model& m = *model_;
  if (!factoring_ || m.outputs().empty()) return false;
  const int node = m.producer(m.outputs()[0]);
  const LinearLike* lin = node >= 0 ? m.nodes()[node].layer->as_linear() : nullptr;
  if (!lin || m.nodes()[node].outputs.size() != 1) return false;
  for (const ParamBlock& b : selection_.blocks)
    if (b.node != node) return false;
  const int64_t n = std::min<int64_t>(2, x.dim(0));
  const Tensor xs = x.slice_batch(0, n), ys = y.slice_batch(0, n);
  const ChunkGrads g = compute(xs, ys);
  const BlockGrad* weight = nullptr;
  const BlockGrad* bias = nullptr;
  for (const BlockGrad& b : g.blocks) {
    if (b.rank_one() && !weight)
      weight = &b;
    else if (!b.rank_one() && !bias && b.dense.defined() && b.dense.dim(1) == g.seed.dim(1))
      bias = &b;
    else
      return false;
  }
  if (!weight) return false;
  // The same node, read after a forward pass alone: must be the very tensors compute() used.
  factors_node_ = node;
  factors_bias_ = bias != nullptr;
  const LastLayerFactors f = factors(xs, ys);
  const bool same = bitwise_equal(f.delta, weight->left) && bitwise_equal(f.act, weight->right) &&
                    (!bias || bitwise_equal(f.delta, bias->dense));
  if (!same) factors_node_ = -1;
  return same;
}

LastLayerFactors GradientComputer::factors(const Tensor& x_in, const Tensor& y) const {
  check(factors_node_ >= 0, "influence: last-layer factors asked for before prepare_factors() succeeded");
  const Tensor x = x_in.is_float() && x_in.dtype() != model_->dtype() ? x_in.to(model_->dtype()) : x_in;
  // Inference mode, as in compute(), with Conv -> ReLU chains fused (models/fuse_epilogues.h: the same bits,
  // one store per convolution instead of a convolution and a ReLU pass). Rewritten per call, so it always
  // holds the model's current layers; the output node keeps its index and its saved input.
  const Model m = fuse_conv_epilogues_for_inference(*model_);
  const Tape tape = m.forward({x});
  const int out_id = m.outputs().at(0);
  const Tensor& logits = tape.values.at(out_id);
  if (logits.ndim() != 2 || logits.dim(0) != x.dim(0))
    throw Error("influence: expected the model output '" + m.value_name(out_id) + "' to be (N, classes) logits, got " +
                logits.describe());
  LastLayerFactors f;
  f.delta = cross_entropy_seed(logits, y);
  f.act = m.nodes()[factors_node_].layer->as_linear()->saved_input(tape.saved[factors_node_]);
  f.bias = factors_bias_;
  if (f.act.ndim() != 2 || f.act.dim(0) != x.dim(0))
    throw Error("influence: the input of the output node '" + m.nodes()[factors_node_].name + "' is " +
                f.act.describe() + ", expected (N, features)");
  return f;
}

GramFeatures gram_features(const ChunkGrads& g) {
  GramFeatures f;
  f.n = g.n;
  ChunkGrads dense_only;
  dense_only.n = g.n;
  for (const BlockGrad& b : g.blocks) {
    if (b.rank_one())
      f.rank_one.push_back({b.left, b.right});
    else
      dense_only.blocks.push_back(b);
  }
  if (!dense_only.blocks.empty())
    f.dense = dense_only.blocks.size() == 1 ? dense_only.blocks[0].dense : dense_gradients(dense_only);
  return f;
}

Tensor gram(const GramFeatures& a, const GramFeatures& b) {
  if (a.rank_one.size() != b.rank_one.size() || a.dense.defined() != b.dense.defined())
    throw Error("gram: gradients of different parameter selections");
  Tensor S;
  if (a.dense.defined()) S = ops::matmul(a.dense, b.dense, false, true);
  for (size_t i = 0; i < a.rank_one.size(); ++i) {
    // ⟨δa ⊗ xa, δb ⊗ xb⟩ = (δa·δb)(xa·xb)
    Tensor part = ops::mul(ops::matmul(a.rank_one[i].first, b.rank_one[i].first, false, true),
                           ops::matmul(a.rank_one[i].second, b.rank_one[i].second, false, true));
    if (!S.defined())
      S = part;
    else
      ops::add_inplace(S, part);
  }
  return S;
}

Tensor gram(const ChunkGrads& a, const ChunkGrads& b) { return gram(gram_features(a), gram_features(b)); }

namespace {
// Σ_j t[n, j]² per row of t (n, m) -> (n): the squares times a column of ones, one GEMM (vector lanes across
// rows; each row's sum in the GEMM's fixed k order, so it does not depend on the other rows of its chunk).
Tensor row_squares(const Tensor& t) {
  const Tensor ones = ops::full({t.dim(1), 1}, 1.0, t.dtype(), t.device());
  return ops::matmul(ops::unary(ops::Unary::Square, t), ones).reshape({t.dim(0)});
}
}  // namespace

Tensor squared_norms(const ChunkGrads& g) {
  Tensor out;
  for (const BlockGrad& b : g.blocks) {
    // ‖δ ⊗ x‖² = ‖δ‖² ‖x‖² for a rank-one block.
    const Tensor sq = b.rank_one() ? ops::mul(row_squares(b.left), row_squares(b.right)) : row_squares(b.dense);
    if (!out.defined())
      out = sq;
    else
      out = ops::add(out, sq);
  }
  return out;
}

// The blocks side by side, (n, P); a rank-one block's rows are the outer products left_n ⊗ right_n,
// (n, a, 1) ⊙ (n, 1, b) broadcast and flattened row-major.
Tensor dense_gradients(const ChunkGrads& g) {
  std::vector<Tensor> parts;
  for (const BlockGrad& b : g.blocks) {
    if (b.rank_one()) {
      const int64_t la = b.left.dim(1), lb = b.right.dim(1);
      parts.push_back(ops::mul(b.left.reshape({g.n, la, 1}), b.right.reshape({g.n, 1, lb})).reshape({g.n, la * lb}));
    } else {
      parts.push_back(b.dense);
    }
  }
  return parts.size() == 1 ? parts[0] : ops::concat_axis(parts, 1);
}

Projection::Projection(int64_t P, int64_t k, uint64_t seed, DType dtype, Device device) : P_(P), k_(k) {
  check(k >= 1, "--projection: expected a positive dimension, got " + std::to_string(k));
  // Drawn in double, row by row, and stored in the gradients' dtype directly (P·k can be large: no float64
  // copy), on the gradients' device (the draws are made on the host and copied: the same R everywhere).
  R_ = Tensor::empty({P, k}, dtype, device);
  Rng rng(seed);
  ops::fill_normal_inplace(R_, 0.0, 1.0 / std::sqrt(static_cast<double>(k)), rng);
}

ChunkGrads Projection::apply(const ChunkGrads& g) const {
  Tensor G = dense_gradients(g);
  check(G.dim(1) == P_, "projection: built for " + std::to_string(P_) + " parameters, got " + std::to_string(G.dim(1)));
  ChunkGrads out;
  out.n = g.n;
  out.logits = g.logits;
  out.seed = g.seed;
  out.blocks.push_back(BlockGrad{ops::matmul(G, R_.dtype() == G.dtype() ? R_ : R_.to(G.dtype())), {}, {}});
  return out;
}

Tensor per_example_gradients(Model& model, const Tensor& x, const Tensor& y, ParamSet set, const Projection* projection,
                             int64_t chunk) {
  GradientComputer gc(model, set);
  const int64_t N = x.dim(0);
  Tensor out;
  for (int64_t b = 0; b < N; b += chunk) {
    const int64_t e = std::min(N, b + chunk);
    ChunkGrads g = gc.compute(x.slice_batch(b, e), y.slice_batch(b, e));
    Tensor G = projection ? projection->apply(g).blocks[0].dense : dense_gradients(g);
    if (!out.defined()) out = Tensor({N, G.dim(1)}, G.dtype());
    out.slice_batch(b, e).copy_from(G);
  }
  return out;
}

}  // namespace xdnn::influence
