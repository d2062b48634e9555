// The kernel bodies of engine/ops_onnx.h's CUDA twins (kernels/reduce_axes_body.h, resize_body.h,
// mod_range_body.h) and of the device's index range check (kernels/index_check.h) run on the CPU with run_on_host()
// (or, for the first non-finite element, the host replay of the device's two-pass grid), with the maps the .cu files
// build, against the CPU ops: bit for bit.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "engine/ops.h"
#include "engine/ops_onnx.h"
#include "engine/random.h"
#include "kernels/mod_range_body.h"
#include "kernels/reduce_axes_body.h"
#include "kernels/resize_body.h"
#include "tests/random_tensors.h"

using namespace xdnn;
using cuda::run_on_host;
using ops::ReduceOp;

namespace {

Tensor randn(const Shape& s, Rng& rng, DType dt) {
  return dt == DType::I64 ? random_integers(s, rng, dt, -3, 7) : random_normal(s, rng, dt);
}

template <class T>
std::vector<Tensor> reduce_on_host(ReduceOp op, const Tensor& x, const Shape& kept) {
  Tensor y(kept, x.dtype()), arg(kept, DType::I64);
  run_on_host(y.numel(), cuda::ReduceAxesBody<T>{op, x.data<T>(), y.data<T>(), arg.data<int64_t>(),
                                                 cuda::reduce_axes_map(x.shape(), kept)});
  return {y, arg};
}

template <class T>
Tensor reduce_backward_on_host(ReduceOp op, const Tensor& x, const Tensor& gy, const Tensor& arg, const Shape& kept) {
  Tensor gx(x.shape(), x.dtype());
  run_on_host(gx.numel(), cuda::ReduceAxesBackwardBody<T>{op, x.data<T>(), gy.data<T>(), arg.data<int64_t>(),
                                                          gx.data<T>(), cuda::reduce_axes_map(x.shape(), kept)});
  return gx;
}

}  // namespace

TEST_CASE("cuda kernel bodies on the host: reduce_axes and its backward pass equal the CPU ops bit for bit") {
  Rng rng(901);
  const std::vector<Shape> kepts = {{1, 3, 1, 5}, {2, 1, 4, 1}, {1, 1, 1, 1}, {2, 3, 4, 5}, {2, 3, 4, 1}};
  for (DType dt : {DType::F32, DType::F64, DType::I64})
    for (const Shape& kept : kepts)
      for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min, ReduceOp::Prod}) {
        INFO(dtype_name(dt), " kept ", shape_str(kept), " op ", static_cast<int>(op));
        Tensor x = randn({2, 3, 4, 5}, rng, dt);
        if (dt != DType::I64) {
          x.set_item(7, NAN);  // NaN wins Max and Min
          x.set_item(30, 0.0);
        }
        const std::vector<Tensor> cpu = ops::reduce_axes(op, x, kept);
        const std::vector<Tensor> body = dt == DType::F32   ? reduce_on_host<float>(op, x, kept)
                                         : dt == DType::F64 ? reduce_on_host<double>(op, x, kept)
                                                            : reduce_on_host<int64_t>(op, x, kept);
        CHECK(bitwise_equal(body[0], cpu[0]));
        CHECK(bitwise_equal(body[1], cpu[1]));
        if (dt == DType::I64) continue;
        const Tensor gy = randn(kept, rng, dt);
        const Tensor gx = ops::reduce_axes_backward(op, x, gy, cpu[1], kept);
        const Tensor gb = dt == DType::F32 ? reduce_backward_on_host<float>(op, x, gy, cpu[1], kept)
                                           : reduce_backward_on_host<double>(op, x, gy, cpu[1], kept);
        CHECK(bitwise_equal(gb, gx));
      }
}

TEST_CASE("cuda kernel bodies on the host: first_nonfinite over the device's grid equals the CPU op") {
  const int64_t threads = static_cast<int64_t>(cuda::kReduceBlocks) * cuda::kReduceThreads;
  for (DType dt : {DType::F32, DType::F64}) {
    INFO(dtype_name(dt));
    // Past one pass of the grid, so threads see several elements and the trees pick the smallest index.
    Tensor x({threads * 2 + 77}, dt);
    x.fill(-3.0);
    const auto on_host = [&](const Tensor& t) {
      if (dt == DType::F32)
        return cuda::first_index_on_host(
            cuda::FirstNonfiniteBody<float>{t.data<float>(), t.numel(), threads, std::numeric_limits<float>::max()});
      return cuda::first_index_on_host(
          cuda::FirstNonfiniteBody<double>{t.data<double>(), t.numel(), threads, std::numeric_limits<double>::max()});
    };
    CHECK(on_host(x) == -1);
    CHECK(ops::first_nonfinite(x) == -1);
    for (int64_t at : {threads * 2 + 76, threads + 5, int64_t{300}, int64_t{0}}) {
      x.set_item(at, at % 2 ? NAN : -INFINITY);
      CHECK(on_host(x) == ops::first_nonfinite(x));
      CHECK(on_host(x) == at);
    }
  }
}

TEST_CASE("cuda kernel bodies on the host: the device's id range check finds the first index outside [lo, hi)") {
  const int64_t threads = static_cast<int64_t>(cuda::kReduceBlocks) * cuda::kReduceThreads;
  Tensor ids({threads + 1000}, DType::I64);
  int64_t* p = ids.data<int64_t>();
  for (int64_t i = 0; i < ids.numel(); ++i) p[i] = i % 7 - 3;  // all inside [-3, 4)
  const auto first = [&](int64_t lo, int64_t hi) {
    return cuda::first_index_on_host(cuda::FirstOutsideBody{p, ids.numel(), threads, lo, hi});
  };
  CHECK(first(-3, 4) == -1);
  CHECK(first(-3, 3) == 6);  // the first 3
  CHECK(first(-2, 4) == 0);  // the first -3
  p[threads + 999] = 4;      // one thread's second element, and the last one
  CHECK(first(-3, 4) == threads + 999);
  p[threads + 5] = -4;
  CHECK(first(-3, 4) == threads + 5);
}

TEST_CASE("cuda kernel bodies on the host: resize and its backward pass equal the CPU ops bit for bit") {
  Rng rng(902);
  const Shape xs{2, 3, 4};
  ops::ResizeTaps taps(3);
  for (int a = 0; a < 3; ++a) {  // random taps, some weights 0 and some indices equal
    const int64_t o = 2 * xs[a] - 1;
    for (int64_t j = 0; j < o; ++j) {
      const int64_t i0 = static_cast<int64_t>(rng.below(static_cast<uint64_t>(xs[a])));
      taps[a].i0.push_back(i0), taps[a].i1.push_back(j % 3 ? std::min(i0 + 1, xs[a] - 1) : i0);
      const double w1 = j % 4 == 0 ? 0.0 : rng.uniform(0, 1);
      taps[a].w0.push_back(1 - w1), taps[a].w1.push_back(w1);
    }
  }
  for (DType dt : {DType::F32, DType::F64}) {
    INFO(dtype_name(dt));
    const Tensor x = randn(xs, rng, dt);
    const Tensor y = ops::resize(x, taps);
    const Tensor g = randn(y.shape(), rng, dt);
    const Tensor gx = ops::resize_backward(g, taps, xs);
    std::vector<int64_t> ints, bints;
    std::vector<double> doubles, bdoubles;
    const cuda::ResizeMap m = cuda::resize_pack_taps(taps, xs, ints, doubles);
    const cuda::ResizeMap mb = cuda::resize_pack_preimages(taps, xs, bints, bdoubles);
    Tensor yb(y.shape(), dt), gb(xs, dt);
    if (dt == DType::F32) {
      run_on_host(yb.numel(),
                  cuda::ResizeBody<float>{x.data<float>(), yb.data<float>(), ints.data(), doubles.data(), m});
      run_on_host(gb.numel(), cuda::ResizeBackwardBody<float>{g.data<float>(), gb.data<float>(), bints.data(),
                                                              bdoubles.data(), mb});
    } else {
      run_on_host(yb.numel(),
                  cuda::ResizeBody<double>{x.data<double>(), yb.data<double>(), ints.data(), doubles.data(), m});
      run_on_host(gb.numel(), cuda::ResizeBackwardBody<double>{g.data<double>(), gb.data<double>(), bints.data(),
                                                               bdoubles.data(), mb});
    }
    CHECK(bitwise_equal(yb, y));
    CHECK(bitwise_equal(gb, gx));
  }
}

TEST_CASE("cuda kernel bodies on the host: float Mod with broadcasting and arange equal the CPU ops") {
  Rng rng(903);
  for (DType dt : {DType::F32, DType::F64})
    for (bool fmod : {false, true}) {
      INFO(dtype_name(dt), " fmod ", fmod);
      const Tensor a = ops::scale(randn({3, 1, 4}, rng, dt), 10.0), b = randn({2, 1}, rng, dt);
      const std::vector<Tensor> cpu = ops::mod(a, b, fmod);
      cuda::ModMap m;
      m.ndim = 3;
      const int64_t dims[3] = {3, 2, 4}, sa[3] = {4, 0, 1}, sb[3] = {0, 1, 0};
      for (int d = 0; d < 3; ++d) m.dims[d] = dims[d], m.a_strides[d] = sa[d], m.b_strides[d] = sb[d];
      Tensor y(cpu[0].shape(), dt), q(cpu[0].shape(), dt);
      if (dt == DType::F32)
        run_on_host(y.numel(),
                    cuda::ModBody<float>{a.data<float>(), b.data<float>(), y.data<float>(), q.data<float>(), fmod, m});
      else
        run_on_host(y.numel(), cuda::ModBody<double>{a.data<double>(), b.data<double>(), y.data<double>(),
                                                     q.data<double>(), fmod, m});
      CHECK(bitwise_equal(y, cpu[0]));
      CHECK(bitwise_equal(q, cpu[1]));
    }
  const Tensor s = Tensor::from_vector({1}, std::vector<double>{-1.25}),
               d = Tensor::from_vector({1}, std::vector<double>{0.3});
  Tensor y({9}, DType::F64);
  run_on_host(9, cuda::ArangeBody<double>{s.data<double>(), d.data<double>(), y.data<double>()});
  CHECK(bitwise_equal(y, ops::arange(s, d, 9)));
  const Tensor si = Tensor::from_vector({1}, std::vector<int64_t>{int64_t{1} << 40});
  const Tensor di = Tensor::from_vector({1}, std::vector<int64_t>{-7});
  Tensor yi({5}, DType::I64);
  run_on_host(5, cuda::ArangeBody<int64_t>{si.data<int64_t>(), di.data<int64_t>(), yi.data<int64_t>()});
  CHECK(bitwise_equal(yi, ops::arange(si, di, 5)));
}
