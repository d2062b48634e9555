// Running one command as several processes under `mpirun -np N` (Open MPI): the ranks split the
// outputs (explain: its input rows; influence: its training examples, i.e. score columns), never a sum,
// so the file rank 0 writes is bit-identical to a one-process run. Everything MPI is behind this small
// interface (explain/cli/cluster.cpp), compiled with MPI when the build found it (-Dmpi=auto|enabled|
// disabled) and as a one-rank stand-in otherwise.
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

// "MPI: Open MPI v4.1.4 ..." or "MPI: not built (-Dmpi=disabled or no MPI found)".
std::string version_line();

// The command-line error path of a rank (main.cpp): prints "xdnn: error: MSG" (rank k > 0: "xdnn: error:
// rank k: MSG") and the hint, then, with several ranks, ends them all (MPI_Abort). A rank other than 0
// waits two seconds before printing: when every rank meets the same error (a missing file), rank 0's
// abort ends the others first and the user reads the message once.
[[noreturn]] void report_error_and_end(const std::string& message, const std::string& hint);

// Rank 0: the concatenation of every rank's `mine`, in rank order; other ranks: empty (MPI_Gatherv of
// bytes; each rank's part may be of any size, including zero).
std::string gather(std::string_view mine);

// Rank 0's value of `v` on every rank.
int64_t broadcast(int64_t v);

// 64-bit hash of bytes (a fixed multiply-xorshift over 8-byte words; the same value on every machine of
// one byte order). Not cryptographic: it detects ranks (or a resumed run) given different inputs.
uint64_t hash_bytes(std::string_view bytes, uint64_t seed = 0);
uint64_t hash_tensor(const Tensor& t);        // dtype, shape and data
uint64_t hash_model(Model& m);                // every parameter's name, dtype, shape and data
uint64_t hash_file(const std::string& path);  // the file's bytes, read 1 MiB at a time

// Checks that every rank holds the same hash for each named item ("--input 'x.npy'", "the model",
// "the options"); throws one line naming the first item that differs and the ranks' hashes. One rank:
// nothing to check.
void agree_on(const std::vector<std::pair<std::string, uint64_t>>& items);

// [begin, end) of `rank`'s contiguous share of n items, cut at multiples of `align` (>= 1) so that
// each rank computes whole chunks of the one-process run: the first ranks get ceil(chunks / size)
// chunks each, a rank past the end gets an empty range.
std::pair<int64_t, int64_t> share(int64_t n, int64_t align, int rank, int size);

}  // namespace xdnn::cli::cluster
