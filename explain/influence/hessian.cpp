#include "explain/influence/hessian.h"
#include "engine/check.h"

#include <algorithm>
#include <cmath>

#include "engine/dispatch.h"
#include "engine/ops.h"
#include "explain/influence/influence.h"

namespace xdnn::influence {

namespace {

// Position in the flattened [W (out·in), b (out)] vector of entry (o, i) of the (out, in+1) matrix [W | b].
int64_t flat_index(const LastLayerCurvature& c, int64_t o, int64_t i) {
  return i < c.in ? o * c.in + i : c.out * c.in + o;
}

int64_t width(const LastLayerCurvature& c) { return c.in + (c.bias ? 1 : 0); }

}  // namespace

LastLayerCurvature last_layer_curvature(Model& model, const Tensor& x, int64_t chunk, Progress* progress) {
  GradientComputer gc(model, ParamSet::LastLayer);
  const Selection& sel = gc.selection();
  int weight_block = -1, bias_block = -1;
  for (size_t b = 0; b < sel.blocks.size(); ++b) {
    if (sel.blocks[b].shape.size() == 2 && weight_block < 0)
      weight_block = static_cast<int>(b);
    else if (sel.blocks[b].shape.size() == 1 && bias_block < 0)
      bias_block = static_cast<int>(b);
    else
      weight_block = -2;
  }
  const std::string node = model.nodes()[sel.blocks[0].node].name;
  const std::string unsupported =
      "influence-function: the exact last-layer Hessian needs the output node to be fully connected (weight (out, "
      "in), optional bias (out), applied to (N, in) rows); node '" +
      node + "' is not";
  check(weight_block >= 0, unsupported);
  LastLayerCurvature c;
  c.out = sel.blocks[weight_block].shape[0];
  c.in = sel.blocks[weight_block].shape[1];
  c.bias = bias_block >= 0;
  const int64_t N = x.dim(0), d = width(c);
  c.features = Tensor({N, d}, DType::F64);
  c.probs = Tensor({N, c.out}, DType::F64);
  double* F = c.features.data<double>();
  double* Pr = c.probs.data<double>();
  for (int64_t b = 0; b < N; b += chunk) {
    const int64_t e = std::min(N, b + chunk);
    // The Hessian does not depend on the labels: any valid labels do for the forward pass.
    ChunkGrads g = gc.compute(x.slice_batch(b, e), Tensor({e - b}, DType::I64, x.device()));
    const BlockGrad& w = g.blocks[weight_block];
    check(w.rank_one(), unsupported);
    // The curvature is host work on small float64 matrices: the chunk's factors are copied to the host.
    const Tensor h = w.right.to(DType::F64).to(Device::CPU), z = g.logits.to(DType::F64).to(Device::CPU);
    const double *hp = h.data<double>(), *zp = z.data<double>();
    for (int64_t r = 0; r < e - b; ++r) {
      double* f = F + (b + r) * d;
      std::copy(hp + r * c.in, hp + (r + 1) * c.in, f);
      if (c.bias) f[c.in] = 1.0;
      const double* zr = zp + r * c.out;
      const double m = *std::max_element(zr, zr + c.out);
      double s = 0;
      for (int64_t o = 0; o < c.out; ++o) s += std::exp(zr[o] - m);
      for (int64_t o = 0; o < c.out; ++o) Pr[(b + r) * c.out + o] = std::exp(zr[o] - m) / s;
    }
    if (progress) progress->add(e - b);
  }
  return c;
}

// H[(a,i),(b,j)] = (1/N) Σ_n (p_a δ_ab − p_a p_b)_n f_n[i] f_n[j]: one (d, d) GEMM per class pair.
Tensor last_layer_hessian(const LastLayerCurvature& c) {
  const int64_t N = c.features.dim(0), d = width(c), P = c.size();
  Tensor H({P, P}, DType::F64);
  double* h = H.data<double>();
  const double* p = c.probs.data<double>();
  const double* f = c.features.data<double>();
  Tensor Fw({N, d}, DType::F64);
  for (int64_t a = 0; a < c.out; ++a)
    for (int64_t b = 0; b < c.out; ++b) {
      double* fw = Fw.data<double>();
      for (int64_t n = 0; n < N; ++n) {
        const double w = ((a == b ? p[n * c.out + a] : 0.0) - p[n * c.out + a] * p[n * c.out + b]) / N;
        for (int64_t i = 0; i < d; ++i) fw[n * d + i] = w * f[n * d + i];
      }
      const Tensor M = ops::matmul(Fw, c.features, true, false);  // (d, d)
      const double* m = M.data<double>();
      for (int64_t i = 0; i < d; ++i)
        for (int64_t j = 0; j < d; ++j) h[flat_index(c, a, i) * P + flat_index(c, b, j)] = m[i * d + j];
    }
  return H;
}

Tensor last_layer_hvp(const LastLayerCurvature& c, const Tensor& V, int64_t chunk) {
  const int64_t N = c.features.dim(0), d = width(c), P = c.size(), K = c.out;
  if (V.dtype() != DType::F64 || V.ndim() != 2 || V.dim(1) != P)
    throw Error("last_layer_hvp: expected float64 (k, " + std::to_string(P) + "), got " + V.describe());
  const int64_t k = V.dim(0);
  // M: (k·out, d), row j·out + o holds [W_o | b_o] of vector j.
  Tensor M({k * K, d}, DType::F64), HM({k * K, d}, DType::F64);
  const double* v = V.data<double>();
  double* m = M.data<double>();
  for (int64_t j = 0; j < k; ++j)
    for (int64_t o = 0; o < K; ++o)
      for (int64_t i = 0; i < d; ++i) m[(j * K + o) * d + i] = v[j * P + flat_index(c, o, i)];
  for (int64_t b = 0; b < N; b += chunk) {
    const int64_t e = std::min(N, b + chunk), n = e - b;
    const Tensor Fc = c.features.slice_batch(b, e);
    Tensor A = ops::matmul(Fc, M, false, true);  // u: (n, k·out)
    double* a = A.data<double>();
    const double* p = c.probs.data<double>() + b * K;
    for (int64_t r = 0; r < n; ++r)
      for (int64_t j = 0; j < k; ++j) {
        double* u = a + r * k * K + j * K;
        double pu = 0;
        for (int64_t o = 0; o < K; ++o) pu += p[r * K + o] * u[o];
        for (int64_t o = 0; o < K; ++o) u[o] = p[r * K + o] * (u[o] - pu);
      }
    ops::matmul_into(A, Fc, HM, true, false, 1.0, 1.0);  // (k·out, n) (n, d)
  }
  Tensor out({k, P}, DType::F64);
  double* y = out.data<double>();
  const double* hm = HM.data<double>();
  for (int64_t j = 0; j < k; ++j)
    for (int64_t o = 0; o < K; ++o)
      for (int64_t i = 0; i < d; ++i) y[j * P + flat_index(c, o, i)] = hm[(j * K + o) * d + i] / N;
  return out;
}

}  // namespace xdnn::influence
