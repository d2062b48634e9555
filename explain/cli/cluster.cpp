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
// The C API only: Open MPI's deprecated C++ bindings (mpicxx.h) do not compile warning-free.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
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
void mpi_check(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, text, &len);
  throw Error(std::string("MPI: ") + what + " failed: " + std::string(text, static_cast<size_t>(len)));
}

// Waits until every rank has arrived, sleeping 1 ms between polls. Open MPI's blocking collectives spin
// at 100 % CPU while they wait: a rank that finishes its share first would take a core from the ranks
// still computing (measured: TracIn 60k x 1k over 2 ranks used 2.6 s more CPU than 1 process with 2 threads
// before this wait). After it, the collective that follows finds everyone there and returns at once.
void wait_for_all_ranks() {
  MPI_Request request;
  mpi_check(MPI_Ibarrier(MPI_COMM_WORLD, &request), "MPI_Ibarrier");
  for (int done = 0;;) {
    mpi_check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test");
    if (done) return;
    ::usleep(1000);
  }
}
#endif

}  // namespace

void start(int* argc, char*** argv) {
  const int launched = launcher_size();
  if (launched == 0) return;
#if XDNN_MPI
  mpi_check(MPI_Init(argc, argv), "MPI_Init");
  g_started = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  // MPI errors come back as codes (mpi_check turns them into an Error), not as an abort inside MPI.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
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
  if (g_started) MPI_Finalize();
  g_started = false;
#endif
}

int rank() { return g_rank; }
int size() { return g_size; }

std::string version_line() {
#if XDNN_MPI
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(text, &len);
  std::string v(text, static_cast<size_t>(len));
  if (v.find('\n') != std::string::npos) v.resize(v.find('\n'));
  while (!v.empty() && (v.back() == ',' || v.back() == ' ' || v.back() == '\0')) v.pop_back();
  return "MPI: " + v;
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
  if (g_started && g_size > 1) MPI_Abort(MPI_COMM_WORLD, 1);
  finish();
#endif
  std::exit(1);
}

std::string gather(std::string_view mine) {
  if (g_size == 1) return std::string(mine);
#if XDNN_MPI
  if (mine.size() > static_cast<size_t>(INT_MAX))
    throw Error("MPI: a rank's part of the output is " + std::to_string(mine.size()) +
                " bytes, over MPI_Gatherv's 2^31 - 1 limit; use more ranks");
  wait_for_all_ranks();
  const int n = static_cast<int>(mine.size());
  std::vector<int> counts(static_cast<size_t>(g_size)), offsets(static_cast<size_t>(g_size));
  mpi_check(MPI_Gather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Gather");
  std::string all;
  if (g_rank == 0) {
    int64_t total = 0;
    for (int r = 0; r < g_size; ++r) {
      if (total > INT_MAX) throw Error("MPI: the gathered output passes MPI_Gatherv's 2^31 - 1 bytes");
      offsets[static_cast<size_t>(r)] = static_cast<int>(total);
      total += counts[static_cast<size_t>(r)];
    }
    all.resize(static_cast<size_t>(total));
  }
  mpi_check(
      MPI_Gatherv(mine.data(), n, MPI_BYTE, all.data(), counts.data(), offsets.data(), MPI_BYTE, 0, MPI_COMM_WORLD),
      "MPI_Gatherv");
  return all;
#else
  return std::string(mine);
#endif
}

std::string all_gather(std::string_view mine) {
  if (g_size == 1) return std::string(mine);
#if XDNN_MPI
  if (mine.size() > static_cast<size_t>(INT_MAX))
    throw Error("MPI: a rank's part is " + std::to_string(mine.size()) + " bytes, over MPI_Allgatherv's 2^31 - 1");
  wait_for_all_ranks();
  const int n = static_cast<int>(mine.size());
  std::vector<int> counts(static_cast<size_t>(g_size)), offsets(static_cast<size_t>(g_size));
  mpi_check(MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD), "MPI_Allgather");
  int64_t total = 0;
  for (int r = 0; r < g_size; ++r) {
    if (total > INT_MAX) throw Error("MPI: the gathered parts pass MPI_Allgatherv's 2^31 - 1 bytes");
    offsets[static_cast<size_t>(r)] = static_cast<int>(total);
    total += counts[static_cast<size_t>(r)];
  }
  std::string all(static_cast<size_t>(total), '\0');
  mpi_check(
      MPI_Allgatherv(mine.data(), n, MPI_BYTE, all.data(), counts.data(), offsets.data(), MPI_BYTE, MPI_COMM_WORLD),
      "MPI_Allgatherv");
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
  for (const auto& [b, e] : ranges)
    if (rows > INT_MAX || e - b > INT_MAX || cols > INT_MAX || rows * (e - b) > INT_MAX)
      throw Error("MPI: a rank's block of " + std::to_string(rows) + " x " + std::to_string(e - b) +
                  " scores passes MPI's 2^31 - 1 element count; use more ranks");
  wait_for_all_ranks();  // then the transfers below find their peers posted
  std::vector<MPI_Request> requests;
  std::vector<MPI_Datatype> types;
  if (g_rank == 0) {
    for (int r = 1; r < g_size; ++r) {
      const auto [b, e] = ranges[static_cast<size_t>(r)];
      if (e == b || rows == 0) continue;
      // `rows` runs of (e − b) floats, one every `cols`: rank r's block in place in the matrix.
      MPI_Datatype block;
      mpi_check(
          MPI_Type_vector(static_cast<int>(rows), static_cast<int>(e - b), static_cast<int>(cols), MPI_FLOAT, &block),
          "MPI_Type_vector");
      mpi_check(MPI_Type_commit(&block), "MPI_Type_commit");
      types.push_back(block);
      requests.emplace_back();
      mpi_check(MPI_Irecv(out + b, 1, block, r, 0, MPI_COMM_WORLD, &requests.back()), "MPI_Irecv");
    }
  } else if (e0 > b0 && rows > 0) {
    requests.emplace_back();
    mpi_check(MPI_Isend(mine, static_cast<int>(rows * (e0 - b0)), MPI_FLOAT, 0, 0, MPI_COMM_WORLD, &requests.back()),
              "MPI_Isend");
  }
  // A blocking wait: Open MPI moves a large message's fragments only inside MPI calls, so polling with
  // sleeps in between would stretch the transfer (measured: 1.6 s instead of ~0.1 s for 120 MB); the
  // sleeping barrier above already let every rank arrive, so this spins only while the data move.
  mpi_check(MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
  for (MPI_Datatype& t : types) MPI_Type_free(&t);
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
  if (g_size > 1) {
    long long x = v;
    wait_for_all_ranks();
    mpi_check(MPI_Bcast(&x, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD), "MPI_Bcast");
    return x;
  }
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
