#include "models/load.h"

#include "models/checkpoint.h"
#include "models/onnx/import.h"
#include "models/zoo.h"

namespace xdnn {

Model load_onnx(const std::string& path) { return import_onnx_file(path); }

static bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Model load_zoo_weights(const std::string& architecture, const std::string& weights_path) {
  Model m = build_zoo_model(architecture);
  load_checkpoint(weights_path, m);
  return m;
}

Model load_model(const std::string& path_or_name) {
  const std::string& spec = path_or_name;
  if (spec.empty()) throw Error("empty model spec", "give an .onnx file, a zoo name or a .safetensors checkpoint");
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
