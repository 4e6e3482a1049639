// The winograd backend: 3x3, stride-1 convolutions by Winograd's minimal filtering F(m x m, 3x3)
// (kernels/winograd_transform.hpp): per output tile of m x m and channel pair, (m+2)^2
// multiplications instead of 9 m^2 (36 instead of 144 for m = 4, 64 instead of 324 for m = 6;
// output_tile says which each layer gets).
//
// Both directions it implements are one engine, a stride-1 3x3 correlation of a source image
// with a kernel (`Correlation`): forward correlates x with w; backward data correlates dy with w
// flipped in space, input and output channels swapped, padding 2 - pad (negative padding crops).
// For a block of T output tiles (over the batch) and one group, P = (m+2)^2 positions:
//   1. input transform: V[xi][t][k], the P transformed positions of each tile's window,
//      vectorized over the source channels k (NHWC keeps them contiguous);
//   2. P GEMMs M[xi] [T x N] = V[xi] [T x K] * U[xi] [K x N], one gemm_batch_block call: V is
//      read by the GEMM tile as it lies (A by rows, row distance ldv), U is the transformed
//      weights, packed once per position as GEMM B panels;
//   3. output transform: each tile's outputs from M, plus bias and ReLU, into the result.
// K (source channels) is taken in the GEMM's depth blocks; when there are several, V holds
// one block and the GEMMs accumulate into M. N (result channels) is taken in blocks of
// `columns`; with one depth block V is transformed once per tile block and serves every column
// block. Outputs whose window lies wholly in padding stay out of the tiles (Reach). A tile's
// rounding follows all its inputs, so the fast bound's M is taken over the tile
// (docs/design.md, "Accuracy classes").
//
// Workspace per thread: V and M of one block, bounded whatever the layer (choose_blocking), and
// with HWIO weights on few tiles one streamed panel per position (streamed_panel_floats: at most
// 36 x 256 x nr floats for F(4x4), 1.2 MB with AVX-512's nr of 32).
// Packed weights: P * groups * K x N floats (N rounded up to the GEMM tile's nr), 4x the HWIO
// weights for F(4x4), 7.1x for F(6x6).
//
// Threads: tiles are split in contiguous shares; when there are too few tiles for that to keep
// every thread busy (a small image at batch 1), threads split the result channels too, each
// transforming the same input tiles. Every output is computed by one thread, its sums in an
// order fixed by the shape (the GEMM's depth blocks), so results are bitwise the same run to run
// and for any thread count.
#include "backends/winograd/winograd.hpp"

#include <memory>
#include <string>

#include "conv/activation.hpp"
#include "conv/cache_sizes.hpp"
#include "conv/integer.hpp"
#include "gemm/gemm.hpp"
#include "kernels/direct_conv.hpp"
#include "kernels/gemm.hpp"
#include "kernels/winograd_transform.hpp"
#include "threading.hpp"

namespace convkit::detail {
namespace {

int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

// The transformed tiles and products of one thread's block, V and M together: half the L2, the
// other half streaming the weight panels past them.
int64_t block_bytes() { return l2_bytes() / 2; }
// Tiles per block at most: beyond this the GEMM gains nothing and the workspace only grows.
constexpr int64_t kMaxTiles = 64;
// Fewer channels per group than an AVX-512 vector leave the transforms on partial vectors and
// the channel-wise GEMMs too shallow to pay for them (measured slower than direct:
// docs/auto_table.md).
constexpr int64_t kWinogradMinGroupChannels = 16;

// The outputs [begin, end) along one axis whose window reaches the source: the others are the
// bias alone, and stay out of the tiles, where the rounding of their neighbours' transforms
// would leave them not quite that.
struct Reach {
  int64_t begin, end;
};
Reach reach(int64_t pad, int64_t source, int64_t result) { return {max64(0, pad - 2), min64(result, pad + source)}; }

// result(n, r, c, g*N + o) = sum over i, j < 3 and k < K of
//   source(n, r - pad_top + i, c - pad_left + j, g*K + k) * kernel_g(i, j, k, o),
// source pixels outside the image being zero, computed in tiles of m x m results by F(m x m, 3x3).
struct Correlation {
  int64_t batch, src_h, src_w, src_c, res_h, res_w, res_c, groups, pad_top, pad_left;
  int64_t m;
  int64_t positions() const { return (m + 2) * (m + 2); }
  int64_t k() const { return src_c / groups; }
  int64_t n() const { return res_c / groups; }
  Reach rows() const { return reach(pad_top, src_h, res_h); }
  Reach cols() const { return reach(pad_left, src_w, res_w); }
  int64_t tiles_h() const { return ceil_div(rows().end - rows().begin, m); }
  int64_t tiles_w() const { return ceil_div(cols().end - cols().begin, m); }
  int64_t tiles() const { return batch * tiles_h() * tiles_w(); }
};

// F(6x6, 3x3) multiplies 64 times per 36 outputs where F(4x4, 3x3) does 36 per 16 (1.78 against
// 2.25 per output) for about the same transform work per output, but rounds worse (its
// coefficients reach 32 and 21/4; both within the fast bound: README). It is taken where it
// measured faster (docs/auto_table.md): tiles of 6 waste at most 5% more of the image than
// tiles of 4 (the image rounded up to whole tiles), and one GEMM row block of its transformed
// tiles (64 positions x mr tiles x a depth block) fits the block budget, so the batched GEMM
// streams its weights past an L2-resident V. Large images with up to 128 channels qualify
// (VGG's first layers); ResNet's 56x56 and smaller do not.
int64_t output_tile(const Correlation& c, const GemmKernels& kern) {
  const auto area = [&](int64_t m) { return round_up(c.res_h, m) * round_up(c.res_w, m); };
  const bool little_waste = area(6) * 100 <= area(4) * 105;
  const bool block_fits = 64 * kern.mr * round_up(gemm_block_depth(c.k()), kLineFloats) * int64_t{sizeof(float)} <=
                          block_bytes();
  return little_waste && block_fits ? 6 : 4;
}

Correlation forward_correlation(const Conv2dParams& p, const GemmKernels& kern) {
  Correlation c{p.batch, p.in_h, p.in_w, p.in_c, p.out_h(), p.out_w(), p.out_c, p.groups, p.pad_top, p.pad_left, 4};
  c.m = output_tile(c, kern);
  return c;
}

// dx(ih) = sum over kh of dy(ih + pad_top - kh) w(kh) = sum over i of dy(ih - (2 - pad_top) + i) w(2 - i).
Correlation backward_data_correlation(const Conv2dParams& p, const GemmKernels& kern) {
  Correlation c{p.batch, p.out_h(), p.out_w(), p.out_c, p.in_h, p.in_w, p.in_c, p.groups, 2 - p.pad_top, 2 - p.pad_left, 4};
  c.m = output_tile(c, kern);
  return c;
}

struct Blocking {
  int64_t positions = 0;
  int64_t depth = 0;    // source channels per GEMM depth block (gemm_block_depth of K)
  int64_t ldv = 0;      // V's row distance
  int64_t tiles = 0;    // T, tiles per block
  int64_t columns = 0;  // result channels per block: a multiple of nr, or all N
  int64_t ldm = 0;      // M's row distance
  int64_t v_floats() const { return positions * tiles * ldv; }
  int64_t m_floats() const { return positions * tiles * ldm; }
};

// V takes up to 5/8 of the block budget, M the rest, each at least one GEMM tile's worth: mr tiles
// of V (so a thread's V is at most positions * mr * 256 floats, the deepest depth block) and
// one column step of M for every tile (tiles are capped so that this stays within 3/8). So a
// thread's workspace is at most max(budget, positions*mr*256*4 bytes + 3/8 budget): 708 KB for
// F(4x4) with AVX-512's mr of 14 and a 1 MB L2 (F(6x6) is taken only where its mr tiles fit).
Blocking choose_blocking(const Correlation& c, const GemmKernels& kern) {
  Blocking b;
  b.positions = c.positions();
  b.depth = gemm_block_depth(c.k());
  // Row distances of V and M are whole lines, so a position's rows stay aligned.
  b.ldv = round_up(max64(b.depth, 1), kLineFloats);
  const int64_t floats = block_bytes() / int64_t{sizeof(float)};
  const int64_t column_step = max64(kern.nr, kLineFloats);  // both powers of two: a multiple of each
  const int64_t tiles_by_v = floats * 5 / 8 / (b.positions * b.ldv);
  const int64_t tiles_by_m = floats * 3 / 8 / (b.positions * column_step);
  b.tiles = max64(kern.mr, min64(kMaxTiles, min64(tiles_by_v, tiles_by_m)));
  const int64_t m_floats = max64(floats - b.v_floats(), floats * 3 / 8);
  const int64_t columns = max64(column_step, m_floats / (b.positions * b.tiles) / column_step * column_step);
  b.columns = columns >= c.n() ? c.n() : columns;
  b.ldm = round_up(max64(b.columns, 1), kLineFloats);
  return b;
}

// Weights given as HWIO are transformed on every call. Where one thread computes all the tiles
// of its result channels, it transforms them a panel at a time into a buffer of its own, right
// before the panel's GEMMs, so the transformed weights (4x the weights) pass through its caches
// instead of out to memory and back. The depth blocks stay the packed weights' own
// (gemm_block_depth), so both ways sum in the same order and give the same bits.
// A streamed panel: one depth block of nr columns, at every position these floats apart.
int64_t streamed_panel_floats(const Blocking& b, const GemmKernels& kern) { return b.depth * kern.nr + kLineFloats; }

// The distance between consecutive positions' packed B: one line more than whole lines, so the
// 36 rows the weight transform writes at once (and the 36 panels the GEMM batch walks) do not
// all fall in the same cache sets when a B's size is a power of two.
int64_t position_floats(const Correlation& c, const GemmKernels& kern) {
  return round_up(packed_b_floats(kern, c.k(), c.n()), kLineFloats) + kLineFloats;
}

int64_t packed_floats(const Correlation& c, const GemmKernels& kern) {
  return c.groups * c.positions() * position_floats(c, kern);
}

// How a team of threads splits the work: `tile_parts` contiguous shares of the tiles times
// `column_parts` shares of each group's result channels (in nr blocks).
struct TeamSplit {
  int tile_parts = 1, column_parts = 1;
};
TeamSplit split_team(const Correlation& c, const GemmKernels& kern, int team) {
  TeamSplit s;
  const int64_t tile_shares = max64(1, min64(team, c.tiles() / kern.mr));
  s.tile_parts = static_cast<int>(tile_shares);
  const int64_t column_blocks = ceil_div(c.n(), kern.nr);
  s.column_parts = static_cast<int>(max64(1, min64(team / s.tile_parts, column_blocks)));
  return s;
}

class WinogradConv final : public ConvForward, public ConvBackwardData {
 public:
  WinogradConv(const Conv2dParams& p, const PlanContext& ctx)
      : ConvBackwardData(p),
        p_(p),
        activation_(ctx.activation),
        gemm_(kernels<GemmKernels>(ctx.isa)),
        transforms_(kernels<WinogradTransforms>(ctx.isa)),
        transpose_(kernels<DirectConvKernels>(ctx.isa).transpose),
        forward_(forward_correlation(p, gemm_)),
        backward_(backward_data_correlation(p, gemm_)),
        forward_blocking_(choose_blocking(forward_, gemm_)),
        backward_blocking_(choose_blocking(backward_, gemm_)) {}

  size_t packed_weights_size() const override { return static_cast<size_t>(packed_floats(forward_, gemm_)); }
  void pack_weights(const float* w, float* packed) const override { pack(w, false, packed, 1); }
  void forward(const float* x, const float* w, const float* b, float* y, int threads) const override {
    run(forward_, forward_blocking_, x, nullptr, b, activation_, y, threads, w);
  }
  void forward_packed(const float* x, const float* packed_w, const float* b, float* y, int threads) const override {
    run(forward_, forward_blocking_, x, packed_w, b, activation_, y, threads, nullptr);
  }

  void backward_data(const float* dy, const float* w, float* dx, int threads) const override {
    run(backward_, backward_blocking_, dy, nullptr, nullptr, Activation::none, dx, threads, w);
  }
  size_t backward_data_packed_size() const override { return static_cast<size_t>(packed_floats(backward_, gemm_)); }
  void pack_backward_data_weights(const float* w, float* packed) const override { pack(w, true, packed, 1); }
  void backward_data_packed(const float* dy, const float* packed_w, float* dx, int threads) const override {
    run(backward_, backward_blocking_, dy, packed_w, nullptr, Activation::none, dx, threads, nullptr);
  }

 private:
  // U[xi] per group as GEMM B panels (the layout of PackedB), written straight into them: row p
  // of B (the depth: input channel forward, output channel backward) and a panel's run of nr
  // columns is one call of the weight transform, vectorized over those columns. Forward, B(k, o)
  // = (G w(., ., k, o) G^T)[xi] reads HWIO's contiguous output channels as they lie. Backward,
  // B(o, k) is the transform of the kernel flipped in space with in and out swapped: HWIO is
  // first transposed per tap (flipped on the way) so the columns, input channels, are contiguous.
  void pack(const float* w, bool flipped, float* packed, int threads) const {
    auto transposed = scratch_.acquire(transposed_floats(flipped));
    const Correlation& c = flipped ? backward_ : forward_;
    run_team(threads, [&](int thread, int team) {
      const WeightRows rows = weight_rows(w, flipped, transposed.data(), thread, team);
      const int64_t items = panel_items(c);
      for (int64_t g = 0; g < c.groups; ++g) {
        const Share mine = share_of(items, thread, team);
        pack_panels(c, rows, g, mine.begin, mine.end, packed);
      }
    });
  }

  // The floats backward data's per-tap transpose of the weights takes (every group's).
  size_t transposed_floats(bool flipped) const { return flipped ? static_cast<size_t>(p_.weight_elements()) : 0; }

  // Where the weight transform reads group g's B: element (tap, row, column) at
  // data[g*group_stride + tap*tap_stride + row*row_stride + column].
  struct WeightRows {
    const float* data;
    int64_t group_stride, tap_stride, row_stride;
  };

  // HWIO as it lies forward; backward, its per-tap transpose, flipped, which this call makes
  // with the team (every thread of which must call it: it ends on a barrier) by direct's
  // vectorized transpose, in items of one tap's rows of kLineFloats * 4 output channels.
  WeightRows weight_rows(const float* w, bool flipped, float* transposed, int thread, int team) const {
    const int64_t icg = p_.in_c_per_group(), ocg = p_.out_c / p_.groups;
    if (!flipped) return {w, ocg, icg * p_.out_c, p_.out_c};
    constexpr int64_t kRowsPerItem = kLineFloats * 4;
    const int64_t o_blocks = ceil_div(ocg, kRowsPerItem);
    const Share mine = share_of(p_.groups * 9 * o_blocks, thread, team);
    for (int64_t item = mine.begin; item < mine.end; ++item) {
      const int64_t g = item / (9 * o_blocks), tap = item / o_blocks % 9, o0 = item % o_blocks * kRowsPerItem;
      // transposed(g, tap, o, i) = w(8 - tap, i, g*ocg + o)
      transpose_(w + (8 - tap) * icg * p_.out_c + g * ocg + o0, p_.out_c, min64(kRowsPerItem, ocg - o0), icg,
                 transposed + ((g * 9 + tap) * ocg + o0) * icg, icg);
    }
    team_barrier(team);
    return {transposed, 9 * ocg * icg, ocg * icg, icg};
  }

  // A group's packed U is written in items of one nr-wide panel of one depth block, all its
  // positions: item = depth block * panels + panel.
  int64_t panel_items(const Correlation& c) const {
    return ceil_div(c.n(), gemm_.nr) * ceil_div(c.k(), gemm_block_depth(c.k()));
  }

  // Items [first, end) of group g's packed U, panel by panel, its rows in order: each
  // position's writes run through one panel's contiguous kc x nr floats instead of touching
  // every panel (a page each) per row.
  void pack_panels(const Correlation& c, const WeightRows& w, int64_t g, int64_t first, int64_t end,
                   float* packed) const {
    const int64_t k = c.k(), n = c.n(), nr = gemm_.nr, depth = gemm_block_depth(k);
    const int64_t panels = ceil_div(n, nr), panel_floats = position_floats(c, gemm_);
    float* group = packed + g * c.positions() * panel_floats;
    for (int64_t item = first; item < end; ++item) {
      const int64_t k0 = item / panels * depth, j0 = item % panels * nr;
      transform_rows(c, w, g, k0, min64(depth, k - k0), j0, min64(nr, n - j0), group + k0 * round_up(n, nr) + j0 * min64(depth, k - k0),
                     panel_floats);
    }
  }

  // Rows [k0, k0 + kc) and columns [j0, j0 + width) (width <= nr) of group g's B at every
  // position, as one nr-wide panel per position (row r at panel[r * nr], positions
  // position_stride apart), lanes past `width` zero.
  void transform_rows(const Correlation& c, const WeightRows& w, int64_t g, int64_t k0, int64_t kc, int64_t j0,
                      int64_t width, float* panel, int64_t position_stride) const {
    const WinogradTileTransforms& f = tile_transforms(c);
    const int64_t nr = gemm_.nr;
    const float* rows = w.data + g * w.group_stride;
    for (int64_t row = k0; row < k0 + kc; ++row) {
      float* panel_row = panel + (row - k0) * nr;
      f.weights(rows + row * w.row_stride + j0, w.tap_stride, width, panel_row, position_stride);
      for (int64_t xi = 0; xi < c.positions(); ++xi) {
        for (int64_t lane = width; lane < nr; ++lane) panel_row[xi * position_stride + lane] = 0.0f;
      }
    }
  }

  // The correlation from packed weights `packed_u`, or from HWIO weights `hwio` (packed_u
  // null): transformed by the team into a packed buffer before the GEMMs, or, where each thread
  // computes every tile of its result channels in one block, streamed panel by panel as they
  // are used (streamed_panel_floats above), each transformed panel used once.
  void run(const Correlation& c, const Blocking& blk, const float* src, const float* packed_u,
           const float* bias, Activation activation, float* res, int threads, const float* hwio) const {
    const bool flipped = &c == &backward_;
    const WinogradTileTransforms& f = tile_transforms(c);
    const int64_t tiles = c.tiles(), tiles_w = c.tiles_w(), tiles_per_image = c.tiles_h() * tiles_w;
    // A team no larger than `threads` splits the tiles no more finely, so it streams whenever
    // `threads` would: the packed buffer is needed only when this says no.
    const bool may_stream = hwio != nullptr && tiles <= blk.tiles;
    const bool team_packs = hwio != nullptr && !(may_stream && split_team(c, gemm_, threads).tile_parts == 1);
    auto packed = scratch_.acquire(team_packs ? static_cast<size_t>(packed_floats(c, gemm_)) : 0);
    if (hwio != nullptr) packed_u = packed.data();
    auto transposed = scratch_.acquire(hwio != nullptr ? transposed_floats(flipped) : 0);
    const int64_t streamed_panel = may_stream ? streamed_panel_floats(blk, gemm_) : 0;
    const int64_t per_thread = round_up(blk.v_floats() + blk.m_floats() + blk.positions * streamed_panel, kLineFloats);
    auto workspace = scratch_.acquire(static_cast<size_t>(per_thread * threads));
    const int64_t k = c.k(), n = c.n(), nr = gemm_.nr, depth_blocks = ceil_div(k, blk.depth);
    const int64_t panel_floats = position_floats(c, gemm_);
    const Reach rows = c.rows(), cols = c.cols();
    run_team(threads, [&](int thread, int team) {
      const TeamSplit split = split_team(c, gemm_, team);
      const bool streamed = may_stream && split.tile_parts == 1;
      WeightRows weights{};
      if (hwio != nullptr) {
        weights = weight_rows(hwio, flipped, transposed.data(), thread, team);
        if (!streamed) {
          for (int64_t g = 0; g < c.groups; ++g) {
            const Share mine = share_of(panel_items(c), thread, team);
            pack_panels(c, weights, g, mine.begin, mine.end, packed.data());
          }
          team_barrier(team);
        }
      }
      fill_out_of_reach(c, bias, activation, res, share_of(c.batch * c.res_h, thread, team));
      if (thread >= split.tile_parts * split.column_parts) return;
      const Share my_tiles = share_of(tiles, thread / split.column_parts, split.tile_parts);
      const Share my_column_blocks = share_of(ceil_div(n, nr), thread % split.column_parts, split.column_parts);
      const int64_t first_column = my_column_blocks.begin * nr;
      const int64_t end_column = min64(n, my_column_blocks.end * nr);
      float* v = workspace.data() + per_thread * thread;
      float* m = v + blk.v_floats();
      float* panel = m + blk.m_floats();  // the streamed panel of every position
      const int64_t v_position = blk.tiles * blk.ldv, m_position = blk.tiles * blk.ldm;

      // Blocks of equal size (16 tiles as 8 + 8, not 14 + 2): a GEMM of few rows is slow.
      const int64_t share = my_tiles.end - my_tiles.begin, blocks = ceil_div(share, blk.tiles);
      for (int64_t block = 0; block < blocks; ++block) {
        const int64_t t0 = my_tiles.begin + share * block / blocks;
        const int64_t count = my_tiles.begin + share * (block + 1) / blocks - t0;
        for (int64_t g = 0; g < c.groups; ++g) {
          GemmBatch batch;
          batch.count = c.positions();
          batch.k = k;
          batch.n = n;
          batch.a = v;
          batch.a_stride = v_position;
          batch.a_row_distance = blk.ldv;
          batch.b = packed_u + g * c.positions() * panel_floats;
          batch.b_stride = panel_floats;
          batch.c = m;
          batch.c_stride = m_position;
          batch.ldc = blk.ldm;
          for (int64_t o0 = first_column; o0 < end_column; o0 += blk.columns) {
            const int64_t o1 = min64(end_column, o0 + blk.columns);
            batch.c_first_column = o0;
            for (int64_t q = 0; q < depth_blocks; ++q) {
              const int64_t k0 = q * blk.depth, kc = min64(blk.depth, k - k0);
              if (depth_blocks > 1 || o0 == first_column) {
                for (int64_t t = 0; t < count; ++t) {
                  const int64_t tile = t0 + t, image = tile / tiles_per_image, within = tile % tiles_per_image;
                  const int64_t row0 = rows.begin + within / tiles_w * c.m - c.pad_top;
                  const int64_t col0 = cols.begin + within % tiles_w * c.m - c.pad_left;
                  f.input(src + image * c.src_h * c.src_w * c.src_c + g * k + k0, c.src_h, c.src_w, c.src_c, row0,
                          col0, kc, v + t * blk.ldv, v_position);
                }
              }
              if (!streamed) {
                gemm_batch_block(gemm_, batch, k0, kc, GemmRange{0, count}, GemmRange{o0, o1}, GemmEpilogue{});
                continue;
              }
              // One panel of depth kc, as its own packed B (one depth block, nr columns).
              for (int64_t j = o0; j < o1; j += nr) {
                const int64_t width = min64(nr, o1 - j);
                transform_rows(c, weights, g, k0, kc, j, width, panel, streamed_panel);
                GemmBatch one = batch;
                one.k = kc;
                one.n = width;
                one.b = panel;
                one.b_stride = streamed_panel;
                one.c = m + (j - o0);
                one.c_first_column = 0;
                GemmEpilogue sum;
                sum.accumulate = q > 0;
                gemm_batch_block(gemm_, one, 0, kc, GemmRange{0, count}, GemmRange{0, width}, sum);
              }
            }
            for (int64_t t = 0; t < count; ++t) {
              const int64_t tile = t0 + t, image = tile / tiles_per_image, within = tile % tiles_per_image;
              const int64_t r0 = rows.begin + within / tiles_w * c.m, c0 = cols.begin + within % tiles_w * c.m;
              float* y = res + ((image * c.res_h + r0) * c.res_w + c0) * c.res_c + g * n + o0;
              f.output(m + t * blk.ldm, m_position, o1 - o0, bias != nullptr ? bias + g * n + o0 : nullptr, activation, y,
                       c.res_c, c.res_w * c.res_c, min64(c.m, rows.end - r0), min64(c.m, cols.end - c0));
            }
          }
        }
      }
    });
  }

  // The outputs out of the source's reach, in result rows [share.begin, share.end) over the
  // batch: bias (or zero), then ReLU.
  static void fill_out_of_reach(const Correlation& c, const float* bias, Activation activation, float* res, Share share) {
    const Reach rows = c.rows(), cols = c.cols();
    if (rows.begin == 0 && rows.end == c.res_h && cols.begin == 0 && cols.end == c.res_w) return;
    const auto fill = [&](float* pixel) {
      for (int64_t o = 0; o < c.res_c; ++o) {
        const float value = bias != nullptr ? bias[o] : 0.0f;
        pixel[o] = activate(value, activation);
      }
    };
    for (int64_t row = share.begin; row < share.end; ++row) {
      const int64_t r = row % c.res_h;
      const bool reached = r >= rows.begin && r < rows.end;
      for (int64_t col = 0; col < c.res_w; ++col) {
        if (!reached || col < cols.begin || col >= cols.end) fill(res + (row * c.res_w + col) * c.res_c);
      }
    }
  }

  const WinogradTileTransforms& tile_transforms(const Correlation& c) const {
    return c.m == 6 ? transforms_.f6x6 : transforms_.f4x4;
  }

  Conv2dParams p_;
  Activation activation_;
  const GemmKernels& gemm_;
  const WinogradTransforms& transforms_;
  decltype(DirectConvKernels::transpose) transpose_;
  Correlation forward_, backward_;
  Blocking forward_blocking_, backward_blocking_;
  mutable WorkspacePool scratch_;  // per-call buffers, reused across calls
};

}  // namespace

std::string winograd_decline_reason(const Conv2dParams& p) {
  if (p.kernel_h != 3 || p.kernel_w != 3) return "winograd: only 3x3 kernels";
  if (p.stride_h != 1 || p.stride_w != 1) return "winograd: only stride 1";
  if (p.dilation_h != 1 || p.dilation_w != 1) return "winograd: only dilation 1";
  if (p.in_c_per_group() < kWinogradMinGroupChannels || p.out_c / p.groups < kWinogradMinGroupChannels) {
    return "winograd: needs at least " + std::to_string(kWinogradMinGroupChannels) +
           " input and output channels per group (a whole vector)";
  }
  return {};
}

ConvImpls make_winograd_conv(const Conv2dParams& p, const PlanContext& ctx) {
  return conv_impls(std::make_shared<const WinogradConv>(p, ctx));
}

}  // namespace convkit::detail
