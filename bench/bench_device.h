// The device of a benchmark case: the CPU, or CUDA when the backend is built and a GPU is usable. Without one
// the case is skipped with the reason ("no CUDA device: ..."), so a CPU-only machine lists it as skipped
// instead of timing the CPU under a CUDA label.
#pragma once
#include <benchmark/benchmark.h>

#include "engine/device.h"
#include "engine/error.h"

namespace xdnn {

// Sets `device` and returns true, or marks the case skipped and returns false.
inline bool bench_device(benchmark::State& state, bool on_cuda, Device& device) {
  device = Device::CPU;
  if (!on_cuda) return true;
  try {
    device = select_device("cuda", "--device");
    return true;
  } catch (const Error& e) {
    state.SkipWithError(e.what());
    return false;
  }
}

}  // namespace xdnn
