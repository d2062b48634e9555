// The data-movement kernel bodies of kernels/data_movement_body.h (used by kernels/data_movement.cu and
// kernels/sequence.cu) run on the CPU with run_on_host(), with the same host-built maps and preimage
// lists the .cu files build, against the engine's CPU ops. Moves are exact, and the adding backward
// passes sum in the CPU op's order, so every comparison is bit-for-bit.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "engine/ops.h"
#include "engine/random.h"
#include "kernels/data_movement_body.h"
#include "tests/random_tensors.h"

using namespace xdnn;
using cuda::run_on_host;

namespace {

Tensor randn(const Shape& s, Rng& rng, DType dt = DType::F64) {
  return dt == DType::I64 ? random_integers(s, rng, dt, 0, 100) : random_normal(s, rng, dt);
}

template <class E>
const E* words(const Tensor& t) {
  return static_cast<const E*>(t.raw_data());
}
template <class E>
E* words(Tensor& t) {
  return static_cast<E*>(t.raw_data());
}

// y = x read through m, in x's word size.
Tensor copy_through(const Tensor& x, const cuda::StridedMap& m, const Shape& out) {
  Tensor y(out, x.dtype());
  if (dtype_size(x.dtype()) == 4)
    run_on_host(y.numel(), cuda::StridedCopyBody<uint32_t>{words<uint32_t>(x), words<uint32_t>(y), m});
  else
    run_on_host(y.numel(), cuda::StridedCopyBody<uint64_t>{words<uint64_t>(x), words<uint64_t>(y), m});
  return y;
}

cuda::PadKind kind(ops::PadMode m) {
  return m == ops::PadMode::Constant ? cuda::PadKind::Constant
                                     : (m == ops::PadMode::Reflect ? cuda::PadKind::Reflect : cuda::PadKind::Edge);
}

}  // namespace

TEST_CASE("cuda kernel bodies on the host: permutations, strided slices and broadcasting") {
  Rng rng(801);
  for (DType dt : {DType::F32, DType::F64, DType::I64}) {
    INFO(dtype_name(dt));
    Tensor x = randn({3, 4, 5, 2}, rng, dt);
    const std::vector<int64_t> perm = {2, 0, 3, 1};
    Shape out(4);
    std::vector<int64_t> stride(4);
    for (int i = 0; i < 4; ++i) out[i] = x.dim(static_cast<int>(perm[i])), stride[i] = x.strides()[perm[i]];
    CHECK(bitwise_equal(copy_through(x, cuda::strided_map(out, stride, 0, "t"), out), ops::transpose_axes(x, perm)));
    CHECK(bitwise_equal(copy_through(x, cuda::strided_map(out, stride, 0, "t"), out),
                        ops::permute_axes(x, {2, 0, 3, 1})));

    // Strided slice with a negative step, and its backward pass (a gather over x).
    const std::vector<int64_t> starts = {2, 0, 4, 1}, steps = {-1, 2, -2, 1};
    const Shape sliced = {3, 2, 3, 1};
    const Tensor y = copy_through(x, cuda::slice_map(x.shape(), starts, steps, sliced, "t"), sliced);
    CHECK(bitwise_equal(y, ops::strided_slice(x, starts, steps, sliced)));
    Tensor gx(x.shape(), dt);
    const cuda::SliceBackMap bm = cuda::slice_back_map(x.shape(), starts, steps, sliced, "t");
    if (dtype_size(dt) == 4)
      run_on_host(gx.numel(), cuda::SliceBackwardBody<uint32_t>{words<uint32_t>(y), words<uint32_t>(gx), bm});
    else
      run_on_host(gx.numel(), cuda::SliceBackwardBody<uint64_t>{words<uint64_t>(y), words<uint64_t>(gx), bm});
    CHECK(bitwise_equal(gx, ops::strided_slice_backward(y, starts, steps, x.shape())));

    // Last-axis slice as a strided slice with unit steps.
    const Shape ls = {3, 4, 5, 1};
    CHECK(bitwise_equal(copy_through(x, cuda::slice_map(x.shape(), {0, 0, 0, 1}, {1, 1, 1, 1}, ls, "t"), ls),
                        ops::slice_last_axis(x, 1, 2)));

    // Broadcasting (rank grows, size-1 axes repeat).
    Tensor b = randn({4, 1, 2}, rng, dt);
    const Shape bs = {3, 4, 5, 2};
    CHECK(bitwise_equal(copy_through(b, cuda::broadcast_map(b.shape(), bs, "t"), bs), ops::broadcast_to(b, bs)));
  }
  CHECK_THROWS_WITH_AS(cuda::strided_map(Shape(9, 1), std::vector<int64_t>(9, 1), 0, "permute_axes"),
                       "permute_axes: the CUDA kernels take at most 8 axes, got 9", Error);
}

TEST_CASE("cuda kernel bodies on the host: where, concat") {
  Rng rng(802);
  Tensor x = randn({2, 3, 4}, rng), y = randn({3, 1}, rng);
  for (DType cdt : {DType::I64, DType::F64}) {
    Tensor cond({2, 1, 4}, cdt);
    for (int64_t i = 0; i < cond.numel(); ++i) cond.set_item(i, static_cast<double>(rng.below(2)));
    std::vector<uint8_t> mask(cond.numel());
    if (cdt == DType::I64)
      run_on_host(cond.numel(), cuda::NonzeroBody<int64_t>{cond.data<int64_t>(), mask.data()});
    else
      run_on_host(cond.numel(), cuda::NonzeroBody<double>{cond.data<double>(), mask.data()});
    const Shape out = {2, 3, 4};
    Tensor r(out, DType::F64);
    run_on_host(r.numel(), cuda::WhereBody<uint64_t>{mask.data(), words<uint64_t>(x), words<uint64_t>(y),
                                                     words<uint64_t>(r), cuda::broadcast_map(cond.shape(), out, "t"),
                                                     cuda::broadcast_map(x.shape(), out, "t"),
                                                     cuda::broadcast_map(y.shape(), out, "t")});
    CHECK(bitwise_equal(r, ops::where(cond, x, y)));
  }
  // concat along the middle axis: one copy per input into its column range.
  std::vector<Tensor> xs = {randn({2, 1, 3}, rng, DType::F32), randn({2, 4, 3}, rng, DType::F32),
                            randn({2, 2, 3}, rng, DType::F32)};
  Tensor c({2, 7, 3}, DType::F32);
  int64_t at = 0;
  for (const Tensor& t : xs) {
    const int64_t len = t.dim(1) * 3;
    run_on_host(t.numel(), cuda::ConcatCopyBody<uint32_t>{words<uint32_t>(t), words<uint32_t>(c), len, 7 * 3, at});
    at += len;
  }
  CHECK(bitwise_equal(c, ops::concat_axis(xs, 1)));
}

TEST_CASE("cuda kernel bodies on the host: pad (constant, reflect, edge, crops) and its gather backward") {
  Rng rng(803);
  struct Case {
    Shape x;
    std::vector<int64_t> pb, pe;
  };
  const Case cases[] = {{{3, 5}, {1, 2}, {2, 3}},
                        {{2, 4, 6}, {0, 3, 1}, {1, 2, 5}},  // edge/reflect pads: reflect needs < axis size
                        {{4, 6}, {-1, 2}, {1, -2}},         // crops
                        {{1, 3, 4}, {2, 0, 3}, {1, 1, 0}}};
  for (const auto& c : cases)
    for (ops::PadMode mode : {ops::PadMode::Constant, ops::PadMode::Reflect, ops::PadMode::Edge}) {
      INFO("x ", shape_str(c.x), " mode ", static_cast<int>(mode));
      bool reflect_ok = true;
      for (size_t d = 0; d < c.x.size(); ++d)
        if ((c.pb[d] >= c.x[d] || c.pe[d] >= c.x[d]) && (c.pb[d] > 0 || c.pe[d] > 0)) reflect_ok = false;
      Tensor x = randn(c.x, rng);
      if (mode == ops::PadMode::Reflect && !reflect_ok) {  // same one-line error as the CPU op
        CHECK_THROWS_AS(cuda::pad_map(c.x, c.pb, c.pe, kind(mode)), Error);
        CHECK_THROWS_AS(ops::pad_axes(x, c.pb, c.pe, mode, 0.0), Error);
        continue;
      }
      const cuda::PadMap m = cuda::pad_map(c.x, c.pb, c.pe, kind(mode));
      const Shape out(m.out_dims, m.out_dims + m.ndim);
      Tensor y(out, DType::F64);
      const double fill = 2.5;
      uint64_t fill_bits;
      static_assert(sizeof(fill_bits) == sizeof(fill));
      std::memcpy(&fill_bits, &fill, sizeof(fill));
      run_on_host(y.numel(), cuda::PadBody<uint64_t>{words<uint64_t>(x), words<uint64_t>(y), fill_bits, m});
      CHECK(bitwise_equal(y, ops::pad_axes(x, c.pb, c.pe, mode, fill)));

      Tensor gy = randn(out, rng), gx(c.x, DType::F64);
      cuda::PadBackMap bm;
      const std::vector<int64_t> csr = cuda::pad_backward_csr(c.x, c.pb, c.pe, kind(mode), bm);
      run_on_host(gx.numel(), cuda::PadBackwardBody<double>{gy.data<double>(), csr.data(), gx.data<double>(), bm});
      CHECK(bitwise_equal(gx, ops::pad_axes_backward(gy, c.pb, c.pe, mode, c.x)));
    }
}

TEST_CASE("cuda kernel bodies on the host: gather along an axis, embedding rows and their scatter-adds") {
  Rng rng(804);
  Tensor data = randn({3, 5, 4}, rng);
  Tensor idx = Tensor::from_vector({2, 3}, std::vector<int64_t>{4, -1, 0, 2, 4, -5});  // repeats, negatives
  const int64_t A = 5, K = 6, inner = 4;
  Tensor y({3, 2, 3, 4}, DType::F64);
  run_on_host(y.numel(),
              cuda::GatherBody<uint64_t>{words<uint64_t>(data), idx.data<int64_t>(), words<uint64_t>(y), A, K, inner});
  CHECK(bitwise_equal(y, ops::gather_axis(data, idx, 1)));
  Tensor gy = randn(y.shape(), rng), gx(data.shape(), DType::F64);
  const std::vector<int64_t> csr = cuda::inverse_index_csr(idx.data<int64_t>(), K, A);
  run_on_host(gx.numel(), cuda::GatherBackwardBody<double>{gy.data<double>(), csr.data(), csr.data() + A + 1,
                                                           gx.data<double>(), A, K, inner});
  CHECK(bitwise_equal(gx, ops::gather_axis_backward(gy, idx, 1, data.shape())));

  // Embedding: a (V, d) table, ids (2, 4) with repeats; scatter-add is the same gather with outer = 1.
  Tensor table = randn({7, 3}, rng, DType::F32);
  Tensor ids = Tensor::from_vector({2, 4}, std::vector<int64_t>{6, 0, 3, 3, 0, 6, 6, 1});
  Tensor e({2, 4, 3}, DType::F32);
  run_on_host(e.numel(),
              cuda::GatherBody<uint32_t>{words<uint32_t>(table), ids.data<int64_t>(), words<uint32_t>(e), 7, 8, 3});
  CHECK(bitwise_equal(e, ops::gather_rows(table, ids)));
  Tensor g = randn({2, 4, 3}, rng, DType::F32), acc({7, 3}, DType::F32);
  const std::vector<int64_t> inv = cuda::inverse_index_csr(ids.data<int64_t>(), 8, 7);
  run_on_host(acc.numel(), cuda::GatherBackwardBody<float>{g.data<float>(), inv.data(), inv.data() + 7 + 1,
                                                           acc.data<float>(), 7, 8, 3});
  CHECK(bitwise_equal(acc, ops::scatter_add_rows(g, ids, 7)));
}
