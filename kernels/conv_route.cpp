// The convolution route decision, the CUDA debug settings and the route record (kernels/conv_route.h).
#include "kernels/conv_route.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>

namespace xdnn::cuda {
namespace {

const char* pass_name(ConvPass p) {
  switch (p) {
    case ConvPass::Forward:
      return "forward";
    case ConvPass::BackwardInput:
      return "backward-input";
    case ConvPass::BackwardWeight:
      return "backward-weight";
  }
  return "?";
}

RouteDecision im2col(std::string reason) { return {ConvRoute::Im2col, std::move(reason)}; }

}  // namespace

RouteDecision decide_conv_route(ConvAlgo setting, const ConvConfig& c, CudnnOutcome outcome) {
  if (setting == ConvAlgo::Im2col) return im2col("XDNN_CUDA_CONV=im2col");
  const ops::Conv2dGeometry& g = c.g;
  if (g.pad_top != g.pad_bottom || g.pad_left != g.pad_right) {
    if (setting == ConvAlgo::Cudnn)
      throw Error("conv2d: cuDNN was selected (XDNN_CUDA_CONV=cudnn) but it cannot express asymmetric padding");
    return im2col("asymmetric padding: cuDNN has one pad per axis");
  }
  if (c.x.size() != 4 || c.w.size() != 4) return im2col("not a 4-D convolution");
  if (c.x[0] == 0) return im2col("empty batch: cuDNN rejects N = 0");
  const Shape y = ops::conv2d_output_shape(c.x, c.w, g);
  if (shape_numel(c.x) > kCudnnMaxElements || shape_numel(y) > kCudnnMaxElements ||
      shape_numel(c.w) > kCudnnMaxElements)
    return im2col("a tensor has more than 2^31 - 1 elements (cuDNN's limit)");
  switch (outcome) {
    case CudnnOutcome::NotTried:
    case CudnnOutcome::Success:
      return {ConvRoute::Cudnn, "cuDNN"};
    case CudnnOutcome::LibraryUnavailable:
      return im2col("cuDNN cannot be loaded");
    case CudnnOutcome::NotSupported:
      return im2col("cuDNN refused: CUDNN_STATUS_NOT_SUPPORTED");
    case CudnnOutcome::BadParam:
      return im2col("cuDNN refused: CUDNN_STATUS_BAD_PARAM");
    case CudnnOutcome::NoAlgorithm:
      return im2col("cuDNN offers no deterministic algorithm within its workspace limit");
  }
  return im2col("unknown cuDNN outcome");
}

ConvAlgo parse_conv_algo(const char* value) {
  if (value == nullptr || *value == 0 || std::strcmp(value, "auto") == 0) return ConvAlgo::Auto;
  if (std::strcmp(value, "im2col") == 0) return ConvAlgo::Im2col;
  if (std::strcmp(value, "cudnn") == 0) return ConvAlgo::Cudnn;
  throw Error(std::string("XDNN_CUDA_CONV=") + value + ": expected im2col, cudnn or auto");
}

bool log_topic_enabled(const char* value, const std::string& topic) {
  if (value == nullptr) return false;
  bool found = false;
  const std::string list = value;
  size_t begin = 0;
  while (begin <= list.size()) {
    size_t end = list.find(',', begin);
    if (end == std::string::npos) end = list.size();
    const std::string item = list.substr(begin, end - begin);
    if (item == "conv")
      found = found || item == topic;
    else if (!item.empty())
      throw Error("XDNN_LOG=" + list + ": unknown topic '" + item + "'; expected a comma-separated list of: conv");
    begin = end + 1;
  }
  return found;
}

bool parse_cuda_sync(const char* value) {
  if (value == nullptr || *value == 0 || std::strcmp(value, "0") == 0) return false;
  if (std::strcmp(value, "1") == 0) return true;
  throw Error(std::string("XDNN_CUDA_SYNC=") + value + ": expected 0 or 1");
}

bool conv_log_enabled() {
  static const bool on = log_topic_enabled(std::getenv("XDNN_LOG"), "conv");
  return on;
}

bool cuda_sync_enabled() {
  static const bool on = parse_cuda_sync(std::getenv("XDNN_CUDA_SYNC"));
  return on;
}

namespace {

struct RouteRecord {
  std::mutex mutex;
  ConvRouteCounts counts;
  std::set<std::string> seen;  // log lines printed so far
};

RouteRecord& record() {
  static RouteRecord* r = new RouteRecord;  // never destroyed: convolutions may run in static destructors' time
  return *r;
}

std::string describe(const ConvConfig& c, const RouteDecision& d) {
  const ops::Conv2dGeometry& g = c.g;
  const auto n = [](int64_t v) { return std::to_string(v); };
  return std::string("xdnn conv: ") + pass_name(c.pass) + " " + dtype_name(c.dtype) + " x " + shape_str(c.x) + " w " +
         shape_str(c.w) + " stride " + n(g.stride_h) + "x" + n(g.stride_w) + " pad " + n(g.pad_top) + "," +
         n(g.pad_left) + "," + n(g.pad_bottom) + "," + n(g.pad_right) + " dilation " + n(g.dilation_h) + "x" +
         n(g.dilation_w) + " groups " + n(g.groups) + " -> " + (d.route == ConvRoute::Cudnn ? "cudnn" : "im2col") +
         " (" + d.reason + ")";
}

}  // namespace

std::string note_conv_route(const ConvConfig& c, const RouteDecision& d) {
  std::string line = describe(c, d);
  RouteRecord& r = record();
  std::lock_guard<std::mutex> lock(r.mutex);
  const int p = static_cast<int>(c.pass);
  (d.route == ConvRoute::Cudnn ? r.counts.cudnn : r.counts.im2col)[p] += 1;
  return r.seen.insert(line).second ? line : std::string();
}

void report_conv_route(const ConvConfig& c, const RouteDecision& d) {
  const std::string line = note_conv_route(c, d);
  if (!line.empty() && conv_log_enabled()) std::fprintf(stderr, "%s\n", line.c_str());
}

ConvRouteCounts conv_route_counts() {
  RouteRecord& r = record();
  std::lock_guard<std::mutex> lock(r.mutex);
  return r.counts;
}

}  // namespace xdnn::cuda
