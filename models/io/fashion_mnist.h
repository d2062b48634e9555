// Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 28x28 grey images of 10 clothing classes, 60000 train
// and 10000 test. Read from the gzipped IDX files of Debian's `dataset-fashion-mnist` package.
//
// IDX format (LeCun's MNIST page): big-endian uint32 magic 0x00000803 (images, 3 dims) or 0x00000801
// (labels, 1 dim), one big-endian uint32 per dimension, then uint8 data in C order.
#pragma once
#include <array>
#include <memory>
#include <string>

#include "engine/tensor.h"

namespace xdnn {

struct LabeledImages {
  Tensor images;  // float32 (N, 1, 28, 28), pixel / 255 in [0, 1]
  Tensor labels;  // int64 (N,), class index in [0, 10)
};

// Where the files are: `dir` if non-empty, else $XDNN_FASHION_MNIST_DIR if set, else
// /usr/share/datasets/fashion-mnist.
std::string fashion_mnist_dir(const std::string& dir = "");

// split: "train" (60000) or "test" (t10k, 10000). limit >= 0 keeps only the first `limit` examples.
// Missing files -> xdnn::Error "Fashion-MNIST not found at <path>" with an apt-get hint.
LabeledImages load_fashion_mnist(const std::string& split, const std::string& dir = "", int64_t limit = -1);

class IdxStream;

// A split read in batches: memory holds one batch whatever the split's size (`xdnn eval` on the 60,000
// training images). The same checks as load_fashion_mnist, each when its bytes are read.
class FashionMnistStream {
 public:
  FashionMnistStream(const std::string& split, const std::string& dir = "", int64_t limit = -1);
  ~FashionMnistStream();
  int64_t size() const;           // examples it delivers in all
  LabeledImages next(int64_t n);  // the next min(n, left) examples; 0 rows when all were delivered

 private:
  std::unique_ptr<IdxStream> images_, labels_;
};

// "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"
const std::array<std::string, 10>& fashion_mnist_classes();

// The IDX readers on their own (gzipped or plain files). limit as above.
Tensor read_idx_images(const std::string& path, int64_t limit = -1);  // float32 (N, 1, rows, cols) in [0, 1]
Tensor read_idx_labels(const std::string& path, int64_t limit = -1);  // int64 (N,)

}  // namespace xdnn
