// cuBLAS and cuDNN are opened on first use (kernels/cuda_libs.h); this file is built only with the CUDA
// backend and needs no GPU: loading a library and asking its version does not touch a device.
#include <doctest/doctest.h>

#include <string>

#include "kernels/cuda_libs.h"

using namespace xdnn;

TEST_CASE("cuda libs: a library that cannot be opened is one error line naming it and what to do") {
  try {
    cuda::open_library("libxdnn_no_such_library.so.1", "cuFoo");
    FAIL("a missing library was opened");
  } catch (const Error& e) {
    const std::string what = e.what();
    CHECK(what.find("cuFoo is not available: ") == 0);
    CHECK(what.find("libxdnn_no_such_library.so.1") != std::string::npos);
    CHECK(what.find("--device cpu") != std::string::npos);
    CHECK(what.find('\n') == std::string::npos);
  }
}

TEST_CASE("cuda libs: cuBLAS and cuDNN load lazily with the major versions of the headers, or fail in one line") {
  // Where the toolkit's libraries are installed (as with nvcc in /usr/local/cuda) they must load and
  // report the versions we compiled against; where only the headers are, the error must name the library.
  try {
    const cuda::CublasApi& blas = cuda::cublas();
    int major = 0;
    CHECK(blas.get_property(MAJOR_VERSION, &major) == CUBLAS_STATUS_SUCCESS);
    CHECK(major == CUBLAS_VER_MAJOR);
    CHECK(std::string(blas.get_status_string(CUBLAS_STATUS_NOT_INITIALIZED)).size() > 0);
  } catch (const Error& e) {
    MESSAGE("cuBLAS not loadable here: " << e.what());
    CHECK(std::string(e.what()).find("cuBLAS is not available: libcublas.so.") == 0);
  }
  try {
    const cuda::CudnnApi& dnn = cuda::cudnn();
    CHECK(dnn.get_version() / 10000 == CUDNN_MAJOR);
  } catch (const Error& e) {
    MESSAGE("cuDNN not loadable here: " << e.what());
    CHECK(std::string(e.what()).find("cuDNN is not available: libcudnn.so.") == 0);
  }
}
