// Device selection and the --version text: compiled in both builds (the CUDA calls sit in discarded
// `if constexpr` branches when the backend is not built).
#include <cstdio>

#include "engine/cpu/gemm.h"
#include "kernels/cuda_ops.h"

namespace xdnn::cuda {

Device select_device(const std::string& name, const char* what) {
  if (name == "cpu") return Device::CPU;
  if (name != "cuda")
    throw Error(std::string(what) + ": unknown device '" + printable(name) + "' (expected cpu or cuda)");
  if constexpr (!kBuilt) {
    throw Error(std::string(what) +
                " cuda: this xdnn was built without the CUDA backend (reconfigure with "
                "`meson setup -Dcuda=enabled` on a machine with nvcc in /usr/local/cuda, or use --device cpu)");
  } else {
    std::string reason;
    if (devices(&reason).empty())
      throw Error(std::string(what) + " cuda: no CUDA device: " + reason +
                  " (run on a machine with an NVIDIA GPU and driver, or use --device cpu)");
    try {  // now rather than at the first matrix product: a missing cuBLAS/cuDNN fails before any work
      load_libraries();
    } catch (const Error& e) {
      throw Error(std::string(what) + " cuda: " + e.what());
    }
    return Device::CUDA;
  }
}

void require_cpu_command(const std::string& name, const char* command) {
  if (select_device(name, "--device") == Device::CUDA)
    throw Error(std::string("--device cuda: `") + command +
                "` does not run on the GPU yet (its layers and loops read tensors in host memory); use --device cpu");
}

std::string version_text(const std::string& version) {
  std::string out =
      "xdnn " + version + "\nbackends: cpu (GEMM kernel " + cpu::gemm_kernel_name(cpu::gemm_kernel()) + ")";
  if constexpr (kBuilt) {
    out += ", cuda (" + library_versions() + ", built for sm_80 and sm_90)";
    std::string reason;
    const std::vector<DeviceInfo> found = devices(&reason);
    if (found.empty()) out += "\nno CUDA device: " + reason;
    for (const DeviceInfo& d : found) {
      char line[256];
      std::snprintf(line, sizeof line, "\ncuda:%d %s, %.1f GiB, compute capability %d.%d", d.index, d.name.c_str(),
                    static_cast<double>(d.total_bytes) / (1 << 30), d.cc_major, d.cc_minor);
      out += line;
    }
  } else {
    out += " (built without the CUDA backend: -Dcuda=disabled or no nvcc found)";
  }
  return out;
}

}  // namespace xdnn::cuda
