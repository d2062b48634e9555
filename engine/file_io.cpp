#include "engine/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "engine/error.h"

namespace xdnn {
namespace {

// "a/b/c.npy" -> "a/b"; "c.npy" -> ".".
std::string folder_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

void write_file_atomic(const std::string& path, const std::vector<std::string_view>& pieces) {
  if (path.empty()) throw Error("cannot write a file with an empty name");
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) throw Error(path + ": is a directory, expected a file");
  static std::atomic<unsigned> counter{0};
  const std::string folder = folder_of(path);
  const std::string name = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
  const std::string tmp =
      folder + "/." + name + ".xdnn-tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) throw Error(path + ": cannot write: " + std::strerror(errno));
  bool ok = true;
  for (std::string_view p : pieces) ok = ok && write_all(fd, p);
  ok = ok && ::fsync(fd) == 0;
  const int saved_errno = errno;
  ok = (::close(fd) == 0) && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(ok ? errno : saved_errno);
    ::unlink(tmp.c_str());
    throw Error(path + ": write failed: " + why);
  }
  // Make the rename itself durable: flush the folder's entry (best effort; some file systems refuse).
  const int dfd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void check_output_path(const std::string& path, const std::string& option, const std::vector<std::string>& inputs) {
  if (path.empty()) return;
  const std::string what = option + " '" + path + "'";
  struct stat out {};
  const bool exists = ::stat(path.c_str(), &out) == 0;
  if (exists && S_ISDIR(out.st_mode)) throw Error(what + " is a directory, expected a file name");
  const std::string folder = folder_of(path);
  struct stat dir {};
  if (::stat(folder.c_str(), &dir) != 0 || !S_ISDIR(dir.st_mode))
    throw Error(what + ": folder '" + folder + "' does not exist");
  if (::access(folder.c_str(), W_OK | X_OK) != 0) throw Error(what + ": folder '" + folder + "' is not writable");
  if (!exists) return;
  for (const std::string& in : inputs) {
    struct stat s {};
    if (!in.empty() && ::stat(in.c_str(), &s) == 0 && s.st_dev == out.st_dev && s.st_ino == out.st_ino)
      throw Error(what + " is the input '" + in + "': refusing to overwrite it");
  }
}

}  // namespace xdnn
