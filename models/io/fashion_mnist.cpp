#include "models/io/fashion_mnist.h"

#include <zlib.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

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

Tensor read_idx_images(const std::string& path, int64_t limit) {
  GzReader r(path);
  std::vector<uint64_t> dims = read_idx_header(r, path, 0x00000803, "image");
  uint64_t n = kept(dims[0], limit), pixels = dims[1] * dims[2];  // both < 2^32: no overflow
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(n, pixels, &bytes)) fail(path, "IDX image dimensions are too large");
  std::string data = r.read(bytes, "pixels");
  if (n == dims[0] && !r.at_end())
    fail(path, "trailing bytes after " + std::to_string(n) + " images of " + std::to_string(dims[1]) + "x" +
                   std::to_string(dims[2]));
  Tensor t({static_cast<int64_t>(n), 1, static_cast<int64_t>(dims[1]), static_cast<int64_t>(dims[2])}, DType::F32);
  float* out = t.data<float>();
  // Division (not multiplication by 1/255) so values match torchvision's ToTensor bit for bit.
  for (uint64_t i = 0; i < bytes; ++i) out[i] = static_cast<float>(static_cast<unsigned char>(data[i])) / 255.0f;
  return t;
}

Tensor read_idx_labels(const std::string& path, int64_t limit) {
  GzReader r(path);
  std::vector<uint64_t> dims = read_idx_header(r, path, 0x00000801, "label");
  uint64_t n = kept(dims[0], limit);
  std::string data = r.read(n, "labels");
  if (n == dims[0] && !r.at_end()) fail(path, "trailing bytes after " + std::to_string(n) + " labels");
  Tensor t({static_cast<int64_t>(n)}, DType::I64);
  int64_t* out = t.data<int64_t>();
  for (uint64_t i = 0; i < n; ++i) out[i] = static_cast<unsigned char>(data[i]);
  return t;
}

std::string fashion_mnist_dir(const std::string& dir) {
  if (!dir.empty()) return dir;
  const char* env = std::getenv("XDNN_FASHION_MNIST_DIR");
  if (env && *env) return env;
  return kDefaultDir;
}

LabeledImages load_fashion_mnist(const std::string& split, const std::string& dir_override, int64_t limit) {
  std::string prefix;
  if (split == "train") {
    prefix = "train";
  } else if (split == "test" || split == "t10k") {
    prefix = "t10k";
  } else {
    throw Error("Fashion-MNIST split '" + split + "' does not exist (expected 'train' or 'test')");
  }
  std::string dir = fashion_mnist_dir(dir_override);
  std::string images_path = locate(dir, prefix + "-images-idx3-ubyte");
  std::string labels_path = locate(dir, prefix + "-labels-idx1-ubyte");
  LabeledImages d;
  d.images = read_idx_images(images_path, limit);
  d.labels = read_idx_labels(labels_path, limit);
  if (d.images.dim(2) != 28 || d.images.dim(3) != 28)
    fail(images_path,
         "expected 28x28 images, got " + std::to_string(d.images.dim(2)) + "x" + std::to_string(d.images.dim(3)));
  if (d.images.dim(0) != d.labels.dim(0))
    fail(labels_path, std::to_string(d.labels.dim(0)) + " labels for " + std::to_string(d.images.dim(0)) +
                          " images in " + images_path);
  const int64_t* y = d.labels.data<int64_t>();
  for (int64_t i = 0; i < d.labels.numel(); ++i)
    if (y[i] >= 10)
      fail(labels_path,
           "label " + std::to_string(y[i]) + " of example " + std::to_string(i) + " is not a class index in [0, 10)");
  return d;
}

const std::array<std::string, 10>& fashion_mnist_classes() {
  static const std::array<std::string, 10> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

}  // namespace xdnn
