// A small fork-join thread pool. parallel_for cuts [0, n) into chunks whose boundaries depend only on n
// and grain (parallel_chunk_size), never on the thread count or on timing; the calling thread and the
// workers take chunks one at a time, so a worker that is descheduled or slow to wake leaves its chunks
// to the others instead of holding up the region (engine/parallel.cpp).
//
// Determinism contract: callers make every index's result independent of which range it lands in (no
// shared accumulators, no order-dependent reductions across ranges). Reductions over a batch are written
// as GEMMs whose inner dimension runs over the batch, or as fixed-size chunks summed in chunk order, so
// results are bit-identical for every thread count. Nested calls run their chunks in order on the
// calling thread.
//
// Cost: a fork-join costs about a microsecond when the workers are still spinning from the previous
// region (they spin briefly before blocking), tens of microseconds when they must be woken from a futex.
// Callers pick `grain` so that one range is worth at least that much work (≈ 16 k element-wise ops);
// a region of one chunk runs on the calling thread without waking anyone.
#pragma once
#include <cstdint>
#include <string>
#include <type_traits>

namespace xdnn {

// Number of threads used by parallel_for. Defaults to $XDNN_NUM_THREADS, else the hardware count. Throws
// Error when $XDNN_NUM_THREADS is not a whole number from 1 to kMaxThreads. Where fewer threads can be
// started than asked for (a thread or memory limit), the pool runs with those it got and says so once
// on stderr.
int num_threads();
// Throws Error unless 1 ≤ n ≤ kMaxThreads.
void set_num_threads(int n);
inline constexpr int kMaxThreads = 4096;
// The thread count that $XDNN_NUM_THREADS = `value` asks for; throws Error naming the variable and the
// value unless it is a whole number from 1 to kMaxThreads.
int parse_num_threads(const std::string& value);

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

// fn(begin, end) is called on the chunks [c·size, min(n, (c+1)·size)) of size = parallel_chunk_size(n,
// grain), each exactly once, in some order and on some thread; a loop of one chunk (n ≤ grain) runs on
// the calling thread.
void parallel_for(int64_t n, int64_t grain, RangeFn fn);

// The grain for a loop whose indices cost about `work` element operations each: chunks worth at least
// kChunkWork operations (several µs), so a loop worth less than two of them runs on the calling thread
// and wakes no one. A fork-join on a tiny loop costs more than the loop, and under contention it can
// wait a whole time slice for a worker that lost its core.
inline constexpr int64_t kChunkWork = int64_t(1) << 15;
inline int64_t grain_for_work(int64_t work) {
  return work >= kChunkWork ? 1 : (kChunkWork + work - 1) / (work < 1 ? 1 : work);
}

// The chunk length parallel_for uses: at least grain, and large enough that there are at most 64 chunks
// (enough for 16 threads to balance, few enough that taking a chunk costs nothing next to running it).
int64_t parallel_chunk_size(int64_t n, int64_t grain);

}  // namespace xdnn
