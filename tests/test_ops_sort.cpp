// engine/ops_sort.h against its definition: stable ranks along the last axis compared with a full sort of
// (NaN flag, value with −0 as +0, index) keys built here, on hand-made rows (ties, ±0, ±∞, NaN), random rows
// full of ties, L = 1, empty rows and tensors without rows, float32 and float64; on 1 and 2 threads and on
// Strict with the same bits; the CUDA kernel body (kernels/sort_body.h) run on the host with the CPU's bits;
// bad operands are one line naming the op.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <tuple>
#include <vector>

#include "engine/ops_sort.h"
#include "engine/random.h"
#include "kernels/sort_body.h"
#include "tests/random_tensors.h"
#include "tests/thread_count.h"

using namespace xdnn;

namespace {

// The definition, independently of the op's stable sort: sort each row's (NaN?, value, index) triples
// lexicographically (a total order: NaNs after every number, −0 and +0 one value, then the index), and
// the position of an element's triple is its rank.
Tensor ranks_by_keys(const Tensor& x) {
  Tensor r(x.shape(), DType::I64);
  const int64_t L = x.dim(-1);
  if (x.numel() == 0) return r;
  for (int64_t row = 0; row < x.numel() / L; ++row) {
    std::vector<std::tuple<bool, double, int64_t>> keys;
    for (int64_t k = 0; k < L; ++k) {
      const double v = x.item(row * L + k);
      keys.emplace_back(std::isnan(v), std::isnan(v) ? 0.0 : v + 0.0, k);  // v + 0.0 turns −0 into +0
    }
    std::sort(keys.begin(), keys.end());
    for (int64_t pos = 0; pos < L; ++pos) r.data<int64_t>()[row * L + std::get<2>(keys[pos])] = pos;
  }
  return r;
}

// Rows of small integers (many ties), with NaN, ±∞ and −0 sprinkled in.
Tensor tied_rows(const Shape& s, Rng& rng, DType dt) {
  Tensor x = random_integers(s, rng, dt, -3, 7);
  const double specials[] = {NAN, INFINITY, -INFINITY, -0.0};
  for (int64_t i = 0; i < x.numel(); ++i)
    if (rng.below(5) == 0) x.set_item(i, specials[rng.below(4)]);
  return x;
}

template <class T>
Tensor body_on_host(const Tensor& x) {
  Tensor r(x.shape(), DType::I64);
  if (x.numel() > 0) cuda::run_on_host(x.numel(), cuda::StableRankBody<T>{x.data<T>(), r.data<int64_t>(), x.dim(-1)});
  return r;
}

std::vector<int64_t> ints(const Tensor& t) {
  std::vector<int64_t> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.data<int64_t>()[i];
  return v;
}

}  // namespace

TEST_CASE("ops::stable_rank_last_axis: ties in index order, ±0 tie, −∞ first, +∞ then NaN last") {
  for (DType dt : {DType::F32, DType::F64}) {
    INFO(dtype_name(dt));
    const Tensor ties = Tensor::from_vector({5}, std::vector<double>{3, 1, 3, 2, 1}).to(dt);
    CHECK(ints(ops::stable_rank_last_axis(ties)) == std::vector<int64_t>{3, 0, 4, 2, 1});
    const Tensor specials =
        Tensor::from_vector({7}, std::vector<double>{NAN, INFINITY, -INFINITY, 0.0, -0.0, NAN, 1}).to(dt);
    CHECK(ints(ops::stable_rank_last_axis(specials)) == std::vector<int64_t>{5, 4, 0, 1, 2, 6, 3});
    const Tensor nan_first = Tensor::from_vector({2, 3}, std::vector<double>{NAN, 2, 1, 5, 5, -0.0}).to(dt);
    CHECK(ints(ops::stable_rank_last_axis(nan_first)) == std::vector<int64_t>{2, 1, 0, 1, 2, 0});
  }
}

TEST_CASE("ops::stable_rank_last_axis: random tied rows equal the key sort, a permutation per row, any threads") {
  Rng rng(17);
  testing::RestoreThreadCount restore;
  const std::vector<Shape> shapes = {{1, 1}, {6, 1}, {4, 9}, {2, 3, 17}, {64, 300}, {3, 0}, {0, 5}, {2, 0, 4}, {40}};
  for (DType dt : {DType::F32, DType::F64})
    for (const Shape& s : shapes) {
      INFO(dtype_name(dt), " ", shape_str(s));
      const Tensor x = tied_rows(s, rng, dt);
      set_num_threads(1);
      const Tensor one = ops::stable_rank_last_axis(x);
      set_num_threads(2);
      const Tensor two = ops::stable_rank_last_axis(x);
      CHECK(one.dtype() == DType::I64);
      CHECK(one.shape() == s);
      CHECK(bitwise_equal(one, ranks_by_keys(x)));
      CHECK(bitwise_equal(two, one));
      const int64_t L = s.back();
      for (int64_t row = 0; L > 0 && row < x.numel() / L; ++row) {
        std::vector<int64_t> r(one.data<int64_t>() + row * L, one.data<int64_t>() + (row + 1) * L);
        std::sort(r.begin(), r.end());
        std::vector<int64_t> identity(static_cast<size_t>(L));
        std::iota(identity.begin(), identity.end(), int64_t{0});
        CHECK(r == identity);
      }
      const Tensor strict = ops::stable_rank_last_axis(x.to(Device::Strict));
      CHECK(strict.device() == Device::Strict);
      CHECK(bitwise_equal(strict.to(Device::CPU), one));
    }
}

TEST_CASE("cuda kernel body on the host: stable_rank_last_axis's counting equals the CPU's stable sort") {
  Rng rng(29);
  for (DType dt : {DType::F32, DType::F64})
    for (const Shape& s : std::vector<Shape>{{1, 1}, {5, 1}, {3, 50}, {2, 2, 33}, {3, 0}, {60}}) {
      INFO(dtype_name(dt), " ", shape_str(s));
      const Tensor x = tied_rows(s, rng, dt);
      const Tensor body = dt == DType::F32 ? body_on_host<float>(x) : body_on_host<double>(x);
      CHECK(bitwise_equal(body, ops::stable_rank_last_axis(x)));
    }
  // Distinct values too (no ties): the counting and the sort agree on plain orders.
  const Tensor distinct = random_normal({4, 77}, rng, DType::F64);
  CHECK(bitwise_equal(body_on_host<double>(distinct), ops::stable_rank_last_axis(distinct)));
}

TEST_CASE("ops::stable_rank_last_axis: integer or scalar operands are one line naming the op") {
  CHECK_THROWS_WITH_AS(ops::stable_rank_last_axis(Tensor({2, 3}, DType::I64)),
                       doctest::Contains("stable_rank_last_axis: expected a float tensor"), Error);
  CHECK_THROWS_WITH_AS(ops::stable_rank_last_axis(Tensor(Shape{}, DType::F64)),
                       doctest::Contains("stable_rank_last_axis: expected at least one axis"), Error);
  CHECK_THROWS_WITH_AS(ops::stable_rank_last_axis(Tensor()), doctest::Contains("stable_rank_last_axis"), Error);
}
