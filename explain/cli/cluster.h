// Running one command as several processes under `mpirun -np N` (Open MPI): the ranks split the
// outputs (explain: its input rows; influence: its training examples, i.e. score columns), never a sum,
// so the file rank 0 writes is bit-identical to a one-process run. Everything MPI is behind this small
// interface (explain/cli/cluster.cpp): with MPI in the build (-Dmpi=auto|enabled|disabled), its calls live
// in the module libxdnn_mpi.so (cluster_mpi.h), opened only under mpirun; without, a one-rank stand-in.
//
// Rules every command that shards follows:
//   - MPI starts only when the process was launched by mpirun (its environment says so): outside
//     mpirun the binary is one process and pays nothing.
//   - The ranks check that they agree on the inputs (hashes of the loaded arrays, models and options)
//     before the long computation: agree_on() fails with one line naming what differs.
//   - Only rank 0 prints progress and writes files.
//   - An error on any rank ends all ranks (report_error_and_end in main.cpp).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/tensor.h"
#include "models/model.h"

namespace xdnn::cli::cluster {

// Starts MPI when launched by mpirun (Open MPI's OMPI_COMM_WORLD_SIZE, PMIx's PMIX_RANK or Hydra's
// PMI_SIZE in the environment). A build without MPI launched as several ranks is an Error (every rank
// would compute and write everything).
void start(int* argc, char*** argv);
void finish();  // MPI_Finalize when started

int rank();  // 0 outside mpirun
int size();  // 1 outside mpirun
inline bool is_root() { return rank() == 0; }

// "MPI: Open MPI v4.1.4 ... (through /usr/lib/.../xdnn/libxdnn_mpi.so)", "MPI: built, but MPI: cannot load
// libxdnn_mpi.so: ..." or "MPI: not built (-Dmpi=disabled or no MPI found)". Loads the module (no MPI_Init).
std::string version_line();

// The command-line error path of a rank (main.cpp): prints "xdnn: error: MSG" (rank k > 0: "xdnn: error:
// rank k: MSG") and the hint, then, with several ranks, ends them all (MPI_Abort). A rank other than 0
// waits two seconds before printing: when every rank meets the same error (a missing file), rank 0's
// abort ends the others first and the user reads the message once.
[[noreturn]] void report_error_and_end(const std::string& message, const std::string& hint);

// Rank 0: the concatenation of every rank's `mine`, in rank order; other ranks: empty (MPI_Gatherv of
// bytes; each rank's part may be of any size, including zero).
std::string gather(std::string_view mine);

// Every rank: the concatenation of every rank's `mine`, in rank order (MPI_Allgatherv of bytes).
std::string all_gather(std::string_view mine);

// Rank 0: receives into `out`, a row-major (rows, cols) float32 matrix, every rank's block of columns:
// rank r's `mine` is (rows, e_r − b_r) for ranges[r] = [b_r, e_r), and lands in columns [b_r, e_r) straight
// from the message (a strided MPI datatype: no staging buffer of the whole matrix, no second copy). Other
// ranks: send `mine`; `out` is not touched. `ranges` is the same on every rank.
void gather_columns(const float* mine, int64_t rows, const std::vector<std::pair<int64_t, int64_t>>& ranges, float* out,
                    int64_t cols);

// Writes the .npy file `path` of a float32 array `shape` ((rows, cols), or (cols) with rows = 1) whose columns
// are split over the ranks as in gather_columns, each rank writing its own block straight into the file: no
// block crosses the network and no rank holds the whole array. Atomic as write_file_atomic (engine/file_io.h):
// rank 0 creates a temporary file beside `path` (".NAME.xdnn-tmp-PID-mpi"), writes the header and sets the
// full size; every rank then writes its rows of (e_r − b_r) floats at their offsets (pwrite) and fsyncs; only
// when every rank reports success does rank 0 rename the file over `path` (and fsync the folder). A failed
// write on any rank: rank 0 removes the temporary file and throws one line naming the rank; a run killed
// before the rename leaves `path` as it was (the temporary file is the only trace). Collective: every rank
// calls it, with the same path, shape and ranges. Testing hook: XDNN_FAIL_BLOCK_WRITE=r makes rank r's write
// fail after it has written its block (a failure at the last moment).
void write_npy_columns(const std::string& path, const Shape& shape, const float* mine,
                       const std::vector<std::pair<int64_t, int64_t>>& ranges);

// Rank 0's value of `v` on every rank.
int64_t broadcast(int64_t v);

// 64-bit hash of bytes (a fixed multiply-xorshift over 8-byte words; the same value on every machine of
// one byte order). Not cryptographic: it detects ranks (or a resumed run) given different inputs.
uint64_t hash_bytes(std::string_view bytes, uint64_t seed = 0);
uint64_t hash_tensor(const Tensor& t);  // dtype, shape and data
uint64_t hash_model(Model& m);          // every parameter's name, dtype, shape and data

// A hash of an array (N, ...) that every rank can compute while reading only a few rows of it: its dtype,
// its shape and kSampleRows rows spread evenly over it, the first and the last among them (all rows when
// N <= kSampleRows); row(i) returns row i as a (1, ...) tensor. It tells ranks given different files apart
// (another data set, another split, a stale copy) without each rank reading the whole file; two files
// that differ only in rows it does not sample pass.
inline constexpr int64_t kSampleRows = 64;
uint64_t hash_row_sample(DType dtype, const Shape& shape, const std::function<Tensor(int64_t)>& row);
// The same for a .npy file, reading only the sampled rows (load_npy_rows): the value hash_row_sample gives
// for the tensor load_npy returns.
uint64_t hash_npy_sample(const std::string& path);

// Checks that every rank holds the same hash for each named item ("--input 'x.npy'", "the model",
// "the options"); throws one line naming the first item that differs and the ranks' hashes. One rank:
// nothing to check.
void agree_on(const std::vector<std::pair<std::string, uint64_t>>& items);

// [begin, end) of `rank`'s contiguous share of n items, cut at multiples of `align` (>= 1) so that
// each rank computes whole chunks of the one-process run: the first ranks get ceil(chunks / size)
// chunks each, a rank past the end gets an empty range.
std::pair<int64_t, int64_t> share(int64_t n, int64_t align, int rank, int size);

}  // namespace xdnn::cli::cluster
