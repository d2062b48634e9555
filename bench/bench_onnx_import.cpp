// ONNX import time and memory (issue 14's measure: a 45 MB ResNet-18 in under 50 ms, at most 1.2x the
// file's size resident during import).
//
//   bench_onnx_import MODEL.onnx [REPEATS]   median times over REPEATS (default 15) of
//       protobuf parse    the file read into a string + ModelProto::ParseFromString (the old first step)
//       old import        that parse + import_onnx_model (conversion from the message: the old path)
//       new import        import_onnx_file (wire walk + pread into tensors + conversion)
//   bench_onnx_import MODEL.onnx REPEATS --new-only   the new import alone (for a profiler)
//   bench_onnx_import MODEL.onnx --rss new|old
//       one import in this fresh process; prints the peak resident memory it added (VmHWM after minus
//       VmRSS before) next to the file's size. Run it once per path: the peak is per process.
#include <onnx/onnx_pb.h>

#include <sys/stat.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "models/onnx/import.h"

using namespace xdnn;

namespace {

double status_kb(const char* key) {  // a "VmRSS:" style line of /proc/self/status, in kB
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key, 0) == 0) return std::stod(line.substr(std::string(key).size()));
  return -1;
}

Model old_import(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  onnx::ModelProto proto;
  if (!proto.ParseFromString(ss.str())) throw Error(path + ": parse failed");
  return import_onnx_model(proto, path);
}

template <class F>
double median_ms(int repeats, F&& f) {
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) {
    const auto a = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL.onnx [REPEATS | --rss new|old]\n", argv[0]);
    return 2;
  }
  const std::string path = argv[1];
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    std::fprintf(stderr, "%s: cannot open\n", path.c_str());
    return 1;
  }
  const double file_mb = static_cast<double>(st.st_size) / 1e6;
  try {
    if (argc > 3 && std::string(argv[2]) == "--rss") {
      const bool use_new = std::string(argv[3]) == "new";
      const double before = status_kb("VmRSS:");
      Model m = use_new ? import_onnx_file(path) : old_import(path);
      const double peak = status_kb("VmHWM:");
      std::printf("%s import of %s (%.1f MB): peak resident memory added %.1f MB = %.2fx the file\n",
                  use_new ? "new" : "old", path.c_str(), file_mb, (peak - before) / 1e3,
                  (peak - before) / 1e3 / file_mb);
      return m.nodes().empty() ? 1 : 0;
    }
    const int repeats = argc > 2 ? std::max(1, std::atoi(argv[2])) : 15;
    if (argc > 3 && std::string(argv[3]) == "--new-only") {  // for profiling the new path alone
      std::printf("new import: median %.1f ms\n", median_ms(repeats, [&] { import_onnx_file(path); }));
      return 0;
    }
    const double parse = median_ms(repeats, [&] {
      std::ifstream f(path, std::ios::binary);
      std::ostringstream ss;
      ss << f.rdbuf();
      onnx::ModelProto proto;
      if (!proto.ParseFromString(ss.str())) throw Error("parse failed");
    });
    const double old_total = median_ms(repeats, [&] { old_import(path); });
    const double new_total = median_ms(repeats, [&] { import_onnx_file(path); });
    std::printf(
        "%s (%.1f MB), median of %d: protobuf parse %.1f ms; old import %.1f ms (conversion %.1f ms); "
        "new import %.1f ms\n",
        path.c_str(), file_mb, repeats, parse, old_total, old_total - parse, new_total);
  } catch (const Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
