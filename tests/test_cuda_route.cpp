// The convolution route decision and the CUDA debug settings (kernels/conv_route.h): pure functions of the
// configuration, the XDNN_CUDA_CONV setting and cuDNN's answer, so they run here in every build, with or
// without a GPU. What a GPU adds (the route that actually ran) is in tests/test_cuda_device.cpp.
#include <doctest/doctest.h>

#include <string>

#include "kernels/conv_route.h"

using namespace xdnn;
using cuda::ConvAlgo;
using cuda::ConvRoute;
using cuda::CudnnOutcome;

namespace {

cuda::ConvConfig config(Shape x, Shape w, int64_t pad_top = 1, int64_t pad_bottom = 1) {
  cuda::ConvConfig c;
  c.x = std::move(x), c.w = std::move(w);
  c.g.pad_top = pad_top, c.g.pad_bottom = pad_bottom, c.g.pad_left = 1, c.g.pad_right = 1;
  return c;
}

ConvRoute route(ConvAlgo a, const cuda::ConvConfig& c, CudnnOutcome o) {
  return cuda::decide_conv_route(a, c, o).route;
}

}  // namespace

TEST_CASE("conv route: cuDNN where it can express the configuration and accepts it, im2col otherwise") {
  const cuda::ConvConfig ok = config({8, 3, 16, 16}, {4, 3, 3, 3});
  for (ConvAlgo a : {ConvAlgo::Auto, ConvAlgo::Cudnn}) {
    CHECK(route(a, ok, CudnnOutcome::NotTried) == ConvRoute::Cudnn);  // try it
    CHECK(route(a, ok, CudnnOutcome::Success) == ConvRoute::Cudnn);
    // Every refusal falls back, with a reason naming it (forced cuDNN too: a refusal is not an error).
    for (CudnnOutcome o : {CudnnOutcome::LibraryUnavailable, CudnnOutcome::NotSupported, CudnnOutcome::BadParam,
                           CudnnOutcome::NoAlgorithm}) {
      const cuda::RouteDecision d = cuda::decide_conv_route(a, ok, o);
      CHECK(d.route == ConvRoute::Im2col);
      CHECK_FALSE(d.reason.empty());
    }
    CHECK(cuda::decide_conv_route(a, ok, CudnnOutcome::NotSupported).reason.find("NOT_SUPPORTED") != std::string::npos);
    // Empty batch: cuDNN rejects N = 0, so it is never tried.
    const cuda::RouteDecision empty =
        cuda::decide_conv_route(a, config({0, 3, 16, 16}, {4, 3, 3, 3}), CudnnOutcome::NotTried);
    CHECK(empty.route == ConvRoute::Im2col);
    CHECK(empty.reason.find("empty batch") != std::string::npos);
    // 2^31 elements in x (but small samples): past cuDNN's 32-bit counts, fine for chunked im2col.
    CHECK(route(a, config({int64_t(1) << 21, 4, 16, 16}, {4, 4, 3, 3}), CudnnOutcome::NotTried) == ConvRoute::Im2col);
    CHECK(route(a, config({(int64_t(1) << 21) - 1, 4, 16, 16}, {4, 4, 3, 3}), CudnnOutcome::NotTried) ==
          ConvRoute::Cudnn);
    // ... and in y only (64 output channels from 1 input channel).
    CHECK(route(a, config({int64_t(1) << 17, 1, 16, 16}, {64, 1, 3, 3}), CudnnOutcome::NotTried) == ConvRoute::Im2col);
  }
  // XDNN_CUDA_CONV=im2col: never cuDNN.
  CHECK(route(ConvAlgo::Im2col, ok, CudnnOutcome::NotTried) == ConvRoute::Im2col);
  CHECK(route(ConvAlgo::Im2col, ok, CudnnOutcome::Success) == ConvRoute::Im2col);
  // Asymmetric padding: im2col under auto; forcing cuDNN on it is an error (it cannot express it).
  const cuda::ConvConfig asym = config({2, 3, 9, 9}, {4, 3, 3, 3}, 0, 1);
  CHECK(route(ConvAlgo::Auto, asym, CudnnOutcome::NotTried) == ConvRoute::Im2col);
  CHECK_THROWS_WITH_AS(cuda::decide_conv_route(ConvAlgo::Cudnn, asym, CudnnOutcome::NotTried),
                       "conv2d: cuDNN was selected (XDNN_CUDA_CONV=cudnn) but it cannot express asymmetric padding",
                       Error);
}

TEST_CASE("conv route: the environment settings parse strictly and name the variable when wrong") {
  CHECK(cuda::parse_conv_algo(nullptr) == ConvAlgo::Auto);
  CHECK(cuda::parse_conv_algo("") == ConvAlgo::Auto);
  CHECK(cuda::parse_conv_algo("auto") == ConvAlgo::Auto);
  CHECK(cuda::parse_conv_algo("im2col") == ConvAlgo::Im2col);
  CHECK(cuda::parse_conv_algo("cudnn") == ConvAlgo::Cudnn);
  CHECK_THROWS_WITH_AS(cuda::parse_conv_algo("CUDNN"), "XDNN_CUDA_CONV=CUDNN: expected im2col, cudnn or auto", Error);

  CHECK_FALSE(cuda::log_topic_enabled(nullptr, "conv"));
  CHECK_FALSE(cuda::log_topic_enabled("", "conv"));
  CHECK(cuda::log_topic_enabled("conv", "conv"));
  CHECK(cuda::log_topic_enabled(",conv,", "conv"));
  CHECK_THROWS_WITH_AS(cuda::log_topic_enabled("conv,gemm", "conv"),
                       "XDNN_LOG=conv,gemm: unknown topic 'gemm'; expected a comma-separated list of: conv", Error);

  CHECK_FALSE(cuda::parse_cuda_sync(nullptr));
  CHECK_FALSE(cuda::parse_cuda_sync(""));
  CHECK_FALSE(cuda::parse_cuda_sync("0"));
  CHECK(cuda::parse_cuda_sync("1"));
  CHECK_THROWS_WITH_AS(cuda::parse_cuda_sync("yes"), "XDNN_CUDA_SYNC=yes: expected 0 or 1", Error);
}

TEST_CASE("conv route: each configuration is logged once, every pass is counted") {
  cuda::ConvConfig c = config({3, 5, 7, 7}, {2, 5, 3, 3});
  c.pass = cuda::ConvPass::BackwardInput;
  c.g.groups = 1, c.g.stride_h = 2;
  const cuda::RouteDecision d = cuda::decide_conv_route(ConvAlgo::Auto, c, CudnnOutcome::NoAlgorithm);
  const cuda::ConvRouteCounts before = cuda::conv_route_counts();
  const std::string line = cuda::note_conv_route(c, d);
  CHECK(line ==
        "xdnn conv: backward-input float32 x (3, 5, 7, 7) w (2, 5, 3, 3) stride 2x1 pad 1,1,1,1 dilation 1x1 groups 1 "
        "-> im2col (cuDNN offers no deterministic algorithm within its workspace limit)");
  CHECK(cuda::note_conv_route(c, d).empty());  // the same configuration again: no second line
  c.x[0] = 4;                                  // another configuration: a line of its own
  CHECK_FALSE(cuda::note_conv_route(c, d).empty());
  const cuda::ConvRouteCounts after = cuda::conv_route_counts();
  CHECK(after.im2col[1] - before.im2col[1] == 3);
  CHECK(after.cudnn[1] == before.cudnn[1]);
  CHECK(after.im2col[0] == before.im2col[0]);
}
