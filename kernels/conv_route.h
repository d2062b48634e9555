// Which route a CUDA convolution takes (cuDNN or im2col + cuBLAS), the debug settings of the CUDA backend
// read from the environment, and the record of the routes taken. Plain C++ compiled in both builds, so
// the decision and the parsing are unit-tested on machines without a GPU (tests/test_cuda_route.cpp).
//
// Why a pure decision function: cuDNN refuses some configurations at run time (an empty batch, tensors
// past its 32-bit element counts, CUDNN_STATUS_NOT_SUPPORTED for a geometry / data type / device, a
// library that cannot be loaded). kernels/conv.cu asks decide_conv_route() before trying cuDNN (outcome
// NotTried) and again with what cuDNN answered; every refusal becomes the im2col route with a reason,
// never an error, so a configuration cuDNN rejects still runs.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/ops.h"
#include "kernels/cuda_ops.h"

namespace xdnn::cuda {

enum class ConvPass { Forward = 0, BackwardInput = 1, BackwardWeight = 2 };
enum class ConvRoute { Cudnn, Im2col };
// What a cuDNN attempt answered. Refusals (everything but Success and NotTried) send the pass to im2col.
enum class CudnnOutcome { NotTried, Success, LibraryUnavailable, NotSupported, BadParam, NoAlgorithm };

// One convolution pass: x (N, C, H, W) and w (O, C/groups, KH, KW) shapes (x_shape for the input gradient).
struct ConvConfig {
  ConvPass pass = ConvPass::Forward;
  DType dtype = DType::F32;
  Shape x, w;
  ops::Conv2dGeometry g;
};

struct RouteDecision {
  ConvRoute route = ConvRoute::Im2col;
  std::string reason;  // why this route ("cuDNN", "empty batch: cuDNN rejects N = 0", ...)
};

// cuDNN's tensor descriptors count elements in a 32-bit int: larger tensors go to im2col, which chunks
// the batch (kernels/conv.cu) and only needs each sample's matrices to fit.
inline constexpr int64_t kCudnnMaxElements = (int64_t(1) << 31) - 1;

// The route for `c` under `setting` (XDNN_CUDA_CONV) given what cuDNN answered so far. Throws only when
// cuDNN is forced (ConvAlgo::Cudnn) on a geometry it cannot express (asymmetric padding).
RouteDecision decide_conv_route(ConvAlgo setting, const ConvConfig& c, CudnnOutcome outcome);

// ---- environment -----------------------------------------------------------------------------------------
// XDNN_CUDA_CONV: unset, "" or "auto" -> Auto; "im2col"; "cudnn". Anything else throws naming the variable.
ConvAlgo parse_conv_algo(const char* value);
// XDNN_LOG: a comma-separated list of topics (known: "conv"); unset or "" -> none. Whether `topic` is
// listed; an unknown topic throws naming the variable and the known topics.
bool log_topic_enabled(const char* value, const std::string& topic);
// XDNN_CUDA_SYNC: unset, "" or "0" -> off, "1" -> on (synchronise after every launch and library call so
// that an asynchronous fault is reported by the kernel that caused it). Anything else throws.
bool parse_cuda_sync(const char* value);
// The process's settings, read once from the environment.
bool conv_log_enabled();
bool cuda_sync_enabled();

// ---- the record of routes taken ----------------------------------------------------------------------------
struct ConvRouteCounts {
  int64_t cudnn[3] = {0, 0, 0};   // by ConvPass
  int64_t im2col[3] = {0, 0, 0};  // by ConvPass
};
// Counts the pass and returns the log line for it ("xdnn conv: forward f32 x (2, 3, 8, 8) w (4, 3, 3, 3)
// stride 1x1 pad 1,1,1,1 dilation 1x1 groups 1 -> im2col (empty batch ...)") the first time this
// configuration and route are seen, "" afterwards. Thread-safe.
std::string note_conv_route(const ConvConfig& c, const RouteDecision& d);
// note_conv_route, printing the line on stderr when XDNN_LOG lists "conv".
void report_conv_route(const ConvConfig& c, const RouteDecision& d);
ConvRouteCounts conv_route_counts();

// ---- CUDA build only (kernels/conv.cu, kernels/cudnn_conv.cu, kernels/cuda_backend.cpp) ---------------------
// With XDNN_CUDA_SYNC=1: synchronises the backend's stream and throws "CUDA: <source> faulted on the device:
// ..." on an error; otherwise does nothing. check_launch() calls it with the kernel's name, check_cublas()
// and check_cudnn() with the library call's.
void sync_for_debug(const char* source);
// Bound on the im2col column buffer per chunk of samples (default 256 MiB; 0 restores it). Tests lower it
// to exercise chunking on small tensors.
void set_im2col_buffer_bytes(size_t bytes);
// cuDNN attempts: on Success the output is written; on a refusal nothing is, and *detail says why.
// Statuses other than refusals (execution failures) throw.
CudnnOutcome try_conv2d_forward_cudnn(const Tensor& x, const Tensor& w, const Tensor& b, const ops::Conv2dGeometry& g,
                                      Tensor& y, std::string* detail);
CudnnOutcome try_conv2d_backward_input_cudnn(const Tensor& gy, const Tensor& w, const Shape& x_shape,
                                             const ops::Conv2dGeometry& g, Tensor& gx, std::string* detail);
CudnnOutcome try_conv2d_backward_weight_cudnn(const Tensor& x, const Tensor& gy, Tensor& gw, bool accumulate,
                                              const ops::Conv2dGeometry& g, std::string* detail);

}  // namespace xdnn::cuda
