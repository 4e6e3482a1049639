#pragma once
// The direct backend's view of a convolution (docs/design.md, "The direct backend"): the
// problem the micro-kernel runs (forward, or the transposed problem backward data solves), how
// its output channels are blocked, and the rectangles of output pixels with identical taps
// that tiles cover. Weight packing lives here too; the drivers (dense.hpp, depthwise.hpp,
// dot_conv.hpp, weight_gradient.hpp) walk what this file lays out.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "conv/cache_sizes.hpp"
#include "conv/integer.hpp"
#include "conv/tap_geometry.hpp"
#include "convkit/conv2d.hpp"
#include "convkit/params.hpp"
#include "kernels/direct_conv.hpp"

namespace convkit::detail::direct {

// How a direct convolution's outputs are laid out over blocks of output-channel vectors.
struct ChannelBlocking {
  int64_t lanes = 0, vectors_per_group = 0, block_vectors = 0, blocks = 0;

  ChannelBlocking() = default;
  // With fold_lone_vector, a single vector left over after whole blocks joins the block before
  // it (on AVX2, 24 channels as one block of three vectors instead of two and one): its 4x3
  // tile loads 7 values per 12 FMAs where the lone vector's 12x1 tile loads 13, and the pixels
  // are streamed once less (docs/results/decisions.md, "direct: a lone vector folded into the
  // last block").
  ChannelBlocking(int64_t channels_per_group, int64_t lanes_, int64_t preferred, bool fold_lone_vector = false)
      : lanes(lanes_) {
    vectors_per_group = ceil_div(channels_per_group, lanes);
    block_vectors = std::min<int64_t>(preferred, vectors_per_group);
    blocks = ceil_div(vectors_per_group, block_vectors);
    if (fold_lone_vector && blocks > 1 && vectors_per_group % block_vectors == 1) --blocks;
  }
  int64_t vectors_of(int64_t block) const {
    return block + 1 < blocks ? block_vectors : vectors_per_group - block * block_vectors;
  }
  int64_t group_lanes() const { return vectors_per_group * lanes; }
  int64_t first_channel(int64_t block) const { return block * block_vectors * lanes; }
};

// `length` pixels cut into the fewest tiles of at most `widest`, as even as possible: a
// 7-pixel row on a 6-pixel tile runs as 4 + 3, not 6 + 1, because every tile streams the same
// weights and a 1-pixel tile does a sixth of the work for them (it starves on L2 bandwidth).
struct EvenTiles {
  int64_t count = 0, base = 0, extra = 0;
  EvenTiles() = default;
  EvenTiles(int64_t length, int64_t widest)
      : count(ceil_div(length, widest)), base(length / count), extra(length % count) {}
  int64_t start(int64_t i) const { return i * base + std::min(i, extra); }
  int64_t size(int64_t i) const { return base + (i < extra ? 1 : 0); }
  // The tiles from i on as wide as tile i (the wider ones come first).
  int64_t same_width(int64_t i) const { return i < extra ? extra - i : count - i; }
};

// The widest tile for input pixels `x_pixel_step` floats apart. Pixels a multiple of 2 KB apart
// fall in at most two of the L1's 64 sets (4 KB a way). In an L1 of 8 ways (32 KB) the 14-pixel
// tiles of one or two vectors, their neighbouring taps' pixels and the weights overfilled those
// sets, and a tile there takes at most 7 pixels; 12 ways (48 KB) held them, and 14 pixels ran
// faster (docs/results/decisions.md, "direct: tiles at 2 KB pixel strides").
inline int64_t widest_tile(int64_t max_pixels, int64_t x_pixel_step) {
  constexpr int64_t kPixelsAtTwoKb = 7, kCappedUpToL1Bytes = 32 << 10;
  const bool capped = lie_multiple_of(x_pixel_step, 2048) && l1_bytes() <= kCappedUpToL1Bytes;
  return capped ? std::min(max_pixels, kPixelsAtTwoKb) : max_pixels;
}

// The indices [first, first + count) of a run whose outputs lie in [begin, end).
struct RunSlice {
  int64_t first, count;
};
inline RunSlice slice(const AxisRun& run, int64_t begin, int64_t end) {
  const int64_t first = std::max<int64_t>(0, ceil_div(begin - run.out_begin, run.out_step));
  const int64_t last = std::min(run.pixels, floor_div(end - 1 - run.out_begin, run.out_step) + 1);
  return {first, last > first ? last - first : 0};
}

// How a consumer of rectangles tiles them: tiles of at most max_pixels, and whether it takes a
// single line in tap strips (DirectProblem::column_strips; only the packed tile accumulates).
struct Tiling {
  int64_t max_pixels;
  bool tap_strips;
  bool operator==(const Tiling& o) const { return max_pixels == o.max_pixels && tap_strips == o.tap_strips; }
};

// A rectangle of output pixels with identical taps (a row run, clipped to the lines asked for,
// crossed with a column run), laid out as `lines` lines of `length` pixels; tiles run along a
// line. Offsets are in floats from image 0, channel 0 of x and y.
struct Rectangle {
  TapRange rows, cols;
  bool reads_input;
  int64_t x_first, y_first;
  int64_t lines, length;
  int64_t x_line_step, y_line_step, x_pixel_step, y_pixel_step;
  EvenTiles tiles;  // each line's tiles of at most the max_pixels the rectangle was made for
  // A tap strip (DirectProblem::column_strips): `adds` to the sums an earlier rectangle of the
  // same line stored; `partial` when a later one adds more (so no ReLU yet).
  bool adds = false, partial = false;

  // Offsets of pixel j of line `line` in the input and the output.
  int64_t x_at(int64_t line, int64_t j) const { return x_first + line * x_line_step + j * x_pixel_step; }
  int64_t y_at(int64_t line, int64_t j) const { return y_first + line * y_line_step + j * y_pixel_step; }
};

// One direct convolution as the micro-kernel runs it: the forward problem, or the transposed
// one backward data solves (dy in, dx out). Everything a call needs besides the pointers.
struct DirectProblem {
  int64_t batch = 0, in_h = 0, in_w = 0, in_c = 0, out_h = 0, out_w = 0, out_c = 0, groups = 1;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t reduce_per_group = 0, out_per_group = 0;
  // Channels summed per pass over a tile: weights of a pass stay in cache while the rows of a
  // thread's share run; later passes add to the stored partial sums.
  int64_t reduce_chunk = 0;
  bool transposed = false;
  // 1x1, stride 1, no padding: the input is the matrix, so all batch*height*width pixels form
  // one row whose lines are single pixels: threads split it at any pixel, since shares of
  // whole segments left one thread a segment more than the other on small images
  // (docs/results/decisions.md, "direct: shares of equal work"). With segments outermost, a
  // thread cuts its lines (pixels, or rows) into even segments of at most `segment`.
  bool pointwise = false;
  int64_t segment = 0;
  // Items in (segment, group, block) order rather than (group, block, segment), so that each
  // thread writes whole pixels (split by channel blocks, both threads wrote parts of every
  // pixel); only while every block's weights stay in L2 together, since each segment cycles
  // through them (docs/results/decisions.md, "direct: pointwise segments outermost"). Other
  // layers' segments are rows, taken only where an image's rows outgrow L2: a block's pass
  // then streamed the whole image in and out again (an RGB stem; "direct: rows outermost").
  bool segments_outer = false;
  std::vector<AxisRun> row_runs, columns;
  // When not empty: how a single line (a border row, or one row of a thread's share) runs
  // instead for the packed tile, one kernel column at a time over the outputs that read it
  // (tap_strips). Its border pixels then join multi-pixel tiles rather than run alone: a
  // 1-pixel tile loads a weight vector per FMA and runs at about half speed from L2
  // (docs/results/decisions.md, "direct: tap strips for border lines"). Forward's last run has no taps and covers the line: a fused ReLU waits for it, since
  // a pixel's own last strip may not be the line's last (backward data has no activation).
  std::vector<AxisRun> column_strips;
  // Depthwise backward data at column stride 2 with 3 or 5 taps: the (even, odd) output column
  // pairs whose phases both have all their taps, run by the pair tile (DepthwiseConvKernels::pair_tile) line
  // by line; `columns` then covers only the other outputs (tap_geometry.hpp, pair_phases).
  PhasePairs paired;
  // Sum along the reduction (run_dot) instead of packed tiles: backward data from HWIO, forward
  // from weights transposed for it (direct_conv.cpp says where).
  bool dot = false;
  int64_t dot_block = 0;
  ChannelBlocking blocking;
  // The rectangles of a whole image (image 0), per tile width, made once per plan: a thread
  // whose share covers whole images (batch > 1, or a layer small enough for one thread) walks
  // them with the image's offset added instead of redoing the geometry, which on the seed layer
  // cost as much as the arithmetic.
  std::vector<std::pair<Tiling, std::vector<Rectangle>>> image_rectangles;
  // Where slice_groups says (grouped layers of few channels per group, pixels a multiple of
  // 1 KB apart): the same problem over one group's channels of one image,
  // [in_h][in_w][reduce_per_group], which run_direct's threads run on a copy of those channels
  // each. Null elsewhere.
  std::shared_ptr<DirectProblem> slice;
  // This problem's x is such a copy: no image or group offsets in it.
  bool x_sliced = false;

  const std::vector<Rectangle>* image_rectangles_for(Tiling tiling) const {
    for (const auto& [made_for, rectangles] : image_rectangles) {
      if (made_for == tiling) return &rectangles;
    }
    return nullptr;
  }
  int64_t lines() const { return pointwise ? batch * out_h * out_w : out_h; }
  int64_t line_batches() const { return pointwise ? 1 : batch; }
  int64_t packed_block_offset(int64_t g, int64_t b) const {
    return (g * blocking.group_lanes() + blocking.first_channel(b)) * kernel_h * kernel_w * reduce_per_group;
  }
  int64_t packed_floats() const { return groups * blocking.group_lanes() * kernel_h * kernel_w * reduce_per_group; }
  // Floats from one image of x to the next, and from one group's channels to the next.
  int64_t x_image_floats() const { return x_sliced ? 0 : in_h * in_w * in_c; }
  int64_t x_group_floats() const { return x_sliced ? 0 : reduce_per_group; }
  // The floats of one thread's copy of a group's x (0 where not sliced).
  int64_t slice_floats() const { return slice ? in_h * in_w * reduce_per_group : 0; }
};

// Where work item `item` lies in the (image, group, channel block, line) nesting the dense and
// dot drivers share out among threads.
struct LineItem {
  int64_t n, g, block, line;
};
inline LineItem line_item(int64_t item, int64_t lines, int64_t blocks, int64_t groups) {
  const int64_t block_index = item / lines;
  return {block_index / (blocks * groups), (block_index / blocks) % groups, block_index % blocks, item % lines};
}

// Packing runs in (group, block, tap) items, shared among the threads of the call's region.
inline int64_t pack_items(const DirectProblem& d) { return d.groups * d.blocking.blocks * d.kernel_h * d.kernel_w; }

DirectProblem forward_problem(const Conv2dParams& p, const DirectConvKernels& k);
// Backward data: dx = dy convolved with the flipped kernel, input and output channels swapped.
DirectProblem backward_data_problem(const Conv2dParams& p, const DirectConvKernels& k);
// Sets d's reduction chunk and pointwise segments for the kernels k (direct_problem.cpp).
void choose_blocking(DirectProblem& d, const DirectConvKernels& k);
// Packs items [begin, end) of pack_items(d) of the HWIO weights w into `packed`.
void pack_hwio(const DirectProblem& d, const DirectConvKernels& k, const float* w, float* packed, int64_t begin,
               int64_t end);
// Makes the whole-image rectangles of d for `tiling` (of its slice too, where it has one).
void cache_image_rectangles(DirectProblem& d, Tiling tiling);
// Gives d its slice where the layer qualifies (DirectProblem::slice); before its rectangles are
// cached.
void slice_groups(DirectProblem& d);

// Calls visit(x_offset, y_offset, pixels, tiles) for each run of `tiles` consecutive tiles of
// `pixels` pixels of a rectangle (the next one starting `pixels` pixel steps further): every
// line split into even tiles of at most max_pixels (7 = 4 + 3, not 6 + 1: a 1-pixel tile starves
// on L2 bandwidth), whose widths differ by one. The same rectangle of `images` consecutive
// images, when more than one, follows at the given steps.
template <class Visit>
void for_each_tile_run(const Rectangle& r, Visit visit, int64_t images = 1, int64_t x_image_step = 0,
                       int64_t y_image_step = 0) {
  for (int64_t image = 0; image < images; ++image) {
    for (int64_t line = 0; line < r.lines; ++line) {
      for (int64_t i = 0; i < r.tiles.count;) {
        const int64_t j = r.tiles.start(i), tiles = r.tiles.same_width(i);
        visit(r.x_at(line, j) + image * x_image_step, r.y_at(line, j) + image * y_image_step, r.tiles.size(i), tiles);
        i += tiles;
      }
    }
  }
}

// The same tiles one at a time: visit(x_offset, y_offset, pixels).
template <class Visit>
void for_each_even_tile(const Rectangle& r, Visit visit) {
  for_each_tile_run(r, [&](int64_t x_offset, int64_t y_offset, int64_t pixels, int64_t tiles) {
    for (int64_t i = 0; i < tiles; ++i) {
      visit(x_offset + i * pixels * r.x_pixel_step, y_offset + i * pixels * r.y_pixel_step, pixels);
    }
  });
}

// The rectangles covering rows [line_begin, line_end) of image n. Each is tiled along its rows,
// where a tile's pixels are adjacent in x and y, unless tiling down the columns saves a quarter
// of the tiles: a border column of a tall image runs down the column (so border pixels share
// tiles instead of running one at a time), while an interior that columns tile only slightly
// better stays on rows, since a tile down a column reads and writes as many rows as it has
// pixels, which ran far slower when x and y had left L2 (docs/results/decisions.md, "direct:
// tiles along rows").
template <class Visit>
void make_rectangles(const DirectProblem& d, int64_t n, int64_t line_begin, int64_t line_end, Tiling tiling,
                     Visit visit) {
  const int64_t max_pixels = tiling.max_pixels;
  for (const AxisRun& rr : d.row_runs) {
    const RunSlice rows = slice(rr, line_begin, line_end);
    if (rows.count == 0) continue;
    const int64_t x_row_step = rr.in_step * d.in_w * d.in_c, y_row_step = rr.out_step * d.out_w * d.out_c;
    const int64_t x_rows = n * d.x_image_floats() + (rr.in_begin + rows.first * rr.in_step) * d.in_w * d.in_c;
    const int64_t y_rows = ((n * d.out_h + rr.out_begin + rows.first * rr.out_step) * d.out_w) * d.out_c;
    const bool strips = tiling.tap_strips && rows.count == 1 && rr.taps.taps > 0 && !d.column_strips.empty();
    const std::vector<AxisRun>& columns = strips ? d.column_strips : d.columns;
    for (size_t i = 0; i < columns.size(); ++i) {
      const AxisRun& cr = columns[i];
      Rectangle r;
      r.adds = strips && i > 0;
      r.partial = strips && i + 1 < columns.size();
      r.rows = rr.taps;
      r.cols = cr.taps;
      r.reads_input = rr.taps.taps > 0 && cr.taps.taps > 0;
      r.x_first = r.reads_input ? x_rows + cr.in_begin * d.in_c : 0;
      r.y_first = y_rows + cr.out_begin * d.out_c;
      const int64_t x_col_step = cr.in_step * d.in_c, y_col_step = cr.out_step * d.out_c;
      const int64_t row_tiles = ceil_div(cr.pixels, max_pixels) * rows.count;
      const int64_t column_tiles = ceil_div(rows.count, max_pixels) * cr.pixels;
      const bool along_rows = 3 * row_tiles <= 4 * column_tiles;
      r.lines = along_rows ? rows.count : cr.pixels;
      r.length = along_rows ? cr.pixels : rows.count;
      r.x_line_step = along_rows ? x_row_step : x_col_step;
      r.y_line_step = along_rows ? y_row_step : y_col_step;
      r.x_pixel_step = along_rows ? x_col_step : x_row_step;
      r.y_pixel_step = along_rows ? y_col_step : y_row_step;
      r.tiles = EvenTiles(r.length, widest_tile(max_pixels, r.x_pixel_step));
      visit(r);
    }
  }
}

template <class Visit>
void for_each_rectangle(const DirectProblem& d, int64_t n, int64_t line_begin, int64_t line_end, Tiling tiling,
                        Visit visit) {
  const std::vector<Rectangle>* whole = d.image_rectangles_for(tiling);
  if (whole == nullptr || line_begin != 0 || line_end != d.out_h) {
    make_rectangles(d, n, line_begin, line_end, tiling, visit);
    return;
  }
  const int64_t x_image = n * d.x_image_floats(), y_image = n * d.out_h * d.out_w * d.out_c;
  for (Rectangle r : *whole) {
    if (r.reads_input) r.x_first += x_image;
    r.y_first += y_image;
    visit(r);
  }
}

// The team a call in direction `d` opens, at most `threads`: one thread below ~0.5 MFLOP, where
// starting a second costs more than it saves; a depthwise call, whose threads split whole rows
// of pixels, gains from the second thread from ~0.15 MFLOP in every direction, and an ungrouped
// forward call over 16 or more output pixels from 0.2 MFLOP (such calls took 2.1-5.4 us on one
// thread; on one pixel, and backward, two threads measured slower). A weight-gradient call
// counts each dw float it writes as 16 flops: on 1x1 images with many channels, or a 3x3 kernel
// whose eight outer taps read only padding, the writes are most of the work and two threads
// share them. Results do not depend on it (docs/results/decisions.md, "direct: one thread for
// small calls").
int call_team(const Conv2dParams& p, Direction d, int threads);

}  // namespace convkit::detail::direct
