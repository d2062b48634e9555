#include "engine/tensor.h"

#include <cstdlib>
#include <cstring>
#include <sstream>
#include <type_traits>

#include "engine/backend.h"
#include "engine/check.h"
#include "engine/memory.h"
#include "engine/shape_util.h"

namespace xdnn {

const char* dtype_name(DType d) {
  switch (d) {
    case DType::F32:
      return "float32";
    case DType::F64:
      return "float64";
    case DType::I64:
      return "int64";
  }
  return "?";
}

const char* device_name(Device d) {
  switch (d) {
    case Device::CPU:
      return "cpu";
    case Device::CUDA:
      return "cuda";
    case Device::Strict:
      return "strict";
  }
  return "?";
}

size_t dtype_size(DType d) { return d == DType::F32 ? 4 : 8; }

std::string shape_str(const Shape& s) {
  std::ostringstream o;
  o << "(";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  if (s.size() == 1) o << ",";
  o << ")";
  return o.str();
}

int64_t shape_numel(const Shape& s) { return checked_numel(s, "tensor"); }

Storage::Storage(size_t nbytes, Device dev, bool zero_fill) : bytes(nbytes), device(dev) {
  if (dev != Device::CPU) {
    const Backend* b = find_backend(dev);
    if (!b)
      throw Error("a CUDA tensor was requested, but this xdnn was built without the CUDA backend",
                  "reconfigure with `meson setup -Dcuda=enabled` (needs nvcc in /usr/local/cuda)");
    ptr = b->allocate(nbytes, zero_fill);
    return;
  }
  size_t rounded = (nbytes + 63) / 64 * 64;
  if (rounded == 0) rounded = 64;
  ptr = allocate_host_block(rounded);  // engine/memory.h: large blocks may be reused ones
  if (!ptr) throw Error("out of memory allocating " + std::to_string(nbytes) + " bytes");
  if (zero_fill) std::memset(ptr, 0, rounded);
}

Storage::Storage(std::shared_ptr<Storage> viewed, Device dev)
    : ptr(viewed->ptr), bytes(viewed->bytes), device(dev), owner(std::move(viewed)) {}

Storage::~Storage() {
  if (owner) return;  // a view: the block is the owner's
  if (device != Device::CPU) {
    if (const Backend* b = find_backend(device)) b->release(ptr);
    return;
  }
  release_host_block(ptr, bytes == 0 ? 64 : (bytes + 63) / 64 * 64);  // the size allocate_host_block was given
}

Tensor::Tensor(Shape shape, DType dtype, Device device) : shape_(std::move(shape)), dtype_(dtype) {
  for (int64_t d : shape_)
    if (d < 0) throw Error("negative dimension in shape " + shape_str(shape_));
  storage_ = std::make_shared<Storage>(static_cast<size_t>(numel()) * dtype_size(dtype), device);
}

Tensor Tensor::empty(Shape shape, DType dtype, Device device) {
  Tensor t;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  for (int64_t d : t.shape_)
    if (d < 0) throw Error("negative dimension in shape " + shape_str(t.shape_));
  t.storage_ = std::make_shared<Storage>(static_cast<size_t>(t.numel()) * dtype_size(dtype), device, false);
  return t;
}

Tensor Tensor::full(Shape shape, double value, DType dtype) {
  Tensor t(std::move(shape), dtype);
  t.fill(value);
  return t;
}

template <class T>
static Tensor from_vec(Shape shape, const std::vector<T>& v) {
  if (shape_numel(shape) != static_cast<int64_t>(v.size()))
    throw Error("from_vector: " + std::to_string(v.size()) + " values do not fill shape " + shape_str(shape));
  Tensor t(std::move(shape), dtype_of<T>());
  if (!v.empty()) std::memcpy(t.data<T>(), v.data(), v.size() * sizeof(T));
  return t;
}
Tensor Tensor::from_vector(Shape s, const std::vector<float>& v) { return from_vec(std::move(s), v); }
Tensor Tensor::from_vector(Shape s, const std::vector<double>& v) { return from_vec(std::move(s), v); }
Tensor Tensor::from_vector(Shape s, const std::vector<int64_t>& v) { return from_vec(std::move(s), v); }

Shape Tensor::strides() const {
  Shape st(shape_.size());
  int64_t acc = 1;
  for (int i = ndim() - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= shape_[i];
  }
  return st;
}

int64_t Tensor::dim(int i) const {
  int n = ndim();
  int j = i < 0 ? i + n : i;
  if (j < 0 || j >= n)
    throw Error("dimension " + std::to_string(i) + " out of range for a tensor of shape " + shape_str(shape_));
  return shape_[j];
}

Device Tensor::device() const { return storage_ ? storage_->device : Device::CPU; }

// Host access to a device tensor: one line naming it, the accessor, the caller and what to do.
[[noreturn]] static void throw_not_on_host(const Tensor& t, const char* accessor, const char* file, int line) {
  if (t.device() == Device::Strict)
    throw Error(std::string(accessor) + " on strict tensor " + t.describe() + " at " +
                CheckMessage("", file, line).place() +
                ": host code may not read device memory (compute through ops::)");
  throw Error("tensor " + t.describe() + " is not in host memory: copy it to the CPU first (.to(Device::CPU))");
}

template <class T>
T* Tensor::data(const char* file, int line) {
  if (dtype_of<T>() != dtype_)
    throw Error(std::string("tensor is ") + dtype_name(dtype_) + ", accessed as " + dtype_name(dtype_of<T>()));
  if (!storage_) throw Error("access to an undefined tensor");
  if (storage_->device != Device::CPU) throw_not_on_host(*this, "data()", file, line);
  return static_cast<T*>(storage_->ptr) + offset_;
}
template <class T>
const T* Tensor::data(const char* file, int line) const {
  return const_cast<Tensor*>(this)->data<T>(file, line);
}
template float* Tensor::data<float>(const char*, int);
template double* Tensor::data<double>(const char*, int);
template int64_t* Tensor::data<int64_t>(const char*, int);
template const float* Tensor::data<float>(const char*, int) const;
template const double* Tensor::data<double>(const char*, int) const;
template const int64_t* Tensor::data<int64_t>(const char*, int) const;

void* Tensor::raw_data(const char* file, int line) {
  if (!storage_) throw Error("access to an undefined tensor");
  if (storage_->device != Device::CPU) throw_not_on_host(*this, "raw_data()", file, line);
  return static_cast<char*>(storage_->ptr) + offset_ * dtype_size(dtype_);
}
const void* Tensor::raw_data(const char* file, int line) const {
  return const_cast<Tensor*>(this)->raw_data(file, line);
}

template <class T>
T* Tensor::device_data() {
  if (dtype_of<T>() != dtype_)
    throw Error(std::string("tensor is ") + dtype_name(dtype_) + ", accessed as " + dtype_name(dtype_of<T>()));
  return static_cast<T*>(raw_device_data());
}
template <class T>
const T* Tensor::device_data() const {
  return const_cast<Tensor*>(this)->device_data<T>();
}
template float* Tensor::device_data<float>();
template double* Tensor::device_data<double>();
template int64_t* Tensor::device_data<int64_t>();
template const float* Tensor::device_data<float>() const;
template const double* Tensor::device_data<double>() const;
template const int64_t* Tensor::device_data<int64_t>() const;

void* Tensor::raw_device_data() {
  if (!storage_) throw Error("access to an undefined tensor");
  return static_cast<char*>(storage_->ptr) + offset_ * dtype_size(dtype_);
}
const void* Tensor::raw_device_data() const { return const_cast<Tensor*>(this)->raw_device_data(); }

double Tensor::item(int64_t i, const char* file, int line) const {
  if (i < 0 || i >= numel()) throw Error("item index " + std::to_string(i) + " out of range " + describe());
  if (device() == Device::Strict) throw_not_on_host(*this, "item()", file, line);
  if (device() != Device::CPU) return slice_element(i).to(Device::CPU).item(0);
  switch (dtype_) {
    case DType::F32:
      return data<float>()[i];
    case DType::F64:
      return data<double>()[i];
    case DType::I64:
      return static_cast<double>(data<int64_t>()[i]);
  }
  return 0;
}

void Tensor::set_item(int64_t i, double v, const char* file, int line) {
  if (i < 0 || i >= numel()) throw Error("item index " + std::to_string(i) + " out of range " + describe());
  if (device() == Device::Strict) throw_not_on_host(*this, "set_item()", file, line);
  if (device() != Device::CPU) {
    Tensor one({1}, dtype_);
    one.set_item(0, v);
    slice_element(i).copy_from(one);
    return;
  }
  switch (dtype_) {
    case DType::F32:
      data<float>()[i] = static_cast<float>(v);
      break;
    case DType::F64:
      data<double>()[i] = v;
      break;
    case DType::I64:
      data<int64_t>()[i] = static_cast<int64_t>(v);
      break;
  }
}

Tensor Tensor::reshape(Shape s) const {
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      if (infer >= 0) throw Error("reshape: more than one -1 in " + shape_str(s));
      infer = static_cast<int>(i);
    } else {
      if (s[i] < 0) throw Error("reshape: invalid size " + std::to_string(s[i]) + " in " + shape_str(s));
      known = checked_mul(known, s[i], "reshape");
    }
  }
  if (infer >= 0) {
    if (known == 0 || numel() % known != 0)
      throw Error("reshape: cannot reshape " + describe() + " to " + shape_str(s));
    s[infer] = numel() / known;
  }
  if (shape_numel(s) != numel()) throw Error("reshape: cannot reshape " + describe() + " to " + shape_str(s));
  Tensor t = *this;
  t.shape_ = std::move(s);
  return t;
}

Tensor Tensor::slice_batch(int64_t begin, int64_t end) const {
  if (ndim() == 0 || begin < 0 || end > shape_[0] || begin > end)
    throw Error("slice_batch [" + std::to_string(begin) + ", " + std::to_string(end) + ") of " + describe());
  Tensor t = *this;
  int64_t row = shape_[0] ? numel() / shape_[0] : 0;
  t.offset_ += begin * row;
  t.shape_[0] = end - begin;
  return t;
}

Tensor Tensor::clone() const {
  if (!defined()) return {};
  if (device() != Device::CPU) {
    Tensor t = empty(shape_, dtype_, device());
    t.copy_from(*this);
    return t;
  }
  Tensor t(shape_, dtype_);
  if (numel()) std::memcpy(t.raw_data(), raw_data(), numel() * dtype_size(dtype_));
  return t;
}

Tensor Tensor::slice_element(int64_t i) const {
  Tensor t = *this;
  t.offset_ += i;
  t.shape_ = {1};
  return t;
}

Tensor Tensor::to(Device d) const {
  if (!defined() || d == device()) return *this;
  Tensor t = empty(shape_, dtype_, d);
  t.copy_from(*this);
  return t;
}

Tensor Tensor::to(DType d) const {
  if (d == dtype_) return *this;
  if (device() != Device::CPU) return backend(device()).cast(*this, d);  // converted where it lives
  Tensor t(shape_, d);
  const int64_t n = numel();
  if (n == 0) return t;
  // Each element through double, exactly as item() reads it and set_item() writes it (an int64 rounds to
  // double first), in one typed loop: per-element item() / set_item() calls, with their range, device and
  // dtype checks, took 35 % of a float32 `xdnn evaluate` run, where every model call converts its rows.
  auto convert = [n](const auto* src, auto* dst) {
    using To = std::remove_reference_t<decltype(*dst)>;
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<To>(static_cast<double>(src[i]));
  };
  auto from = [&](auto* dst) {
    switch (dtype_) {
      case DType::F32:
        return convert(data<float>(), dst);
      case DType::F64:
        return convert(data<double>(), dst);
      case DType::I64:
        return convert(data<int64_t>(), dst);
    }
  };
  switch (d) {
    case DType::F32:
      from(t.data<float>());
      break;
    case DType::F64:
      from(t.data<double>());
      break;
    case DType::I64:
      from(t.data<int64_t>());
      break;
  }
  return t;
}

void Tensor::copy_from(const Tensor& src) {
  if (src.numel() != numel() || src.dtype() != dtype_)
    throw Error("copy_from: " + src.describe() + " into " + describe());
  if (device() != Device::CPU && src.device() != Device::CPU && device() != src.device()) {
    copy_from(src.to(Device::CPU));  // between two devices: through the host
    return;
  }
  if (device() != Device::CPU || src.device() != Device::CPU) {
    backend(device() != Device::CPU ? device() : src.device())
        .copy_bytes(raw_device_data(), device(), src.raw_device_data(), src.device(), numel() * dtype_size(dtype_));
    return;
  }
  if (numel()) std::memcpy(raw_data(), src.raw_data(), numel() * dtype_size(dtype_));
}

void Tensor::fill(double v) {
  if (device() != Device::CPU) return backend(device()).fill(*this, v);
  int64_t n = numel();
  switch (dtype_) {
    case DType::F32: {
      float* p = data<float>();
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(v);
      break;
    }
    case DType::F64: {
      double* p = data<double>();
      for (int64_t i = 0; i < n; ++i) p[i] = v;
      break;
    }
    case DType::I64: {
      // A value outside int64's range (or NaN) has no int64 to become; the cast would be undefined.
      if (!(v >= -9223372036854775808.0 && v < 9223372036854775808.0))
        throw Error("cannot fill an int64 tensor " + describe() + " with " + std::to_string(v));
      int64_t* p = data<int64_t>();
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<int64_t>(v);
      break;
    }
  }
}

std::string Tensor::describe() const {
  if (!defined()) return "undefined tensor";
  return std::string(dtype_name(dtype_)) + " " + shape_str(shape_) +
         (device() == Device::CPU ? "" : std::string(" on ") + device_name(device()));
}

Tensor Tensor::viewed_on(Device d) const {
  if (!defined() || storage_->device == d) return *this;
  Tensor t = *this;
  const std::shared_ptr<Storage>& root = storage_->owner ? storage_->owner : storage_;
  t.storage_ = root->device == d ? root : std::make_shared<Storage>(root, d);
  return t;
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.defined() != b.defined()) return false;
  if (!a.defined()) return true;
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  if (a.device() != Device::CPU || b.device() != Device::CPU)
    return bitwise_equal(a.to(Device::CPU), b.to(Device::CPU));
  return std::memcmp(a.raw_data(), b.raw_data(), a.numel() * dtype_size(a.dtype())) == 0;
}

}  // namespace xdnn
