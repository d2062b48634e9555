// Helpers of the file-reader tests (test_io.cpp, test_fashion_mnist.cpp, test_rdata.cpp,
// test_text_data.cpp): scratch folders, raw bytes in and out, and the one-line error checks every reader's
// bad-input tests make.
#pragma once
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "engine/error.h"

namespace xdnn::testing {

// A scratch folder unique to this process and `tag`, removed when it goes out of scope.
struct ScratchDir {
  std::filesystem::path dir;
  explicit ScratchDir(const std::string& tag) {
    dir = std::filesystem::temp_directory_path() / ("xdnn_test_" + tag + "_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::string path(const std::string& name) const { return (dir / name).string(); }
};

// The scratch folder of the tensor-file tests, removed at exit.
inline const ScratchDir& scratch() {
  static ScratchDir d("io");
  return d;
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}
inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}
inline void write_file(const std::filesystem::path& p, const std::vector<uint8_t>& bytes) {
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// The message of the xdnn::Error that fn throws ("" if it throws none; other exceptions propagate).
inline std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Checks that fn throws an xdnn::Error whose message is one line, names `name` and contains `part`.
inline void check_error(const std::function<void()>& fn, const std::string& name, const std::string& part) {
  std::string msg = error_of(fn);
  INFO("message: " << msg);
  CHECK(!msg.empty());
  CHECK(msg.find('\n') == std::string::npos);
  CHECK(msg.find(name) != std::string::npos);
  CHECK(msg.find(part) != std::string::npos);
}

// Runs f, which must throw xdnn::Error with a one-line message containing `needle`.
inline void check_one_line_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    FAIL("expected xdnn::Error containing '" << needle << "'");
  } catch (const Error& e) {
    const std::string msg = e.what();
    INFO("message: " << msg);
    CHECK(msg.find('\n') == std::string::npos);
    CHECK(msg.find(needle) != std::string::npos);
  }
}

}  // namespace xdnn::testing
