// The bad-input catalog (issue 16): `xdnn` run as a hostile user would, one table row per case. Every row
// must end with exit status 1 (no signal, no CLI11 status), one or two lines on stderr of which the first
// is "xdnn: error: ..." and contains the row's expected text, within 60 s of wall time and 2 GiB of peak
// resident memory, and without creating (or changing) the file its --out / --png / --html names.
//
// Usage: bad_input_catalog --bin build/xdnn --golden tests/golden [--filter SUBSTRING]
// The malformed models and arrays are written by this program into a temporary folder ({tmp} below);
// {golden} is the golden-case folder.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "explain/heatmap.h"
#include "models/io/npy.h"
#include "tests/onnx_builder.h"

using namespace xdnn;
using namespace xdnn::test;

namespace {

struct Case {
  const char* name;
  const char* expect;  // a part of the first stderr line
  const char* args;    // space-separated; {tmp} and {golden} are substituted; "ENV=V" words first set variables
};

// clang-format off
const Case kCases[] = {
  // Checked shape arithmetic (item 1): each a crash, a wrap or unbounded growth before.
  {"reshape-wraps-int64", "node '/Reshape' (Reshape): Reshape target: shape (8, 2305843009213693953)",
   "run --model {tmp}/reshape_wrap.onnx --input {tmp}/x4.npy --out {tmp}/y.npy"},
  {"pad-2^61", "node '/Pad' (Pad): pad output: shape (2, 2305843009213693955)",
   "run --model {tmp}/pad_huge.onnx --input {tmp}/x4.npy --out {tmp}/y.npy"},
  {"pad-int64-overflow", "node '/Pad' (Pad): pad: size", "run --model {tmp}/pad_overflow.onnx --input {tmp}/x4.npy --out {tmp}/y.npy"},
  {"conv-pads-2^30", "node '/Conv' (Conv2d): conv2d output: shape (2, 1, 2147483650, 2147483650)",
   "run --model {tmp}/conv_pad.onnx --input {tmp}/img.npy --out {tmp}/y.npy"},
  {"maxpool-pads-2^30", "node '/MaxPool' (ForwardMaxPool2d): pool2d output", "run --model {tmp}/pool_pad.onnx --input {tmp}/img.npy --out {tmp}/y.npy"},
  {"constantofshape-2^80", "node '/ConstantOfShape'", "run --model {tmp}/cos_huge.onnx --input {tmp}/x4.npy --out {tmp}/y.npy"},
  {"expand-2^122", "node '/Expand' (Expand)", "run --model {tmp}/expand_huge.onnx --input {tmp}/x4.npy --out {tmp}/y.npy"},
  // Files (item 4): nothing overwritten, the folder checked first.
  {"out-is-the-model", "is the input", "run --model {tmp}/copy.onnx --input {tmp}/img28.npy --out {tmp}/copy.onnx"},
  {"out-is-the-input", "is the input", "explain --model {tmp}/copy.onnx --input {tmp}/img28.npy --method saliency --out {tmp}/img28.npy"},
  {"out-folder-missing", "folder '{tmp}/no/such' does not exist",
   "explain --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --method saliency --out {tmp}/no/such/a.npy"},
  {"out-is-a-folder", "is a directory", "run --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --out {tmp}"},
  {"png-folder-missing", "--png", "explain --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --method saliency --out {tmp}/a.npy --png {tmp}/no/a.png"},
  // Fairness (issue 20): a data set without the named protected attribute.
  {"fairness-no-protected-attribute", "carData::Arrests has no column 'race' (protected attribute)",
   "fairness --data arrests --protected race --out {tmp}/fair"},
  {"fairness-unknown-data-set", "unknown tabular data set 'hmda'", "fairness --data hmda --out {tmp}/fair"},
  // Model assertions (issue 20): an unknown kind, a window of 0.
  {"assert-unknown-kind", "assertion 'x': unknown kind 'flicker'",
   "run --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --out {tmp}/y.npy --assert {tmp}/assert_kind.json"},
  {"assert-window-0", "assertion 'no-flip' (consistency): field 'window' must be an integer >= 2, got 0",
   "run --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --out {tmp}/y.npy --assert {tmp}/assert_window0.json"},
  {"report-out-folder-missing", "does not exist", "report --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --out {tmp}/no/r.html"},
  // Counts (item 2).
  {"threads-0", "--threads: must be between 1 and 1024, got 0", "run --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --out {tmp}/y.npy --threads 0"},
  {"threads-negative", "--threads", "explain --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --method saliency --out {tmp}/a.npy --threads -1"},
  {"pgd-steps-1e9", "--steps: must be between 1 and 100000, got 1e9",
   "attack --method pgd --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --labels {tmp}/labels.npy --radius 0.1 --steps 1e9 --out {tmp}/adv.npy"},
  {"cw-steps-0", "--steps: must be between 1 and 100000, got 0",
   "attack --method cw-l2 --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --labels {tmp}/labels.npy --steps 0 --out {tmp}/adv.npy"},
  {"cw-negative-const", "--initial-const: must be > 0", "attack --method cw-l2 --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --labels {tmp}/labels.npy --initial-const -1 --out {tmp}/adv.npy"},
  {"cw-radius", "attack cw-l2: --radius is for fgsm and pgd", "attack --method cw-l2 --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --labels {tmp}/labels.npy --radius 0.1 --out {tmp}/adv.npy"},
  {"pgd-confidence", "attack pgd: --confidence is for cw-l2", "attack --method pgd --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --labels {tmp}/labels.npy --radius 0.1 --confidence 2 --out {tmp}/adv.npy"},
  {"attack-empty-box", "is empty: --box-min must be below --box-max", "attack --method cw-l2 --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --labels {tmp}/labels.npy --box-min 1 --box-max 1 --out {tmp}/adv.npy"},
  {"attack-negative-radius", "--radius", "attack --method fgsm --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --labels {tmp}/labels.npy --radius -1 --out {tmp}/adv.npy"},
  {"report-fashion-test-1e8", "--fashion-test: must be between 1 and 10000", "report --model {golden}/models/cnn.onnx --fashion-test 100000000 --out {tmp}/r.html"},
  {"eval-limit-negative", "--limit: must be between", "eval --model {golden}/models/cnn.onnx --limit -1"},
  {"train-adversarial-radius", "--radius: must be between 0 and 1, got -0.1", "train --model fashion-mlp --epochs 1 --adversarial pgd --radius -0.1 --out {tmp}/run"},
  {"train-pgd-steps-0", "--pgd-steps: must be between 1 and 1000, got 0", "train --model fashion-mlp --epochs 1 --adversarial pgd --pgd-steps 0 --out {tmp}/run"},
  {"train-radius-without-adversarial", "--radius, --pgd-steps and --pgd-step-size are for adversarial training", "train --model fashion-mlp --epochs 1 --radius 0.1 --out {tmp}/run"},
  {"train-limit-negative", "--train-limit: must be between", "train --model fashion-mlp --epochs 1 --train-limit -5 --out {tmp}/run"},
  {"train-epochs-0", "--epochs: must be between 1 and 100000, got 0", "train --model fashion-mlp --epochs 0 --out {tmp}/run"},
  {"epochs-not-a-number", "--epochs: expected a number, got 'abc'", "train --model fashion-mlp --epochs abc --out {tmp}/run"},
  {"ig-steps-huge", "steps", "explain --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --method integrated-gradients --steps 1000000000 --out {tmp}/a.npy"},
  // NaN / Inf (item 5): the culprit named.
  {"run-nan-input", "--input '{tmp}/nan28.npy': element 5 of float32 (2, 1, 28, 28) is NaN",
   "run --model {golden}/models/cnn.onnx --input {tmp}/nan28.npy --out {tmp}/y.npy"},
  {"report-nan-input", "--input '{tmp}/nan28.npy'", "report --model {golden}/models/cnn.onnx --input {tmp}/nan28.npy --out {tmp}/r.html"},
  {"explain-inf-input", "is infinite", "explain --model {golden}/models/cnn.onnx --input {tmp}/inf28.npy --method saliency --out {tmp}/a.npy"},
  {"run-nan-weight", "weight 'w'", "run --model {tmp}/nan_weight.onnx --input {tmp}/x4.npy --out {tmp}/y.npy"},
  {"eval-nan-weight", "weight 'w'", "eval --model {tmp}/nan_weight.onnx --limit 10"},
  // Silent wrong answers and typos (item 6).
  {"report-option-typo", "--option 'compsite'", "report --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --methods lrp --option compsite=epsilon-plus --out {tmp}/r.html"},
  {"grad-cam-on-lstm", "no convolutional feature map", "explain --model {golden}/models/lstm.onnx --input {golden}/explain-lstm-saliency/input.npy --method grad-cam --out {tmp}/a.npy"},
  {"unknown-option", "--bogus", "run --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --out {tmp}/y.npy --bogus 3"},
  {"missing-required", "--out is required", "run --model {golden}/models/cnn.onnx --input {tmp}/img28.npy"},
  {"unknown-method", "nope", "explain --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --method nope --out {tmp}/a.npy"},
  {"bad-precision", "--precision", "explain --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --method saliency --precision float16 --out {tmp}/a.npy"},
  // Messages (item 7).
  {"model-is-a-folder", "{tmp}/afolder: is a directory", "explain --model {tmp}/afolder --input {tmp}/img28.npy --method saliency --out {tmp}/a.npy"},
  {"missing-input-file", "{tmp}/missing.npy", "run --model {golden}/models/cnn.onnx --input {tmp}/missing.npy --out {tmp}/y.npy"},
  {"truncated-npy", "{tmp}/truncated.npy", "run --model {golden}/models/cnn.onnx --input {tmp}/truncated.npy --out {tmp}/y.npy"},
  {"wrong-input-shape", "float32 ('<f4') (2, 4), but the model's input 'input' is (N, 1, 28, 28)", "run --model {golden}/models/cnn.onnx --input {tmp}/x4.npy --out {tmp}/y.npy"},
  // The dtype named is the file's (item 7): an int32 file is widened to int64 when read.
  {"int32-where-float", "--input '{tmp}/int32_img28.npy': int32 ('<i4') (2, 1, 28, 28), but the model takes float values",
   "explain --model {golden}/models/cnn.onnx --input {tmp}/int32_img28.npy --method saliency --out {tmp}/a.npy"},
  {"int32-where-float-zoo", "int32 ('<i4')", "run --model fashion-cnn --input {tmp}/int32_img28.npy --out {tmp}/y.npy"},
  {"int32-tokens-wrong-shape", "int32 ('<i4') (2, 5), but the model's input 'input' is (N, 12)",
   "explain --model {golden}/models/lstm.onnx --input {tmp}/int32_tokens.npy --method saliency --out {tmp}/a.npy"},
  {"float-where-tokens", "float32 ('<f4') (2, 1, 28, 28), but the model takes token ids",
   "report --model {golden}/models/lstm.onnx --input {tmp}/img28.npy --out {tmp}/r.html"},
  {"target-out-of-range", "target", "explain --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --method saliency --target 10 --out {tmp}/a.npy"},
  // --device on every command that computes (item 7): a one-line error, never a silent CPU run.
  {"report-device-cuda", "--device cuda", "report --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --device cuda --out {tmp}/r.html"},
  {"eval-device-cuda", "--device cuda", "eval --model {golden}/models/cnn.onnx --limit 10 --device cuda"},
  {"evaluate-device-cuda", "--device cuda",
   "evaluate --metric deletion --score logit --steps 2 --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --methods saliency --device cuda --out {tmp}/d.npy"},
  // Required metric options and declared option types are checked before the attributions are computed
  // (a missing --score used to fail only after every --methods attribution was done).
  {"evaluate-missing-score", "--score is required by metric 'deletion'",
   "evaluate --metric deletion --steps 2 --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --methods integrated-gradients --out {tmp}/d.npy"},
  {"evaluate-score-typo", "option --score 'logits': expected one of logit,prob,log-prob",
   "evaluate --metric deletion --steps 2 --score logits --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --methods saliency --out {tmp}/d.npy"},
  {"evaluate-steps-not-int", "option --steps: expected an integer, got '2x'",
   "evaluate --metric insertion --steps 2x --score logit --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --methods saliency --out {tmp}/d.npy"},
  {"evaluate-method-option-other", "'lime' is not one of the methods evaluated",
   "evaluate --metric deletion --steps 2 --score logit --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --methods saliency --option lime.samples=5 --out {tmp}/d.npy"},
  {"evaluate-method-option-unknown", "method rise takes no option 'bogus'",
   "evaluate --metric deletion --steps 2 --score logit --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --methods rise --option rise.bogus=1 --out {tmp}/d.npy"},
  {"evaluate-save-attributions-file", "--save-attributions: --out is one metric's .npy here",
   "evaluate --metric deletion --steps 2 --score logit --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --methods saliency --save-attributions --out {tmp}/d.npy"},
  {"attack-device-cuda", "--device cuda",
   "attack --method fgsm --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --labels {tmp}/labels.npy --radius 0.1 --device cuda --out {tmp}/adv.npy"},
  {"svcca-device-gpu", "--device: unknown device 'gpu'",
   "svcca --model {golden}/models/cnn.onnx --layer input --layer-b input --input {tmp}/img28.npy --device gpu --out {tmp}/rho.npy"},
  {"svcca-checkpoint-other-architecture", "is not of the final checkpoint's architecture",
   "svcca --checkpoints fashion-mlp:{golden}/models/mlp-tracin-ckpt1.safetensors,fashion-cnn:{golden}/models/cnn-tracin-ckpt1.safetensors --input {tmp}/img28.npy --out {tmp}/s.npy"},
  {"automaton-not-recurrent", "has no recurrent layer",
   "automaton --model {golden}/models/transformer.onnx --input {golden}/explain-transformer-saliency/input.npy --out {tmp}/a.txt"},
  {"distill-unknown-layer", "nope", "distill --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --layer nope --out {tmp}/d.txt"},
  {"distill-bad-targets", "--targets", "distill --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --targets hard"},
  {"report-precision-half", "--precision", "report --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --precision float16 --out {tmp}/r.html"},
  {"truncated-onnx", "{tmp}/truncated.onnx", "run --model {tmp}/truncated.onnx --input {tmp}/img28.npy --out {tmp}/y.npy"},
  // Images, texts and per-sample targets (issue 22): the file and what was wrong in one line.
  {"image-undecodable", "--input '{tmp}/pics_bad/a.png': cannot decode image", "run --model {golden}/models/cnn.onnx --input {tmp}/pics_bad --out {tmp}/y.npy"},
  {"image-mixed-sizes", "--input '{tmp}/pics_mixed': '{tmp}/pics_mixed/a.png' is 28x28 but '{tmp}/pics_mixed/b.png' is 30x30",
   "explain --model {golden}/models/cnn.onnx --input {tmp}/pics_mixed --grayscale --method saliency --out {tmp}/a.npy"},
  {"image-rgb-for-grey-model", "image (1, 3, 28, 28), but the model's input 'input' is (N, 1, 28, 28)",
   "report --model {golden}/models/cnn.onnx --input {tmp}/pics_mixed/a.png --out {tmp}/r.html"},
  {"image-options-on-npy", "apply to image inputs", "run --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --grayscale --out {tmp}/y.npy"},
  {"image-resize-malformed", "--resize '28': expected HxW", "run --model {golden}/models/cnn.onnx --input {tmp}/pics_mixed/a.png --resize 28 --out {tmp}/y.npy"},
  {"image-std-zero", "--std '0.5,0': values must be > 0", "attack --method fgsm --model {golden}/models/cnn.onnx --input {tmp}/pics_mixed/a.png --grayscale --std 0.5,0 --labels {tmp}/labels.npy --radius 0.1 --out {tmp}/adv.npy"},
  {"png-colormap-unknown", "--colormap", "explain --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --method saliency --out {tmp}/a.npy --png {tmp}/a.png --colormap jet"},
  {"target-labels-out-of-range", "--target '{tmp}/labels_big.npy': element 1 is 10, out of range",
   "evaluate --metric deletion --score logit --steps 2 --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --methods saliency --target {tmp}/labels_big.npy --out {tmp}/d.npy"},
  {"target-labels-wrong-length", "expected int64 or int32 (2,)",
   "explain --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --method saliency --target {tmp}/labels3.npy --out {tmp}/a.npy"},
  {"text-without-vocabulary", "--text: no vocabulary", "run --model {golden}/models/lstm.onnx --text some_words --out {tmp}/y.npy"},
  // Anchors: a bad threshold before any work; rules asked of a method that gives attributions.
  {"anchors-threshold", "--threshold 2: expected a precision threshold in (0, 1]",
   "explain --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --method anchors --threshold 2 --out {tmp}/r.json"},
  {"rules-of-saliency", "method 'saliency' gives attributions, not rules",
   "explain --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --method saliency --out {tmp}/r.json"},
  // Global views (issue 21 items 2-3): an unknown layer, a channel out of range, too few points, no labels.
  {"project-unknown-layer", "the model has no tensor named 'conv9'",
   "project --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --layer conv9 --out {tmp}/e.npy"},
  {"project-too-few-points", "t-SNE: --layer input: needs at least 3 data points, got 2",
   "project --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --layer input --out {tmp}/e.npy"},
  {"project-labels-wrong-length", "--labels '{tmp}/labels3.npy': expected int64 or int32 (2,)",
   "project --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --labels {tmp}/labels3.npy --layer input --method pca --out {tmp}/e.npy"},
  {"exemplars-unknown-layer", "the model has no tensor named 'conv9'",
   "exemplars --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --layer conv9 --out {tmp}/views"},
  {"exemplars-channel-out-of-range", "--channels: channel 99 of layer 'input' is out of range: it has 1 channels",
   "exemplars --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --layer input --channels 99 --views top --out {tmp}/views"},
  {"exemplars-classes-without-labels", "--views classes needs labels",
   "exemplars --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --layer input --views classes --out {tmp}/views"},
  // Activation maximisation: an unknown layer or unit before any work.
  {"visualize-unknown-layer", "--layer conv9: ", "visualize --model {golden}/models/cnn.onnx --layer conv9 --out {tmp}/viz"},
  {"visualize-unit-out-of-range", "--units 10: tensor", "visualize --model {golden}/models/cnn.onnx --units 3,10 --out {tmp}/viz"},
  {"visualize-box-malformed", "--box '1': expected LOW,HIGH", "visualize --model {golden}/models/cnn.onnx --box 1 --out {tmp}/viz"},
  // Probes and TCAV (issue 21): an unknown layer, labels that do not fit, a concept set too small.
  {"probe-unknown-layer", "conv9", "probe --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --labels {tmp}/labels.npy --layers conv9 --out {tmp}/p.csv"},
  {"probe-labels-wrong-length", "expected one label per sample (2,), got int64 (3,)",
   "probe --model {golden}/models/cnn.onnx --input {tmp}/img28.npy --labels {tmp}/labels3.npy --out {tmp}/p.csv"},
  {"tcav-unknown-layer", "conv9",
   "tcav --model {golden}/models/cnn.onnx --layer conv9 --class 1 --input {tmp}/img28.npy --concept {tmp}/img28.npy --random {tmp}/img28.npy --out {tmp}/t.json"},
  {"tcav-concept-too-few", "the concept set has 2 examples, expected at least 10",
   "tcav --model {golden}/models/cnn.onnx --layer input --class 1 --input {tmp}/img28.npy --concept {tmp}/img28.npy --random {tmp}/img28.npy --out {tmp}/t.json"},
  // influence runs on --device (issue 17): an unknown device fails before anything is loaded.
  {"influence-device-gpu", "--device: unknown device 'gpu'",
   "influence --method tracin --checkpoints {golden}/models/cnn-tracin-ckpt1.onnx --lr 0.1 --train-x {tmp}/img28.npy --train-y {tmp}/labels.npy --device gpu --out {tmp}/s.npy"},
};
// clang-format on

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_model(const onnx::ModelProto& m, const std::string& path) {
  std::ofstream f(path, std::ios::binary);
  if (!m.SerializeToOstream(&f)) throw Error(path + ": cannot write");
}

// A version 1.0 .npy of `count` int32 ones ('<i4', which xdnn reads widened to int64; save_npy writes no int32).
void write_int32_npy(const std::string& path, const std::string& shape, int64_t count) {
  std::string dict = "{'descr': '<i4', 'fortran_order': False, 'shape': " + shape + ", }";
  dict.append(63 - (10 + dict.size()) % 64, ' ');
  dict += '\n';
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
  bytes += static_cast<char>(dict.size() & 0xff);
  bytes += static_cast<char>(dict.size() >> 8);
  bytes += dict;
  for (int64_t i = 0; i < count; ++i) bytes += std::string("\x01\x00\x00\x00", 4);
  std::ofstream(path, std::ios::binary) << bytes;
}

void write_fixtures(const std::string& tmp, const std::string& golden) {
  constexpr int64_t k2p61 = int64_t(1) << 61, k2p30 = int64_t(1) << 30;
  save_npy(tmp + "/x4.npy", Tensor({2, 4}));
  save_npy(tmp + "/img.npy", Tensor({2, 1, 4, 4}));
  Tensor img28 = Tensor::full({2, 1, 28, 28}, 0.5, DType::F32);
  save_npy(tmp + "/img28.npy", img28);
  save_npy(tmp + "/labels.npy", Tensor::from_vector({2}, std::vector<int64_t>{1, 2}));
  Tensor nan28 = img28.clone(), inf28 = img28.clone();
  nan28.set_item(5, NAN);
  inf28.set_item(7, INFINITY);
  save_npy(tmp + "/nan28.npy", nan28);
  save_npy(tmp + "/inf28.npy", inf28);
  const std::string npy = read_file(tmp + "/img28.npy");
  std::ofstream(tmp + "/truncated.npy", std::ios::binary) << npy.substr(0, npy.size() / 2);
  const std::string onnx_bytes = read_file(golden + "/models/cnn.onnx");
  std::ofstream(tmp + "/copy.onnx", std::ios::binary) << onnx_bytes;
  std::ofstream(tmp + "/truncated.onnx", std::ios::binary) << onnx_bytes.substr(0, onnx_bytes.size() / 2);
  std::filesystem::create_directories(tmp + "/afolder");
  std::ofstream(tmp + "/assert_kind.json") << R"({"assertions": [{"name": "x", "kind": "flicker"}]})";
  std::ofstream(tmp + "/assert_window0.json")
      << R"({"assertions": [{"name": "no-flip", "kind": "consistency", "window": 0, "max_input_distance": 0.1}]})";
  write_int32_npy(tmp + "/int32_img28.npy", "(2, 1, 28, 28)", 2 * 28 * 28);
  write_int32_npy(tmp + "/int32_tokens.npy", "(2, 5)", 10);
  save_npy(tmp + "/labels_big.npy", Tensor::from_vector({2}, std::vector<int64_t>{1, 10}));
  save_npy(tmp + "/labels3.npy", Tensor::from_vector({3}, std::vector<int64_t>{1, 2, 3}));
  for (const char* d : {"/pics_bad", "/pics_mixed"}) std::filesystem::create_directories(tmp + d);
  std::ofstream(tmp + "/pics_bad/a.png", std::ios::binary) << "not a picture";
  for (auto [name, side] : {std::pair<const char*, int>{"a", 28}, {"b", 30}}) {
    explain::RgbImage pic;
    pic.width = pic.height = side;
    pic.rgb.assign(static_cast<size_t>(side) * side * 3, 100);
    std::ofstream(tmp + "/pics_mixed/" + name + ".png", std::ios::binary) << explain::png_bytes(pic);
  }

  onnx::ModelProto m = onnx_model(13, {1, 4});
  onnx_i64_initializer(m, "shape", {8, k2p61 + 1});
  onnx_node(m, "Reshape", {"x", "shape"}, {"r"}, "/Reshape");
  onnx_int_attr(onnx_node(m, "Softmax", {"r"}, {"y"}, "/Softmax"), "axis", -1);
  onnx_output(m, "y");
  write_model(m, tmp + "/reshape_wrap.onnx");

  for (auto [name, pads] : {std::pair<const char*, std::vector<int64_t>>{"pad_huge", {0, 0, 0, k2p61 - 1}},
                            {"pad_overflow", {0, INT64_MAX, 0, INT64_MAX}}}) {
    onnx::ModelProto p = onnx_model(13, {1, 4});
    onnx_i64_initializer(p, "pads", pads);
    onnx_node(p, "Pad", {"x", "pads"}, {"y"}, "/Pad");
    onnx_output(p, "y");
    write_model(p, tmp + "/" + name + ".onnx");
  }

  onnx::ModelProto c = onnx_model(13, {1, 1, 4, 4});
  onnx_f32_initializer(c, "w", Tensor::full({1, 1, 3, 3}, 0.5, DType::F32));
  onnx_ints_attr(onnx_node(c, "Conv", {"x", "w"}, {"y"}, "/Conv"), "pads", {k2p30, k2p30, k2p30, k2p30});
  onnx_output(c, "y");
  write_model(c, tmp + "/conv_pad.onnx");

  onnx::ModelProto mp = onnx_model(13, {1, 1, 4, 4});
  auto* n = onnx_node(mp, "MaxPool", {"x"}, {"y"}, "/MaxPool");
  onnx_ints_attr(n, "kernel_shape", {3, 3});
  onnx_ints_attr(n, "pads", {k2p30, k2p30, k2p30, k2p30});
  onnx_output(mp, "y");
  write_model(mp, tmp + "/pool_pad.onnx");

  onnx::ModelProto cs = onnx_model(13, {1, 4});
  onnx_i64_initializer(cs, "big", {int64_t(1) << 40, int64_t(1) << 40});
  onnx_node(cs, "ConstantOfShape", {"big"}, {"c"}, "/ConstantOfShape");
  onnx_node(cs, "Add", {"x", "c"}, {"y"}, "/Add");
  onnx_output(cs, "y");
  write_model(cs, tmp + "/cos_huge.onnx");

  onnx::ModelProto e = onnx_model(13, {1, 4});
  onnx_i64_initializer(e, "big", {k2p61, k2p61, 4});
  onnx_node(e, "Expand", {"x", "big"}, {"y"}, "/Expand");
  onnx_output(e, "y");
  write_model(e, tmp + "/expand_huge.onnx");

  onnx::ModelProto w = onnx_model(13, {1, 4});
  Tensor wt = Tensor::full({4, 3}, 0.25, DType::F32);
  wt.set_item(4, NAN);
  onnx_f32_initializer(w, "w", wt);
  onnx_node(w, "MatMul", {"x", "w"}, {"y"}, "/MatMul");
  onnx_output(w, "y");
  write_model(w, tmp + "/nan_weight.onnx");
}

std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

struct Outcome {
  bool exited = false, signaled = false, timed_out = false;
  int code = 0, signal = 0;
  long max_rss_kb = 0;
  double seconds = 0;
};

Outcome run_case(const std::string& bin, const std::vector<std::string>& words, const std::string& out_path,
                 const std::string& err_path) {
  std::vector<std::string> env, args = {bin};
  for (const auto& w : words) (args.size() == 1 && w.find('=') != std::string::npos ? env : args).push_back(w);
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    for (const auto& kv : env) putenv(const_cast<char*>(kv.c_str()));
    const rlimit cpu{120, 120};
    setrlimit(RLIMIT_CPU, &cpu);
    const int o = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(o, 1);
    dup2(e, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  Outcome r;
  int status = 0;
  rusage use{};
  for (;;) {
    const pid_t done = wait4(pid, &status, WNOHANG, &use);
    if (done == pid) break;
    if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(60)) {
      kill(pid, SIGKILL);
      wait4(pid, &status, 0, &use);
      r.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.exited = WIFEXITED(status);
  r.code = r.exited ? WEXITSTATUS(status) : 0;
  r.signaled = WIFSIGNALED(status);
  r.signal = r.signaled ? WTERMSIG(status) : 0;
  r.max_rss_kb = use.ru_maxrss;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::string bin, golden, filter;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--bin") bin = argv[i + 1];
    if (k == "--golden") golden = argv[i + 1];
    if (k == "--filter") filter = argv[i + 1];
  }
  if (bin.empty() || golden.empty()) {
    std::fprintf(stderr, "usage: bad_input_catalog --bin XDNN --golden TESTS/GOLDEN [--filter S]\n");
    return 2;
  }
  char tmpl[] = "/tmp/xdnn-bad-inputs-XXXXXX";
  if (!mkdtemp(tmpl)) return 2;
  const std::string tmp = tmpl;
  try {
    write_fixtures(tmp, golden);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fixtures: %s\n", e.what());
    return 2;
  }
  const std::string model_bytes = read_file(tmp + "/copy.onnx"), input_bytes = read_file(tmp + "/img28.npy");
  int failed = 0, ran = 0;
  for (const Case& c : kCases) {
    if (!filter.empty() && std::string(c.name).find(filter) == std::string::npos) continue;
    ++ran;
    const auto sub = [&](const std::string& s) {
      return replace_all(replace_all(s, "{tmp}", tmp), "{golden}", golden);
    };
    const std::vector<std::string> words = split_words(sub(c.args));
    std::vector<std::string> outputs;  // files the command must not create
    for (size_t i = 0; i + 1 < words.size(); ++i)
      if ((words[i] == "--out" || words[i] == "--png" || words[i] == "--html") && words[i + 1] != tmp &&
          words[i + 1] != tmp + "/copy.onnx" && words[i + 1] != tmp + "/img28.npy")
        outputs.push_back(words[i + 1]);
    const Outcome r = run_case(bin, words, tmp + "/stdout", tmp + "/stderr");
    const std::string err = read_file(tmp + "/stderr");
    std::vector<std::string> lines;
    std::istringstream in(err);
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    const std::string expect = sub(c.expect);
    std::string why;
    if (r.timed_out)
      why = "no exit within 60 s";
    else if (r.signaled)
      why = "killed by signal " + std::to_string(r.signal);
    else if (r.code != 1)
      why = "exit status " + std::to_string(r.code) + ", expected 1";
    else if (lines.empty() || lines.size() > 2)
      why = std::to_string(lines.size()) + " stderr lines, expected 1 or 2";
    else if (lines[0].rfind("xdnn: error: ", 0) != 0 && (lines.size() < 2 || lines[1].rfind("xdnn: error: ", 0) != 0))
      why = "no 'xdnn: error: ' line";
    else if (err.find(expect) == std::string::npos)
      why = "stderr does not contain '" + expect + "'";
    else if (r.max_rss_kb > 2L * 1024 * 1024)
      why = "peak RSS " + std::to_string(r.max_rss_kb / 1024) + " MiB";
    for (const auto& o : outputs)
      if (why.empty() && std::filesystem::exists(o)) why = "it wrote " + o;
    if (why.empty() && read_file(tmp + "/copy.onnx") != model_bytes) why = "it changed the model file";
    if (why.empty() && read_file(tmp + "/img28.npy") != input_bytes) why = "it changed the input file";
    std::printf("%s %-26s %5.2f s %5ld MiB  %s\n", why.empty() ? "ok  " : "FAIL", c.name, r.seconds,
                r.max_rss_kb / 1024, why.empty() ? (lines.empty() ? "" : lines[0].c_str()) : why.c_str());
    if (!why.empty()) {
      ++failed;
      std::printf("     stderr: %s\n", replace_all(err, "\n", "\n             ").c_str());
    }
    for (const auto& o : outputs) std::filesystem::remove_all(o);
  }
  std::filesystem::remove_all(tmp);
  std::printf("%d of %d cases failed\n", failed, ran);
  return failed ? 1 : 0;
}
