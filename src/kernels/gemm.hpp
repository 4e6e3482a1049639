#pragma once
// The GEMM micro-kernel family: an MR x NR register tile of fused multiply-adds over packed
// panels, and the packing routines that fill those panels. Nothing here knows about
// convolution; src/gemm/gemm.hpp runs the cache-blocking loops around it.
//
// Packed layouts (all for one micro-panel, `k` <= kGemmPanelDepth steps deep):
//   A panel, interleaved: k groups of mr floats, panel[p*mr + i] = A(i, p)
//   A panel, by rows:     mr rows `row_distance` floats apart (an argument of the tile, so a
//                         caller's matrix stored by rows is a panel as it lies), panel[i*row_distance + p] = A(i, p)
//   B panel:              k groups of nr floats, panel[p*nr + j] = B(p, j)  (columns past the tile zero)
// The tile reads only the rows it is asked for, so A needs no padding rows. Either A layout runs
// at the same speed; each source packs the one that is a straight copy for it rather than a
// transpose.
#include <cstdint>

#include "convkit/conv2d.hpp"

namespace convkit::detail {

inline constexpr int64_t kGemmPanelDepth = 256;  // the deepest panel (KC); the row distance of packed A by rows

enum class APanelLayout { interleaved, rows };

// What the tile does when it writes C, applied in this order on the final write.
struct GemmTileEpilogue {
  bool accumulate = false;      // C += A*B (C is read); otherwise C = A*B and C is never read
  const float* bias = nullptr;  // per-column bias for the tile's first column, or null
  Activation activation = Activation::none;  // after the bias (kernels/epilogue.hpp)
};

struct GemmKernels {
  int64_t mr = 0, nr = 0;  // register tile: rows of A, columns of B per micro-kernel call

  // C[0:m, 0:n] (row stride ldc) = (accumulate ? C : 0) + A_panel * B_panel, then bias, activation.
  // 1 <= m <= mr and 1 <= n <= nr: only those elements of C are read or written. k may be 0.
  using Tile = void (*)(int64_t k, const float* a_panel, const float* b_panel, float* c, int64_t ldc, int64_t m,
                        int64_t n, const GemmTileEpilogue& epilogue);
  Tile tile;  // A panel interleaved
  // The same with A by rows, `a_row_distance` floats apart.
  using TileOnRows = void (*)(int64_t k, const float* a_rows, int64_t a_row_distance, const float* b_panel, float* c,
                              int64_t ldc, int64_t m, int64_t n, const GemmTileEpilogue& epilogue);
  TileOnRows tile_on_rows;
  // The same product with nothing packed: A(i, p) = a[p*lda + i] and B(p, j) = b[p*ldb + j],
  // all nr columns (B's rows are read whole, so the caller's columns must exist). For a
  // product of two matrices both stored depth-major, such as x^T * dy of a 1x1 convolution.
  using TileInPlace = void (*)(int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                               int64_t ldc, int64_t m, const GemmTileEpilogue& epilogue);
  TileInPlace tile_in_place;

  // Interleave `count` (<= width) source rows, each k contiguous floats: panel[p*width + i] =
  // rows[i][p], or 0 where rows[i] is null. Lanes [count, width) of each group are left as they are.
  void (*pack_rows)(const float* const* rows, int64_t count, int64_t k, int64_t width, float* panel);
  // Copy k source vectors of `count` (<= width) contiguous floats: panel[p*width + i] =
  // vectors[p][i], or 0 where vectors[p] is null. Lanes [count, width) are left as they are.
  void (*pack_vectors)(const float* const* vectors, int64_t count, int64_t k, int64_t width, float* panel);
};

}  // namespace convkit::detail
