// Writing output files safely. Every file xdnn writes (.npy, safetensors checkpoints and optimizer
// sidecars, PNG, HTML, JSON) goes through write_file_atomic: a killed run or two concurrent writers never
// leave a torn file, only the old file or the complete new one. CLI commands call check_output_path on
// every output before their long computation, so a wrong folder fails in a second, not after an hour.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace xdnn {

// Writes the concatenation of `pieces` to `path`: to a temporary file in the same folder
// (".<name>.xdnn-tmp-<pid>-<n>"), flushed to disk (fsync), then renamed over `path` (rename is atomic
// within a file system). On any failure the temporary file is removed and an Error names `path`.
void write_file_atomic(const std::string& path, const std::vector<std::string_view>& pieces);

// Refuses, before any work, an output path that cannot be written or that would destroy an input:
// `option` (e.g. "--out") names it in the message. Checks that `path` is not a directory, that its folder
// exists and is writable, and that it is not the same file as any of `inputs` (same device and inode, so
// "./m.onnx" and "m.onnx" are caught). An empty path is accepted (an optional output not given).
void check_output_path(const std::string& path, const std::string& option, const std::vector<std::string>& inputs);

}  // namespace xdnn
