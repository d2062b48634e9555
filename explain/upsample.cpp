#include "explain/upsample.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/ops.h"

namespace xdnn::explain {

Tensor upsample_bilinear(const Tensor& cam, int64_t H, int64_t W) {
  if (cam.ndim() != 4 || cam.dim(1) != 1) throw Error("upsample: expected a map (N, 1, h, w), got " + cam.describe());
  const int64_t N = cam.dim(0), h = cam.dim(2), w = cam.dim(3);
  const Tensor ry = resize_matrix(H, h, cam.dtype());  // (H, h)
  const Tensor rx = resize_matrix(W, w, cam.dtype());  // (W, w)
  Tensor out({N, 1, H, W}, cam.dtype());
  for (int64_t n = 0; n < N; ++n) {
    // out_n = Ry · cam_n · Rxᵀ: rows first, then columns — each output is (1−λy)(1−λx)a + ... as in the
    // reference's separable interpolation.
    Tensor t = ops::matmul(ry, cam.slice_batch(n, n + 1).reshape({h, w}));  // (H, w)
    out.slice_batch(n, n + 1).copy_from(ops::matmul(t, rx, false, true).reshape({1, 1, H, W}));
  }
  return out;
}

Tensor resize_matrix(int64_t out, int64_t in, DType dtype) {
  Tensor m({out, in}, dtype);
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  for (int64_t y = 0; y < out; ++y) {
    double s = std::max((static_cast<double>(y) + 0.5) * scale - 0.5, 0.0);
    int64_t y0 = std::min(static_cast<int64_t>(std::floor(s)), in - 1);
    int64_t y1 = std::min(y0 + 1, in - 1);
    double lambda = s - static_cast<double>(y0);
    m.set_item(y * in + y0, m.item(y * in + y0) + (1.0 - lambda));
    m.set_item(y * in + y1, m.item(y * in + y1) + lambda);
  }
  return m;
}

}  // namespace xdnn::explain
