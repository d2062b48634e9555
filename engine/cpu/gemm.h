// CPU GEMM: C = alpha * op(A) * op(B) + beta * C, row-major, op = identity or transpose.
//
// Why our own instead of Eigen's: every output element is accumulated by the same micro-kernel, in the
// same k order, wherever it lies in C (edge tiles are zero-padded, not handled by a separate tail path).
// Two identical receptive fields of a convolution therefore give bit-identical outputs, which max-pool
// tie-breaking depends on (see ../shared/golden/README.md, "Gradients through MaxPool: ties"), and the
// result does not depend on the thread count (threads split C into tiles, never the k sum), nor on
// which of the two micro-kernels below runs (gemm_driver.h says why).
#pragma once
#include <cstdint>

namespace xdnn::cpu {

// The k-block of every product: an element of C is the sum, one fused multiply-add per k from zero, over
// each block of kGemmBlockK consecutive k, the blocks' sums added to C in order (gemm_driver.h).
inline constexpr int64_t kGemmBlockK = 256;

// op(A): M x K, op(B): K x N, C: M x N. lda/ldb/ldc are row strides of the stored matrices.
// beta == 0 never reads C. Runs on the thread pool when the product is large enough.
template <class T>
void gemm(bool transpose_a, bool transpose_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// Same, always on the calling thread (for callers that already parallelise over a batch).
template <class T>
void gemm_serial(bool transpose_a, bool transpose_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                 const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// B supplied by a packer instead of a stored matrix: a convolution's im2col columns built straight into
// the GEMM's column panels, so no K x N column buffer is written and read back. fn(ctx, k0, kc, j0, ncols,
// nr, dst) fills dst[k * nr + c] = B[k0 + k][j0 + c] for k < kc, c < ncols, and 0 for ncols <= c < nr.
//
// Optionally, panels read where they lie: in_place(ctx, j0, nr, vl, bases) returns true when, for every k,
// each run of vl columns [j0 + h·vl, j0 + (h + 1)·vl) of the full panel [j0, j0 + nr) is vl consecutive values
// in memory, B[k][j0 + h·vl + c] = bases[h][offsets[k] + c] (offsets: K values); the micro-kernel then loads
// them there instead of packing (a stride-1 convolution's columns are runs of its padded input).
//
// Optionally, k_block_ends: where the product's k-blocks end (increasing, the last = K, none longer than
// kGemmBlockK), instead of every kGemmBlockK. A product over a subset of another's k (a convolution without
// its padding taps, conv_border.h) ends its blocks where the other's would, so each element gets the same
// partial sums in the same order, and the same bits when the skipped terms are zeros.
template <class T>
struct BPacker {
  void (*fn)(const void* ctx, int64_t k0, int64_t kc, int64_t j0, int64_t ncols, int64_t nr, T* dst);
  const void* ctx;
  bool (*in_place)(const void* ctx, int64_t j0, int64_t nr, int64_t vl, const T** bases) = nullptr;
  const int64_t* offsets = nullptr;
  const int64_t* k_block_ends = nullptr;
};

// C (M x N, row stride ldc) = A (M x K, row-major, row stride lda) · B with B from `packer`; beta = 0.
// Runs the wide micro-kernel on C (never the transposed product), so it pads N up to a multiple of
// gemm_panel_width<T>(): callers use it where N is a multiple of that or large. Same bits as gemm() on the
// stored B. On the thread pool when `parallel`, else on the calling thread.
// With a_offsets (K values), A's element (m, k) is A[m·lda + a_offsets[k]] instead of A[m·lda + k]: a
// matrix read in place through an offset table (a convolution's flipped, transposed weights, conv_flipped.h),
// with the same bits as gemm_packed_b on that matrix stored row-major.
template <class T>
void gemm_packed_b(bool parallel, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const BPacker<T>& packer,
                   T* C, int64_t ldc, const int64_t* a_offsets = nullptr);
// Columns per panel (NR) of the wide micro-kernel in use for T.
template <class T>
int64_t gemm_panel_width();

// The micro-kernel gemm uses: 256-bit vectors (the build's target ISA, AVX2 + FMA by default) or
// 512-bit vectors (AVX-512F, compiled separately and chosen at run time when the CPU has it). The
// environment variable XDNN_GEMM (auto | vec256 | vec512) picks one; vec256 keeps the 256-bit kernel on
// an AVX-512 machine.
enum class GemmKernel { Vec256, Vec512 };
const char* gemm_kernel_name(GemmKernel kernel);  // "vec256 (AVX2)" / "vec512 (AVX-512)"
bool gemm_kernel_available(GemmKernel kernel);    // built in, and this CPU runs it
GemmKernel gemm_kernel();                         // the one in use
// Selects the kernel for all later calls (tests and benchmarks compare the two); throws xdnn::Error if
// it is not available. Not thread-safe against concurrent gemm calls.
void set_gemm_kernel(GemmKernel kernel);

}  // namespace xdnn::cpu
