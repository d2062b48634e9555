// Device selection for the command line and the text of `xdnn --version`. The CUDA part (device probe,
// library loading, versions) sits behind the CUDA table that the CUDA backend registers (engine/backend.h).
#pragma once
#include <string>

#include "engine/tensor.h"

namespace xdnn {

// "cpu", "cuda" or "strict" (the test device, engine/strict_backend.h) -> Device; for "cuda" checks that
// the backend is built and a device is usable, else throws one line saying which and what to do. `what`
// names the option ("--device").
Device select_device(const std::string& name, const char* what);
// For commands that do not run on the GPU yet: select_device(name, "--device"), then for cuda an Error
// (or strict) saying that `command` runs on the CPU only for now (never a silent fall-back to the CPU).
void require_cpu_command(const std::string& name, const char* command);
// The text of `xdnn --version`: version, backends compiled in (library versions), devices found.
std::string version_text(const std::string& version);

}  // namespace xdnn
