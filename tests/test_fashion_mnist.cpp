// Fashion-MNIST IDX reader (models/io/fashion_mnist.h): the Debian data set with the golden cases' pixel
// convention, the directory override and environment variable, and one test per malformed-file error.
#include <doctest/doctest.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "file_fixtures.h"
#include "models/io/fashion_mnist.h"
#include "models/io/npy.h"
#include "models/train/train.h"
#include "models/zoo.h"

using namespace xdnn;
using namespace xdnn::testing;
namespace fs = std::filesystem;

namespace {

const std::string kGolden = XDNN_TESTS_DIR "/golden";  // the golden set copied into the repo

// A gzipped IDX file: big-endian magic and dims, then bytes.
void write_idx_gz(const std::string& path, uint32_t magic, const std::vector<uint32_t>& dims, const std::string& data) {
  std::string b;
  for (uint32_t v : std::vector<uint32_t>{magic}) b += {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  for (uint32_t v : dims) b += {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  b += data;
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, b.data(), static_cast<unsigned>(b.size())) == static_cast<int>(b.size()));
  gzclose(f);
}

// A fake Fashion-MNIST test split of n images in its own folder.
std::string fake_fashion_dir(const std::string& name, uint32_t n, uint32_t n_labels, unsigned char label_value) {
  std::string dir = scratch().path(name);
  fs::create_directories(dir);
  std::string pixels(n * 784, '\0');
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<char>(i % 256);
  write_idx_gz(dir + "/t10k-images-idx3-ubyte.gz", 0x803, {n, 28, 28}, pixels);
  write_idx_gz(dir + "/t10k-labels-idx1-ubyte.gz", 0x801, {n_labels}, std::string(n_labels, char(label_value)));
  return dir;
}

}  // namespace

TEST_CASE("fashion-mnist: the Debian dataset loads with the golden cases' pixel convention") {
  LabeledImages test = load_fashion_mnist("test");
  CHECK(test.images.describe() == "float32 (10000, 1, 28, 28)");
  CHECK(test.labels.describe() == "int64 (10000,)");
  CHECK(test.labels.item(0) == 9);  // the first t10k image is an ankle boot
  std::vector<int> per_class(10, 0);
  for (int64_t i = 0; i < test.labels.numel(); ++i) per_class[static_cast<size_t>(test.labels.item(i))]++;
  CHECK(per_class == std::vector<int>(10, 1000));
  // The golden CNN inputs are t10k images 9637, 4983, 3635, 899 as x / 255 in float32, bit for bit.
  Tensor golden = load_npy(kGolden + "/explain-cnn-saliency/input.npy");
  const int64_t rows[] = {9637, 4983, 3635, 899};
  for (int k = 0; k < 4; ++k)
    CHECK(bitwise_equal(test.images.slice_batch(rows[k], rows[k] + 1).clone(), golden.slice_batch(k, k + 1).clone()));
  // Train: all 60000 labels (6000 per class), and a prefix of the images.
  Tensor train_labels = read_idx_labels(fashion_mnist_dir() + "/train-labels-idx1-ubyte.gz");
  std::vector<int> train_per_class(10, 0);
  for (int64_t i = 0; i < train_labels.numel(); ++i) train_per_class[static_cast<size_t>(train_labels.item(i))]++;
  CHECK(train_per_class == std::vector<int>(10, 6000));
  LabeledImages train = load_fashion_mnist("train", "", 100);
  CHECK(train.images.shape() == Shape{100, 1, 28, 28});
  CHECK(bitwise_equal(train.labels, train_labels.slice_batch(0, 100).clone()));
  double lo = 1, hi = 0;
  for (int64_t i = 0; i < train.images.numel(); ++i)
    lo = std::min(lo, train.images.item(i)), hi = std::max(hi, train.images.item(i));
  CHECK(lo == 0.0);
  CHECK(hi == 1.0);
  CHECK(fashion_mnist_classes()[9] == "Ankle boot");
  CHECK(fashion_mnist_classes()[0] == "T-shirt/top");
}

TEST_CASE("fashion-mnist: directory override, environment variable and malformed files") {
  std::string good = fake_fashion_dir("fm_good", 3, 3, 7);
  LabeledImages d = load_fashion_mnist("test", good);
  CHECK(d.images.shape() == Shape{3, 1, 28, 28});
  CHECK(d.images.item(1) == doctest::Approx(1.0 / 255));
  CHECK(d.images.item(255) == 1.0f);
  CHECK(d.labels.item(2) == 7);
  // Set the variable for this block; restore what the caller had afterwards.
  const char* before = std::getenv("XDNN_FASHION_MNIST_DIR");
  const std::string saved = before ? before : "";
  ::setenv("XDNN_FASHION_MNIST_DIR", good.c_str(), 1);
  CHECK(fashion_mnist_dir() == good);
  CHECK(load_fashion_mnist("t10k").labels.numel() == 3);
  CHECK(fashion_mnist_dir("/explicit") == "/explicit");  // the argument wins over the environment
  ::unsetenv("XDNN_FASHION_MNIST_DIR");
  CHECK(fashion_mnist_dir() == "/usr/share/datasets/fashion-mnist");
  if (before) ::setenv("XDNN_FASHION_MNIST_DIR", saved.c_str(), 1);

  try {
    load_fashion_mnist("test", "/nonexistent/fm");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "Fashion-MNIST not found at /nonexistent/fm/t10k-images-idx3-ubyte.gz");
    CHECK(e.hint().find("apt-get install dataset-fashion-mnist") != std::string::npos);
  }
  check_error([] { load_fashion_mnist("valid"); }, "split 'valid'", "expected 'train' or 'test'");
  std::string dir = fake_fashion_dir("fm_count", 3, 2, 1);
  check_error([&] { load_fashion_mnist("test", dir); }, dir + "/t10k-labels-idx1-ubyte.gz", "2 labels for 3 images");
  dir = fake_fashion_dir("fm_label", 2, 2, 10);
  check_error([&] { load_fashion_mnist("test", dir); }, "t10k-labels", "label 10 of example 0 is not a class index");
  std::string f = scratch().path("bad-idx.gz");
  write_idx_gz(f, 0x801, {3}, "abc");
  check_error([&] { read_idx_images(f); }, f, "not an IDX image file (expected magic 0x00000803, got 0x00000801)");
  write_idx_gz(f, 0x803, {2, 28, 28}, std::string(784 + 5, '\0'));
  check_error([&] { read_idx_images(f); }, f, "truncated IDX file: expected 1568 bytes of pixels, got 789");
  write_idx_gz(f, 0x803, {0xffffffff, 0xffffffff, 0xffffffff}, "");
  check_error([&] { read_idx_images(f); }, f, "too large");
  write_idx_gz(f, 0x803, {0xffffffff, 1000, 1000}, std::string(1000, 'x'));  // no 4e15-byte allocation
  check_error([&] { read_idx_images(f); }, f, "truncated IDX file");
  write_idx_gz(f, 0x801, {3}, "abcd");
  check_error([&] { read_idx_labels(f); }, f, "trailing bytes after 3 labels");
  CHECK(read_idx_labels(f, 2).numel() == 2);    // a prefix does not look past what it needs
  write_bytes(f, read_bytes(f).substr(0, 20));  // a cut gzip stream
  check_error([&] { read_idx_labels(f); }, f, "truncated");
  write_bytes(f, std::string("\x00\x00\x08\x01\x00\x00\x00\x02\x03\x04", 10));  // uncompressed IDX is fine
  CHECK(read_idx_labels(f).item(1) == 4);
  check_error([] { read_idx_labels("/nonexistent/l.gz"); }, "/nonexistent/l.gz", "no such file");
}

TEST_CASE("fashion-mnist: a split read in batches equals the split read whole, and evaluates to the same bits") {
  std::string dir = fake_fashion_dir("fm_stream", 5, 5, 3);
  const LabeledImages whole = load_fashion_mnist("test", dir);
  FashionMnistStream s("test", dir);
  CHECK(s.size() == 5);
  std::vector<int64_t> sizes;
  const Model model = build_zoo_model("fashion-mlp", 1);
  EvalSums sums;
  int64_t at = 0;
  for (LabeledImages b = s.next(2); b.labels.numel() > 0; b = s.next(2)) {
    sizes.push_back(b.labels.numel());
    CHECK(b.images.shape() == Shape{b.labels.numel(), 1, 28, 28});
    for (int64_t i = 0; i < b.images.numel(); ++i) REQUIRE(b.images.item(i) == whole.images.item(at * 784 + i));
    at += b.labels.numel();
    evaluate_batch(model, b.images, b.labels, sums);
  }
  CHECK(sizes == std::vector<int64_t>{2, 2, 1});
  const EvalResult streamed = sums.result(), direct = evaluate(model, {whole.images, whole.labels}, 2);
  CHECK(streamed.count == 5);
  CHECK(streamed.loss == direct.loss);  // bit for bit: same batches, same order
  CHECK(streamed.accuracy == direct.accuracy);
  CHECK(FashionMnistStream("test", dir, 3).size() == 3);  // a limit

  // A bad label in a later batch is named by its index in the split, not in the batch.
  write_idx_gz(dir + "/t10k-labels-idx1-ubyte.gz", 0x801, {5}, std::string("\1\1\1\13\1", 5));
  FashionMnistStream bad("test", dir);
  bad.next(2);
  check_error([&] { bad.next(2); }, "t10k-labels", "label 11 of example 3 is not a class index in [0, 10)");
  check_error([&] { FashionMnistStream("test", fake_fashion_dir("fm_stream_count", 4, 3, 1)); }, "t10k-labels",
              "3 labels for 4 images");
  check_error([] { EvalSums().result(); }, "evaluation", "at least one example");
}
