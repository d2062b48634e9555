// CUDA backend on a GPU: every kernel against its CPU twin on fresh random inputs (relative L2 error at
// most 1e-5 for element-wise fp32 work, 1e-4 for reductions and products), device tensors, the memory
// pool and the device errors. Without a device (or in a build without the backend) each GPU test case
// is skipped by doctest's skip decorator (counted as skipped in the summary), and the first test case
// prints the reason and checks the one-line error that `--device cuda` gives.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "kernels/cuda_ops.h"
#include "tests/cuda_skip.h"

using namespace xdnn;
using testing::no_gpu;
using testing::no_gpu_reason;

namespace {

Tensor random_tensor(const Shape& s, DType dt, Rng& rng, double lo = -2, double hi = 2) {
  Tensor t(s, dt);
  for (int64_t i = 0; i < t.numel(); ++i) t.set_item(i, rng.uniform(lo, hi));
  return t;
}

double rel_l2(const Tensor& got_any, const Tensor& want) {
  const Tensor got = got_any.to(Device::CPU);
  REQUIRE(got.shape() == want.shape());
  double num = 0, den = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double d = got.item(i) - want.item(i);
    num += d * d;
    den += want.item(i) * want.item(i);
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

Tensor gpu(const Tensor& t) { return t.to(Device::CUDA); }

}  // namespace

TEST_CASE("cuda: availability (prints why GPU tests are skipped) and the --device cuda error") {
  if (no_gpu()) {
    MESSAGE("CUDA tests are skipped: " << no_gpu_reason());
    try {
      select_device("cuda", "--device");
      FAIL("--device cuda succeeded without a GPU");
    } catch (const Error& e) {
      const std::string what = e.what();
      CHECK(what.find("--device cuda") != std::string::npos);
      CHECK(what.find('\n') == std::string::npos);
      CHECK(what.find("--device cpu") != std::string::npos);  // says what to do
    }
    CHECK_THROWS_AS(Tensor({2}, DType::F32, Device::CUDA), Error);
  } else {
    CHECK(select_device("cuda", "--device") == Device::CUDA);
  }
  CHECK(select_device("cpu", "--device") == Device::CPU);
  CHECK_THROWS_AS(select_device("tpu", "--device"), Error);
  const std::string v = version_text("0.1.0");
  CHECK(v.find("backends: cpu") != std::string::npos);
  if constexpr (cuda::kBuilt) CHECK(v.find("cuBLAS") != std::string::npos);
}

TEST_CASE("cuda: device tensors, copies, host access errors, pool reuse" * doctest::skip(no_gpu())) {
  if (no_gpu()) FAIL("run with --no-skip but there is no GPU: " << no_gpu_reason());
  Rng rng(1);
  const Tensor h = random_tensor({3, 5}, DType::F32, rng);
  const Tensor d = gpu(h);
  CHECK(d.device() == Device::CUDA);
  CHECK(d.describe().find("on cuda") != std::string::npos);
  CHECK_THROWS_AS(d.data<float>(), Error);
  CHECK(bitwise_equal(d.to(Device::CPU), h));
  CHECK(d.item(7) == h.item(7));
  CHECK(bitwise_equal(d.clone().to(Device::CPU), h));
  CHECK(bitwise_equal(d.to(DType::F64).to(Device::CPU), h.to(DType::F64)));
  Tensor z({4, 4}, DType::F64, Device::CUDA);  // zero-initialised
  CHECK(ops::sum_all(z.to(Device::CPU)) == 0);
  z.fill(1.5);
  CHECK(z.to(Device::CPU).item(15) == 1.5);
  Tensor rows = d.slice_batch(1, 3);  // a view on device memory
  CHECK(bitwise_equal(rows.to(Device::CPU), h.slice_batch(1, 3).clone()));
  // Mixed devices: one-line error.
  CHECK_THROWS_AS(ops::add(d, h), Error);
  // Pool: a freed block of the same bin is reused without a new cudaMalloc. (The pool functions exist only
  // in a CUDA build; this test case only runs in one.)
  if constexpr (cuda::kBuilt) {
    { Tensor t = Tensor::empty({1000}, DType::F32, Device::CUDA); }
    const size_t calls = cuda::pool_stats().malloc_calls;
    { Tensor t = Tensor::empty({1000}, DType::F32, Device::CUDA); }
    CHECK(cuda::pool_stats().malloc_calls == calls);
    cuda::empty_cache();
    CHECK(cuda::pool_stats().cached_bytes == 0);
  }
  // Out of memory: one line with the size requested and what is free.
  try {
    Tensor huge({int64_t(1) << 50}, DType::F32, Device::CUDA);
    FAIL("a 4 PiB allocation succeeded");
  } catch (const Error& e) {
    const std::string what = e.what();
    CHECK(what.find("out of memory") != std::string::npos);
    CHECK(what.find("free") != std::string::npos);
    CHECK(what.find("batch") != std::string::npos);
  }
}

TEST_CASE("cuda: matmul and batched_matmul (cuBLAS) match the CPU" * doctest::skip(no_gpu())) {
  if (no_gpu()) FAIL("run with --no-skip but there is no GPU: " << no_gpu_reason());
  Rng rng(2);
  for (DType dt : {DType::F32, DType::F64})
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        const int64_t M = 37, N = 19, K = 65;
        const Tensor a = random_tensor(ta ? Shape{K, M} : Shape{M, K}, dt, rng);
        const Tensor b = random_tensor(tb ? Shape{N, K} : Shape{K, N}, dt, rng);
        CHECK(rel_l2(ops::matmul(gpu(a), gpu(b), ta, tb), ops::matmul(a, b, ta, tb)) <= 1e-4);
        Tensor c = random_tensor({M, N}, dt, rng);
        Tensor cg = gpu(c);
        ops::matmul_into(gpu(a), gpu(b), cg, ta, tb, 0.5, -1.25);
        ops::matmul_into(a, b, c, ta, tb, 0.5, -1.25);
        CHECK(rel_l2(cg, c) <= 1e-4);
        const Tensor ba = random_tensor(ta ? Shape{3, K, M} : Shape{3, M, K}, dt, rng);
        const Tensor bb = random_tensor(tb ? Shape{3, N, K} : Shape{3, K, N}, dt, rng);
        CHECK(rel_l2(ops::batched_matmul(gpu(ba), gpu(bb), ta, tb), ops::batched_matmul(ba, bb, ta, tb)) <= 1e-4);
      }
}

TEST_CASE("cuda: element-wise ops with broadcasting match the CPU" * doctest::skip(no_gpu())) {
  if (no_gpu()) FAIL("run with --no-skip but there is no GPU: " << no_gpu_reason());
  Rng rng(3);
  for (DType dt : {DType::F32, DType::F64}) {
    for (int u = 0; u <= static_cast<int>(ops::Unary::Step); ++u) {
      const auto op = static_cast<ops::Unary>(u);
      const bool positive = op == ops::Unary::Log || op == ops::Unary::Sqrt || op == ops::Unary::Reciprocal;
      const Tensor x = random_tensor({1031}, dt, rng, positive ? 0.1 : -3, 3);
      CHECK_MESSAGE(rel_l2(ops::unary(op, gpu(x)), ops::unary(op, x)) <= 1e-5, "unary " << u);
    }
    const std::vector<std::pair<Shape, Shape>> cases = {
        {{5, 7}, {5, 7}}, {{2, 3}, {3}}, {{4, 1, 5}, {3, 1}}, {{13, 17}, {17}}, {{2, 3, 4, 5}, {2, 1, 4, 1}}};
    for (const auto& shapes : cases)
      for (int o = 0; o <= static_cast<int>(ops::Binary::Min); ++o) {
        const Shape &sa = shapes.first, &sb = shapes.second;
        const auto op = static_cast<ops::Binary>(o);
        const Tensor a = random_tensor(sa, dt, rng), b = random_tensor(sb, dt, rng, 0.5, 2.5);
        const Tensor want = ops::binary(op, a, b);
        CHECK_MESSAGE(rel_l2(ops::binary(op, gpu(a), gpu(b)), want) <= 1e-5, "binary " << o << shape_str(sa));
        CHECK(rel_l2(ops::sum_to_shape(gpu(want), sb), ops::sum_to_shape(want, sb)) <= 1e-5);
      }
    const Tensor x = random_tensor({4099}, dt, rng), y = random_tensor({4099}, dt, rng);
    CHECK(rel_l2(ops::scale(gpu(x), -0.3), ops::scale(x, -0.3)) <= 1e-5);
    CHECK(rel_l2(ops::add_scalar(gpu(x), 0.7), ops::add_scalar(x, 0.7)) <= 1e-5);
    CHECK(rel_l2(ops::stabilize(gpu(x), 1e-3), ops::stabilize(x, 1e-3)) <= 1e-5);
    CHECK(rel_l2(ops::clip(gpu(x), -0.5, 1.0), ops::clip(x, -0.5, 1.0)) <= 1e-5);
    Tensor yg = gpu(y), yc = y.clone();
    ops::axpy_inplace(yg, 0.25, gpu(x));
    ops::axpy_inplace(yc, 0.25, x);
    ops::add_inplace(yg, gpu(x));
    ops::add_inplace(yc, x);
    CHECK(rel_l2(yg, yc) <= 1e-5);
  }
}

TEST_CASE("cuda: sum_all and dot_all match the CPU and are deterministic" * doctest::skip(no_gpu())) {
  if (no_gpu()) FAIL("run with --no-skip but there is no GPU: " << no_gpu_reason());
  Rng rng(4);
  for (DType dt : {DType::F32, DType::F64})
    for (int64_t n : {int64_t(1), int64_t(1000), int64_t(70001), int64_t(300007)}) {
      const Tensor a = random_tensor({n}, dt, rng), b = random_tensor({n}, dt, rng);
      const Tensor ga = gpu(a), gb = gpu(b);
      const double s = ops::sum_all(ga), d = ops::dot_all(ga, gb);
      CHECK(std::abs(s - ops::sum_all(a)) <= 1e-4 * (1 + std::abs(ops::sum_all(a))));
      CHECK(std::abs(d - ops::dot_all(a, b)) <= 1e-4 * (1 + std::abs(ops::dot_all(a, b))));
      CHECK(ops::sum_all(ga) == s);  // same bits on a second run
      CHECK(ops::dot_all(ga, gb) == d);
    }
}

TEST_CASE("cuda: softmax, log-softmax, cross-entropy and their backward match the CPU" * doctest::skip(no_gpu())) {
  if (no_gpu()) FAIL("run with --no-skip but there is no GPU: " << no_gpu_reason());
  Rng rng(5);
  for (DType dt : {DType::F32, DType::F64}) {
    const Tensor x = random_tensor({3, 5, 7}, dt, rng, -6, 6), dy = random_tensor({3, 5, 7}, dt, rng);
    for (int axis : {0, 1, 2, -1}) {
      const Tensor y = ops::softmax(x, axis), ly = ops::log_softmax(x, axis);
      CHECK(rel_l2(ops::softmax(gpu(x), axis), y) <= 1e-5);
      CHECK(rel_l2(ops::log_softmax(gpu(x), axis), ly) <= 1e-5);
      CHECK(rel_l2(ops::softmax_backward(gpu(y), gpu(dy), axis), ops::softmax_backward(y, dy, axis)) <= 1e-5);
      CHECK(rel_l2(ops::log_softmax_backward(gpu(ly), gpu(dy), axis), ops::log_softmax_backward(ly, dy, axis)) <= 1e-5);
    }
    const Tensor z = random_tensor({17, 10}, dt, rng, -4, 4);
    Tensor labels({17}, DType::I64);
    for (int64_t n = 0; n < 17; ++n) labels.set_item(n, static_cast<double>(rng.below(10)));
    CHECK(rel_l2(ops::cross_entropy_per_example(gpu(z), gpu(labels)), ops::cross_entropy_per_example(z, labels)) <=
          1e-5);
    CHECK(rel_l2(ops::cross_entropy_backward(gpu(z), gpu(labels), 0.1), ops::cross_entropy_backward(z, labels, 0.1)) <=
          1e-5);
    Tensor bad = labels.clone();
    bad.set_item(3, 10);
    CHECK_THROWS_AS(ops::cross_entropy_per_example(gpu(z), gpu(bad)), Error);
    const Tensor s = ops::softmax_last_axis(x);
    CHECK(rel_l2(ops::softmax_last_axis(gpu(x)), s) <= 1e-5);
    CHECK(rel_l2(ops::softmax_last_axis_backward(gpu(s), gpu(dy)), ops::softmax_last_axis_backward(s, dy)) <= 1e-5);
  }
}
