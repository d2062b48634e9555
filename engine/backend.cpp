// The registry of device tables (engine/backend.h).
#include "engine/backend.h"

#include "engine/cpu/backend_cpu.h"
#include "engine/strict_backend.h"

namespace xdnn {
namespace {

struct Registry {
  const Backend* tables[3] = {};  // indexed by Device: CPU, CUDA, Strict
};

// Built on first use, so a registration from another TU's static object (the CUDA backend) and an op run
// during static initialisation both find the CPU and Strict tables in place.
Registry& registry() {
  static Registry r = [] {
    Registry init;
    init.tables[static_cast<int>(Device::CPU)] = &cpu_backend_table();
    init.tables[static_cast<int>(Device::Strict)] = &strict_backend_table();
    return init;
  }();
  return r;
}

}  // namespace

void register_backend(Device device, const Backend* table) { registry().tables[static_cast<int>(device)] = table; }

const Backend* find_backend(Device device) { return registry().tables[static_cast<int>(device)]; }

const Backend& backend(Device device) {
  const Backend* b = find_backend(device);
  if (!b)
    throw Error(std::string("a ") + device_name(device) +
                " tensor reached an op, but this xdnn was built without the " + device_name(device) + " backend");
  return *b;
}

namespace detail {
void throw_mixed_devices(const char* what, const Tensor& a, const Tensor& b) {
  const auto where = [](const Tensor& t) { return t.describe() + (t.device() == Device::CPU ? " on cpu" : ""); };
  throw Error(std::string(what) + ": operands on two devices, " + where(a) + " and " + where(b) +
              " (move all operands to one device with Tensor::to(Device))");
}
}  // namespace detail

}  // namespace xdnn
