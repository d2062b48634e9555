// engine/memory.h: large host blocks kept freed for reuse (after keep_freed_tensor_memory, as the command line
// and the benchmarks call it). A reused block comes back as the same memory, a zero-initialised tensor on it
// is zero again, and a request of another size gives the kept blocks back first.
#include <doctest/doctest.h>

#include <cstdint>

#include "engine/memory.h"
#include "engine/tensor.h"

using namespace xdnn;

TEST_CASE("large host blocks: kept freed for the next request of the same size, zeroed for a new tensor") {
  keep_freed_tensor_memory();  // process-wide; changes no number anywhere
  const size_t bytes = kLargeBlockBytes + 64 * 1000;
  void* a = allocate_host_block(bytes);
  REQUIRE(a != nullptr);
  CHECK(reinterpret_cast<std::uintptr_t>(a) % 64 == 0);
  release_host_block(a, bytes);
  void* b = allocate_host_block(bytes);
  CHECK(b == a);  // the kept block
  release_host_block(b, bytes);
  void* other = allocate_host_block(bytes + 64);  // another size: the kept block goes back first
  REQUIRE(other != nullptr);
  release_host_block(other, bytes + 64);
  void* c = allocate_host_block(bytes + 64);
  CHECK(c == other);
  release_host_block(c, bytes + 64);

  // A tensor on a reused block is zero-initialised like any other.
  const int64_t n = static_cast<int64_t>(bytes / sizeof(float));
  const void* first = nullptr;
  {
    Tensor t({n}, DType::F32);
    first = t.raw_data();
    float* p = t.data<float>();
    for (int64_t i = 0; i < n; i += 4096) p[i] = 1.0f;
    p[n - 1] = 2.0f;
  }
  Tensor again({n}, DType::F32);
  CHECK(again.raw_data() == first);
  const float* q = again.data<float>();
  bool zero = q[n - 1] == 0.0f;
  for (int64_t i = 0; i < n; i += 4096) zero = zero && q[i] == 0.0f;
  CHECK(zero);

  release_host_block(nullptr, bytes);  // nothing to release
}
