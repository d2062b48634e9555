// ONNX backend conformance through the CLI: for each case of the ONNX project's test data (Debian
// libonnx-testdata, data/pytorch-converted/test_*/{model.onnx, test_data_set_0/input_0.pb, output_0.pb}),
// convert the TensorProto inputs to .npy, run `xdnn run --model ... --input ... --out ...`, and compare
// with output_0.pb: |y − y_ref| ≤ 1e-4·max(1, |y_ref|) element-wise.
//
// Every case folder must be in exactly one of the two lists below, so nothing is skipped silently: a
// case of an op in scope is expected to pass; the others are listed with the reason they are out of
// scope. The test fails on any failure, any unlisted folder, or a listed folder that does not exist.
//
// The node-level cases (data/node: one ONNX operator per case, opsets up to 17) are run with --node:
// every case whose operators xdnn implements is expected to pass unless kNodeOutOfScope lists it with the
// reason (an attribute value or data type xdnn does not support); cases needing an operator xdnn does not
// implement are counted per operator and printed in the summary.
//
// usage: onnx_conformance <path to xdnn> [<data dir>] [--explore | --node]
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

#include "models/io/npy.h"
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

// Node cases of implemented operators that are out of scope, grouped by the reason.
const std::vector<std::pair<std::string, std::vector<std::string>>> kNodeOutOfScopeGroups = {
    {"int8 tensors (xdnn computes in float32 / int64)",
     {"test_clip_default_int8_inbounds", "test_clip_default_int8_max", "test_clip_default_int8_min"}},
    {"Einsum diagonals (a letter repeated within an operand)", {"test_einsum_batch_diagonal"}},
    {"cubic interpolation",
     {"test_resize_downsample_scales_cubic", "test_resize_downsample_scales_cubic_A_n0p5_exclude_outside",
      "test_resize_downsample_scales_cubic_align_corners", "test_resize_downsample_sizes_cubic",
      "test_resize_upsample_scales_cubic", "test_resize_upsample_scales_cubic_A_n0p5_exclude_outside",
      "test_resize_upsample_scales_cubic_align_corners", "test_resize_upsample_scales_cubic_asymmetric",
      "test_resize_upsample_sizes_cubic"}},
    {"tf_crop_and_resize coordinates (regions of interest)", {"test_resize_tf_crop_and_resize"}},
    {"integer arithmetic / pooling on run-time integer tensors", {"test_add_uint8", "test_maxpool_2d_uint8"}},
    {"AveragePool auto_pad SAME with a stride and count_include_pad = 0",
     {"test_averagepool_2d_precomputed_same_upper"}},
    {"3-D pooling", {"test_averagepool_3d_default", "test_maxpool_3d_default"}},
    {"a weight, bound, exponent, axes or scales fed as a graph input (xdnn needs them at import)",
     {"test_basic_conv_with_padding",
      "test_basic_conv_without_padding",
      "test_batchnorm_epsilon",
      "test_batchnorm_example",
      "test_clip",
      "test_clip_default_max",
      "test_clip_default_min",
      "test_clip_example",
      "test_clip_inbounds",
      "test_clip_outbounds",
      "test_clip_splitbounds",
      "test_constant_pad",
      "test_conv_with_autopad_same",
      "test_conv_with_strides_and_asymmetric_padding",
      "test_conv_with_strides_no_padding",
      "test_conv_with_strides_padding",
      "test_lstm_batchwise",
      "test_lstm_defaults",
      "test_lstm_with_initial_bias",
      "test_pow",
      "test_pow_bcast_array",
      "test_pow_bcast_scalar",
      "test_pow_example",
      "test_pow_types_float",
      "test_pow_types_float32_int32",
      "test_pow_types_float32_int64",
      "test_pow_types_int",
      "test_pow_types_int32_float32",
      "test_pow_types_int32_int32",
      "test_pow_types_int64_float32",
      "test_pow_types_int64_int64",
      "test_prelu_broadcast",
      "test_prelu_example",
      "test_reduce_sum_default_axes_keepdims_example",
      "test_reduce_sum_default_axes_keepdims_random",
      "test_reduce_sum_do_not_keepdims_example",
      "test_reduce_sum_do_not_keepdims_random",
      "test_reduce_sum_empty_axes_input_noop_example",
      "test_reduce_sum_empty_axes_input_noop_random",
      "test_reduce_sum_keepdims_example",
      "test_reduce_sum_keepdims_random",
      "test_reduce_sum_negative_axes_keepdims_example",
      "test_reduce_sum_negative_axes_keepdims_random",
      "test_resize_downsample_scales_linear",
      "test_resize_downsample_scales_linear_align_corners",
      "test_resize_downsample_scales_nearest",
      "test_resize_upsample_scales_linear",
      "test_resize_upsample_scales_linear_align_corners",
      "test_resize_upsample_scales_nearest",
      "test_rnn_seq_length",
      "test_simple_rnn_batchwise",
      "test_simple_rnn_defaults",
      "test_simple_rnn_with_initial_bias",
      "test_upsample_nearest"}},
    {"training mode", {"test_batchnorm_epsilon_training_mode", "test_batchnorm_example_training_mode"}},
    {"float16 / bfloat16 / string / unsigned 32-64-bit tensors",
     {"test_mod_mixed_sign_float16",
      "test_mod_uint32",
      "test_mod_uint64",
      "test_cast_BFLOAT16_to_FLOAT",
      "test_cast_DOUBLE_to_FLOAT16",
      "test_cast_FLOAT16_to_DOUBLE",
      "test_cast_FLOAT16_to_FLOAT",
      "test_cast_FLOAT_to_BFLOAT16",
      "test_cast_FLOAT_to_FLOAT16",
      "test_cast_FLOAT_to_STRING",
      "test_cast_STRING_to_FLOAT",
      "test_castlike_BFLOAT16_to_FLOAT_expanded",
      "test_castlike_DOUBLE_to_FLOAT16_expanded",
      "test_castlike_FLOAT16_to_DOUBLE_expanded",
      "test_castlike_FLOAT16_to_FLOAT_expanded",
      "test_castlike_FLOAT_to_BFLOAT16_expanded",
      "test_castlike_FLOAT_to_FLOAT16_expanded",
      "test_castlike_FLOAT_to_STRING_expanded",
      "test_castlike_STRING_to_FLOAT_expanded",
      "test_pow_types_float32_uint32",
      "test_pow_types_float32_uint64"}},
    {"a graph without inputs", {"test_constant"}},
    {"opset 1 model (xdnn imports opsets 6 to 23)",
     {"test_globalaveragepool", "test_globalaveragepool_precomputed", "test_globalmaxpool",
      "test_globalmaxpool_precomputed", "test_not_2d", "test_not_3d", "test_not_4d", "test_softplus",
      "test_softplus_example", "test_softsign", "test_softsign_example"}},
    {"GRU with linear_before_reset = 0 (PyTorch exports 1)",
     {"test_gru_batchwise", "test_gru_defaults", "test_gru_seq_length", "test_gru_with_initial_bias"}},
    {"optional and sequence types", {"test_identity_opt", "test_identity_sequence"}},
    {"LayerNormalization's Mean / InvStdDev outputs (training statistics; Y alone passes: the _expanded twins)",
     {"test_layer_normalization_2d_axis0", "test_layer_normalization_2d_axis1",
      "test_layer_normalization_2d_axis_negative_1", "test_layer_normalization_2d_axis_negative_2",
      "test_layer_normalization_3d_axis0_epsilon", "test_layer_normalization_3d_axis1_epsilon",
      "test_layer_normalization_3d_axis2_epsilon", "test_layer_normalization_3d_axis_negative_1_epsilon",
      "test_layer_normalization_3d_axis_negative_2_epsilon", "test_layer_normalization_3d_axis_negative_3_epsilon",
      "test_layer_normalization_4d_axis0", "test_layer_normalization_4d_axis1", "test_layer_normalization_4d_axis2",
      "test_layer_normalization_4d_axis3", "test_layer_normalization_4d_axis_negative_1",
      "test_layer_normalization_4d_axis_negative_2", "test_layer_normalization_4d_axis_negative_3",
      "test_layer_normalization_4d_axis_negative_4", "test_layer_normalization_default_axis"}},
    {"LSTM peepholes", {"test_lstm_with_peepholes"}},
    {"MaxPool's Indices output",
     {"test_maxpool_with_argmax_2d_precomputed_pads", "test_maxpool_with_argmax_2d_precomputed_strides"}},
    {"training-mode Dropout (random masks)",
     {"test_training_dropout", "test_training_dropout_default", "test_training_dropout_default_mask",
      "test_training_dropout_mask"}},
};

std::map<std::string, std::string> node_out_of_scope() {
  std::map<std::string, std::string> m;
  for (const auto& [why, cases] : kNodeOutOfScopeGroups)
    for (const auto& c : cases) m[c] = why;
  return m;
}
const std::map<std::string, std::string> kNodeOutOfScope = node_out_of_scope();

Tensor read_pb(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw Error(p.string() + ": cannot open");
  onnx::TensorProto t;
  if (!t.ParseFromIstream(&f)) throw Error(p.string() + ": not a TensorProto");
  return tensor_from_onnx(t, p.string());
}

std::string quote(const std::string& s) { return "'" + s + "'"; }

// The first operator of the model (in node order) that xdnn does not implement, "" when there is none.
std::string first_missing_op(const fs::path& model) {
  std::ifstream f(model, std::ios::binary);
  onnx::ModelProto m;
  if (!f || !m.ParseFromIstream(&f)) return "";  // unreadable: let the run report it
  for (const auto& n : m.graph().node())
    if (!has_onnx_op(n.op_type()) || !(n.domain().empty() || n.domain() == "ai.onnx")) return n.op_type();
  return "";
}

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
  const bool node_mode = argc > 3 && std::string(argv[3]) == "--node";
  std::map<std::string, int> missing_ops;  // node mode: op -> cases skipped for it
  std::set<std::string> expected(kExpectedToPass.begin(), kExpectedToPass.end());
  std::vector<std::string> cases;
  for (const auto& e : fs::directory_iterator(data))
    if (e.is_directory()) cases.push_back(e.path().filename().string());
  std::sort(cases.begin(), cases.end());

  int passed = 0, failed = 0, skipped = 0;
  for (const auto& c : cases) {
    if (node_mode) {
      if (kNodeOutOfScope.count(c)) {
        ++skipped;
        continue;
      }
      const std::string op = first_missing_op(data / c / "model.onnx");
      if (!op.empty()) {
        ++missing_ops[op];
        ++skipped;
        continue;
      }
    } else if (!explore && kOutOfScope.count(c)) {
      ++skipped;
      continue;
    }
    if (!explore && !node_mode && !expected.count(c)) {
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
  if (node_mode) {
    for (const auto& [c, why] : kNodeOutOfScope)
      if (std::find(cases.begin(), cases.end(), c) == cases.end()) {
        std::printf("FAIL %s: listed but missing from %s\n", c.c_str(), data.c_str());
        ++failed;
      }
    std::string ops;
    for (const auto& [op, n] : missing_ops) ops += " " + op + " (" + std::to_string(n) + ")";
    std::printf("cases needing operators xdnn does not implement:%s\n", ops.c_str());
    expected.clear();
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
