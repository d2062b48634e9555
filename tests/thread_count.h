// Restores the thread pool's size when a test scope ends, so a test that varies it (to check that results have
// the same bits for any thread count) leaves none behind.
#pragma once
#include "engine/parallel.h"

namespace xdnn::testing {

struct RestoreThreadCount {
  int saved = num_threads();
  ~RestoreThreadCount() { set_num_threads(saved); }
};

}  // namespace xdnn::testing
