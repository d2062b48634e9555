// xdnn/xdnn.h — the public C++ API of the xdnn library: load a model, run it, explain its predictions,
// score training-data influence, train a zoo model, and plug a layer of your own (with its own LRP rule)
// into a model.
//
// Only the C++ standard library appears here. The engine's types (Tensor, Model, Layer, ...) stay behind
// opaque handles (pimpl), so this header — installed as <xdnn/xdnn.h> — and the ABI of libxdnn change
// only when this API does. Every function throws xdnn::api::Error on bad input, with the same one-line
// message the `xdnn` command line prints (it names the file, tensor, node or option and what was expected).
//
// Build against the installed library:
//   c++ -std=c++20 app.cpp $(pkg-config --cflags --libs xdnn)          # shared libxdnn.so
//   c++ -std=c++20 app.cpp $(pkg-config --cflags --libs xdnn-static)   # static libxdnn.a
// Names and defaults are the command line's: a model spec is what `--model` takes, an explanation
// method and its options are those of `xdnn explain --method NAME --OPTION VALUE`.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace xdnn::api {

// What every function here throws. what(): one line; hint(): an optional suggestion (may be empty).
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what, std::string hint = {}) : std::runtime_error(what), hint_(std::move(hint)) {}
  const std::string& hint() const { return hint_; }

 private:
  std::string hint_;
};

enum class DType { F32, F64, I64 };  // float32, float64, int64 (token ids, labels)

// A dense row-major array that owns its elements: images (N, C, H, W), logits (N, K), token ids (N, T),
// labels (N), attributions. Copies are deep.
class Array {
 public:
  Array() = default;
  Array(DType dtype, std::vector<int64_t> shape);  // zero-filled
  static Array f32(std::vector<int64_t> shape, const std::vector<float>& values);
  static Array f64(std::vector<int64_t> shape, const std::vector<double>& values);
  static Array i64(std::vector<int64_t> shape, const std::vector<int64_t>& values);

  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t size() const;  // number of elements
  // Element i (row-major) as a double, and set it from one (rounded to the array's dtype).
  double get(int64_t i) const;
  void set(int64_t i, double value);
  // The elements, for the array's own dtype only (float for F32, double for F64, int64_t for I64);
  // another T throws.
  template <class T>
  T* data();
  template <class T>
  const T* data() const;
  Array to(DType dtype) const;  // converted copy

 private:
  void check_dtype(DType wanted) const;
  DType dtype_ = DType::F32;
  std::vector<int64_t> shape_;
  std::vector<double> f64_;  // exactly one of these holds the elements, by dtype_
  std::vector<float> f32_;
  std::vector<int64_t> i64_;
};

template <>
inline float* Array::data<float>() {
  check_dtype(DType::F32);
  return f32_.data();
}
template <>
inline const float* Array::data<float>() const {
  check_dtype(DType::F32);
  return f32_.data();
}
template <>
inline double* Array::data<double>() {
  check_dtype(DType::F64);
  return f64_.data();
}
template <>
inline const double* Array::data<double>() const {
  check_dtype(DType::F64);
  return f64_.data();
}
template <>
inline int64_t* Array::data<int64_t>() {
  check_dtype(DType::I64);
  return i64_.data();
}
template <>
inline const int64_t* Array::data<int64_t>() const {
  check_dtype(DType::I64);
  return i64_.data();
}

// .npy files (float32, float64, int64; the formats `xdnn` reads and writes).
Array load_npy(const std::string& path);
void save_npy(const std::string& path, const Array& array);

// Options by name, as the command line spells them without the dashes: {"steps", "50"}. A flag is "true".
using Options = std::map<std::string, std::string>;

// A layer you write yourself, placed into a model with Model::replace_layer. It has no parameters; its
// input and output are single float arrays (the dtype the model computes in: float32 for Model::run,
// float64 for explain at its default precision). Every pass receives this call's x and y = forward(x).
class CustomLayer {
 public:
  virtual ~CustomLayer() = default;
  virtual std::string kind() const = 0;  // shown in errors and Model::layers(), e.g. "Softplus"
  virtual Array forward(const Array& x) const = 0;
  // ∂L/∂x (x's shape) from ∂L/∂y (y's shape). Deconvnet / guided backprop use it unchanged.
  virtual Array backward(const Array& x, const Array& y, const Array& grad_y) const = 0;
  // LRP rules this layer implements; the first is what composites give it. Empty: no LRP through it.
  virtual std::vector<std::string> lrp_rules() const { return {}; }
  // LRP: relevance at x (x's shape) from the relevance at y, under `rule` (one of lrp_rules()).
  virtual Array relevance(const Array& x, const Array& y, const Array& relevance_y, const std::string& rule) const;
};

struct LayerInfo {
  std::string node;  // node name ("conv1", or an ONNX node name)
  std::string kind;  // "Conv2d", "ReLU", or a CustomLayer's kind()
};

// A loaded model (a handle: copies refer to the same model).
class Model {
 public:
  // `spec` as `--model` takes it: model.onnx, a zoo name (fashion-cnn, untrained), a checkpoint written
  // by `xdnn train` / api::train (run/epoch-2.safetensors), or ARCH:weights.safetensors.
  static Model load(const std::string& spec);

  // Forward pass in float32: the model's first output, e.g. logits (N, K). x: float (N, ...) or int64
  // token ids (N, T) for text models.
  Array run(const Array& x) const;
  std::vector<LayerInfo> layers() const;  // in topological order
  // Replaces the single-input single-output node `node` (see layers()) by `layer`.
  void replace_layer(const std::string& node, std::shared_ptr<const CustomLayer> layer);
  // Writes the model as a standard ONNX file (opset 17), as `xdnn export` does; custom layers cannot be.
  void save_onnx(const std::string& path) const;

  struct Impl;  // the library's side (explain/api/api.cpp)
  explicit Model(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  Impl& impl() const { return *impl_; }

 private:
  std::shared_ptr<Impl> impl_;
};

struct OptionInfo {
  std::string name, default_value, help;
};
struct MethodInfo {
  std::string name, description;
  std::vector<OptionInfo> options;
};
std::vector<MethodInfo> methods();  // every registered explanation method

// An attribution (the input's shape; (N, T) for token models; (N, 1, h, w) for class activation maps),
// float32, bit-identical to `xdnn explain` with the same arguments.
//   targets: one class per sample, or a single class for every sample, or empty for each sample's argmax.
//   options: the method's options (e.g. {"steps","50"}), and "precision": "float64" (default) | "float32".
Array explain(const Model& model, const Array& x, const std::string& method, const std::vector<int64_t>& targets = {},
              const Options& options = {});

// Training-data influence, as `xdnn influence`: (n_test, n_train) float32 scores; self-influence (n_train).
//   method: tracin | grad-dot | grad-cos | self-influence | influence-function
//   checkpoints: model specs of one architecture (Model::load); test_x / test_y unused by self-influence.
//   options: lr ("0.1,0.1", default: each checkpoint's own), params (all | last-layer), projection, seed,
//            damping, solver (cg | lissa), chunk.
Array influence(const std::string& method, const std::vector<std::string>& checkpoints, const Array& train_x,
                const Array& train_y, const Array& test_x, const Array& test_y, const Options& options = {});

// Trains an image zoo architecture (fashion-mlp, fashion-cnn, fashion-resnet) on (x, y), as `xdnn train`:
// one checkpoint out_dir/epoch-K.safetensors per epoch (when out_dir is set), loadable by Model::load.
struct TrainOptions {
  std::string model = "fashion-cnn";
  int epochs = 2;
  std::string out_dir;
  uint64_t seed = 0;
  std::string optimizer = "adam";  // adam | sgd
  double lr = 1e-3;
  int64_t batch_size = 64;
  bool progress = false;  // progress bar on stderr
};
struct EpochResult {
  int epoch = 0;
  double train_loss = 0, test_loss = 0, test_accuracy = 0, seconds = 0;
  std::string checkpoint;  // path written, or empty
};
std::vector<EpochResult> train(const TrainOptions& options, const Array& train_x, const Array& train_y,
                               const Array& test_x, const Array& test_y);

// Fashion-MNIST (Debian's dataset-fashion-mnist): images float32 (N, 1, 28, 28) in [0, 1], labels int64 (N).
// split: "train" | "test"; limit: the first N (-1: all); dir: "" = $XDNN_FASHION_MNIST_DIR or the Debian path.
struct LabeledArrays {
  Array x, y;
};
LabeledArrays fashion_mnist(const std::string& split, int64_t limit = -1, const std::string& dir = "");

std::string version();  // "0.1.0"

}  // namespace xdnn::api
