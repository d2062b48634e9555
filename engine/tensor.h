// xdnn::Tensor: an n-d array with a shape, contiguous row-major storage, a dtype and a device.
//
// Design notes
// - Storage is always contiguous; strides() is derived from the shape. A tensor may view a contiguous
//   range of another tensor's storage (slice_batch, reshape), which is how batches are chunked without
//   copies.
// - Float tensors are F32 (what models run in) or F64 (what the finite-difference gradient checks and
//   reference computations run in). Layers and ops are written once as templates over the scalar type
//   and dispatch on dtype(). I64 holds labels and token ids.
// - The device lives on the storage. Only engine/ops knows how to compute on a device; everything above
//   calls ops:: and never touches device pointers. Device storage comes from the device's backend
//   (engine/backend.h: CUDA's caching pool); to(Device) copies between host and device. data<T>() is
//   host-only and throws on a CUDA or Strict tensor; backends use device_data<T>().
// - Device::Strict is host memory that host code may not read: its ops run the CPU implementations
//   through the same dispatch as CUDA (engine/strict_backend.cpp), and data<T>(), raw_data(), item and
//   set_item on it throw naming the caller's file and line. A test device: what runs on Strict computes
//   only through ops::, so it would run on a GPU.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/error.h"

namespace xdnn {

enum class DType : uint8_t { F32, F64, I64 };
enum class Device : uint8_t { CPU, CUDA, Strict };

using Shape = std::vector<int64_t>;

const char* dtype_name(DType d);        // "float32", "float64", "int64"
const char* device_name(Device d);      // "cpu", "cuda", "strict"
size_t dtype_size(DType d);             // bytes per element
std::string shape_str(const Shape& s);  // "(2, 1, 28, 28)"
// Element count; throws when a dimension is negative, on overflow or above kMaxTensorElements
// (engine/shape_util.h): every allocation goes through it.
int64_t shape_numel(const Shape& s);

template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::F32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::F64;
}
template <>
constexpr DType dtype_of<int64_t>() {
  return DType::I64;
}

// A block of memory on one device. CPU blocks are 64-byte aligned; other devices' blocks come from their
// backend (engine/backend.h).
struct Storage {
  void* ptr = nullptr;
  size_t bytes = 0;
  Device device = Device::CPU;
  // Set on a view of another storage's block under another device label (the Strict backend running a
  // CPU implementation on its memory): the block belongs to `owner`, which this keeps alive.
  std::shared_ptr<Storage> owner;
  // zero_fill = false leaves the bytes uninitialised (for outputs an op overwrites completely).
  Storage(size_t nbytes, Device dev, bool zero_fill = true);
  Storage(std::shared_ptr<Storage> viewed, Device dev);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor (defined() == false), e.g. a missing bias
  // Zero-initialised tensor of the given shape.
  explicit Tensor(Shape shape, DType dtype = DType::F32, Device device = Device::CPU);
  // Uninitialised storage: only for outputs that the caller writes element by element in full.
  static Tensor empty(Shape shape, DType dtype = DType::F32, Device device = Device::CPU);

  static Tensor zeros(Shape shape, DType dtype = DType::F32) { return Tensor(std::move(shape), dtype); }
  static Tensor full(Shape shape, double value, DType dtype = DType::F32);
  static Tensor from_vector(Shape shape, const std::vector<float>& v);
  static Tensor from_vector(Shape shape, const std::vector<double>& v);
  static Tensor from_vector(Shape shape, const std::vector<int64_t>& v);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  Shape strides() const;  // in elements, row-major
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const;  // negative i counts from the end
  int64_t numel() const { return shape_numel(shape_); }
  DType dtype() const { return dtype_; }
  Device device() const;
  bool is_float() const { return dtype_ == DType::F32 || dtype_ == DType::F64; }

  // Typed element access (CPU only). Throws if T does not match dtype() or the tensor is not in host
  // memory (CUDA, Strict); the error names the caller's file and line (the default arguments).
  template <class T>
  T* data(const char* file = __builtin_FILE(), int line = __builtin_LINE());
  template <class T>
  const T* data(const char* file = __builtin_FILE(), int line = __builtin_LINE()) const;
  void* raw_data(const char* file = __builtin_FILE(), int line = __builtin_LINE());
  const void* raw_data(const char* file = __builtin_FILE(), int line = __builtin_LINE()) const;
  // The element pointer on the tensor's own device, for backends (the CUDA kernels). Throws if T != dtype().
  template <class T>
  T* device_data();
  template <class T>
  const T* device_data() const;
  void* raw_device_data();
  const void* raw_device_data() const;

  // Read/write one element as double (slow; for tests, tooling and small bookkeeping). On CUDA one
  // element is copied; on Strict it throws naming the caller.
  double item(int64_t flat_index = 0, const char* file = __builtin_FILE(), int line = __builtin_LINE()) const;
  void set_item(int64_t flat_index, double value, const char* file = __builtin_FILE(), int line = __builtin_LINE());

  Tensor reshape(Shape new_shape) const;                 // shares storage; one entry may be -1
  Tensor slice_batch(int64_t begin, int64_t end) const;  // rows [begin, end) of dim 0, shares storage
  Tensor clone() const;                                  // deep copy
  Tensor to(DType dtype) const;                          // converted copy (or *this if same dtype)
  Tensor to(Device device) const;                        // copy on `device` (or *this if already there)
  void copy_from(const Tensor& src);                     // same numel and dtype, any devices
  void fill(double value);

  std::string describe() const;  // "float32 (2, 1, 28, 28)", plus " on cuda" / " on strict"

 private:
  friend struct StrictAccess;  // engine/strict_backend.cpp
  // The same elements under another device label, sharing the storage (no copy): how the Strict
  // backend hands its tensors to the CPU implementations and takes their results back.
  Tensor viewed_on(Device device) const;
  Tensor slice_element(int64_t flat_index) const;  // a (1,) view of one element (shares storage)
  std::shared_ptr<Storage> storage_;
  Shape shape_;
  DType dtype_ = DType::F32;
  int64_t offset_ = 0;  // in elements
};

// Bit-level equality of two tensors (same shape, dtype and bytes). For determinism tests.
bool bitwise_equal(const Tensor& a, const Tensor& b);

}  // namespace xdnn
