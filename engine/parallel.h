// A small fork-join thread pool. parallel_for splits [0, n) into contiguous ranges, one per thread.
//
// Determinism contract: callers make every index's result independent of which range it lands in (no
// shared accumulators, no order-dependent reductions across ranges). Reductions over a batch are written
// as GEMMs whose inner dimension runs over the batch, or as fixed-size chunks summed in chunk order, so
// results are bit-identical for every thread count. Nested calls run serially on the calling thread.
#pragma once
#include <cstdint>
#include <functional>

namespace xdnn {

// Number of threads used by parallel_for. Defaults to $XDNN_NUM_THREADS, else the hardware count.
int num_threads();
void set_num_threads(int n);

// fn(begin, end) is called on disjoint ranges covering [0, n); ranges are at least `grain` long
// (except the last), so tiny loops stay on one thread.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace xdnn
