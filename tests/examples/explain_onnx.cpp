// Example 1: explain an ONNX model's predictions with integrated gradients, and check the method's
// defining property, completeness (Sundararajan et al. 2017, Prop. 1): for each sample the attributions
// sum to f_K(x) − f_K(baseline), here with the all-zero baseline.
//
//   explain_onnx MODEL.onnx INPUT.npy [OUT.npy]
// Build: c++ explain_onnx.cpp $(pkg-config --cflags --libs xdnn)
#include <xdnn/xdnn.h>

#include <cmath>
#include <cstdio>

namespace api = xdnn::api;

int main(int argc, char** argv) try {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL.onnx INPUT.npy [OUT.npy]\n", argv[0]);
    return 2;
  }
  const api::Model model = api::Model::load(argv[1]);
  const api::Array x = api::load_npy(argv[2]);  // (N, C, H, W) float32
  const api::Array logits = model.run(x);       // (N, K)
  const int64_t N = logits.shape()[0], K = logits.shape()[1];

  // One class per sample: the model's prediction (what an empty target list means too).
  std::vector<int64_t> targets;
  for (int64_t n = 0; n < N; ++n) {
    int64_t best = 0;
    for (int64_t k = 1; k < K; ++k)
      if (logits.get(n * K + k) > logits.get(n * K + best)) best = k;
    targets.push_back(best);
  }
  const api::Array attribution =
      api::explain(model, x, "integrated-gradients", targets, {{"steps", "64"}, {"integration", "gauss-legendre"}});
  if (argc > 3) api::save_npy(argv[3], attribution);

  const api::Array at_baseline = model.run(api::Array(api::DType::F32, x.shape()));
  const int64_t D = attribution.size() / N;
  bool complete = true;
  for (int64_t n = 0; n < N; ++n) {
    double sum = 0;
    for (int64_t i = 0; i < D; ++i) sum += attribution.get(n * D + i);
    const double gap = logits.get(n * K + targets[n]) - at_baseline.get(n * K + targets[n]);
    // The integral is a 64-node quadrature of a path that crosses ReLU kinks: exact only up to ~0.1 %.
    const bool ok = std::abs(sum - gap) <= 1e-2 * (1 + std::abs(gap));
    complete = complete && ok;
    std::printf("sample %lld: class %lld, sum of attributions %.6f, f(x) - f(0) %.6f%s\n", static_cast<long long>(n),
                static_cast<long long>(targets[n]), sum, gap, ok ? "" : "  <- completeness violated");
  }
  return complete ? 0 : 1;
} catch (const api::Error& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
