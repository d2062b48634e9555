#include "explain/upsample.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/error.h"
#include "engine/ops.h"

namespace xdnn::explain {

Tensor upsample_bilinear(const Tensor& cam, int64_t H, int64_t W) {
  if (cam.ndim() != 4 || cam.dim(1) != 1) throw Error("upsample: expected a map (N, 1, h, w), got " + cam.describe());
  const int64_t N = cam.dim(0), h = cam.dim(2), w = cam.dim(3);
  const Tensor ry = resize_matrix(H, h, cam.dtype()).to(cam.device());  // (H, h)
  const Tensor rx = resize_matrix(W, w, cam.dtype()).to(cam.device());  // (W, w)
  Tensor out({N, 1, H, W}, cam.dtype(), cam.device());
  for (int64_t n = 0; n < N; ++n) {
    // out_n = Ry · cam_n · Rxᵀ: rows first, then columns — each output is (1−λy)(1−λx)a + ... as in the
    // reference's separable interpolation.
    Tensor t = ops::matmul(ry, cam.slice_batch(n, n + 1).reshape({h, w}));  // (H, w)
    out.slice_batch(n, n + 1).copy_from(ops::matmul(t, rx, false, true).reshape({1, 1, H, W}));
  }
  return out;
}

Tensor resize_matrix(int64_t out, int64_t in, DType dtype) {
  // Built on the host (a small constant: out × in) and rounded to the dtype after every addition, as
  // when it was accumulated in a tensor of that dtype; the caller moves it to the map's device.
  std::vector<double> m(static_cast<size_t>(out * in), 0.0);
  auto add = [&](int64_t i, double v) {
    const double sum = m[static_cast<size_t>(i)] + v;
    m[static_cast<size_t>(i)] = dtype == DType::F32 ? static_cast<double>(static_cast<float>(sum)) : sum;
  };
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  for (int64_t y = 0; y < out; ++y) {
    double s = std::max((static_cast<double>(y) + 0.5) * scale - 0.5, 0.0);
    int64_t y0 = std::min(static_cast<int64_t>(std::floor(s)), in - 1);
    int64_t y1 = std::min(y0 + 1, in - 1);
    double lambda = s - static_cast<double>(y0);
    add(y * in + y0, 1.0 - lambda);
    add(y * in + y1, lambda);
  }
  return Tensor::from_vector({out, in}, m).to(dtype);
}

}  // namespace xdnn::explain
