#include "explain/finite.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/dispatch.h"

namespace xdnn::explain {

int64_t first_nonfinite(const Tensor& t) {
  if (!t.defined() || !t.is_float()) return -1;
  const Tensor h = t.to(Device::CPU);
  return dispatch_float(h.dtype(), [&](auto zero) -> int64_t {
    using T = decltype(zero);
    const T* p = h.data<T>();
    const T largest = std::numeric_limits<T>::max();
    const int64_t n = h.numel();
    for (int64_t b = 0; b < n; b += 4096) {
      const int64_t e = std::min(n, b + 4096);
      int finite = 1;
      for (int64_t i = b; i < e; ++i) finite &= static_cast<int>(std::abs(p[i]) <= largest);
      if (finite) continue;
      for (int64_t i = b; i < e; ++i)
        if (!std::isfinite(p[i])) return i;
    }
    return -1;
  });
}

}  // namespace xdnn::explain
