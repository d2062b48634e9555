// Device selection and the --version text (engine/device.h).
#include "engine/device.h"

#include "engine/backend.h"
#include "engine/cpu/gemm.h"

namespace xdnn {

Device select_device(const std::string& name, const char* what) {
  if (name == "cpu") return Device::CPU;
  // The test device (engine/strict_backend.h): runs where the CPU does, and any host read of a tensor is
  // an error naming the reader, so `--device strict` shows whether a command would run on a GPU.
  if (name == "strict") return Device::Strict;
  if (name != "cuda")
    throw Error(std::string(what) + ": unknown device '" + printable(name) +
                "' (expected cpu or cuda; strict: " + "the device-discipline test device)");
  const Backend* cuda = find_backend(Device::CUDA);
  if (!cuda)
    throw Error(std::string(what) +
                " cuda: this xdnn was built without the CUDA backend (reconfigure with "
                "`meson setup -Dcuda=enabled` on a machine with nvcc in /usr/local/cuda, or use --device cpu)");
  const std::string reason = cuda->unusable_reason();
  if (!reason.empty()) throw Error(std::string(what) + " cuda: " + reason);
  return Device::CUDA;
}

void require_cpu_command(const std::string& name, const char* command) {
  const Device device = select_device(name, "--device");
  if (device == Device::CUDA)
    throw Error(std::string("--device cuda: `") + command +
                "` does not run on the GPU yet (its layers and loops read tensors in host memory); use --device cpu");
  if (device == Device::Strict)
    throw Error(std::string("--device strict: `") + command + "` does not run on a device yet; use --device cpu");
}

std::string version_text(const std::string& version) {
  std::string out =
      "xdnn " + version + "\nbackends: cpu (GEMM kernel " + cpu::gemm_kernel_name(cpu::gemm_kernel()) + ")";
  if (const Backend* cuda = find_backend(Device::CUDA)) return out + cuda->version_text();
  return out + " (built without the CUDA backend: -Dcuda=disabled or no nvcc found)";
}

}  // namespace xdnn
