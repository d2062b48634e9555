// safetensors files: the weight format of the golden models and of xdnn checkpoints.
//
// Format (huggingface/safetensors, docs "Format"): an 8-byte little-endian header length N, N bytes of
// UTF-8 JSON
//   {"__metadata__": {"lr": "0.01"}, "conv1.weight": {"dtype": "F32", "shape": [8, 1, 3, 3],
//    "data_offsets": [0, 288]}, ...}
// (padded with spaces so the data starts 8-byte aligned), then the byte buffer; data_offsets are
// [begin, end) within that buffer, data little-endian and C order.
//
// Supported dtypes: F32, F64, I64 (others are a clear error). The reader checks every entry (offsets in
// range, no overlaps, end - begin == numel * itemsize) before allocating anything, and every problem is
// an xdnn::Error with one line naming the file and the tensor.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace xdnn {

using TensorList = std::vector<std::pair<std::string, Tensor>>;
using Metadata = std::map<std::string, std::string>;

// Reads all tensors; if `metadata` is given it receives the "__metadata__" map (empty if absent).
std::map<std::string, Tensor> load_safetensors(const std::string& path, Metadata* metadata = nullptr);
// The same, in the order of the tensors' data in the file.
TensorList load_safetensors_ordered(const std::string& path, Metadata* metadata = nullptr);
// Only the "__metadata__" map (reads and validates the header, not the tensor data).
Metadata load_safetensors_metadata(const std::string& path);

// Writes the tensors in the given order (header and data); names must be unique and non-empty.
void save_safetensors(const std::string& path, const TensorList& tensors, const Metadata& metadata = {});

// In-memory versions (fuzzing, tests). `name_for_errors` is what error messages call the data.
TensorList parse_safetensors(const std::string& bytes, const std::string& name_for_errors,
                             Metadata* metadata = nullptr);
std::string safetensors_bytes(const TensorList& tensors, const Metadata& metadata = {});

}  // namespace xdnn
