// ONNX backend conformance through the CLI: for each case of the ONNX project's test data (Debian
// libonnx-testdata, data/pytorch-converted/test_*/{model.onnx, test_data_set_0/input_0.pb, output_0.pb}),
// convert the TensorProto inputs to .npy, run `xdnn run --model ... --input ... --out ...`, and compare
// with output_0.pb: |y − y_ref| ≤ 1e-4·max(1, |y_ref|) element-wise.
//
// Every case folder must be in exactly one of the two lists below, so nothing is skipped silently: a
// case of an op in scope is expected to pass; the others are listed with the reason they are out of
// scope. The test fails on any failure, any unlisted folder, or a listed folder that does not exist.
//
// usage: onnx_conformance <path to xdnn> [<data dir>] [--explore]
// --explore runs every case folder of the data dir and reports, without the lists (for other test sets).
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "models/npy.h"
#include "models/onnx/import.h"

namespace fs = std::filesystem;
using namespace xdnn;

namespace {

const std::vector<std::string> kExpectedToPass = {
    "test_AvgPool1d",
    "test_AvgPool1d_stride",
    "test_AvgPool2d",
    "test_AvgPool2d_stride",
    "test_BatchNorm1d_3d_input_eval",
    "test_BatchNorm2d_eval",
    "test_BatchNorm2d_momentum_eval",
    "test_BatchNorm3d_eval",
    "test_BatchNorm3d_momentum_eval",  // per-channel BN works for any rank
    "test_ConstantPad2d",
    "test_Conv1d",
    "test_Conv1d_dilated",
    "test_Conv1d_groups",
    "test_Conv1d_pad1",
    "test_Conv1d_pad1size1",
    "test_Conv1d_pad2",
    "test_Conv1d_pad2size1",
    "test_Conv1d_stride",
    "test_Conv2d",
    "test_Conv2d_depthwise",
    "test_Conv2d_depthwise_padded",
    "test_Conv2d_depthwise_strided",
    "test_Conv2d_depthwise_with_multiplier",
    "test_Conv2d_dilated",
    "test_Conv2d_groups",
    "test_Conv2d_groups_thnn",
    "test_Conv2d_no_bias",
    "test_Conv2d_padding",
    "test_Conv2d_strided",
    "test_ELU",
    "test_Embedding",
    "test_Embedding_sparse",
    "test_GLU",
    "test_GLU_dim",
    "test_LeakyReLU",
    "test_LeakyReLU_with_negval",
    "test_Linear",
    "test_Linear_no_bias",
    "test_LogSoftmax",
    "test_MaxPool1d",
    "test_MaxPool1d_stride",
    "test_MaxPool1d_stride_padding_dilation",
    "test_MaxPool2d",
    "test_MaxPool2d_stride_padding_dilation",
    "test_PReLU_1d",
    "test_PReLU_1d_multiparam",
    "test_PReLU_2d",
    "test_PReLU_2d_multiparam",
    "test_PReLU_3d",
    "test_PReLU_3d_multiparam",  // PRelu is element-wise: any rank
    "test_PixelShuffle",
    "test_PoissonNLLLLoss_no_reduce",
    "test_ReLU",
    "test_ReflectionPad2d",
    "test_ReplicationPad2d",
    "test_SELU",
    "test_Sigmoid",
    "test_Softmax",
    "test_Softmin",
    "test_Softplus",
    "test_Softsign",
    "test_Tanh",
    "test_ZeroPad2d",
    "test_log_softmax_dim3",
    "test_log_softmax_lastdim",
    "test_softmax_functional_dim3",
    "test_softmax_lastdim",
};

// Out of scope, with the reason. 3-D convolution and pooling (volumetric data) are not implemented;
// ConvTranspose is not among the supported operators.
const std::map<std::string, std::string> kOutOfScope = {
    {"test_AvgPool3d", "3-D pooling"},
    {"test_AvgPool3d_stride", "3-D pooling"},
    {"test_AvgPool3d_stride1_pad0_gpu_input", "3-D pooling"},
    {"test_Conv3d", "3-D convolution"},
    {"test_Conv3d_dilated", "3-D convolution"},
    {"test_Conv3d_dilated_strided", "3-D convolution"},
    {"test_Conv3d_groups", "3-D convolution"},
    {"test_Conv3d_no_bias", "3-D convolution"},
    {"test_Conv3d_stride", "3-D convolution"},
    {"test_Conv3d_stride_padding", "3-D convolution"},
    {"test_ConvTranspose2d", "ConvTranspose is not a supported operator"},
    {"test_ConvTranspose2d_no_bias", "ConvTranspose is not a supported operator"},
    {"test_MaxPool3d", "3-D pooling"},
    {"test_MaxPool3d_stride", "3-D pooling"},
    {"test_MaxPool3d_stride_padding", "3-D pooling"},
};

Tensor read_pb(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw Error(p.string() + ": cannot open");
  onnx::TensorProto t;
  if (!t.ParseFromIstream(&f)) throw Error(p.string() + ": not a TensorProto");
  return tensor_from_onnx(t, p.string());
}

std::string quote(const std::string& s) { return "'" + s + "'"; }

// Returns "" on success, else what went wrong.
std::string run_case(const std::string& xdnn, const fs::path& dir, const fs::path& tmp) {
  const fs::path set = dir / "test_data_set_0";
  std::string cmd = quote(xdnn) + " run --model " + quote((dir / "model.onnx").string());
  for (int i = 0; fs::exists(set / ("input_" + std::to_string(i) + ".pb")); ++i) {
    const fs::path npy = tmp / (dir.filename().string() + "_in" + std::to_string(i) + ".npy");
    save_npy(npy.string(), read_pb(set / ("input_" + std::to_string(i) + ".pb")));
    cmd += " --input " + quote(npy.string());
  }
  const fs::path out = tmp / (dir.filename().string() + "_out.npy");
  const fs::path log = tmp / (dir.filename().string() + ".log");
  cmd += " --out " + quote(out.string()) + " > " + quote(log.string()) + " 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    std::ifstream l(log);
    std::string line;
    std::getline(l, line);
    return "xdnn run failed: " + line;
  }
  Tensor y = load_npy(out.string());
  Tensor ref = read_pb(set / "output_0.pb");
  if (y.shape() != ref.shape()) return "shape " + shape_str(y.shape()) + ", expected " + shape_str(ref.shape());
  double worst = 0;
  for (int64_t i = 0; i < y.numel(); ++i) {
    const double a = y.item(i), b = ref.item(i);
    if (std::isnan(a) && std::isnan(b)) continue;  // NaN expected (sqrt of a negative) and produced
    const double err = std::abs(a - b) / std::max(1.0, std::abs(b));
    if (!(err <= worst)) worst = std::isnan(err) ? INFINITY : err;
  }
  if (!(worst <= 1e-4)) return "max error " + std::to_string(worst) + " > 1e-4";
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <xdnn executable> [<data dir>]\n", argv[0]);
    return 2;
  }
  const std::string xdnn = argv[1];
  const fs::path data = argc > 2 ? argv[2] : "/usr/share/libonnx-testdata/data/pytorch-converted";
  if (!fs::is_directory(data)) {
    std::fprintf(stderr, "%s: not a directory (install libonnx-testdata)\n", data.c_str());
    return 1;
  }
  char tmpl[] = "/tmp/xdnn-onnx-conformance-XXXXXX";
  if (!mkdtemp(tmpl)) {
    std::fprintf(stderr, "cannot create a temporary directory\n");
    return 1;
  }
  const fs::path tmp = tmpl;

  const bool explore = argc > 3 && std::string(argv[3]) == "--explore";
  std::set<std::string> expected(kExpectedToPass.begin(), kExpectedToPass.end());
  std::vector<std::string> cases;
  for (const auto& e : fs::directory_iterator(data))
    if (e.is_directory()) cases.push_back(e.path().filename().string());
  std::sort(cases.begin(), cases.end());

  int passed = 0, failed = 0, skipped = 0;
  for (const auto& c : cases) {
    if (!explore && kOutOfScope.count(c)) {
      ++skipped;
      continue;
    }
    if (!explore && !expected.count(c)) {
      std::printf("FAIL %s: not listed (add it to the expected or the out-of-scope list)\n", c.c_str());
      ++failed;
      continue;
    }
    std::string why;
    try {
      why = run_case(xdnn, data / c, tmp);
    } catch (const std::exception& e) {
      why = e.what();
    }
    if (why.empty()) {
      ++passed;
    } else {
      std::printf("FAIL %s: %s\n", c.c_str(), why.c_str());
      ++failed;
    }
  }
  for (const auto& c : expected)
    if (!explore && std::find(cases.begin(), cases.end(), c) == cases.end()) {
      std::printf("FAIL %s: listed but missing from %s\n", c.c_str(), data.c_str());
      ++failed;
    }
  std::printf("%d passed, %d failed, %d out of scope\n", passed, failed, skipped);
  std::error_code ec;
  fs::remove_all(tmp, ec);
  return failed == 0 ? 0 : 1;
}
