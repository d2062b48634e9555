// A small fork-join thread pool. parallel_for splits [0, n) into contiguous ranges, one per thread.
//
// Determinism contract: callers make every index's result independent of which range it lands in (no
// shared accumulators, no order-dependent reductions across ranges). Reductions over a batch are written
// as GEMMs whose inner dimension runs over the batch, or as fixed-size chunks summed in chunk order, so
// results are bit-identical for every thread count. Nested calls run serially on the calling thread.
//
// Cost: a fork-join costs about a microsecond when the workers are still spinning from the previous
// region (they spin briefly before blocking), tens of microseconds when they must be woken from a futex.
// Callers pick `grain` so that one range is worth at least that much work (≈ 16 k element-wise ops).
#pragma once
#include <cstdint>
#include <type_traits>

namespace xdnn {

// Number of threads used by parallel_for. Defaults to $XDNN_NUM_THREADS, else the hardware count.
int num_threads();
void set_num_threads(int n);

// A non-owning reference to a callable fn(begin, end): unlike std::function it never allocates, so a
// parallel_for on a small loop costs no heap traffic. Valid only while the callable lives (parallel_for
// is synchronous, so a lambda temporary at the call site is fine).
class RangeFn {
 public:
  template <class F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, RangeFn>)
      RangeFn(const F& f)  // NOLINT: implicit, so callers pass lambdas directly
      : obj_(&f), call_([](const void* o, int64_t b, int64_t e) { (*static_cast<const F*>(o))(b, e); }) {}
  void operator()(int64_t b, int64_t e) const { call_(obj_, b, e); }

 private:
  const void* obj_;
  void (*call_)(const void*, int64_t, int64_t);
};

// fn(begin, end) is called on disjoint ranges covering [0, n); ranges are at least `grain` long
// (except the last), so tiny loops stay on one thread.
void parallel_for(int64_t n, int64_t grain, RangeFn fn);

}  // namespace xdnn
