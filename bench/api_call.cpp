// The C++ side of bench/python_overhead.py: the median time of one call of xdnn::api::explain (saliency,
// fashion-cnn, one Fashion-MNIST test image, default float64 precision), as the Python module makes it.
//   api_call [REPEATS]   prints "median_us <t>"
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "explain/api/xdnn.h"

namespace api = xdnn::api;

int main(int argc, char** argv) try {
  const int repeats = argc > 1 ? std::stoi(argv[1]) : 500;
  const api::Model model = api::Model::load("fashion-cnn");
  const api::Array x = api::fashion_mnist("test", 1).x;
  api::explain(model, x, "saliency");  // warm-up: the float64 copy of the model is made on first use
  std::vector<double> us;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const api::Array a = api::explain(model, x, "saliency");
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(us.begin(), us.begin() + repeats / 2, us.end());
  std::printf("median_us %.2f\n", us[repeats / 2]);
  return 0;
} catch (const api::Error& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
