#pragma once
// convkit's packed GEMM, C = A*B (+C) with an optional per-column bias and ReLU fused into the
// last write, in the BLIS manner: portable cache-blocking loops around the per-instruction-set
// micro-kernels of kernels/gemm.hpp.
//
// Blocking, sized for a core with a 32 KB L1d and a 1 MB L2:
//   KC (depth of one block)  <= 256: one packed A micro-panel (mr x KC, 14 KB with avx512's
//                               14 rows) stays in L1 while the kernel sweeps the B block;
//   NC (width of one block)  =  512: the packed B block (KC x NC, 512 KB) stays in L2;
//   MC = mr: A is packed one micro-panel at a time, right before the NC/nr kernel calls that
//            use it, so it is hot in L1 and needs only mr x KC floats of workspace.
// Loop order: columns by NC, depth by KC (pack or look up the B block), rows by mr (pack the A
// panel), columns by nr (micro-kernel). Depth blocks are balanced (576 = 3 x 192, not
// 256+256+64) so no block is a short, overhead-heavy one.
//
// Threading: one GEMM is split into disjoint pieces of C (gemm_share), so a caller already
// inside an OpenMP parallel region runs its thread's piece with no barrier and no nested region;
// every element of C is computed by one thread in a fixed order, so results do not depend on
// the thread count.
#include <cstddef>
#include <cstdint>

#include "aligned_buffer.hpp"
#include "kernels/gemm.hpp"
#include "threading.hpp"

namespace convkit::detail {

inline constexpr int64_t kGemmMaxKC = kGemmPanelDepth;
inline constexpr int64_t kGemmNC = 512;
inline constexpr int64_t kGemmMaxMR = 16;  // the largest mr and nr of any instruction set
inline constexpr int64_t kGemmMaxNR = 32;

// The depth of each block for a reduction of length k: at most kGemmMaxKC, all equal but the last.
int64_t gemm_block_depth(int64_t k);

// Supplies A to the blocked loops, one packed micro-panel at a time.
class GemmSourceA {
 public:
  virtual ~GemmSourceA() = default;
  // The panel layout pack() writes (kernels/gemm.hpp): whichever is a straight copy of the source.
  virtual APanelLayout layout() const = 0;
  // Rows [row, row + rows) (rows <= mr) and depth [k0, k0 + kc) (kc <= kGemmMaxKC) as a panel.
  virtual void pack(const GemmKernels&, int64_t row, int64_t rows, int64_t k0, int64_t kc, float* panel) const = 0;
};

// Supplies B to the blocked loops, one packed micro-panel at a time.
class GemmSourceB {
 public:
  virtual ~GemmSourceB() = default;
  // Depth [k0, k0 + kc) and columns [col, col + cols) (cols <= nr) as an nr-wide panel; lanes
  // for columns beyond `cols` must be zero.
  virtual void pack(const GemmKernels&, int64_t k0, int64_t kc, int64_t col, int64_t cols, float* panel) const = 0;
};

// A dense fp32 matrix in memory: element (i, j) at data[i*ld + j], or data[j*ld + i] when
// `transposed` (then the matrix is the transpose of the row-major array at data).
struct MatrixView {
  const float* data = nullptr;
  int64_t ld = 0;
  bool transposed = false;
};

class MatrixSourceA final : public GemmSourceA {
 public:
  explicit MatrixSourceA(MatrixView a) : a_(a) {}
  APanelLayout layout() const override { return a_.transposed ? APanelLayout::interleaved : APanelLayout::rows; }
  void pack(const GemmKernels&, int64_t row, int64_t rows, int64_t k0, int64_t kc, float* panel) const override;

 private:
  MatrixView a_;
};

class MatrixSourceB final : public GemmSourceB {
 public:
  explicit MatrixSourceB(MatrixView b) : b_(b) {}
  void pack(const GemmKernels&, int64_t k0, int64_t kc, int64_t col, int64_t cols, float* panel) const override;

 private:
  MatrixView b_;
};

// Zeroes lanes [from, width) of each of the k groups of a panel: the padding of a partial tile.
void zero_panel_lanes(float* panel, int64_t k, int64_t width, int64_t from);

// A whole k x n B packed once (say, convolution weights) and reused by many GEMMs.
// Layout: depth blocks of gemm_block_depth(k); in the block starting at k0, the nr-wide panel of
// columns [j, j + nr) starts at k0 * padded_n + j * kc.
struct PackedB {
  const float* data = nullptr;
  int64_t k = 0, n = 0;
  // The panel of columns [col, col + nr) in the depth block [k0, k0 + kc) (k0 a block's start).
  const float* panel(const GemmKernels&, int64_t k0, int64_t kc, int64_t col) const;
};
int64_t packed_b_floats(const GemmKernels&, int64_t k, int64_t n);
// Panels are numbered so threads can split the packing: [first, end) of packed_b_panels().
int64_t packed_b_panels(const GemmKernels&, int64_t k, int64_t n);
void pack_b(const GemmKernels&, const GemmSourceB&, int64_t k, int64_t n, float* packed, int64_t first_panel,
            int64_t end_panel);

struct GemmEpilogue {
  bool accumulate = false;      // C += A*B; otherwise C = A*B and C is never read
  const float* bias = nullptr;  // [n], added to every row, or null
  Activation activation = Activation::none;  // after the bias
};

// A half-open range of rows or columns.
struct GemmRange {
  int64_t begin = 0, end = 0;
};

// Per-thread workspace (floats, 64-byte aligned) of gemm_block with a packed or a source B.
size_t gemm_workspace_floats(const GemmKernels&, bool packed_b);

// Rows x cols of C (row stride ldc; c points at element (0, 0), bias at column 0) of a GEMM
// with reduction depth k, serially, on the calling thread. With a PackedB, cols.begin must be a
// multiple of nr.
void gemm_block(const GemmKernels&, int64_t k, const GemmSourceA& a, const PackedB& b, GemmRange rows,
                GemmRange cols, float* c, int64_t ldc, const GemmEpilogue&, float* workspace);
void gemm_block(const GemmKernels&, int64_t k, const GemmSourceA& a, const GemmSourceB& b, GemmRange rows,
                GemmRange cols, float* c, int64_t ldc, const GemmEpilogue&, float* workspace);

// The pieces of `groups` independent m x n GEMMs that thread `thread` of `threads` computes:
// calls piece(group, rows, cols) for each. Rows are split in mr blocks; when there are too few
// of those to keep every thread busy, columns are split too, in nr blocks (so a piece's first
// column suits a PackedB). Fixed for given arguments: the same thread count gives the same split.
template <class Piece>
void gemm_share(const GemmKernels& kern, int64_t groups, int64_t m, int64_t n, int threads, int thread,
                Piece&& piece) {
  const int64_t m_blocks = (m + kern.mr - 1) / kern.mr, n_blocks = (n + kern.nr - 1) / kern.nr;
  if (m_blocks == 0 || n_blocks == 0 || groups == 0) return;
  const int64_t n_parts = groups * m_blocks >= 4 * int64_t{threads} ? 1
                          : n_blocks < threads                     ? n_blocks
                                                                   : int64_t{threads};
  const int64_t per_group = n_parts * m_blocks, items = groups * per_group;
  int64_t item = items * thread / threads;
  const int64_t end = items * (thread + 1) / threads;
  while (item < end) {
    const int64_t group = item / per_group, part = item % per_group / m_blocks, block = item % m_blocks;
    const int64_t run = end - item < m_blocks - block ? end - item : m_blocks - block;
    const GemmRange rows{block * kern.mr, (block + run) * kern.mr < m ? (block + run) * kern.mr : m};
    const int64_t nb0 = n_blocks * part / n_parts, nb1 = n_blocks * (part + 1) / n_parts;
    const GemmRange cols{nb0 * kern.nr, nb1 * kern.nr < n ? nb1 * kern.nr : n};
    piece(group, rows, cols);
    item += run;
  }
}

// Many same-shaped products C_i = A_i * B_i, i in [0, count), each A_i already in memory by rows
// (a matrix the caller lays out for the tile, read as it lies: nothing is packed), each B_i
// packed once: A_i(r, p) = a[i*a_stride + r*a_row_distance + p], B_i = PackedB{b + i*b_stride,
// k, n}, C_i(r, j) = c[i*c_stride + r*ldc + j - c_first_column] (C may hold only the columns a
// caller computes, from c_first_column on). Winograd's 36 channel-wise products are one.
struct GemmBatch {
  int64_t count = 0, k = 0, n = 0;
  const float* a = nullptr;
  int64_t a_stride = 0, a_row_distance = 0;
  const float* b = nullptr;
  int64_t b_stride = 0;
  float* c = nullptr;
  int64_t c_stride = 0, ldc = 0, c_first_column = 0;
};

// Rows x cols of every product of the batch over one depth block [k0, k0 + kc) of the packed
// B's (k0 a block's start, see gemm_block_depth), serially on the calling thread; A holds only
// that block (its column 0 is depth k0). The epilogue accumulates into C from the second depth
// block on, and adds the bias and ReLU after the last. cols.begin must be a multiple of nr.
void gemm_batch_block(const GemmKernels&, const GemmBatch&, int64_t k0, int64_t kc, GemmRange rows, GemmRange cols,
                      const GemmEpilogue&);

// The whole batch (every depth block, in order) for m rows on a team of `threads` threads,
// each calling after_piece(rows, cols, thread) once every product of its piece of C is
// complete: the hook where a caller transforms the results (Winograd's output transform) while
// they are still in cache. Pieces are gemm_share's, so results do not depend on the thread count.
template <class AfterPiece>
void gemm_batch(const GemmKernels& kern, const GemmBatch& batch, int64_t m, const GemmEpilogue& epilogue, int threads,
                AfterPiece&& after_piece) {
  const int64_t depth = gemm_block_depth(batch.k);
  run_team(threads, [&](int thread, int team) {
    gemm_share(kern, 1, m, batch.n, team, thread, [&](int64_t, GemmRange rows, GemmRange cols) {
      int64_t k0 = 0;
      do {  // at least once: with k == 0 the tiles still write C = 0 (+ bias)
        const int64_t kc = batch.k - k0 < depth ? batch.k - k0 : depth;
        GemmBatch block = batch;
        block.a = batch.a + k0;
        gemm_batch_block(kern, block, k0, kc, rows, cols, epilogue);
        k0 += kc;
      } while (k0 < batch.k);
      after_piece(rows, cols, thread);
    });
  });
}

// A whole C = A*B (+ epilogue) with its own parallel region of `threads` threads: for tests,
// benchmarks and callers not already threading. Workspace comes from `pool`.
void gemm(const GemmKernels&, int64_t m, int64_t n, int64_t k, MatrixView a, MatrixView b, float* c, int64_t ldc,
          const GemmEpilogue&, int threads, WorkspacePool& pool);

}  // namespace convkit::detail
