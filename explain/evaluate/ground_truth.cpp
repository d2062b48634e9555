// Shared pieces of the ground-truth metrics: see ground_truth.h.
#include "explain/evaluate/ground_truth.h"
#include "engine/check.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/error.h"
#include "engine/ops_fill.h"
#include "models/io/trigger_task.h"
#include "models/train/checkpoint.h"
#include "models/zoo.h"

namespace xdnn::explain {

OptionSpec ground_truth_option() {
  return {"ground-truth", "", ".npy mask of the attribution's shape: 1 relevant, 0 not, -1 ignored (required)", "FILE",
          any_value_names_file};
}

std::vector<GroundTruthSample> ground_truth_samples(const MetricRequest& req) {
  Tensor g = req.ground_truth;
  if (!g.defined()) {
    const std::string path = req.options.get("ground-truth", "");
    if (path.empty())
      throw Error("ground-truth metrics need --ground-truth G.npy (1 relevant, 0 not, -1 ignored)",
                  "or --trigger-test N with a trigger-task checkpoint");
    g = req.options.array("ground-truth");  // loaded by the caller (resolve_metrics)
  }
  const Tensor& a = req.attribution;
  if (!a.defined() || !a.is_float() || a.ndim() < 2 || a.numel() == 0)
    throw Error("attribution: expected a non-empty float batch (N, ...), got " +
                (a.defined() ? a.describe() : "nothing"));
  if (g.shape() != a.shape())
    throw Error("ground truth: shape " + shape_str(g.shape()) + " does not match the attribution " +
                shape_str(a.shape()));
  const int64_t N = a.dim(0), P = a.numel() / N;
  const std::vector<double> gs = ops::value_vector(g), as = ops::value_vector(a);  // host statistics of copies
  std::vector<GroundTruthSample> out(N);
  for (int64_t n = 0; n < N; ++n) {
    GroundTruthSample& s = out[n];
    for (int64_t i = 0; i < P; ++i) {
      const double gv = gs[n * P + i], av = as[n * P + i];
      if (gv != 1.0 && gv != 0.0 && gv != -1.0)
        throw Error("ground truth: element " + std::to_string(n * P + i) + " is " + std::to_string(gv) +
                    ", expected 1 (relevant), 0 (not) or -1 (ignored)");
      if (gv == -1.0) continue;
      if (!std::isfinite(av)) throw Error("attribution: element " + std::to_string(n * P + i) + " is not finite");
      s.a.push_back(av);
      s.relevant.push_back(gv == 1.0);
      s.num_relevant += gv == 1.0;
    }
    if (s.num_relevant == 0)
      throw Error("ground truth: sample " + std::to_string(n) + " marks no relevant position (value 1)");
  }
  return out;
}

std::vector<int64_t> ranked(const std::vector<double>& a) {
  std::vector<int64_t> order(a.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return a[i] > a[j]; });
  return order;
}

GroundTruthData trigger_test_set(const std::string& checkpoint, int64_t count) {
  check(count >= 1, "--trigger-test " + std::to_string(count) + ": expected at least 1 sequence");
  const Metadata m = read_checkpoint_metadata(checkpoint);
  check(metadata_get(m, "data", checkpoint) == "trigger",
        checkpoint + ": not trained on the trigger task (metadata 'data' is '" + m.at("data") + "')");
  const TextModelConfig c = text_config_from_metadata(m, checkpoint);
  const uint64_t data_seed = static_cast<uint64_t>(metadata_get_int(m, "data_seed", checkpoint));
  const text::TriggerTask test = text::make_trigger_split(c.max_len, c.vocab_size, data_seed, 0, count).test;
  GroundTruthData d;
  d.input = test.data.ids;
  const int64_t N = d.input.dim(0), T = d.input.dim(1);
  d.ground_truth = Tensor({N, T}, DType::F32);
  for (int64_t n = 0; n < N; ++n) {
    const int64_t len = test.data.lengths.data<int64_t>()[n], trig = test.trigger_positions.data<int64_t>()[n];
    for (int64_t t = 0; t < T; ++t) d.ground_truth.set_item(n * T + t, t >= len ? -1.0 : (t == trig ? 1.0 : 0.0));
  }
  return d;
}

}  // namespace xdnn::explain
