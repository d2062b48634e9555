// Internal helper for CPU op implementations: call a generic lambda with a value of the scalar type of
// a float tensor. Used as  dispatch_float(x.dtype(), [&](auto zero) { using T = decltype(zero); ... });
#pragma once
#include "engine/tensor.h"

namespace xdnn {

template <class Fn>
decltype(auto) dispatch_float(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::F32:
      return fn(float(0));
    case DType::F64:
      return fn(double(0));
    default:
      break;
  }
  throw Error(std::string("expected a float32 or float64 tensor, got ") + dtype_name(dtype));
}

}  // namespace xdnn
