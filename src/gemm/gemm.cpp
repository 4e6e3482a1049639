#include "gemm/gemm.hpp"

#include "threading.hpp"

namespace convkit::detail {

namespace {
int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
int64_t round_up(int64_t v, int64_t multiple) { return (v + multiple - 1) / multiple * multiple; }

// Floats of workspace kept for the A panel, rounded to whole cache lines so the B block after
// it stays 64-byte aligned.
int64_t a_panel_floats() { return round_up(kGemmMaxMR * kGemmMaxKC, 16); }

// Where gemm_block finds the B panel of columns [jc + j, ...) in the block at depth k0.
class BlockOfPackedB {
 public:
  explicit BlockOfPackedB(const PackedB& b) : b_(b) {}
  const float* prepare(const GemmKernels& kern, int64_t k0, int64_t kc, int64_t jc, int64_t) const {
    return b_.panel(kern, k0, kc, jc);
  }

 private:
  PackedB b_;
};

class BlockPackedFromSource {
 public:
  BlockPackedFromSource(const GemmSourceB& b, float* block) : b_(b), block_(block) {}
  const float* prepare(const GemmKernels& kern, int64_t k0, int64_t kc, int64_t jc, int64_t nc) {
    for (int64_t j = 0; j < nc; j += kern.nr) b_.pack(kern, k0, kc, jc + j, min64(kern.nr, nc - j), block_ + j * kc);
    return block_;
  }

 private:
  const GemmSourceB& b_;
  float* block_;
};

template <class BlockOfB>
void blocked_loops(const GemmKernels& kern, int64_t k, const GemmSourceA& a, BlockOfB&& b, GemmRange rows,
                   GemmRange cols, float* c, int64_t ldc, const GemmEpilogue& epilogue, float* a_panel) {
  const int64_t depth = gemm_block_depth(k);
  const bool by_rows = a.layout() == APanelLayout::rows;
  for (int64_t jc = cols.begin; jc < cols.end; jc += kGemmNC) {
    const int64_t nc = min64(kGemmNC, cols.end - jc);
    int64_t k0 = 0;
    do {  // at least once: with k == 0 the tile still writes C = 0 (+ bias)
      const int64_t kc = min64(depth, k - k0);
      const bool last = k0 + kc >= k;
      const float* block = b.prepare(kern, k0, kc, jc, nc);
      GemmTileEpilogue tile_epilogue;
      tile_epilogue.accumulate = epilogue.accumulate || k0 > 0;
      tile_epilogue.activation = last ? epilogue.activation : Activation::none;
      for (int64_t ir = rows.begin; ir < rows.end; ir += kern.mr) {
        const int64_t mr = min64(kern.mr, rows.end - ir);
        a.pack(kern, ir, mr, k0, kc, a_panel);
        for (int64_t j = 0; j < nc; j += kern.nr) {
          tile_epilogue.bias = last && epilogue.bias != nullptr ? epilogue.bias + jc + j : nullptr;
          float* c_tile = c + ir * ldc + jc + j;
          const int64_t nr = min64(kern.nr, nc - j);
          if (by_rows) {
            kern.tile_on_rows(kc, a_panel, kGemmPanelDepth, block + j * kc, c_tile, ldc, mr, nr, tile_epilogue);
          } else {
            kern.tile(kc, a_panel, block + j * kc, c_tile, ldc, mr, nr, tile_epilogue);
          }
        }
      }
      k0 += kc;
    } while (k0 < k);
  }
}
}  // namespace

int64_t gemm_block_depth(int64_t k) {
  if (k <= kGemmMaxKC) return k;
  const int64_t blocks = (k + kGemmMaxKC - 1) / kGemmMaxKC;
  return (k + blocks - 1) / blocks;
}

void zero_panel_lanes(float* panel, int64_t k, int64_t width, int64_t from) {
  if (from >= width) return;
  for (int64_t p = 0; p < k; ++p) {
    for (int64_t i = from; i < width; ++i) panel[p * width + i] = 0.0f;
  }
}

void MatrixSourceA::pack(const GemmKernels& kern, int64_t row, int64_t rows, int64_t k0, int64_t kc,
                         float* panel) const {
  if (a_.transposed) {  // A(i, p) = data[p*ld + i]: each depth step is a contiguous run of rows
    const float* vectors[kGemmMaxKC];
    for (int64_t p = 0; p < kc; ++p) vectors[p] = a_.data + (k0 + p) * a_.ld + row;
    kern.pack_vectors(vectors, rows, kc, kern.mr, panel);
  } else {  // each row is a contiguous run of depth
    const float* row_starts[kGemmMaxMR];
    for (int64_t i = 0; i < rows; ++i) row_starts[i] = a_.data + (row + i) * a_.ld + k0;
    kern.pack_vectors(row_starts, kc, rows, kGemmPanelDepth, panel);
  }
}

void MatrixSourceB::pack(const GemmKernels& kern, int64_t k0, int64_t kc, int64_t col, int64_t cols,
                         float* panel) const {
  if (b_.transposed) {  // B(p, j) = data[j*ld + p]: each column is a contiguous run of depth
    const float* col_starts[kGemmMaxNR];
    for (int64_t j = 0; j < cols; ++j) col_starts[j] = b_.data + (col + j) * b_.ld + k0;
    kern.pack_rows(col_starts, cols, kc, kern.nr, panel);
  } else {
    const float* vectors[kGemmMaxKC];
    for (int64_t p = 0; p < kc; ++p) vectors[p] = b_.data + (k0 + p) * b_.ld + col;
    kern.pack_vectors(vectors, cols, kc, kern.nr, panel);
  }
  zero_panel_lanes(panel, kc, kern.nr, cols);
}

int64_t packed_b_floats(const GemmKernels& kern, int64_t k, int64_t n) { return k * round_up(n, kern.nr); }

int64_t packed_b_panels(const GemmKernels& kern, int64_t k, int64_t n) {
  const int64_t depth = gemm_block_depth(k);
  const int64_t blocks = depth == 0 ? 0 : (k + depth - 1) / depth;
  return blocks * (round_up(n, kern.nr) / kern.nr);
}

void pack_b(const GemmKernels& kern, const GemmSourceB& b, int64_t k, int64_t n, float* packed, int64_t first_panel,
            int64_t end_panel) {
  const int64_t depth = gemm_block_depth(k), panels_per_block = round_up(n, kern.nr) / kern.nr;
  for (int64_t index = first_panel; index < end_panel; ++index) {
    const int64_t k0 = index / panels_per_block * depth, j = index % panels_per_block * kern.nr;
    const int64_t kc = min64(depth, k - k0);
    b.pack(kern, k0, kc, j, min64(kern.nr, n - j), packed + k0 * panels_per_block * kern.nr + j * kc);
  }
}

size_t gemm_workspace_floats(const GemmKernels& kern, bool packed_b) {
  return static_cast<size_t>(a_panel_floats() + (packed_b ? 0 : kGemmMaxKC * round_up(kGemmNC, kern.nr)));
}

void gemm_block(const GemmKernels& kern, int64_t k, const GemmSourceA& a, const PackedB& b, GemmRange rows,
                GemmRange cols, float* c, int64_t ldc, const GemmEpilogue& epilogue, float* workspace) {
  blocked_loops(kern, k, a, BlockOfPackedB(b), rows, cols, c, ldc, epilogue, workspace);
}

void gemm_block(const GemmKernels& kern, int64_t k, const GemmSourceA& a, const GemmSourceB& b, GemmRange rows,
                GemmRange cols, float* c, int64_t ldc, const GemmEpilogue& epilogue, float* workspace) {
  blocked_loops(kern, k, a, BlockPackedFromSource(b, workspace + a_panel_floats()), rows, cols, c, ldc, epilogue,
                workspace);
}

const float* PackedB::panel(const GemmKernels& kern, int64_t k0, int64_t kc, int64_t col) const {
  return data + k0 * round_up(n, kern.nr) + col * kc;
}

void gemm_batch_block(const GemmKernels& kern, const GemmBatch& batch, int64_t k0, int64_t kc, GemmRange rows,
                      GemmRange cols, const GemmEpilogue& epilogue) {
  // Balanced row blocks (16 rows as 8 + 8, not 14 + 2): a tile of few rows loads B once per
  // few FMAs, and a row's result does not depend on the block it falls in.
  const int64_t row_count = rows.end - rows.begin;
  const int64_t row_blocks = (row_count + kern.mr - 1) / kern.mr;
  const bool last = k0 + kc >= batch.k;
  GemmTileEpilogue tile_epilogue;
  tile_epilogue.accumulate = epilogue.accumulate || k0 > 0;
  tile_epilogue.activation = last ? epilogue.activation : Activation::none;
  for (int64_t product = 0; product < batch.count; ++product) {
    const float* a = batch.a + product * batch.a_stride;
    const PackedB b{batch.b + product * batch.b_stride, batch.k, batch.n};
    float* c = batch.c + product * batch.c_stride;
    for (int64_t j = cols.begin; j < cols.end; j += kern.nr) {
      const float* b_panel = b.panel(kern, k0, kc, j);
      const int64_t nr = min64(kern.nr, cols.end - j);
      tile_epilogue.bias = last && epilogue.bias != nullptr ? epilogue.bias + j : nullptr;
      for (int64_t block = 0; block < row_blocks; ++block) {
        const int64_t r0 = rows.begin + row_count * block / row_blocks;
        const int64_t r1 = rows.begin + row_count * (block + 1) / row_blocks;
        kern.tile_on_rows(kc, a + r0 * batch.a_row_distance, batch.a_row_distance, b_panel, c + r0 * batch.ldc + (j - batch.c_first_column),
                          batch.ldc, r1 - r0, nr, tile_epilogue);
      }
    }
  }
}

void gemm(const GemmKernels& kern, int64_t m, int64_t n, int64_t k, MatrixView a, MatrixView b, float* c,
          int64_t ldc, const GemmEpilogue& epilogue, int threads, WorkspacePool& pool) {
  const size_t per_thread = gemm_workspace_floats(kern, false);
  auto workspace = pool.acquire(per_thread * static_cast<size_t>(threads));
  const MatrixSourceA source_a(a);
  const MatrixSourceB source_b(b);
  run_team(threads, [&](int thread, int team) {
    float* mine = workspace.data() + per_thread * static_cast<size_t>(thread);
    gemm_share(kern, 1, m, n, team, thread, [&](int64_t, GemmRange rows, GemmRange cols) {
      gemm_block(kern, k, source_a, source_b, rows, cols, c, ldc, epilogue, mine);
    });
  });
}

}  // namespace convkit::detail
