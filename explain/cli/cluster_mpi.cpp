// libxdnn_mpi.so: the MPI calls of explain/cli/cluster.h (interface in cluster_mpi.h). Only this file
// includes <mpi.h>; it uses nothing of xdnn, so the module links MPI and the C++ runtime alone.
#include "explain/cli/cluster_mpi.h"

#include <unistd.h>

#include <climits>
#include <vector>

// The C API only: Open MPI's deprecated C++ bindings (mpicxx.h) do not compile warning-free.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

namespace {

using xdnn::cli::cluster::MpiCalls;

int g_rank = 0, g_size = 1;

// A failed MPI call inside the module; each entry point turns it into its returned reason.
struct Failure {
  std::string what;
};

void mpi_check(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, text, &len);
  throw Failure{std::string("MPI: ") + what + " failed: " + std::string(text, static_cast<size_t>(len))};
}

template <class Body>
std::string guarded(Body body) {
  try {
    body();
    return "";
  } catch (const Failure& f) {
    return f.what;
  } catch (const std::exception& e) {  // std::bad_alloc of a receive buffer
    return std::string("MPI: ") + e.what();
  }
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

// counts[r] (bytes of rank r) -> offsets[r], or a Failure when an offset passes MPI's int counts.
std::vector<int> offsets_of(const std::vector<int>& counts, const char* call, int64_t* total) {
  std::vector<int> offsets(counts.size());
  *total = 0;
  for (size_t r = 0; r < counts.size(); ++r) {
    if (*total > INT_MAX) throw Failure{std::string("MPI: the gathered parts pass ") + call + "'s 2^31 - 1 bytes"};
    offsets[r] = static_cast<int>(*total);
    *total += counts[r];
  }
  return offsets;
}

std::string init(int* argc, char*** argv, int* rank, int* size) {
  return guarded([&] {
    mpi_check(MPI_Init(argc, argv), "MPI_Init");
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    // MPI errors come back as codes (mpi_check turns them into a reason), not as an abort inside MPI.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    *rank = g_rank;
    *size = g_size;
  });
}

void finalize() { MPI_Finalize(); }

void abort_all() { MPI_Abort(MPI_COMM_WORLD, 1); }

std::string library_version() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(text, &len);
  std::string v(text, static_cast<size_t>(len));
  if (v.find('\n') != std::string::npos) v.resize(v.find('\n'));
  while (!v.empty() && (v.back() == ',' || v.back() == ' ' || v.back() == '\0')) v.pop_back();
  return v;
}

std::string gather_bytes(std::string_view mine, std::string* all) {
  return guarded([&] {
    if (mine.size() > static_cast<size_t>(INT_MAX))
      throw Failure{"MPI: a rank's part of the output is " + std::to_string(mine.size()) +
                    " bytes, over MPI_Gatherv's 2^31 - 1 limit; use more ranks"};
    wait_for_all_ranks();
    const int n = static_cast<int>(mine.size());
    std::vector<int> counts(static_cast<size_t>(g_size));
    mpi_check(MPI_Gather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Gather");
    std::vector<int> offsets(counts.size());
    std::string gathered;
    if (g_rank == 0) {
      int64_t total = 0;
      offsets = offsets_of(counts, "MPI_Gatherv", &total);
      gathered.resize(static_cast<size_t>(total));
    }
    mpi_check(MPI_Gatherv(mine.data(), n, MPI_BYTE, gathered.data(), counts.data(), offsets.data(), MPI_BYTE, 0,
                          MPI_COMM_WORLD),
              "MPI_Gatherv");
    if (g_rank == 0) *all = std::move(gathered);
  });
}

std::string all_gather_bytes(std::string_view mine, std::string* all) {
  return guarded([&] {
    if (mine.size() > static_cast<size_t>(INT_MAX))
      throw Failure{"MPI: a rank's part is " + std::to_string(mine.size()) + " bytes, over MPI_Allgatherv's 2^31 - 1"};
    wait_for_all_ranks();
    const int n = static_cast<int>(mine.size());
    std::vector<int> counts(static_cast<size_t>(g_size));
    mpi_check(MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD), "MPI_Allgather");
    int64_t total = 0;
    const std::vector<int> offsets = offsets_of(counts, "MPI_Allgatherv", &total);
    std::string gathered(static_cast<size_t>(total), '\0');
    mpi_check(MPI_Allgatherv(mine.data(), n, MPI_BYTE, gathered.data(), counts.data(), offsets.data(), MPI_BYTE,
                             MPI_COMM_WORLD),
              "MPI_Allgatherv");
    *all = std::move(gathered);
  });
}

std::string gather_columns(const float* mine, int64_t rows, const std::pair<int64_t, int64_t>* ranges, float* out,
                           int64_t cols) {
  std::vector<MPI_Datatype> types;
  const std::string reason = guarded([&] {
    for (int r = 0; r < g_size; ++r) {
      const auto [b, e] = ranges[r];
      if (rows > INT_MAX || e - b > INT_MAX || cols > INT_MAX || rows * (e - b) > INT_MAX)
        throw Failure{"MPI: a rank's block of " + std::to_string(rows) + " x " + std::to_string(e - b) +
                      " scores passes MPI's 2^31 - 1 element count; use more ranks"};
    }
    wait_for_all_ranks();  // then the transfers below find their peers posted
    std::vector<MPI_Request> requests;
    if (g_rank == 0) {
      for (int r = 1; r < g_size; ++r) {
        const auto [b, e] = ranges[r];
        if (e == b || rows == 0) continue;
        // `rows` runs of (e − b) floats, one every `cols`: rank r's block in place in the matrix.
        MPI_Datatype block;
        mpi_check(
            MPI_Type_vector(static_cast<int>(rows), static_cast<int>(e - b), static_cast<int>(cols), MPI_FLOAT, &block),
            "MPI_Type_vector");
        types.push_back(block);
        mpi_check(MPI_Type_commit(&block), "MPI_Type_commit");
        requests.emplace_back();
        mpi_check(MPI_Irecv(out + b, 1, block, r, 0, MPI_COMM_WORLD, &requests.back()), "MPI_Irecv");
      }
    } else if (const auto [b0, e0] = ranges[g_rank]; e0 > b0 && rows > 0) {
      requests.emplace_back();
      mpi_check(MPI_Isend(mine, static_cast<int>(rows * (e0 - b0)), MPI_FLOAT, 0, 0, MPI_COMM_WORLD, &requests.back()),
                "MPI_Isend");
    }
    // A blocking wait: Open MPI moves a large message's fragments only inside MPI calls, so polling with
    // sleeps in between would stretch the transfer (measured: 1.6 s instead of ~0.1 s for 120 MB); the
    // sleeping barrier above already let every rank arrive, so this spins only while the data move.
    mpi_check(MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
  });
  for (MPI_Datatype& t : types) MPI_Type_free(&t);
  return reason;
}

std::string broadcast(int64_t* v) {
  return guarded([&] {
    long long x = *v;
    wait_for_all_ranks();
    mpi_check(MPI_Bcast(&x, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD), "MPI_Bcast");
    *v = x;
  });
}

const MpiCalls kCalls{xdnn::cli::cluster::kMpiCallsAbi,
                      init,
                      finalize,
                      abort_all,
                      library_version,
                      gather_bytes,
                      all_gather_bytes,
                      gather_columns,
                      broadcast};

}  // namespace

// The module's one exported symbol (cluster_mpi.h kMpiModuleEntry).
extern "C" __attribute__((visibility("default"))) const MpiCalls* xdnn_mpi_calls() { return &kCalls; }
