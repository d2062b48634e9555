#include "engine/memory.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace xdnn {

void keep_freed_tensor_memory() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
}

}  // namespace xdnn
