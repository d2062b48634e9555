// The one place where a command's --input becomes the model's input tensor (declared in
// explain/cli/commands.h): .npy arrays, image files and folders (models/io/image.h), and text for token
// models (a .txt file with one sample per line, or --text), each checked against what the model takes
// before any work.
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "engine/check.h"
#include "engine/error.h"
#include "explain/cli/commands.h"
#include "explain/targets.h"
#include "models/io/image.h"
#include "models/io/npy.h"
#include "models/io/tokenizer.h"

namespace xdnn::cli {

namespace {

// The checks shared by every kind of input: dtype and shape against the model, then the NaN / Inf policy.
// `file_dtype` is what the file held ("int32 ('<i4')", "image"), `hint` is added to a shape mismatch.
void check_against_model(const Tensor& x, const std::string& what, const std::string& file_dtype, const Model& model,
                         bool allow_nonfinite, const std::string& hint = {}) {
  const std::string shape = shape_str(x.shape());
  if (model.takes_token_ids() && x.is_float())
    throw Error(what + ": " + file_dtype + " " + shape +
                ", but the model takes token ids: expected int64 or int32 (N, T), or text (--text, a .txt file)");
  if (!model.takes_token_ids() && (model.input_dtype == DType::F32 || model.input_dtype == DType::F64) && !x.is_float())
    throw Error(what + ": " + file_dtype + " " + shape +
                ", but the model takes float values: expected float32 or float64");
  if (model.check_input && !model.inputs().empty()) {  // the shape the model declares (-1: any size)
    bool ok = x.ndim() == static_cast<int>(model.input_shape.size()) + 1;
    std::string expect = "(N";
    for (size_t i = 0; i < model.input_shape.size(); ++i) {
      const int64_t d = model.input_shape[i];
      expect += ", " + (d < 0 ? std::string("?") : std::to_string(d));
      ok = ok && (d < 0 || x.dim(static_cast<int>(i) + 1) == d);
    }
    if (!ok)
      throw Error(what + ": " + file_dtype + " " + shape + ", but the model's input '" +
                      model.value_name(model.inputs()[0]) + "' is " + expect + ")",
                  hint);
  }
  check_finite_input(x, what, allow_nonfinite);
}

// The vocabulary a token model was trained with: --vocab, else vocab.json beside the checkpoint
// (`xdnn train` writes it there; "ARCH:dir/epoch-2.safetensors" names its checkpoint after the colon).
text::VocabularyFile model_vocabulary(const std::string& model_spec, const InputOptions& in, const std::string& what) {
  if (!in.vocab.empty()) return text::load_vocabulary(in.vocab);
  std::string checkpoint = model_spec.substr(model_spec.find(':') == std::string::npos ? 0 : model_spec.find(':') + 1);
  if (checkpoint.ends_with(".safetensors")) {
    const std::string path = text::vocabulary_path_for_checkpoint(checkpoint);
    if (std::filesystem::exists(path)) return text::load_vocabulary(path);
    throw Error(what + ": no vocabulary to tokenise the text: '" + path + "' does not exist",
                "give --vocab FILE (the vocab.json of the training run)");
  }
  throw Error(what + ": no vocabulary to tokenise the text of model '" + model_spec + "'",
              "give --vocab FILE (the vocab.json of the training run)");
}

// Texts -> int64 (N, T) ids, right-padded with <pad> to the longest text, or to the model's own T when it
// declares one (a static-length export); a text longer than that is refused rather than cut.
Tensor encode_texts(const std::vector<std::string>& texts, const std::vector<std::string>& names, const Model& model,
                    const text::Vocabulary& vocab) {
  int64_t longest = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const int64_t n = static_cast<int64_t>(text::tokenize(vocab.level(), texts[i]).size());
    check(n > 0, names[i] + ": no " + std::string(text::token_level_name(vocab.level())) + " tokens in the text");
    longest = std::max(longest, n);
  }
  int64_t T = longest;
  if (model.check_input && model.input_shape.size() == 1 && model.input_shape[0] > 0) {
    T = model.input_shape[0];
    for (size_t i = 0; i < texts.size(); ++i) {
      const int64_t n = static_cast<int64_t>(text::tokenize(vocab.level(), texts[i]).size());
      check(n <= T, names[i] + ": " + std::to_string(n) + " tokens, but the model takes " + std::to_string(T));
    }
  }
  return text::encode(vocab, texts, T).ids;
}

void check_not_image_options(const std::string& path, const InputOptions& in) {
  check(in.resize.empty() && !in.grayscale && in.mean.empty() && in.std.empty(),
        "--resize, --grayscale, --mean and --std apply to image inputs (PNG / JPEG files or "
        "folders), not to '" +
            path + "'");
}

}  // namespace

void add_input_options(CLI::App* cmd, InputOptions& o, bool vocab_option) {
  cmd->add_option("--resize", o.resize, "image inputs: resize every picture to HxW (bilinear, half-pixel centres)")
      ->type_name("HxW");
  cmd->add_flag("--grayscale", o.grayscale, "image inputs: read 1 channel (luma) instead of RGB");
  cmd->add_option("--mean", o.mean, "image inputs: per-channel mean subtracted from the [0, 1] values")
      ->type_name("M[,M,M]");
  cmd->add_option("--std", o.std, "image inputs: per-channel divisor, after the mean")->type_name("S[,S,S]");
  cmd->add_option("--text", o.text, "token models: one sample given as text (instead of --input)");
  if (vocab_option)
    cmd->add_option("--vocab", o.vocab,
                    "token models: vocabulary JSON for --text / .txt inputs (default: vocab.json "
                    "beside the checkpoint)")
        ->type_name("FILE");
}

ModelInput load_input(const std::string& path, const std::string& option, const Model& model,
                      const std::string& model_spec, bool allow_nonfinite, const InputOptions& in) {
  const bool image_options = !in.resize.empty() || in.grayscale || !in.mean.empty() || !in.std.empty();
  const bool text_file = path.ends_with(".txt");
  ModelInput out;
  if (!in.text.empty() || text_file) {
    check(in.text.empty() || path.empty(), "give either --input or --text, not both");
    check(!image_options, "--resize, --grayscale, --mean and --std apply to image inputs, not to text");
    const std::string what = path.empty() ? std::string("--text") : option + " '" + path + "'";
    std::vector<std::string> texts, names;
    if (path.empty()) {
      texts.push_back(in.text), names.push_back("--text");
    } else {
      std::ifstream f(path);
      check(f.good(), what + ": cannot open text file");
      std::string line;
      for (int64_t k = 1; std::getline(f, line); ++k) {
        if (!line.empty() && line.back() == '\r') line.pop_back();  // Windows line ends
        texts.push_back(line), names.push_back(what + " line " + std::to_string(k));
      }
      check(!texts.empty(), what + ": the file holds no lines (one sample per line)");
    }
    check(model.takes_token_ids(), what + ": text is for token models; model '" + model_spec + "' takes " +
                                       (model.input_dtype == DType::I64 ? "integers" : "float values"));
    const text::VocabularyFile vocab = model_vocabulary(model_spec, in, what);
    out.x = encode_texts(texts, names, model, vocab.vocab);
    out.note = std::to_string(texts.size()) + " text(s), " + text::token_level_name(vocab.vocab.level()) +
               " tokens, padded to " + std::to_string(out.x.dim(1));
    check_against_model(out.x, what, "text", model, allow_nonfinite);
    return out;
  }
  check(!path.empty(), "no input: give --input FILE (.npy, an image or a folder of images, .txt) or --text");
  const std::string what = option + " '" + path + "'";
  if (is_image_input(path)) {
    ImageOptions io;
    if (!in.resize.empty()) std::tie(io.height, io.width) = parse_resize(in.resize, "--resize");
    io.grayscale = in.grayscale;
    if (!in.mean.empty()) io.mean = parse_channel_values(in.mean, "--mean", false);
    if (!in.std.empty()) io.std = parse_channel_values(in.std, "--std", true);
    ImageBatch batch = load_images(path, io, option);
    out.x = batch.values;
    out.pixels = batch.pixels;
    out.files = batch.files;
    out.note = describe_image_options(io, out.x.dim(1));
    const bool grey = out.x.dim(1) == 1;
    check_against_model(out.x, what, "image", model, allow_nonfinite,
                        grey ? "" : "--grayscale reads one channel, --resize HxW sets the size");
    return out;
  }
  check_not_image_options(path, in);
  std::string file_dtype;
  out.x = load_npy(path, &file_dtype);
  check_against_model(out.x, what, file_dtype, model, allow_nonfinite);
  return out;
}

bool is_npy_input(const std::string& path, const InputOptions& in) {
  return in.text.empty() && !path.empty() && !path.ends_with(".txt") && !is_image_input(path);
}

ModelInput load_npy_head(const std::string& path, const std::string& option, const Model& model, bool allow_nonfinite,
                         const InputOptions& in, int64_t rows, Shape* shape) {
  check_not_image_options(path, in);
  *shape = npy_shape(path);
  std::string file_dtype;
  ModelInput out;
  out.x = shape->empty() ? load_npy(path, &file_dtype)  // 0-d: refused below as load_input refuses it
                         : load_npy_rows(path, 0, std::min((*shape)[0], rows), &file_dtype);
  check_against_model(out.x, option + " '" + path + "'", file_dtype, model, allow_nonfinite);
  return out;
}

std::vector<int64_t> resolve_target_option(const std::string& target, const Model& model, const Tensor& input,
                                           int64_t rows) {
  const int64_t N = rows < 0 ? input.dim(0) : rows;
  check(!target.empty() || N == input.dim(0), "resolve_target_option: each sample's argmax needs every row");
  if (target.empty()) return explain::resolve_targets(model, input, -1);
  char* end = nullptr;
  errno = 0;
  const long long k = std::strtoll(target.c_str(), &end, 10);
  if (end == target.c_str() + target.size() && errno == 0) {  // a class index for every sample
    check(k >= 0, "--target " + target + " is out of range: classes are numbered from 0");
    // The range check needs the class count: one forward pass of the first rows (a static-batch export:
    // its own batch size), not one over every row.
    const int64_t head = std::min(input.dim(0), std::max<int64_t>(1, model.exported_batch));
    explain::resolve_targets(model, input.slice_batch(0, head), k);
    return std::vector<int64_t>(static_cast<size_t>(N), k);
  }
  const std::string what = "--target '" + target + "'";
  check(target.ends_with(".npy") || std::filesystem::exists(target),
        what + ": expected a class index or a labels .npy file (int64 or int32 (N,))");
  std::string file_dtype;
  const Tensor labels = load_npy(target, &file_dtype);
  if (labels.dtype() != DType::I64)
    throw Error(what + ": " + file_dtype + " " + shape_str(labels.shape()) +
                ", expected int64 or int32 (N,): one class per sample");
  if (N == input.dim(0)) return explain::per_sample_targets(model, input, labels, what);
  // `input` holds the first rows only: per_sample_targets' checks of every label, with the class count
  // from a forward pass of those rows.
  if (labels.ndim() != 1 || labels.dim(0) != N)
    throw Error(what + ": " + labels.describe() + ", expected int64 or int32 (" + std::to_string(N) +
                ",): one class per sample of the input");
  const Tape tape = model.forward({input.is_float() && !model.takes_token_ids() ? input.to(model.dtype()) : input});
  const int64_t classes = explain::tape_logits(model, tape).dim(1);
  std::vector<int64_t> out(labels.data<int64_t>(), labels.data<int64_t>() + N);
  for (int64_t n = 0; n < N; ++n)
    if (out[n] < 0 || out[n] >= classes)
      throw Error(what + ": element " + std::to_string(n) + " is " + std::to_string(out[n]) +
                  ", out of range: the model has " + std::to_string(classes) + " classes (0.." +
                  std::to_string(classes - 1) + ")");
  return out;
}

Tensor load_model_input(const std::string& path, const std::string& option, const Model& model, bool allow_nonfinite) {
  return load_input(path, option, model, "", allow_nonfinite, InputOptions{}).x;
}

}  // namespace xdnn::cli
