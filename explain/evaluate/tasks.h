// Independent tasks of the evaluation run side by side: the perturbed re-runs of max-sensitivity, the
// model calls of the perturbation curves, the methods of a table. Each task is one call the sequential
// code made before, with the same inputs, writing only its own slot; ops inside a task run on the task's
// thread (nested parallel_for, engine/parallel.h), and a forward pass gives the same bits on any thread
// and for any thread count, so results are bit-identical to running the tasks one after another.
// Why: fashion-cnn's forward on 32-64 rows is too small for the ops to keep two cores busy (a RISE run on
// 100 images took 3.0 s of CPU in 3.3 s of wall time with --threads 2); whole tasks do.
#pragma once
#include <cstdint>
#include <exception>
#include <functional>
#include <vector>

#include "engine/parallel.h"

namespace xdnn::explain {

// Calls task(i) for every i in [0, n), concurrently over the thread pool. When tasks throw, the error of
// the lowest index is rethrown after all have finished (the same message whatever the timing).
inline void run_tasks(int64_t n, const std::function<void(int64_t i)>& task) {
  std::vector<std::exception_ptr> errors(static_cast<size_t>(n > 0 ? n : 0));
  parallel_for(n, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) try {
        task(i);
      } catch (...) {
        errors[i] = std::current_exception();
      }
  });
  for (const auto& error : errors)
    if (error) std::rethrow_exception(error);
}

}  // namespace xdnn::explain
