// explain/cli/cluster.h: MPI when the build has it (XDNN_MPI), a one-rank stand-in otherwise.
#include "explain/cli/cluster.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "engine/check.h"
#include "engine/error.h"
#include "models/io/npy.h"

#if XDNN_MPI
#include <dlfcn.h>

#include "explain/cli/cluster_mpi.h"
#endif

namespace xdnn::cli::cluster {

namespace {

int g_rank = 0, g_size = 1;
#if XDNN_MPI
bool g_started = false;  // MPI_Init was called
#endif

// The number of ranks mpirun (or another launcher) says this process is one of; 0 when not launched so.
int launcher_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"})
    if (const char* v = std::getenv(name)) return std::atoi(v);
  return std::getenv("PMIX_RANK") ? 1 : 0;
}

std::string hex(uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

#if XDNN_MPI
// libxdnn_mpi.so (cluster_mpi.h), opened at the first call that needs MPI: beside the running binary (the
// build tree), else in the installed module folder. RTLD_GLOBAL: Open MPI opens its own plugins, which
// look for libmpi's symbols in the global scope. A failed load is not cached: the next call throws again.
std::string g_mpi_module;  // the path mpi() loaded

const MpiCalls& mpi() {
  static const MpiCalls* calls = nullptr;
  if (calls) return *calls;
  std::string folder = ".";
  char self[4096];
  if (const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1); n > 0) {
    folder.assign(self, static_cast<size_t>(n));
    folder.resize(folder.find_last_of('/'));
  }
  std::string tried, path;
  void* lib = nullptr;
  for (const std::string& dir : {folder, std::string(XDNN_MPI_MODULE_DIR)}) {
    path = dir + "/" + kMpiModuleName;
    if ((lib = ::dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL))) break;
    tried += std::string(tried.empty() ? "" : "; ") + ::dlerror();
  }
  if (!lib)
    throw Error(std::string("MPI: cannot load ") + kMpiModuleName + ": " + tried,
                "reinstall xdnn (meson install puts the module in " XDNN_MPI_MODULE_DIR "), or run one process");
  using Entry = const MpiCalls* (*)();
  const auto entry = reinterpret_cast<Entry>(::dlsym(lib, kMpiModuleEntry));
  if (!entry || entry()->abi != kMpiCallsAbi)
    throw Error("MPI: " + path + " is from another xdnn build (no " + kMpiModuleEntry + " of this version)");
  g_mpi_module = path;
  calls = entry();
  return *calls;
}

void mpi_check(const std::string& reason) {
  if (!reason.empty()) throw Error(reason);
}
#endif

}  // namespace

void start(int* argc, char*** argv) {
  const int launched = launcher_size();
  if (launched == 0) return;
#if XDNN_MPI
  mpi_check(mpi().init(argc, argv, &g_rank, &g_size));
  g_started = true;
#else
  (void)argc;
  (void)argv;
  if (launched > 1)
    throw Error("launched as " + std::to_string(launched) + " MPI ranks, but this xdnn was built without MPI",
                "rebuild with libopenmpi-dev installed (meson setup -Dmpi=enabled), or run one process");
#endif
}

void finish() {
#if XDNN_MPI
  if (g_started) mpi().finalize();
  g_started = false;
#endif
}

int rank() { return g_rank; }
int size() { return g_size; }

std::string version_line() {
#if XDNN_MPI
  try {
    const std::string version = mpi().library_version();
    return "MPI: " + version + " (through " + g_mpi_module + ")";
  } catch (const Error& e) {
    return std::string("MPI: built, but ") + e.what();
  }
#else
  return "MPI: not built (-Dmpi=disabled or no MPI library found)";
#endif
}

void report_error_and_end(const std::string& message, const std::string& hint) {
  if (g_size > 1 && g_rank > 0) ::sleep(2);  // see cluster.h: let rank 0 report an error all ranks share
  const std::string who = g_rank > 0 ? "rank " + std::to_string(g_rank) + ": " : "";
  std::fprintf(stderr, "xdnn: error: %s%s\n", who.c_str(), message.c_str());
  if (!hint.empty()) std::fprintf(stderr, "hint: %s\n", hint.c_str());
  std::fflush(stderr);
#if XDNN_MPI
  if (g_started && g_size > 1) mpi().abort_all();
  finish();
#endif
  std::exit(1);
}

std::string gather(std::string_view mine) {
  if (g_size == 1) return std::string(mine);
#if XDNN_MPI
  std::string all;
  mpi_check(mpi().gather_bytes(mine, &all));
  return all;
#else
  return std::string(mine);
#endif
}

std::string all_gather(std::string_view mine) {
  if (g_size == 1) return std::string(mine);
#if XDNN_MPI
  std::string all;
  mpi_check(mpi().all_gather_bytes(mine, &all));
  return all;
#else
  return std::string(mine);
#endif
}

void gather_columns(const float* mine, int64_t rows, const std::vector<std::pair<int64_t, int64_t>>& ranges, float* out,
                    int64_t cols) {
  check(static_cast<int>(ranges.size()) == g_size, "cluster::gather_columns: one range per rank");
  const auto [b0, e0] = ranges[static_cast<size_t>(g_rank)];
  if (g_rank == 0)  // rank 0's own block: a strided copy
    for (int64_t j = 0; j < rows; ++j)
      std::memcpy(out + j * cols + b0, mine + j * (e0 - b0), static_cast<size_t>(e0 - b0) * sizeof(float));
  if (g_size == 1) return;
#if XDNN_MPI
  mpi_check(mpi().gather_columns(mine, rows, ranges.data(), out, cols));
#else
  (void)mine;
  (void)out;
  (void)cols;
#endif
}

namespace {

// pwrite of all n bytes at `offset` (a short write continues; EINTR retries).
bool pwrite_all(int fd, const char* p, size_t n, int64_t offset) {
  while (n > 0) {
    const ssize_t r = ::pwrite(fd, p, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
    offset += r;
  }
  return true;
}

}  // namespace

void write_npy_columns(const std::string& path, const Shape& shape, const float* mine,
                       const std::vector<std::pair<int64_t, int64_t>>& ranges) {
  check(static_cast<int>(ranges.size()) == g_size, "cluster::write_npy_columns: one range per rank");
  check(shape.size() == 1 || shape.size() == 2, "cluster::write_npy_columns: expected a 1-D or 2-D array");
  const int64_t rows = shape.size() == 2 ? shape[0] : 1, cols = shape.back();
  const std::string header = npy_header(shape, DType::F32);
  const auto head = static_cast<int64_t>(header.size());
  const size_t slash = path.find_last_of('/');
  const std::string folder = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  // Rank 0 creates the file at its full size; "+" and its name, or "-" and why not, go to every rank.
  int fd = -1;
  std::string created;
  if (g_rank == 0) {
    const std::string tmp = folder + "/." + name + ".xdnn-tmp-" + std::to_string(::getpid()) + "-mpi";
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0 && pwrite_all(fd, header.data(), header.size(), 0) && ::ftruncate(fd, head + rows * cols * 4) == 0) {
      created = "+" + tmp;
    } else {
      created = "-" + path + ": cannot write: " + std::strerror(errno);
      if (fd >= 0) {
        ::close(fd);
        ::unlink(tmp.c_str());
      }
    }
  }
  const std::string from_root = all_gather(created);  // only rank 0 contributes
  if (from_root.empty() || from_root[0] != '+') {
    if (g_rank == 0) throw Error(from_root.substr(1));
    for (;;) ::pause();  // rank 0's MPI_Abort ends this rank
  }
  const std::string tmp = from_root.substr(1);
  // This rank's block: row j's (e − b) floats at column b of row j.
  std::string problem;
  if (g_rank != 0) fd = ::open(tmp.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) problem = std::string("cannot open '") + tmp + "': " + std::strerror(errno);
  const auto [b, e] = ranges[static_cast<size_t>(g_rank)];
  const auto run_bytes = static_cast<size_t>(e - b) * sizeof(float);
  for (int64_t j = 0; problem.empty() && e > b && j < rows; ++j)
    if (!pwrite_all(fd, reinterpret_cast<const char*>(mine + j * (e - b)), run_bytes, head + (j * cols + b) * 4))
      problem = std::string("write failed: ") + std::strerror(errno);
  if (problem.empty() && ::fsync(fd) != 0) problem = std::string("fsync failed: ") + std::strerror(errno);
  if (fd >= 0 && ::close(fd) != 0 && problem.empty()) problem = std::string("close failed: ") + std::strerror(errno);
  if (const char* hook = std::getenv("XDNN_FAIL_BLOCK_WRITE"); problem.empty() && hook && std::atoi(hook) == g_rank)
    problem = "failing on purpose (XDNN_FAIL_BLOCK_WRITE)";
  // Rank 0 hears every rank's outcome (one line each, in rank order; empty: done) and renames or removes.
  const std::string outcomes = gather(problem + "\n");
  std::string verdict;
  if (g_rank == 0) {
    size_t at = 0;
    for (int r = 0; r < g_size && verdict.empty(); ++r) {
      const size_t end = outcomes.find('\n', at);
      if (end == std::string::npos) break;
      if (end > at) verdict = path + ": rank " + std::to_string(r) + "'s block: " + outcomes.substr(at, end - at);
      at = end + 1;
    }
    if (verdict.empty() && ::rename(tmp.c_str(), path.c_str()) != 0)
      verdict = path + ": write failed: " + std::strerror(errno);
    if (!verdict.empty()) {
      ::unlink(tmp.c_str());
    } else if (const int dfd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
      ::fsync(dfd);  // the rename itself durable (best effort, as write_file_atomic)
      ::close(dfd);
    }
  }
  if (broadcast(verdict.empty() ? 0 : 1) != 0) {
    if (g_rank == 0) throw Error(verdict);
    for (;;) ::pause();
  }
}

int64_t broadcast(int64_t v) {
#if XDNN_MPI
  if (g_size > 1) mpi_check(mpi().broadcast(&v));
#endif
  return v;
}

uint64_t hash_bytes(std::string_view bytes, uint64_t seed) {
  // Each 8-byte word is mixed in with a multiply and a rotate (word order matters); the tail is padded
  // with its length. Constants: the 64-bit golden ratio and splitmix64's finaliser.
  uint64_t h = seed ^ (0x9E3779B97F4A7C15ULL * (bytes.size() + 1));
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, bytes.data() + i, 8);
    h = ((h ^ w) * 0xBF58476D1CE4E5B9ULL);
    h = (h << 27) | (h >> 37);
  }
  uint64_t tail = bytes.size() - i;
  for (size_t k = i; k < bytes.size(); ++k) tail = (tail << 8) | static_cast<unsigned char>(bytes[k]);
  h ^= tail;
  h ^= h >> 31;
  h *= 0x94D049BB133111EBULL;
  h ^= h >> 29;
  return h;
}

uint64_t hash_tensor(const Tensor& t) {
  const Tensor c = t.to(Device::CPU);  // storage is contiguous (engine/tensor.h)
  std::string head = std::string(dtype_name(c.dtype())) + " " + shape_str(c.shape());
  const std::string_view data(static_cast<const char*>(c.raw_data()),
                              static_cast<size_t>(c.numel()) * static_cast<size_t>(dtype_size(c.dtype())));
  return hash_bytes(data, hash_bytes(head));
}

uint64_t hash_model(Model& m) {
  uint64_t h = hash_bytes("model");
  for (Param* p : m.params()) h = hash_bytes(p->name, h ^ hash_tensor(p->value));
  return h;
}

uint64_t hash_row_sample(DType dtype, const Shape& shape, const std::function<Tensor(int64_t)>& row) {
  uint64_t h = hash_bytes(std::string("row sample ") + dtype_name(dtype) + " " + shape_str(shape));
  const int64_t n = shape.empty() ? 0 : shape[0], k = std::min(n, kSampleRows);
  for (int64_t s = 0; s < k; ++s) {
    const int64_t i = k == 1 ? 0 : s * (n - 1) / (k - 1);  // s · (n − 1) < 2^6 · 2^34: no overflow
    h = hash_bytes(std::to_string(i), h ^ hash_tensor(row(i)));
  }
  return h;
}

uint64_t hash_npy_sample(const std::string& path) {
  const Shape shape = npy_shape(path);
  const DType dtype = load_npy_rows(path, 0, 0).dtype();  // no rows: the dtype as load_npy gives it
  return hash_row_sample(dtype, shape, [&](int64_t i) { return load_npy_rows(path, i, i + 1); });
}

void agree_on(const std::vector<std::pair<std::string, uint64_t>>& items) {
  if (g_size == 1) return;
  std::string mine(items.size() * 8, '\0');
  for (size_t i = 0; i < items.size(); ++i) std::memcpy(mine.data() + 8 * i, &items[i].second, 8);
  const std::string all = gather(mine);  // rank 0: every rank's hashes
  std::string problem;
  if (g_rank == 0) {
    if (all.size() != mine.size() * static_cast<size_t>(g_size)) {
      problem = "the MPI ranks run different commands (they hash different numbers of inputs)";
    } else {
      for (int r = 1; r < g_size && problem.empty(); ++r)
        for (size_t i = 0; i < items.size() && problem.empty(); ++i) {
          uint64_t theirs;
          std::memcpy(&theirs, all.data() + mine.size() * static_cast<size_t>(r) + 8 * i, 8);
          if (theirs != items[i].second)
            problem = "MPI ranks disagree on " + items[i].first + ": rank " + std::to_string(r) + " holds hash " +
                      hex(theirs) + ", rank 0 holds " + hex(items[i].second);
        }
    }
  }
  // Every rank learns whether rank 0 found a difference; rank 0 alone reports it (and ends all ranks).
  if (broadcast(problem.empty() ? 0 : 1) != 0) {
    if (g_rank == 0) throw Error(problem, "every rank must read the same files with the same options");
    for (;;) ::pause();  // rank 0's MPI_Abort ends this rank
  }
}

std::pair<int64_t, int64_t> share(int64_t n, int64_t align, int r, int ranks) {
  check(align >= 1 && ranks >= 1 && r >= 0 && r < ranks, "cluster::share: bad arguments");
  const int64_t chunks = (n + align - 1) / align;
  const int64_t per = (chunks + ranks - 1) / ranks;
  const int64_t b = std::min(n, r * per * align), e = std::min(n, (r + 1) * per * align);
  return {b, e};
}

}  // namespace xdnn::cli::cluster
