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
// - Refusals: the try_* functions report CUDNN_STATUS_NOT_SUPPORTED / BAD_PARAM (from descriptor set-up,
//   the algorithm query or the call itself), "no usable algorithm" and "library not loadable" as a
//   CudnnOutcome without writing the output; kernels/conv.cu then takes the im2col route
//   (decide_conv_route, kernels/conv_route.h). Any other failing status throws.
#include <array>
#include <map>
#include <string>

#include "kernels/conv_route.h"
#include "kernels/cuda_libs.h"

namespace xdnn::cuda {
namespace {

constexpr size_t kWorkspaceLimit = size_t(512) << 20;

void check_cudnn_int(const Shape& s, const char* what) {
  for (int64_t v : s)
    if (v > (int64_t(1) << 31) - 1)
      throw Error(std::string(what) + ": dimension too large for cuDNN in " + shape_str(s));
}

// The four descriptors of one convolution, destroyed with it. Set-up stops at the first failing call:
// `status` and `call` name it (a refusal such as NOT_SUPPORTED is the caller's to handle).
struct ConvDescriptors {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnDataType_t type;
  cudnnStatus_t status = CUDNN_STATUS_SUCCESS;
  const char* call = "";

  bool ok(cudnnStatus_t st, const char* name) {
    if (status == CUDNN_STATUS_SUCCESS && st != CUDNN_STATUS_SUCCESS) status = st, call = name;
    return status == CUDNN_STATUS_SUCCESS;
  }

  ConvDescriptors(const Shape& xs, const Shape& ws, const Shape& ys, const ops::Conv2dGeometry& g, DType dt) {
    check_cudnn_int(xs, "cudnn conv2d");
    check_cudnn_int(ys, "cudnn conv2d");
    type = dt == DType::F32 ? CUDNN_DATA_FLOAT : CUDNN_DATA_DOUBLE;
    const auto i = [](int64_t v) { return static_cast<int>(v); };
    check_cudnn(cudnn().create_tensor_descriptor(&x), "cudnnCreateTensorDescriptor");
    check_cudnn(cudnn().create_tensor_descriptor(&y), "cudnnCreateTensorDescriptor");
    check_cudnn(cudnn().create_filter_descriptor(&w), "cudnnCreateFilterDescriptor");
    check_cudnn(cudnn().create_convolution_descriptor(&conv), "cudnnCreateConvolutionDescriptor");
    // The mode is cross-correlation (what deep-learning "convolution" means; our CPU op does the same).
    int n = 0, c = 0, h = 0, wd = 0;
    const bool set =
        ok(cudnn().set_tensor_4d_descriptor(x, CUDNN_TENSOR_NCHW, type, i(xs[0]), i(xs[1]), i(xs[2]), i(xs[3])),
           "cudnnSetTensor4dDescriptor") &&
        ok(cudnn().set_tensor_4d_descriptor(y, CUDNN_TENSOR_NCHW, type, i(ys[0]), i(ys[1]), i(ys[2]), i(ys[3])),
           "cudnnSetTensor4dDescriptor") &&
        ok(cudnn().set_filter_4d_descriptor(w, type, CUDNN_TENSOR_NCHW, i(ws[0]), i(ws[1]), i(ws[2]), i(ws[3])),
           "cudnnSetFilter4dDescriptor") &&
        ok(cudnn().set_convolution_2d_descriptor(conv, i(g.pad_top), i(g.pad_left), i(g.stride_h), i(g.stride_w),
                                                 i(g.dilation_h), i(g.dilation_w), CUDNN_CROSS_CORRELATION, type),
           "cudnnSetConvolution2dDescriptor") &&
        ok(cudnn().set_convolution_group_count(conv, i(g.groups)), "cudnnSetConvolutionGroupCount") &&
        ok(cudnn().set_convolution_math_type(conv, CUDNN_FMA_MATH), "cudnnSetConvolutionMathType") &&
        ok(cudnn().get_convolution_2d_forward_output_dim(conv, x, w, &n, &c, &h, &wd),
           "cudnnGetConvolution2dForwardOutputDim");
    if (set && (n != ys[0] || c != ys[1] || h != ys[2] || wd != ys[3]))
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

// A refusal status as an outcome (with cuDNN's name for it in *detail); other failures throw.
CudnnOutcome refusal(cudnnStatus_t st, const char* call, std::string* detail) {
  if (st == CUDNN_STATUS_SUCCESS) {
    sync_for_debug(call);
    return CudnnOutcome::Success;
  }
  if (st == CUDNN_STATUS_NOT_SUPPORTED || st == CUDNN_STATUS_BAD_PARAM) {
    *detail = std::string(call) + ": " + cudnn().get_error_string(st);
    return st == CUDNN_STATUS_NOT_SUPPORTED ? CudnnOutcome::NotSupported : CudnnOutcome::BadParam;
  }
  check_cudnn(st, call);  // throws
  return CudnnOutcome::Success;
}

// The library and its handle, or LibraryUnavailable with the loader's one-line reason.
CudnnOutcome open_cudnn(cudnnHandle_t* h, std::string* detail) {
  try {
    *h = cudnn_handle();
    return CudnnOutcome::Success;
  } catch (const Error& e) {
    *detail = e.what();
    return CudnnOutcome::LibraryUnavailable;
  }
}

}  // namespace

bool cudnn_supports(const ops::Conv2dGeometry& g) { return g.pad_top == g.pad_bottom && g.pad_left == g.pad_right; }

CudnnOutcome try_conv2d_forward_cudnn(const Tensor& x, const Tensor& w, const Tensor& b, const ops::Conv2dGeometry& g,
                                      Tensor& y, std::string* detail) {
  const Shape ys = ops::conv2d_output_shape(x.shape(), w.shape(), g);
  const Scalars s;
  std::lock_guard<std::mutex> lock(library_mutex());
  cudnnHandle_t h = nullptr;
  if (open_cudnn(&h, detail) != CudnnOutcome::Success) return CudnnOutcome::LibraryUnavailable;
  ConvDescriptors d(x.shape(), w.shape(), ys, g, x.dtype());
  if (d.status != CUDNN_STATUS_SUCCESS) return refusal(d.status, d.call, detail);
  const Key key = key_of(0, x.dtype(), x.shape(), w.shape(), g);
  auto it = algo_cache().find(key);
  if (it == algo_cache().end()) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int n = 0;
    const cudnnStatus_t st = cudnn().get_convolution_forward_algorithm_v7(h, d.x, d.w, d.conv, d.y,
                                                                          CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf);
    if (st != CUDNN_STATUS_SUCCESS) return refusal(st, "cudnnGetConvolutionForwardAlgorithm_v7", detail);
    it = algo_cache().emplace(key, first_usable(perf, n)).first;
  }
  if (it->second < 0) return CudnnOutcome::NoAlgorithm;
  const auto algo = static_cast<cudnnConvolutionFwdAlgo_t>(it->second);
  size_t bytes = 0;
  check_cudnn(cudnn().get_convolution_forward_workspace_size(h, d.x, d.w, d.conv, d.y, algo, &bytes),
              "cudnnGetConvolutionForwardWorkspaceSize");
  Tensor ws = workspace(bytes);
  Tensor out = Tensor::empty(ys, x.dtype(), Device::CUDA);
  const CudnnOutcome o = refusal(
      cudnn().convolution_forward(h, s.one(x.dtype()), d.x, x.raw_device_data(), d.w, w.raw_device_data(), d.conv, algo,
                                  ptr_of(ws), bytes, s.zero(x.dtype()), d.y, out.raw_device_data()),
      "cudnnConvolutionForward", detail);
  if (o != CudnnOutcome::Success) return o;
  if (b.defined()) {  // y += b broadcast over (N, ·, OH, OW)
    cudnnTensorDescriptor_t bd;
    check_cudnn(cudnn().create_tensor_descriptor(&bd), "cudnnCreateTensorDescriptor");
    const cudnnStatus_t st =
        cudnn().set_tensor_4d_descriptor(bd, CUDNN_TENSOR_NCHW, d.type, 1, static_cast<int>(ys[1]), 1, 1);
    const cudnnStatus_t st2 = st == CUDNN_STATUS_SUCCESS
                                  ? cudnn().add_tensor(h, s.one(x.dtype()), bd, b.raw_device_data(), s.one(x.dtype()),
                                                       d.y, out.raw_device_data())
                                  : st;
    cudnn().destroy_tensor_descriptor(bd);
    check_cudnn(st2, "cudnnAddTensor");
  }
  y = out;
  return CudnnOutcome::Success;
}

CudnnOutcome try_conv2d_backward_input_cudnn(const Tensor& gy, const Tensor& w, const Shape& x_shape,
                                             const ops::Conv2dGeometry& g, Tensor& gx, std::string* detail) {
  const Scalars s;
  std::lock_guard<std::mutex> lock(library_mutex());
  cudnnHandle_t h = nullptr;
  if (open_cudnn(&h, detail) != CudnnOutcome::Success) return CudnnOutcome::LibraryUnavailable;
  ConvDescriptors d(x_shape, w.shape(), gy.shape(), g, gy.dtype());
  if (d.status != CUDNN_STATUS_SUCCESS) return refusal(d.status, d.call, detail);
  const Key key = key_of(1, gy.dtype(), x_shape, w.shape(), g);
  auto it = algo_cache().find(key);
  if (it == algo_cache().end()) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int n = 0;
    const cudnnStatus_t st = cudnn().get_convolution_backward_data_algorithm_v7(
        h, d.w, d.y, d.conv, d.x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf);
    if (st != CUDNN_STATUS_SUCCESS) return refusal(st, "cudnnGetConvolutionBackwardDataAlgorithm_v7", detail);
    it = algo_cache().emplace(key, first_usable(perf, n)).first;
  }
  if (it->second < 0) return CudnnOutcome::NoAlgorithm;
  const auto algo = static_cast<cudnnConvolutionBwdDataAlgo_t>(it->second);
  size_t bytes = 0;
  check_cudnn(cudnn().get_convolution_backward_data_workspace_size(h, d.w, d.y, d.conv, d.x, algo, &bytes),
              "cudnnGetConvolutionBackwardDataWorkspaceSize");
  Tensor ws = workspace(bytes);
  Tensor out = Tensor::empty(x_shape, gy.dtype(), Device::CUDA);
  const CudnnOutcome o = refusal(cudnn().convolution_backward_data(
                                     h, s.one(gy.dtype()), d.w, w.raw_device_data(), d.y, gy.raw_device_data(), d.conv,
                                     algo, ptr_of(ws), bytes, s.zero(gy.dtype()), d.x, out.raw_device_data()),
                                 "cudnnConvolutionBackwardData", detail);
  if (o == CudnnOutcome::Success) gx = out;
  return o;
}

CudnnOutcome try_conv2d_backward_weight_cudnn(const Tensor& x, const Tensor& gy, Tensor& gw, bool accumulate,
                                              const ops::Conv2dGeometry& g, std::string* detail) {
  const Scalars s;
  std::lock_guard<std::mutex> lock(library_mutex());
  cudnnHandle_t h = nullptr;
  if (open_cudnn(&h, detail) != CudnnOutcome::Success) return CudnnOutcome::LibraryUnavailable;
  ConvDescriptors d(x.shape(), gw.shape(), gy.shape(), g, x.dtype());
  if (d.status != CUDNN_STATUS_SUCCESS) return refusal(d.status, d.call, detail);
  const Key key = key_of(2, x.dtype(), x.shape(), gw.shape(), g);
  auto it = algo_cache().find(key);
  if (it == algo_cache().end()) {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int n = 0;
    const cudnnStatus_t st = cudnn().get_convolution_backward_filter_algorithm_v7(
        h, d.x, d.y, d.conv, d.w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf);
    if (st != CUDNN_STATUS_SUCCESS) return refusal(st, "cudnnGetConvolutionBackwardFilterAlgorithm_v7", detail);
    it = algo_cache().emplace(key, first_usable(perf, n)).first;
  }
  if (it->second < 0) return CudnnOutcome::NoAlgorithm;
  const auto algo = static_cast<cudnnConvolutionBwdFilterAlgo_t>(it->second);
  size_t bytes = 0;
  check_cudnn(cudnn().get_convolution_backward_filter_workspace_size(h, d.x, d.y, d.conv, d.w, algo, &bytes),
              "cudnnGetConvolutionBackwardFilterWorkspaceSize");
  Tensor ws = workspace(bytes);
  // A refusal here comes before cuDNN writes gw (argument checks), so the im2col route can still accumulate.
  return refusal(cudnn().convolution_backward_filter(
                     h, s.one(x.dtype()), d.x, x.raw_device_data(), d.y, gy.raw_device_data(), d.conv, algo, ptr_of(ws),
                     bytes, accumulate ? s.one(x.dtype()) : s.zero(x.dtype()), d.w, gw.raw_device_data()),
                 "cudnnConvolutionBackwardFilter", detail);
}

// ---- the cuda_ops.h names: cuDNN, else im2col ---------------------------------------------------------------

Tensor conv2d_forward_cudnn(const Tensor& x, const Tensor& w, const Tensor& b, const ops::Conv2dGeometry& g) {
  Tensor y;
  std::string detail;
  return try_conv2d_forward_cudnn(x, w, b, g, y, &detail) == CudnnOutcome::Success ? y
                                                                                   : conv2d_forward_im2col(x, w, b, g);
}

Tensor conv2d_backward_input_cudnn(const Tensor& gy, const Tensor& w, const Shape& x_shape,
                                   const ops::Conv2dGeometry& g) {
  Tensor gx;
  std::string detail;
  return try_conv2d_backward_input_cudnn(gy, w, x_shape, g, gx, &detail) == CudnnOutcome::Success
             ? gx
             : conv2d_backward_input_im2col(gy, w, x_shape, g);
}

void conv2d_backward_weight_cudnn(const Tensor& x, const Tensor& gy, Tensor& gw, bool accumulate,
                                  const ops::Conv2dGeometry& g) {
  std::string detail;
  if (try_conv2d_backward_weight_cudnn(x, gy, gw, accumulate, g, &detail) != CudnnOutcome::Success)
    conv2d_backward_weight_im2col(x, gy, gw, accumulate, g);
}

}  // namespace xdnn::cuda
