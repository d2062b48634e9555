// Loading models: ONNX files (models/onnx/import.h). Zoo names and checkpoints are added here by the
// training code (models/load.cpp).
#pragma once
#include <string>
#include <vector>

#include "models/io/safetensors.h"
#include "models/model.h"

namespace xdnn {

// Imports an .onnx file: ONNX tensor names become value names, weights become named Params.
Model load_onnx(const std::string& path);

// One command-line model "spec" (what --model takes everywhere):
//   model.onnx                            an ONNX file (load_onnx)
//   fashion-cnn                           a zoo architecture (models/zoo.h), seed-0 init (untrained)
//   fashion-cnn:run/epoch-2.safetensors   a zoo architecture with the weights of a safetensors state
//                                         dict (an xdnn checkpoint or a PyTorch-written state dict)
//   run/epoch-2.safetensors               an xdnn checkpoint: its "architecture" metadata names the zoo
//                                         architecture (models/train/checkpoint.h)
// Rule: ".onnx" suffix -> ONNX; ".safetensors" suffix -> checkpoint with an optional "ARCH:" prefix
// (needed when the file has no architecture metadata); anything else -> a zoo name. Weight loading is
// strict (names, shapes, dtypes; models/train/checkpoint.h). Unknown -> Error listing what is valid.
Model load_model(const std::string& path_or_name);

// A zoo architecture with the weights of a safetensors file (strict: names, shapes, dtypes). Text models
// (text-lstm, text-transformer) take their sizes from the file's "text.*" metadata (models/zoo.h) and
// their class names from "class_names".
Model load_zoo_weights(const std::string& architecture, const std::string& weights_path);

// Class names as checkpoint metadata: a JSON array of strings under "class_names" (absent: none).
std::string class_names_metadata(const std::vector<std::string>& names);
std::vector<std::string> class_names_from_metadata(const Metadata& meta, const std::string& source);

}  // namespace xdnn
