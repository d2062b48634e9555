#include "models/load.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "models/onnx/import.h"
#include "models/train/checkpoint.h"
#include "models/zoo.h"

namespace xdnn {

Model load_onnx(const std::string& path) { return import_onnx_file(path); }

static bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Model load_zoo_weights(const std::string& architecture, const std::string& weights_path) {
  if (is_text_zoo_name(architecture)) {
    // Text models are sized by their data set: the sizes are in the checkpoint's metadata.
    const Metadata meta = read_checkpoint_metadata(weights_path);
    Model m = build_text_model(architecture, text_config_from_metadata(meta, weights_path));
    load_checkpoint(weights_path, m);
    m.class_names = class_names_from_metadata(meta, weights_path);
    return m;
  }
  Model m = build_zoo_model(architecture);
  load_checkpoint(weights_path, m);
  return m;
}

std::vector<std::string> class_names_from_metadata(const Metadata& meta, const std::string& source) {
  auto it = meta.find("class_names");
  if (it == meta.end()) return {};
  nlohmann::json j = nlohmann::json::parse(it->second, nullptr, false);
  if (j.is_discarded() || !j.is_array())
    throw Error(source + ": metadata 'class_names' is not a JSON array of strings");
  std::vector<std::string> names;
  for (const auto& e : j) {
    if (!e.is_string()) throw Error(source + ": metadata 'class_names' is not a JSON array of strings");
    names.push_back(e.get<std::string>());
  }
  return names;
}

std::string class_names_metadata(const std::vector<std::string>& names) { return nlohmann::json(names).dump(); }

namespace {

// What a folder given as --model holds that --model takes (a training run's checkpoints, .onnx files), in
// name order; the hint names the last one, e.g. "runs/cnn/epoch-2.safetensors".
std::string folder_model_hint(const std::string& dir) {
  std::vector<std::string> models;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file(ec) && (ends_with(name, ".safetensors") || ends_with(name, ".onnx"))) models.push_back(name);
  }
  std::sort(models.begin(), models.end());
  const std::filesystem::path folder(dir);
  if (models.empty())
    return "a training run's folder holds its checkpoints, e.g. " + (folder / "epoch-2.safetensors").string() +
           "; this one holds no .safetensors or .onnx file";
  std::string list;
  for (size_t i = 0; i < models.size() && i < 5; ++i) list += (i ? ", " : "") + models[i];
  if (models.size() > 5) list += ", ... (" + std::to_string(models.size()) + " in all)";
  return "give one of its files, e.g. --model " + (folder / models.back()).string() + " (it holds " + list + ")";
}

}  // namespace

Model load_model(const std::string& path_or_name) {
  const std::string& spec = path_or_name;
  if (spec.empty()) throw Error("empty model spec", "give an .onnx file, a zoo name or a .safetensors checkpoint");
  if (std::filesystem::is_directory(spec))
    throw Error(spec + ": is a directory, expected an .onnx file, a .safetensors checkpoint or a zoo name",
                folder_model_hint(spec));
  if (ends_with(spec, ".onnx")) return load_onnx(spec);
  if (ends_with(spec, ".safetensors")) {
    // "ARCH:path" only when ARCH is a zoo name, so a colon inside a directory name still reads as a path.
    const size_t colon = spec.find(':');
    if (colon != std::string::npos && is_zoo_name(spec.substr(0, colon)))
      return load_zoo_weights(spec.substr(0, colon), spec.substr(colon + 1));
    const Metadata meta = read_checkpoint_metadata(spec);
    auto it = meta.find("architecture");
    if (it == meta.end())
      throw Error(spec + ": no 'architecture' in the safetensors metadata, so the model is unknown",
                  "name it: --model fashion-cnn:" + spec);
    return load_zoo_weights(it->second, spec);
  }
  return build_zoo_model(spec);  // unknown names -> Error listing the zoo (and .onnx files)
}

}  // namespace xdnn
