#include "models/io/fashion_mnist.h"

#include <zlib.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "engine/check.h"

namespace xdnn {

namespace {

const char* kDefaultDir = "/usr/share/datasets/fashion-mnist";
const char* kInstallHint =
    "apt-get install dataset-fashion-mnist (or set XDNN_FASHION_MNIST_DIR to a folder with the files)";

[[noreturn]] void fail(const std::string& name, const std::string& msg) { throw Error(name + ": " + msg); }

// A gzip (or, transparently, plain) file being read; closes itself.
class GzReader {
 public:
  explicit GzReader(const std::string& path) : path_(path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) fail(path, "no such file (expected an IDX file)");
    f_ = gzopen(path.c_str(), "rb");
    if (!f_) fail(path, std::string("cannot open: ") + std::strerror(errno));
  }
  ~GzReader() { gzclose(f_); }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;

  // Exactly n bytes, read in chunks so that memory grows only with data actually present (a header
  // claiming 4 billion images does not allocate anything before the data runs out).
  std::string read(uint64_t n, const char* what) {
    std::string out;
    while (out.size() < n) {
      size_t chunk = static_cast<size_t>(std::min<uint64_t>(n - out.size(), 1 << 20));
      size_t at = out.size();
      out.resize(at + chunk);
      int got = gzread(f_, out.data() + at, static_cast<unsigned>(chunk));
      if (got < 0) fail(path_, std::string("corrupt gzip data: ") + gz_message());
      out.resize(at + static_cast<size_t>(got));
      if (got == 0 && gz_failed()) fail(path_, std::string("truncated or corrupt gzip data: ") + gz_message());
      if (got == 0)
        fail(path_, std::string("truncated IDX file: expected ") + std::to_string(n) + " bytes of " + what + ", got " +
                        std::to_string(out.size()));
    }
    return out;
  }
  // True if nothing follows (checked when the whole file is meant to be read).
  bool at_end() {
    char c;
    int got = gzread(f_, &c, 1);
    if (got < 0) fail(path_, std::string("corrupt gzip data: ") + gz_message());
    return got == 0;
  }

 private:
  bool gz_failed() {
    int err = 0;
    gzerror(f_, &err);
    return err != Z_OK;
  }
  std::string gz_message() {
    int err = 0;
    const char* m = gzerror(f_, &err);
    std::string msg = m ? m : "unknown zlib error";
    // zlib prefixes its message with the path; the caller adds the path already.
    if (msg.rfind(path_ + ": ", 0) == 0) msg = msg.substr(path_.size() + 2);
    return msg;
  }
  std::string path_;
  gzFile f_ = nullptr;
};

uint32_t be32(const std::string& b, size_t at) {
  auto u = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(b[at + i])); };
  return u(0) << 24 | u(1) << 16 | u(2) << 8 | u(3);
}

// Reads magic and dims; returns the dims (of which the first is the example count).
std::vector<uint64_t> read_idx_header(GzReader& r, const std::string& path, uint32_t magic, const char* kind) {
  std::string m = r.read(4, "header");
  uint32_t got = be32(m, 0);
  if (got != magic) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "expected magic 0x%08x, got 0x%08x", magic, got);
    fail(path, std::string("not an IDX ") + kind + " file (" + buf + ")");
  }
  int ndims = static_cast<int>(magic & 0xff);
  std::string d = r.read(4 * ndims, "header");
  std::vector<uint64_t> dims;
  for (int i = 0; i < ndims; ++i) dims.push_back(be32(d, 4 * i));
  return dims;
}

uint64_t kept(uint64_t n, int64_t limit) { return limit >= 0 && static_cast<uint64_t>(limit) < n ? limit : n; }

// Resolves <dir>/<name>.gz, accepting an uncompressed <dir>/<name> too.
std::string locate(const std::string& dir, const std::string& name) {
  std::string gz = dir + "/" + name + ".gz";
  std::error_code ec;
  if (std::filesystem::is_regular_file(gz, ec)) return gz;
  std::string plain = dir + "/" + name;
  if (std::filesystem::is_regular_file(plain, ec)) return plain;
  throw Error("Fashion-MNIST not found at " + gz, kInstallHint);
}

}  // namespace

// One IDX file read front to back: the header when opened, then `take(n)` examples at a time, so that a
// caller holds one batch of a 60,000-image file, not the file (47 MB of bytes, 188 MB as float32).
class IdxStream {
 public:
  IdxStream(const std::string& path, uint32_t magic, const char* kind, int64_t limit) : path_(path), r_(path) {
    dims_ = read_idx_header(r_, path, magic, kind);
    total_ = kept(dims_[0], limit);
    example_bytes_ = dims_.size() == 3 ? dims_[1] * dims_[2] : 1;  // both < 2^32: no overflow
    uint64_t bytes = 0;
    if (__builtin_mul_overflow(total_, example_bytes_, &bytes)) fail(path, "IDX image dimensions are too large");
  }
  const std::string& path() const { return path_; }
  const std::vector<uint64_t>& dims() const { return dims_; }
  uint64_t total() const { return total_; }
  uint64_t taken() const { return taken_; }

  // The bytes of the next min(n, remaining) examples. After the last one of a file read whole, checks
  // that nothing follows (a prefix read with a limit does not look past what it needs).
  std::string take(uint64_t n, const char* what) {
    n = std::min(n, total_ - taken_);
    std::string data = r_.read(n * example_bytes_, what);
    taken_ += n;
    if (taken_ == total_ && total_ == dims_[0] && !r_.at_end()) {
      std::string shape = dims_.size() == 3 ? " images of " + std::to_string(dims_[1]) + "x" + std::to_string(dims_[2])
                                            : std::string(" labels");
      fail(path_, "trailing bytes after " + std::to_string(total_) + shape);
    }
    return data;
  }

 private:
  std::string path_;
  GzReader r_;
  std::vector<uint64_t> dims_;
  uint64_t total_ = 0, example_bytes_ = 1, taken_ = 0;
};

namespace {

Tensor images_from_bytes(const std::string& data, const std::vector<uint64_t>& dims) {
  const int64_t n = static_cast<int64_t>(data.size() / (dims[1] * dims[2]));
  Tensor t({n, 1, static_cast<int64_t>(dims[1]), static_cast<int64_t>(dims[2])}, DType::F32);
  float* out = t.data<float>();
  // Division (not multiplication by 1/255) so values match torchvision's ToTensor bit for bit.
  for (size_t i = 0; i < data.size(); ++i) out[i] = static_cast<float>(static_cast<unsigned char>(data[i])) / 255.0f;
  return t;
}

Tensor labels_from_bytes(const std::string& data) {
  Tensor t({static_cast<int64_t>(data.size())}, DType::I64);
  int64_t* out = t.data<int64_t>();
  for (size_t i = 0; i < data.size(); ++i) out[i] = static_cast<unsigned char>(data[i]);
  return t;
}

}  // namespace

Tensor read_idx_images(const std::string& path, int64_t limit) {
  IdxStream s(path, 0x00000803, "image", limit);
  return images_from_bytes(s.take(s.total(), "pixels"), s.dims());
}

Tensor read_idx_labels(const std::string& path, int64_t limit) {
  IdxStream s(path, 0x00000801, "label", limit);
  return labels_from_bytes(s.take(s.total(), "labels"));
}

std::string fashion_mnist_dir(const std::string& dir) {
  if (!dir.empty()) return dir;
  const char* env = std::getenv("XDNN_FASHION_MNIST_DIR");
  if (env && *env) return env;
  return kDefaultDir;
}

FashionMnistStream::FashionMnistStream(const std::string& split, const std::string& dir_override, int64_t limit) {
  std::string prefix;
  if (split == "train") {
    prefix = "train";
  } else if (split == "test" || split == "t10k") {
    prefix = "t10k";
  } else {
    throw Error("Fashion-MNIST split '" + split + "' does not exist (expected 'train' or 'test')");
  }
  const std::string dir = fashion_mnist_dir(dir_override);
  const std::string images_path = locate(dir, prefix + "-images-idx3-ubyte");
  const std::string labels_path = locate(dir, prefix + "-labels-idx1-ubyte");
  images_ = std::make_unique<IdxStream>(images_path, 0x00000803, "image", limit);
  labels_ = std::make_unique<IdxStream>(labels_path, 0x00000801, "label", limit);
  const std::vector<uint64_t>& d = images_->dims();
  if (d[1] != 28 || d[2] != 28)
    fail(images_path, "expected 28x28 images, got " + std::to_string(d[1]) + "x" + std::to_string(d[2]));
  if (images_->total() != labels_->total())
    fail(labels_path, std::to_string(labels_->total()) + " labels for " + std::to_string(images_->total()) +
                          " images in " + images_path);
}

FashionMnistStream::~FashionMnistStream() = default;

int64_t FashionMnistStream::size() const { return static_cast<int64_t>(images_->total()); }

LabeledImages FashionMnistStream::next(int64_t n) {
  check(n > 0, "Fashion-MNIST batch size must be positive, got " + std::to_string(n));
  const uint64_t first = labels_->taken();
  LabeledImages d;
  d.images = images_from_bytes(images_->take(static_cast<uint64_t>(n), "pixels"), images_->dims());
  d.labels = labels_from_bytes(labels_->take(static_cast<uint64_t>(n), "labels"));
  const int64_t* y = d.labels.data<int64_t>();
  for (int64_t i = 0, i_end = d.labels.numel(); i < i_end; ++i)
    if (y[i] >= 10)
      fail(labels_->path(), "label " + std::to_string(y[i]) + " of example " +
                                std::to_string(first + static_cast<uint64_t>(i)) + " is not a class index in [0, 10)");
  return d;
}

LabeledImages load_fashion_mnist(const std::string& split, const std::string& dir_override, int64_t limit) {
  FashionMnistStream s(split, dir_override, limit);
  if (s.size() == 0) return s.next(1);  // an empty split still checks what follows its header
  return s.next(s.size());
}

const std::array<std::string, 10>& fashion_mnist_classes() {
  static const std::array<std::string, 10> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

}  // namespace xdnn
