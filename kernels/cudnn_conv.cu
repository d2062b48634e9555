// 2-D convolution through cuDNN's convolution API (cudnnConvolutionForward / BackwardData /
// BackwardFilter), the alternative to the im2col path of kernels/conv.cu (which selects between them).
// Host code only: no kernels of ours here.
//
// Choices:
// - Algorithm: cuDNN's heuristic ranking (cudnnGet*Algorithm_v7, no trial runs), the first entry that is
//   deterministic (CUDNN_DETERMINISTIC: backward-data algo 0 and backward-filter algos 0 and 3 add with
//   atomics and are skipped) and needs at most kWorkspaceLimit of workspace. Cached per geometry. The
//   heuristic is not a measurement: cudnnFind*AlgorithmEx times the candidates and is what a tuned
//   build should use once the choice can be measured on the target GPU.
// - Math: CUDNN_FMA_MATH, i.e. no TF32 tensor-core rounding of fp32 inputs (TF32 keeps 10 mantissa bits,
//   which breaks the 1e-4 agreement with the CPU twin that the tests require).
// - Padding must be symmetric (cuDNN's descriptor has one pad per axis): cudnn_supports() says so, and
//   kernels/conv.cu routes asymmetric (ONNX) padding to im2col.
#include <array>
#include <map>
#include <string>

#include "kernels/cuda_libs.h"

namespace xdnn::cuda {
namespace {

constexpr size_t kWorkspaceLimit = size_t(512) << 20;

void check_cudnn_int(const Shape& s, const char* what) {
  for (int64_t v : s)
    if (v > (int64_t(1) << 31) - 1)
      throw Error(std::string(what) + ": dimension too large for cuDNN in " + shape_str(s));
}

// The four descriptors of one convolution, destroyed with it.
struct ConvDescriptors {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnDataType_t type;

  ConvDescriptors(const Shape& xs, const Shape& ws, const Shape& ys, const ops::Conv2dGeometry& g, DType dt) {
    check_cudnn_int(xs, "cudnn conv2d");
    check_cudnn_int(ys, "cudnn conv2d");
    type = dt == DType::F32 ? CUDNN_DATA_FLOAT : CUDNN_DATA_DOUBLE;
    const auto i = [](int64_t v) { return static_cast<int>(v); };
    check_cudnn(cudnn().create_tensor_descriptor(&x), "cudnnCreateTensorDescriptor");
    check_cudnn(cudnn().create_tensor_descriptor(&y), "cudnnCreateTensorDescriptor");
    check_cudnn(cudnn().create_filter_descriptor(&w), "cudnnCreateFilterDescriptor");
    check_cudnn(cudnn().create_convolution_descriptor(&conv), "cudnnCreateConvolutionDescriptor");
    check_cudnn(cudnn().set_tensor_4d_descriptor(x, CUDNN_TENSOR_NCHW, type, i(xs[0]), i(xs[1]), i(xs[2]), i(xs[3])),
                "cudnnSetTensor4dDescriptor");
    check_cudnn(cudnn().set_tensor_4d_descriptor(y, CUDNN_TENSOR_NCHW, type, i(ys[0]), i(ys[1]), i(ys[2]), i(ys[3])),
                "cudnnSetTensor4dDescriptor");
    check_cudnn(cudnn().set_filter_4d_descriptor(w, type, CUDNN_TENSOR_NCHW, i(ws[0]), i(ws[1]), i(ws[2]), i(ws[3])),
                "cudnnSetFilter4dDescriptor");
    // Cross-correlation (what deep-learning "convolution" means; our CPU op does the same).
    check_cudnn(cudnn().set_convolution_2d_descriptor(conv, i(g.pad_top), i(g.pad_left), i(g.stride_h), i(g.stride_w),
                                                      i(g.dilation_h), i(g.dilation_w), CUDNN_CROSS_CORRELATION, type),
                "cudnnSetConvolution2dDescriptor");
    check_cudnn(cudnn().set_convolution_group_count(conv, i(g.groups)), "cudnnSetConvolutionGroupCount");
    check_cudnn(cudnn().set_convolution_math_type(conv, CUDNN_FMA_MATH), "cudnnSetConvolutionMathType");
    int n, c, h, wd;
    check_cudnn(cudnn().get_convolution_2d_forward_output_dim(conv, x, w, &n, &c, &h, &wd),
                "cudnnGetConvolution2dForwardOutputDim");
    if (n != ys[0] || c != ys[1] || h != ys[2] || wd != ys[3])
      throw Error("cudnn conv2d: cuDNN's output shape differs from " + shape_str(ys) + " (internal)");
  }
  ~ConvDescriptors() {
    cudnn().destroy_convolution_descriptor(conv);
    cudnn().destroy_filter_descriptor(w);
    cudnn().destroy_tensor_descriptor(y);
    cudnn().destroy_tensor_descriptor(x);
  }
  ConvDescriptors(const ConvDescriptors&) = delete;
  ConvDescriptors& operator=(const ConvDescriptors&) = delete;
};

// Cache of chosen algorithms: (pass, dtype, shapes, geometry) -> algorithm (−1: none usable).
using Key = std::array<int64_t, 19>;
std::map<Key, int>& algo_cache() {  // used with library_mutex() held
  static std::map<Key, int> cache;
  return cache;
}

Key key_of(int pass, DType dt, const Shape& xs, const Shape& ws, const ops::Conv2dGeometry& g) {
  return {pass,
          static_cast<int64_t>(dt),
          xs[0],
          xs[1],
          xs[2],
          xs[3],
          ws[0],
          ws[1],
          ws[2],
          ws[3],
          g.stride_h,
          g.stride_w,
          g.pad_top,
          g.pad_left,
          g.dilation_h,
          g.dilation_w,
          g.groups,
          0,
          0};
}

// The first deterministic, successful candidate within the workspace limit (candidates come ranked).
template <class Perf>
int first_usable(const Perf* perf, int n) {
  for (int i = 0; i < n; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].determinism == CUDNN_DETERMINISTIC &&
        perf[i].memory <= kWorkspaceLimit)
      return static_cast<int>(perf[i].algo);
  return -1;
}

// Pool memory for a workspace (none when bytes == 0).
Tensor workspace(size_t bytes) {
  return bytes ? Tensor::empty({static_cast<int64_t>((bytes + 7) / 8)}, DType::I64, Device::CUDA) : Tensor();
}
void* ptr_of(Tensor& t) { return t.defined() ? t.raw_device_data() : nullptr; }

// alpha / beta scalars in the precision cuDNN expects for the data type.
struct Scalars {
  float f1 = 1, f0 = 0;
  double d1 = 1, d0 = 0;
  const void* one(DType dt) const { return dt == DType::F32 ? static_cast<const void*>(&f1) : &d1; }
  const void* zero(DType dt) const { return dt == DType::F32 ? static_cast<const void*>(&f0) : &d0; }
};

}  // namespace

bool cudnn_supports(const ops::Conv2dGeometry& g) { return g.pad_top == g.pad_bottom && g.pad_left == g.pad_right; }

Tensor conv2d_forward_cudnn(const Tensor& x, const Tensor& w, const Tensor& b, const ops::Conv2dGeometry& g) {
  const Shape ys = ops::conv2d_output_shape(x.shape(), w.shape(), g);
  Tensor y = Tensor::empty(ys, x.dtype(), Device::CUDA);
  const Scalars s;
  bool done = false;
  {
    std::lock_guard<std::mutex> lock(library_mutex());
    cudnnHandle_t h = cudnn_handle();
    ConvDescriptors d(x.shape(), w.shape(), ys, g, x.dtype());
    const Key key = key_of(0, x.dtype(), x.shape(), w.shape(), g);
    auto it = algo_cache().find(key);
    if (it == algo_cache().end()) {
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      int n = 0;
      check_cudnn(cudnn().get_convolution_forward_algorithm_v7(h, d.x, d.w, d.conv, d.y,
                                                               CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf),
                  "cudnnGetConvolutionForwardAlgorithm_v7");
      it = algo_cache().emplace(key, first_usable(perf, n)).first;
    }
    if (it->second >= 0) {
      const auto algo = static_cast<cudnnConvolutionFwdAlgo_t>(it->second);
      size_t bytes = 0;
      check_cudnn(cudnn().get_convolution_forward_workspace_size(h, d.x, d.w, d.conv, d.y, algo, &bytes),
                  "cudnnGetConvolutionForwardWorkspaceSize");
      Tensor ws = workspace(bytes);
      check_cudnn(
          cudnn().convolution_forward(h, s.one(x.dtype()), d.x, x.raw_device_data(), d.w, w.raw_device_data(), d.conv,
                                      algo, ptr_of(ws), bytes, s.zero(x.dtype()), d.y, y.raw_device_data()),
          "cudnnConvolutionForward");
      if (b.defined()) {  // y += b broadcast over (N, ·, OH, OW)
        cudnnTensorDescriptor_t bd;
        check_cudnn(cudnn().create_tensor_descriptor(&bd), "cudnnCreateTensorDescriptor");
        const cudnnStatus_t st =
            cudnn().set_tensor_4d_descriptor(bd, CUDNN_TENSOR_NCHW, d.type, 1, static_cast<int>(ys[1]), 1, 1);
        const cudnnStatus_t st2 = st == CUDNN_STATUS_SUCCESS
                                      ? cudnn().add_tensor(h, s.one(x.dtype()), bd, b.raw_device_data(),
                                                           s.one(x.dtype()), d.y, y.raw_device_data())
                                      : st;
        cudnn().destroy_tensor_descriptor(bd);
        check_cudnn(st2, "cudnnAddTensor");
      }
      done = true;
    }
  }
  return done ? y : conv2d_forward_im2col(x, w, b, g);
}

Tensor conv2d_backward_input_cudnn(const Tensor& gy, const Tensor& w, const Shape& x_shape,
                                   const ops::Conv2dGeometry& g) {
  Tensor gx = Tensor::empty(x_shape, gy.dtype(), Device::CUDA);
  const Scalars s;
  bool done = false;
  {
    std::lock_guard<std::mutex> lock(library_mutex());
    cudnnHandle_t h = cudnn_handle();
    ConvDescriptors d(x_shape, w.shape(), gy.shape(), g, gy.dtype());
    const Key key = key_of(1, gy.dtype(), x_shape, w.shape(), g);
    auto it = algo_cache().find(key);
    if (it == algo_cache().end()) {
      cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
      int n = 0;
      check_cudnn(cudnn().get_convolution_backward_data_algorithm_v7(h, d.w, d.y, d.conv, d.x,
                                                                     CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf),
                  "cudnnGetConvolutionBackwardDataAlgorithm_v7");
      it = algo_cache().emplace(key, first_usable(perf, n)).first;
    }
    if (it->second >= 0) {
      const auto algo = static_cast<cudnnConvolutionBwdDataAlgo_t>(it->second);
      size_t bytes = 0;
      check_cudnn(cudnn().get_convolution_backward_data_workspace_size(h, d.w, d.y, d.conv, d.x, algo, &bytes),
                  "cudnnGetConvolutionBackwardDataWorkspaceSize");
      Tensor ws = workspace(bytes);
      check_cudnn(cudnn().convolution_backward_data(h, s.one(gy.dtype()), d.w, w.raw_device_data(), d.y,
                                                    gy.raw_device_data(), d.conv, algo, ptr_of(ws), bytes,
                                                    s.zero(gy.dtype()), d.x, gx.raw_device_data()),
                  "cudnnConvolutionBackwardData");
      done = true;
    }
  }
  return done ? gx : conv2d_backward_input_im2col(gy, w, x_shape, g);
}

void conv2d_backward_weight_cudnn(const Tensor& x, const Tensor& gy, Tensor& gw, bool accumulate,
                                  const ops::Conv2dGeometry& g) {
  const Scalars s;
  {
    std::lock_guard<std::mutex> lock(library_mutex());
    cudnnHandle_t h = cudnn_handle();
    ConvDescriptors d(x.shape(), gw.shape(), gy.shape(), g, x.dtype());
    const Key key = key_of(2, x.dtype(), x.shape(), gw.shape(), g);
    auto it = algo_cache().find(key);
    if (it == algo_cache().end()) {
      cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
      int n = 0;
      check_cudnn(cudnn().get_convolution_backward_filter_algorithm_v7(
                      h, d.x, d.y, d.conv, d.w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf),
                  "cudnnGetConvolutionBackwardFilterAlgorithm_v7");
      it = algo_cache().emplace(key, first_usable(perf, n)).first;
    }
    if (it->second >= 0) {
      const auto algo = static_cast<cudnnConvolutionBwdFilterAlgo_t>(it->second);
      size_t bytes = 0;
      check_cudnn(cudnn().get_convolution_backward_filter_workspace_size(h, d.x, d.y, d.conv, d.w, algo, &bytes),
                  "cudnnGetConvolutionBackwardFilterWorkspaceSize");
      Tensor ws = workspace(bytes);
      check_cudnn(cudnn().convolution_backward_filter(
                      h, s.one(x.dtype()), d.x, x.raw_device_data(), d.y, gy.raw_device_data(), d.conv, algo,
                      ptr_of(ws), bytes, accumulate ? s.one(x.dtype()) : s.zero(x.dtype()), d.w, gw.raw_device_data()),
                  "cudnnConvolutionBackwardFilter");
      return;
    }
  }
  conv2d_backward_weight_im2col(x, gy, gw, accumulate, g);
}

}  // namespace xdnn::cuda
