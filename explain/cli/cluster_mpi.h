// The MPI side of explain/cli/cluster.h, built as its own shared module (libxdnn_mpi.so, linked against
// Open MPI) that cluster.cpp opens with dlopen only when the process was launched by mpirun. Linking MPI
// into the xdnn binary made every command load six libraries (libmpi, libopen-rte, libopen-pal, hwloc,
// libevent, libudev) and pay ~2.8 ms of its start for them (issue 15: `xdnn --help` under 10 ms).
//
// The module and the binary come from one build (same compiler and libstdc++), so the table passes
// std::string; each call returns "" on success or the one-line reason ("MPI: MPI_Gatherv failed: ...").
// Collective calls are made by every rank with the same arguments, as in cluster.h.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace xdnn::cli::cluster {

struct MpiCalls {
  int abi;  // kMpiCallsAbi of the build that made the module; cluster.cpp refuses another
  std::string (*init)(int* argc, char*** argv, int* rank, int* size);  // MPI_Init; errors return codes
  void (*finalize)();                                                  // MPI_Finalize
  void (*abort_all)();                                                 // MPI_Abort(MPI_COMM_WORLD, 1)
  std::string (*library_version)();  // first line of MPI_Get_library_version (callable before init)
  // Rank 0: *all = every rank's `mine` concatenated in rank order; other ranks: *all untouched.
  std::string (*gather_bytes)(std::string_view mine, std::string* all);
  // Every rank: *all = every rank's `mine` concatenated in rank order.
  std::string (*all_gather_bytes)(std::string_view mine, std::string* all);
  // cluster::gather_columns without rank 0's own block (the caller copies it): ranges[r] for r < size.
  std::string (*gather_columns)(const float* mine, int64_t rows, const std::pair<int64_t, int64_t>* ranges, float* out,
                                int64_t cols);
  std::string (*broadcast)(int64_t* v);  // rank 0's *v on every rank
};

inline constexpr int kMpiCallsAbi = 1;
inline constexpr const char* kMpiModuleName = "libxdnn_mpi.so";
inline constexpr const char* kMpiModuleEntry = "xdnn_mpi_calls";  // extern "C" const MpiCalls* (void)

}  // namespace xdnn::cli::cluster
