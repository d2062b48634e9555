// Reading .onnx files: TensorProto -> Tensor, and a file reader that never holds the weights twice.
//
// Why not ModelProto::ParseFromString: it copies every initializer's raw_data into the message (the file
// bytes, then the message, then the tensors, then the parameters: 3-4x the file in memory, ~200 ms for a
// 45 MB ResNet-18). Here the protobuf wire format (tag = field << 3 | wire type; length-delimited
// payloads) is walked by hand down to graph.initializer[i].raw_data, whose byte ranges are only
// recorded; everything else (nodes, inputs, the initializers' dims / type / name, small typed data) is
// copied out and parsed by protobuf as usual. Each initializer's bytes are then read with pread() straight
// into its tensor, so resident memory during import is about the tensors themselves. The file is mapped
// read-only for the walk; only the pages holding field headers are touched.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "models/onnx/import.h"

namespace xdnn {

namespace {

// Where the raw bytes of a tensor are: a string in memory, or a range of an open file.
struct RawSource {
  const std::string* bytes = nullptr;
  int fd = -1;
  uint64_t offset = 0, size = 0;
  uint64_t length() const { return bytes ? bytes->size() : size; }
  void read(void* dst, uint64_t n, const std::string& what) const {
    if (n == 0) return;  // an empty tensor: dst may be null, and memcpy's pointers must not be
    if (bytes) {
      std::memcpy(dst, bytes->data(), n);
      return;
    }
    auto* p = static_cast<char*>(dst);
    uint64_t done = 0;
    while (done < n) {
      const ssize_t got = ::pread(fd, p + done, n - done, static_cast<off_t>(offset + done));
      if (got <= 0) throw Error(what + ": cannot read its " + std::to_string(n) + " bytes of data from the file");
      done += static_cast<uint64_t>(got);
    }
  }
};

template <class Src, class Dst>
void widen_le(const std::vector<uint8_t>& raw, Dst* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    Src v;
    std::memcpy(&v, raw.data() + i * sizeof(Src), sizeof(Src));
    out[i] = static_cast<Dst>(v);
  }
}

Tensor convert_tensor(const onnx::TensorProto& t, const std::string& what, const RawSource* raw) {
  if (t.data_location() == onnx::TensorProto::EXTERNAL && !raw)
    throw Error(what + ": its data is in an external file, and the model's folder is not known here");
  Shape shape(t.dims().begin(), t.dims().end());
  // Validate the shape before anything is allocated: the data present must fill it (checked below), and
  // no product of dimensions may overflow.
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw Error(what + ": negative dimension in " + shape_str(shape));
    if (d > 0 && n > (int64_t{1} << 40) / d) throw Error(what + ": shape " + shape_str(shape) + " is too large");
    n *= d;
  }
  const int dt = t.data_type();
  using TP = onnx::TensorProto;
  const bool supported = dt == TP::FLOAT || dt == TP::DOUBLE || dt == TP::INT64 || dt == TP::INT32 || dt == TP::INT16 ||
                         dt == TP::UINT16 || dt == TP::INT8 || dt == TP::UINT8 || dt == TP::BOOL;
  if (!supported)
    throw Error(what + ": unsupported tensor data type " + std::to_string(dt) +
                " (supported: float, double, int64, int32, int16, int8, uint8, bool)");
  const size_t elem = dt == TP::DOUBLE || dt == TP::INT64   ? 8
                      : dt == TP::FLOAT || dt == TP::INT32  ? 4
                      : dt == TP::INT16 || dt == TP::UINT16 ? 2
                                                            : 1;
  const DType out_type = dt == TP::FLOAT ? DType::F32 : dt == TP::DOUBLE ? DType::F64 : DType::I64;
  // The typed fields: float_data, double_data, int64_data, or int32_data for every narrower integer type.
  const int64_t have = dt == TP::FLOAT    ? t.float_data_size()
                       : dt == TP::DOUBLE ? t.double_data_size()
                       : dt == TP::INT64  ? t.int64_data_size()
                                          : t.int32_data_size();
  // Both checks come before the allocation: a 100-byte file declaring dims (2^33) must be refused for
  // its missing data, not make a 32 GiB allocation first (found by tests/fuzz/fuzz_onnx_graph.cpp).
  if (raw && raw->length() != static_cast<uint64_t>(n) * elem)
    throw Error(what + ": raw data has " + std::to_string(raw->length()) + " bytes, shape " + shape_str(shape) +
                " needs " + std::to_string(n * static_cast<int64_t>(elem)));
  if (!raw && have != n)
    throw Error(what + ": holds " + std::to_string(have) + " values, its shape " + shape_str(shape) + " needs " +
                std::to_string(n));
  Tensor out = Tensor::empty(shape, out_type);
  if (raw) {
    // Little-endian bytes (the ONNX layout, and this machine's): same-width types are read in place.
    if (out_type == DType::F32 || out_type == DType::F64 || dt == TP::INT64) {
      raw->read(out.raw_data(), static_cast<uint64_t>(n) * elem, what);
      return out;
    }
    std::vector<uint8_t> bytes(static_cast<size_t>(n) * elem);
    raw->read(bytes.data(), bytes.size(), what);
    int64_t* o = out.data<int64_t>();
    if (dt == TP::INT32) widen_le<int32_t>(bytes, o, n);
    if (dt == TP::INT16) widen_le<int16_t>(bytes, o, n);
    if (dt == TP::UINT16) widen_le<uint16_t>(bytes, o, n);
    if (dt == TP::INT8) widen_le<int8_t>(bytes, o, n);
    if (dt == TP::UINT8 || dt == TP::BOOL) widen_le<uint8_t>(bytes, o, n);
    return out;
  }
  if (dt == TP::FLOAT)
    std::copy(t.float_data().begin(), t.float_data().end(), out.data<float>());
  else if (dt == TP::DOUBLE)
    std::copy(t.double_data().begin(), t.double_data().end(), out.data<double>());
  else if (dt == TP::INT64)
    std::copy(t.int64_data().begin(), t.int64_data().end(), out.data<int64_t>());
  else
    std::copy(t.int32_data().begin(), t.int32_data().end(), out.data<int64_t>());
  return out;
}

// ---- protobuf wire format ------------------------------------------------------------------------------

struct Malformed {};  // thrown by the walk, turned into the one-line error by the caller

uint64_t varint(const uint8_t*& p, const uint8_t* end) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (p >= end) throw Malformed{};
    const uint8_t b = *p++;
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  throw Malformed{};
}

// One field of a message: its number, wire type, the whole field [begin, end) and its payload.
struct Field {
  uint32_t number;
  int wire;
  const uint8_t *begin, *end, *payload, *payload_end;
};

template <class F>
void for_each_field(const uint8_t* p, const uint8_t* end, F&& f) {
  while (p < end) {
    Field fd;
    fd.begin = p;
    const uint64_t tag = varint(p, end);
    fd.number = static_cast<uint32_t>(tag >> 3);
    fd.wire = static_cast<int>(tag & 7);
    if (fd.number == 0) throw Malformed{};
    fd.payload = p;
    switch (fd.wire) {
      case 0:
        varint(p, end);
        break;
      case 1:
        if (end - p < 8) throw Malformed{};
        p += 8;
        break;
      case 2: {
        const uint64_t len = varint(p, end);
        if (len > static_cast<uint64_t>(end - p)) throw Malformed{};
        fd.payload = p;
        p += len;
        break;
      }
      case 5:
        if (end - p < 4) throw Malformed{};
        p += 4;
        break;
      default:  // groups (3, 4) are not used by onnx.proto
        throw Malformed{};
    }
    fd.payload_end = p;
    fd.end = p;
    f(fd);
  }
}

void append(std::string& out, const Field& f) { out.append(reinterpret_cast<const char*>(f.begin), f.end - f.begin); }

// ModelProto.graph = 7; GraphProto.initializer = 5; TensorProto.raw_data = 9.
constexpr uint32_t kModelGraph = 7, kGraphInitializer = 5, kTensorRawData = 9;

struct Initializer {
  onnx::TensorProto meta;  // everything but raw_data
  bool has_raw = false;
  uint64_t raw_offset = 0, raw_size = 0;
};

// External data (TensorProto.data_location = EXTERNAL, the default of torch.onnx.export's dynamo path):
// the bytes are at external_data {location, offset, length} in a file next to the model, read with
// pread straight into the tensor. The location must be a relative path inside the model's folder.
Tensor external_tensor(const onnx::TensorProto& t, const std::string& what, const std::string& model_dir) {
  std::string location;
  uint64_t offset = 0, length = 0;
  bool has_length = false;
  for (const auto& kv : t.external_data()) {
    auto number = [&](const std::string& v) {
      if (v.empty() || v.size() > 19 || v.find_first_not_of("0123456789") != std::string::npos)
        throw Error(what + ": external data " + kv.key() + " '" + v + "' is not a byte count");
      return static_cast<uint64_t>(std::stoull(v));
    };
    if (kv.key() == "location") location = kv.value();
    if (kv.key() == "offset") offset = number(kv.value());
    if (kv.key() == "length") length = number(kv.value()), has_length = true;
  }
  if (location.empty()) throw Error(what + ": external data without a location");
  if (location[0] == '/' || location == ".." || location.rfind("../", 0) == 0 ||
      location.find("/../") != std::string::npos)
    throw Error(what + ": external data location '" + location + "' must be a relative path inside the model's folder");
  const std::string path = model_dir.empty() ? location : model_dir + "/" + location;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(what + ": cannot open its external data file '" + path + "'");
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) throw Error(what + ": cannot read its external data file '" + path + "'");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (offset > size || (has_length && length > size - offset))
    throw Error(what + ": external data (offset " + std::to_string(offset) + ", length " + std::to_string(length) +
                ") extends past the end of '" + path + "' (" + std::to_string(size) + " bytes)");
  RawSource src;
  src.fd = fd, src.offset = offset, src.size = has_length ? length : size - offset;
  return convert_tensor(t, what, &src);
}

std::string folder_of(const std::string& file) {
  const size_t slash = file.rfind('/');
  return slash == std::string::npos ? std::string() : file.substr(0, slash);
}

}  // namespace

Tensor tensor_from_onnx(const onnx::TensorProto& t, const std::string& what, const std::string& model_file) {
  if (t.data_location() == onnx::TensorProto::EXTERNAL) return external_tensor(t, what, folder_of(model_file));
  return tensor_from_onnx(t, what);
}

Tensor tensor_from_onnx(const onnx::TensorProto& t, const std::string& what) {
  if (!t.has_raw_data()) return convert_tensor(t, what, nullptr);
  RawSource src;
  src.bytes = &t.raw_data();
  return convert_tensor(t, what, &src);
}

Model import_onnx_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open file");
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) throw Error(path + ": cannot open file (not a regular file)");
  const size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) throw Error(path + ": empty file, expected an ONNX model");
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (map == MAP_FAILED) throw Error(path + ": cannot map the file into memory");
  struct Unmapper {
    void* p;
    size_t n;
    ~Unmapper() { ::munmap(p, n); }
  } unmapper{map, size};
  const auto* base = static_cast<const uint8_t*>(map);
  const Error malformed(path + ": not a valid ONNX model (truncated or malformed protobuf, " + std::to_string(size) +
                        " bytes)");

  std::string model_rest, graph_rest;
  std::vector<Initializer> inits;
  bool has_graph = false;
  try {
    for_each_field(base, base + size, [&](const Field& mf) {
      if (mf.number != kModelGraph || mf.wire != 2) return append(model_rest, mf);
      has_graph = true;
      for_each_field(mf.payload, mf.payload_end, [&](const Field& gf) {
        if (gf.number != kGraphInitializer || gf.wire != 2) return append(graph_rest, gf);
        Initializer init;
        std::string meta;
        for_each_field(gf.payload, gf.payload_end, [&](const Field& tf) {
          if (tf.number != kTensorRawData || tf.wire != 2) return append(meta, tf);
          init.has_raw = true;  // the last occurrence wins, as protobuf merges a bytes field
          init.raw_offset = static_cast<uint64_t>(tf.payload - base);
          init.raw_size = static_cast<uint64_t>(tf.payload_end - tf.payload);
        });
        if (!init.meta.ParseFromString(meta)) throw Malformed{};
        inits.push_back(std::move(init));
      });
    });
  } catch (const Malformed&) {
    throw malformed;
  }
  // The walk touched the pages holding field headers; the kernel maps large stretches of the file around
  // each (14-21 MB of a 47 MB ResNet-18 file). Unmapping them now keeps them out of the peak resident
  // memory, which is then the tensors alone (1.03x the file instead of 1.33-1.47x).
  ::madvise(map, size, MADV_DONTNEED);
  onnx::ModelProto proto;
  if (!proto.ParseFromString(model_rest)) throw malformed;
  if (has_graph && !proto.mutable_graph()->ParseFromString(graph_rest)) throw malformed;

  std::vector<std::pair<std::string, Tensor>> tensors;
  tensors.reserve(inits.size());
  for (const Initializer& init : inits) {
    const std::string& name = init.meta.name();
    const std::string what = path + ": initializer '" + name + "'";
    if (init.meta.data_location() == onnx::TensorProto::EXTERNAL) {
      tensors.emplace_back(name, external_tensor(init.meta, what, folder_of(path)));
      continue;
    }
    if (!init.has_raw) {
      tensors.emplace_back(name, convert_tensor(init.meta, what, nullptr));
      continue;
    }
    RawSource src;
    src.fd = fd, src.offset = init.raw_offset, src.size = init.raw_size;
    tensors.emplace_back(name, convert_tensor(init.meta, what, &src));
  }
  return import_onnx_graph(proto, std::move(tensors), path);
}

}  // namespace xdnn
