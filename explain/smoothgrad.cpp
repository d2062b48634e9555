// SmoothGrad (Smilkov et al. 2017, eq. 3): the mean of the gradients at noisy copies of the input,
//   SG(x) = (1/S) Σ_{s=1..S} ∇f_K(x + ε_s),   ε_s ~ N(0, σ² I),   σ = noise_level · (max(x) − min(x)),
// with max/min taken over each sample separately (the paper's "noise level" as a fraction of the
// input's range, §3.1). The result is the mean of raw (signed) gradients, not of their squares or
// absolute values. Token models add the noise to the embedding output and sum over d.
//
// Determinism: sample n draws its noise from its own stream Rng(seed + 0x9E3779B97F4A7C15·(n + 1)), copy
// after copy in element order, so a sample's attribution depends only on the seed, its index and its own
// values (never on the thread count or the chunking of copies through the model). n counts from the
// request's first_sample, so a batch split into chunks (run_in_chunks) draws the same noise.
#include <algorithm>
#include <vector>

#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "engine/random.h"
#include "explain/copies.h"
#include "explain/point.h"

namespace xdnn::explain {
namespace {

Attribution smoothgrad(const ExplainRequest& req) {
  const Model& model = *req.model;
  const Tensor x = model_input(req);
  const Point point = attribution_point(model, x);
  const int64_t samples = req.options.get_int("samples", 25);
  const double level = req.options.get_double("noise-level", 0.15);
  const int64_t seed = req.options.get_int("seed", 0);
  if (samples < 1 || samples > 100000) throw Error("--samples: expected 1..100000, got " + std::to_string(samples));
  if (!(level >= 0)) throw Error("--noise-level: expected a number >= 0");

  const Tensor e = model.forward({x}).values.at(point.value_id).to(DType::F64);
  const int64_t N = e.dim(0), per = e.numel() / N;
  // σ_n = level · (max − min) of sample n: the row maxima of e and of −e picked by arg-max on e's device,
  // and only those 2N numbers read back.
  const Tensor rows = e.reshape({N, per});
  auto row_max = [&](const Tensor& r) {
    return ops::value_vector(ops::sum_to_shape(ops::keep_targets(r, ops::argmax_last_axis(r)), {N, 1}));
  };
  const std::vector<double> hi = row_max(rows), neg_lo = row_max(ops::scale(rows, -1.0));
  // All noisy copies, sample by sample: noise[n][s] is drawn from sample n's stream (on the host, in the
  // order below: the draws are serial by design) and added on e's device.
  std::vector<double> sigma(N);
  std::vector<Rng> rng;
  for (int64_t n = 0; n < N; ++n) {
    sigma[n] = level * (hi[n] - (-neg_lo[n]));
    rng.emplace_back(static_cast<uint64_t>(seed) +
                     0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(req.first_sample + n + 1));
  }

  const int64_t per_call = copies_per_call(model, e, samples);
  Tensor sum(e.shape(), DType::F64, e.device());
  for (int64_t s0 = 0; s0 < samples; s0 += per_call) {
    const int64_t k = std::min(per_call, samples - s0);
    std::vector<double> noise(static_cast<size_t>(k * N * per));
    for (int64_t j = 0; j < k; ++j)
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < per; ++i) noise[(j * N + n) * per + i] = sigma[n] * rng[n].normal();
    Shape shape = e.shape();
    shape[0] = k * N;
    const Tensor pts = ops::add(repeat_rows(e, k), Tensor::from_vector(shape, noise).to(e.device()));  // (k·N, ...)
    const Tensor value = pts.to(model.dtype());
    const Tensor ids = point.tokens ? repeat_rows(x, k) : value;
    Tape tape = forward_at(model, point, ids, value);
    Tensor g = target_gradient(model, tape, point.value_id, repeat_targets(req.targets, k)).to(DType::F64);
    for (int64_t j = 0; j < k; ++j) ops::add_inplace(sum, g.slice_batch(j * N, (j + 1) * N));
  }
  Tensor mean = ops::scale(sum, 1.0 / static_cast<double>(samples)).to(model.dtype());
  return {finish_attribution(point, mean), "smoothgrad", req.options.values, static_cast<uint64_t>(seed)};
}

MethodRegistration reg{{"smoothgrad",
                        "mean gradient over noisy copies of the input (Smilkov et al. 2017)",
                        {{"samples", "25", "number of noisy copies"},
                         {"noise-level", "0.15", "noise σ as a fraction of each sample's (max − min)", "FLOAT"},
                         {"seed", "0", "seed of the noise"}},
                        smoothgrad}};

}  // namespace
}  // namespace xdnn::explain
