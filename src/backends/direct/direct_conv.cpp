// The direct backend. Portable driver code: packing, tap geometry, cache blocking and
// threading live here; the arithmetic is in the per-ISA micro-kernels (kernels/direct_conv*,
// kernels/depthwise_conv*), chosen once per plan.
//
// Packed weights (forward): per group, output channels in blocks of `vectors` SIMD vectors
// (the last block may be narrower), each block laid out [kh][kw][in_c/groups][block lanes] and
// zero-padded to whole vectors, so the tile runs full width and only its store has a tail.
// Depthwise (groups == in_c == out_c) packs to [kh][kw][channels padded to a vector].
//
// Threading: one OpenMP region per call over a static, contiguous partition of work items
// (batch x group x channel block x output row, in that nesting, so one image still feeds both
// threads; pointwise layers with little weight put their pixel segments outermost). No output
// element is summed by more than one thread and every sum runs in a fixed order, so results
// are bitwise identical for any thread count; the one exception is the depthwise weight and
// bias gradients, whose fixed partition of the rows follows Options.threads.
#include "backends/direct/direct.hpp"

#include <algorithm>
#include <cstring>
#include <cstddef>
#include <type_traits>
#include <vector>

#include <unistd.h>

#include "threading.hpp"

#include "backends/direct/grouped_conv.hpp"
#include "backends/direct/tap_geometry.hpp"
#include "kernels/depthwise_conv.hpp"
#include "kernels/direct_conv.hpp"

namespace convkit::detail {
namespace {

// Rounds up for any sign of a (b > 0).
int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

// How a direct convolution's outputs are laid out over blocks of output-channel vectors.
struct ChannelBlocking {
  int64_t lanes = 0, vectors_per_group = 0, block_vectors = 0, blocks = 0;

  ChannelBlocking() = default;
  ChannelBlocking(int64_t channels_per_group, int64_t lanes_, int64_t preferred) : lanes(lanes_) {
    vectors_per_group = ceil_div(channels_per_group, lanes);
    block_vectors = std::min<int64_t>(preferred, vectors_per_group);
    blocks = ceil_div(vectors_per_group, block_vectors);
  }
  int64_t vectors_of(int64_t block) const { return std::min(block_vectors, vectors_per_group - block * block_vectors); }
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
};

// The indices [first, first + count) of a run whose outputs lie in [begin, end).
struct RunSlice {
  int64_t first, count;
};
RunSlice slice(const AxisRun& run, int64_t begin, int64_t end) {
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
  // one row, cut into segments of whole tiles for threading.
  bool pointwise = false;
  int64_t segment = 0;
  // Pointwise items in (segment, group, block) order rather than (group, block, segment), so
  // that each thread writes whole pixels: split by channel blocks, both threads wrote parts
  // of every pixel, and ResNet's res2c (64 -> 256 channels) ran 168-169 GFLOP/s in the layer
  // benchmark (184-224 in separate processes) against 212-214 (209-221) this way. Only while
  // every block's weights stay in L2 together: res4's 1x1 layer (1024 -> 256, 1 MB of
  // weights) fell from 226-230 to 189 when each segment cycled them.
  bool segments_outer = false;
  std::vector<AxisRun> row_runs, columns;
  // When not empty: how a single line (a border row, or one row of a thread's share) runs
  // instead for the packed tile, one kernel column at a time over the outputs that read it
  // (tap_strips). Its border pixels then join multi-pixel tiles rather than run alone: a
  // 1-pixel tile loads a weight vector per FMA and runs at half speed from L2 (57 GFLOP/s per
  // core against 116 for 5 pixels), and res5b's four 7x7 corners cost ~4.6% of its call that
  // way. Forward's last run has no taps and covers the line: a fused ReLU waits for it, since
  // a pixel's own last strip may not be the line's last (backward data has no activation).
  std::vector<AxisRun> column_strips;
  // Backward data only: sum along the reduction from HWIO (run_dot) instead of packing.
  bool dot = false;
  int64_t dot_block = 0;
  ChannelBlocking blocking;
  // The rectangles of a whole image (image 0), per tile width, made once per plan: a thread
  // whose share covers whole images (batch > 1, or a layer small enough for one thread) walks
  // them with the image's offset added instead of redoing the geometry, which on the seed layer
  // cost as much as the arithmetic.
  std::vector<std::pair<Tiling, std::vector<Rectangle>>> image_rectangles;

  const std::vector<Rectangle>* image_rectangles_for(Tiling tiling) const {
    for (const auto& [made_for, rectangles] : image_rectangles) {
      if (made_for == tiling) return &rectangles;
    }
    return nullptr;
  }
  int64_t lines() const { return pointwise ? ceil_div(batch * out_h * out_w, segment) : out_h; }
  int64_t line_batches() const { return pointwise ? 1 : batch; }
  int64_t packed_block_offset(int64_t g, int64_t b) const {
    return (g * blocking.group_lanes() + blocking.first_channel(b)) * kernel_h * kernel_w * reduce_per_group;
  }
};

ConvAxis row_axis(const Conv2dParams& p) {
  return {p.in_h, p.out_h(), p.kernel_h, p.stride_h, p.pad_top, p.dilation_h};
}
ConvAxis column_axis(const Conv2dParams& p) {
  return {p.in_w, p.out_w(), p.kernel_w, p.stride_w, p.pad_left, p.dilation_w};
}

bool is_pointwise(const Conv2dParams& p) {
  return p.kernel_h == 1 && p.kernel_w == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_top == 0 &&
         p.pad_bottom == 0 && p.pad_left == 0 && p.pad_right == 0;
}

DirectProblem forward_problem(const Conv2dParams& p, const DirectConvKernels& k) {
  DirectProblem d;
  d.batch = p.batch, d.in_h = p.in_h, d.in_w = p.in_w, d.in_c = p.in_c;
  d.out_h = p.out_h(), d.out_w = p.out_w(), d.out_c = p.out_c, d.groups = p.groups;
  d.kernel_h = p.kernel_h, d.kernel_w = p.kernel_w;
  d.reduce_per_group = p.in_c_per_group(), d.out_per_group = p.out_c_per_group();
  d.row_runs = axis_runs(row_axis(p), false);
  d.columns = axis_runs(column_axis(p), false);
  d.blocking = ChannelBlocking(d.out_per_group, k.lanes, k.preferred_vectors);
  d.pointwise = is_pointwise(p);
  return d;
}

// Backward data: dx = dy convolved with the flipped kernel, input and output channels swapped.
DirectProblem backward_data_problem(const Conv2dParams& p, const DirectConvKernels& k) {
  DirectProblem d;
  d.batch = p.batch, d.in_h = p.out_h(), d.in_w = p.out_w(), d.in_c = p.out_c;
  d.out_h = p.in_h, d.out_w = p.in_w, d.out_c = p.in_c, d.groups = p.groups;
  d.kernel_h = p.kernel_h, d.kernel_w = p.kernel_w;
  d.reduce_per_group = p.out_c_per_group(), d.out_per_group = p.in_c_per_group();
  d.row_runs = axis_runs(row_axis(p), true);
  d.columns = axis_runs(column_axis(p), true);
  d.transposed = true;
  d.pointwise = is_pointwise(p);
  d.blocking = ChannelBlocking(d.out_per_group, k.lanes, k.preferred_vectors);
  return d;
}

// This CPU's L2 per core, as the C library reports it, else the 1 MB of the Zen 4 convkit was
// tuned on.
int64_t l2_bytes() {
  static const int64_t bytes = [] {
#ifdef _SC_LEVEL2_CACHE_SIZE
    const long reported = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (reported > 0) return static_cast<int64_t>(reported);
#endif
    return int64_t(1) << 20;
  }();
  return bytes;
}

// Chunk and segment sizes. The weights of one block for one chunk of reduced channels stay in
// L2 next to the input rows a thread streams. The budget is the whole L2 rather than half of
// it: each pass beyond the first rereads the input and stores and reloads every partial sum,
// and in one pass of 590 KB (256 input channels, 3x3, four vectors of outputs) VGG's conv3_2
// ran 1.007x oneDNN's forward against 0.985x in two of 295 KB (two threads, medians of five
// alternating runs).
void choose_blocking(DirectProblem& d, const DirectConvKernels& k) {
  const int64_t budget_floats = l2_bytes() / int64_t(sizeof(float));
  const int64_t per_channel = d.kernel_h * d.kernel_w * d.blocking.block_vectors * d.blocking.lanes;
  int64_t chunk = std::max<int64_t>(1, budget_floats / per_channel);
  if (chunk >= d.reduce_per_group) {
    chunk = d.reduce_per_group;
  } else {
    const int64_t passes = ceil_div(d.reduce_per_group, chunk);
    chunk = ceil_div(d.reduce_per_group, passes);  // even chunks
  }
  d.reduce_chunk = chunk;
  d.segment = 8 * k.max_pixels[d.blocking.block_vectors - 1];
  const int64_t all_weights = d.groups * d.blocking.group_lanes() * d.kernel_h * d.kernel_w * d.reduce_per_group;
  constexpr int64_t kSegmentsOuterMaxWeightFloats = (128 * 1024) / sizeof(float);
  d.segments_outer = d.pointwise && d.blocking.blocks > 1 && all_weights <= kSegmentsOuterMaxWeightFloats;
}

// Packing runs in (group, block, tap) items, shared among the threads of the call's region.
int64_t pack_items(const DirectProblem& d) { return d.groups * d.blocking.blocks * d.kernel_h * d.kernel_w; }

// Packs items [begin, end) of the HWIO weights w for problem d. Forward, a block's lanes are
// output channels, contiguous in HWIO: rows are copied. Transposed (backward data), the lanes
// are the forward input channels and the reduction runs over forward output channels: the
// block is a transpose of HWIO's tap matrix.
void pack_hwio(const DirectProblem& d, const DirectConvKernels& k, const float* w, float* packed, int64_t begin,
               int64_t end) {
  const ChannelBlocking& cb = d.blocking;
  const int64_t taps = d.kernel_h * d.kernel_w, R = d.reduce_per_group;
  // HWIO's per-tap matrix is [forward in_c / groups][forward out_c].
  const int64_t hwio_rows = d.transposed ? d.out_per_group : R;
  const int64_t hwio_cols = d.transposed ? d.in_c : d.out_c, hwio_group_cols = d.transposed ? R : d.out_per_group;
  for (int64_t item = begin; item < end; ++item) {
    const int64_t tap = item % taps, b = (item / taps) % cb.blocks, g = item / (taps * cb.blocks);
    const int64_t width = cb.vectors_of(b) * cb.lanes, c0 = cb.first_channel(b);
    const int64_t valid = std::min(width, d.out_per_group - c0);
    float* out = packed + d.packed_block_offset(g, b) + tap * R * width;
    const float* tap_w = w + tap * hwio_rows * hwio_cols + g * hwio_group_cols;
    if (!d.transposed) {
      for (int64_t r = 0; r < R; ++r) {
        std::memcpy(out + r * width, tap_w + r * hwio_cols + c0, static_cast<size_t>(valid) * sizeof(float));
        for (int64_t j = valid; j < width; ++j) out[r * width + j] = 0.0f;
      }
      continue;
    }
    k.transpose(tap_w + c0 * hwio_cols, hwio_cols, R, valid, out, width);
    for (int64_t r = 0; r < R; ++r) {
      for (int64_t j = valid; j < width; ++j) out[r * width + j] = 0.0f;
    }
  }
}

// Calls visit(x_offset, y_offset, pixels) for each tile of a rectangle: every line split into
// even tiles of at most max_pixels (7 = 4 + 3, not 6 + 1: a 1-pixel tile starves on L2
// bandwidth). The same rectangle of `images` consecutive images, when more than one, follows
// at the given steps.
template <class Visit>
void for_each_even_tile(const Rectangle& r, Visit visit, int64_t images = 1, int64_t x_image_step = 0,
                        int64_t y_image_step = 0) {
  for (int64_t image = 0; image < images; ++image) {
    for (int64_t line = 0; line < r.lines; ++line) {
      for (int64_t i = 0; i < r.tiles.count; ++i) {
        const int64_t j = r.tiles.start(i);
        visit(r.x_at(line, j) + image * x_image_step, r.y_at(line, j) + image * y_image_step, r.tiles.size(i));
      }
    }
  }
}

// The rectangles covering rows [line_begin, line_end) of image n. Each is tiled along whichever
// side needs fewer tiles of max_pixels: the interior along its rows, a border column of a tall
// image down the column (so border pixels share tiles instead of running one at a time).
template <class Visit>
void make_rectangles(const DirectProblem& d, int64_t n, int64_t line_begin, int64_t line_end, Tiling tiling,
                     Visit visit) {
  const int64_t max_pixels = tiling.max_pixels;
  for (const AxisRun& rr : d.row_runs) {
    const RunSlice rows = slice(rr, line_begin, line_end);
    if (rows.count == 0) continue;
    const int64_t x_row_step = rr.in_step * d.in_w * d.in_c, y_row_step = rr.out_step * d.out_w * d.out_c;
    const int64_t x_rows = ((n * d.in_h + rr.in_begin + rows.first * rr.in_step) * d.in_w) * d.in_c;
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
      const bool along_rows =
          ceil_div(cr.pixels, max_pixels) * rows.count <= ceil_div(rows.count, max_pixels) * cr.pixels;
      r.lines = along_rows ? rows.count : cr.pixels;
      r.length = along_rows ? cr.pixels : rows.count;
      r.x_line_step = along_rows ? x_row_step : x_col_step;
      r.y_line_step = along_rows ? y_row_step : y_col_step;
      r.x_pixel_step = along_rows ? x_col_step : x_row_step;
      r.y_pixel_step = along_rows ? y_col_step : y_row_step;
      r.tiles = EvenTiles(r.length, max_pixels);
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
  const int64_t x_image = n * d.in_h * d.in_w * d.in_c, y_image = n * d.out_h * d.out_w * d.out_c;
  for (Rectangle r : *whole) {
    if (r.reads_input) r.x_first += x_image;
    r.y_first += y_image;
    visit(r);
  }
}

// Makes the whole-image rectangles of d for `tiling`.
void cache_image_rectangles(DirectProblem& d, Tiling tiling) {
  if (d.pointwise || d.image_rectangles_for(tiling) != nullptr) return;
  std::vector<Rectangle> rectangles;
  make_rectangles(d, 0, 0, d.out_h, tiling, [&](const Rectangle& r) { rectangles.push_back(r); });
  d.image_rectangles.emplace_back(tiling, std::move(rectangles));
}

// Runs rows (or pointwise segments) [line_begin, line_end) of image n, group g, block b, for the
// reduced channels [r0, r0 + rc); with images > 1, all rows of images [n, n + images), each
// rectangle set up once for all of them.
void run_lines(const DirectProblem& d, const DirectConvKernels& k, const float* x, const float* packed,
               const float* bias, float* y, int64_t n, int64_t images, int64_t g, int64_t b, int64_t line_begin,
               int64_t line_end, int64_t r0, int64_t rc, bool relu) {
  const ChannelBlocking& cb = d.blocking;
  const int64_t vectors = cb.vectors_of(b), width = vectors * cb.lanes;
  const int64_t max_pixels = k.max_pixels[vectors - 1];
  const DirectConvTileFn* tiles = k.tile[vectors - 1];
  const float* block_w = packed + d.packed_block_offset(g, b);

  DirectConvTile t{};
  t.bias = bias != nullptr ? bias + g * cb.group_lanes() + cb.first_channel(b) : nullptr;
  t.out_channels = std::min(width, d.out_per_group - cb.first_channel(b));
  t.reduce = rc;
  t.x_reduce_stride = 1;
  t.w_reduce_stride = width;
  const bool last_chunk = r0 + rc == d.reduce_per_group;
  const int64_t x_channel = g * d.reduce_per_group + r0;
  const int64_t y_channel = g * d.out_per_group + cb.first_channel(b);

  if (d.pointwise) {
    const int64_t pixels = d.batch * d.out_h * d.out_w;
    t.taps_h = t.taps_w = 1;
    t.x_pixel_stride = d.in_c;
    t.y_pixel_stride = d.out_c;
    t.w = block_w + r0 * width;
    t.accumulate = r0 > 0;
    t.relu = relu && last_chunk;
    for (int64_t line = line_begin; line < line_end; ++line) {
      const int64_t end = std::min(pixels, (line + 1) * d.segment);
      const int64_t begin = line * d.segment;
      const EvenTiles split(end - begin, max_pixels);
      for (int64_t i = 0; i < split.count; ++i) {
        const int64_t p = begin + split.start(i);
        t.pixels = split.size(i);
        t.x = x + p * d.in_c + x_channel;
        t.y = y + p * d.out_c + y_channel;
        tiles[t.pixels - 1](t);
      }
    }
    return;
  }

  for_each_rectangle(d, n, line_begin, line_end, Tiling{max_pixels, true}, [&](const Rectangle& r) {
    t.taps_h = r.rows.taps;
    t.taps_w = r.cols.taps;
    t.x_tap_h = r.rows.input_step * d.in_w * d.in_c;
    t.x_tap_w = r.cols.input_step * d.in_c;
    t.w_tap_h = r.rows.tap_step * d.kernel_w * d.reduce_per_group * width;
    t.w_tap_w = r.cols.tap_step * d.reduce_per_group * width;
    // Taps along a row that read adjacent pixels of every channel continue one reduction in x
    // and in the packed weights alike: one run of taps_w * rc, summed in the same order, in
    // place of taps_w runs of rc. ResNet's stem (3 channels a tap) ran 211-216 GFLOP/s with
    // runs of 3, 220-229 merged.
    t.reduce = rc;
    if (t.x_tap_w == rc && t.w_tap_w == rc * width) {
      t.reduce = rc * t.taps_w;
      t.taps_w = 1;
    }
    t.w = block_w + ((r.rows.first_tap * d.kernel_w + r.cols.first_tap) * d.reduce_per_group + r0) * width;
    t.x_pixel_stride = r.x_pixel_step;
    t.y_pixel_stride = r.y_pixel_step;
    t.accumulate = r0 > 0 || r.adds;
    t.relu = relu && last_chunk && !r.partial;
    if (r.adds && !r.reads_input && !t.relu) return;  // a strip line's finishing run, with nothing to do
    for_each_even_tile(
        r,
        [&](int64_t x_offset, int64_t y_offset, int64_t pixels) {
          t.pixels = pixels;
          t.x = r.reads_input ? x + x_channel + x_offset : x;
          t.y = y + y_channel + y_offset;
          tiles[pixels - 1](t);
        },
        images, d.in_h * d.in_w * d.in_c, d.out_h * d.out_w * d.out_c);
  });
}

// `pack(begin, end)`, when given, first packs items [begin, end) of pack_items(d) into `packed`
// within the same region.
template <class Pack>
void run_direct(const DirectProblem& d, const DirectConvKernels& k, const float* x, const float* packed,
                const float* bias, float* y, bool relu, int threads, Pack pack) {
  const int64_t lines = d.lines(), blocks = d.blocking.blocks;
  const int64_t total = d.line_batches() * d.groups * blocks * lines;
  // Whole images in a row of a share, with one channel block and one pass over the reduction,
  // run together: their geometry is the same (small layers at batch > 1 spent most of a call
  // redoing it per image).
  const bool images_together = d.groups * blocks == 1 && d.reduce_chunk == d.reduce_per_group && !d.pointwise;
  run_team(threads, [&](int thread, int team) {
    if constexpr (!std::is_same_v<Pack, std::nullptr_t>) {
      const Share packing = share_of(pack_items(d), thread, team);
      pack(packing.begin, packing.end);
#pragma omp barrier
    }
    const Share share = share_of(total, thread, team);
    if (d.segments_outer) {
      const int64_t per_line = d.groups * blocks;
      for (int64_t item = share.begin; item < share.end; ++item) {
        const int64_t line = item / per_line, b = item % blocks, g = (item % per_line) / blocks;
        for (int64_t r0 = 0; r0 < d.reduce_per_group; r0 += d.reduce_chunk) {
          const int64_t rc = std::min(d.reduce_chunk, d.reduce_per_group - r0);
          run_lines(d, k, x, packed, bias, y, 0, 1, g, b, line, line + 1, r0, rc, relu);
        }
      }
      return;
    }
    for (int64_t item = share.begin; item < share.end;) {
      const int64_t line = item % lines, block_index = item / lines;
      const int64_t b = block_index % blocks, g = (block_index / blocks) % d.groups;
      const int64_t n = block_index / (blocks * d.groups);
      const int64_t line_end = std::min(lines, line + (share.end - item));
      const int64_t images = images_together && line == 0 ? std::max<int64_t>(1, (share.end - item) / lines) : 1;
      for (int64_t r0 = 0; r0 < d.reduce_per_group; r0 += d.reduce_chunk) {
        const int64_t rc = std::min(d.reduce_chunk, d.reduce_per_group - r0);
        run_lines(d, k, x, packed, bias, y, n, images, g, b, line, line_end, r0, rc, relu);
      }
      item += images > 1 ? images * lines : line_end - line;
    }
  });
}


// ---- Backward data in the dot form: HWIO read as it is, vectors along the reduction. ----

// Output channels (forward input channels) one work item covers: as many whole channel tiles
// as keep their HWIO weights (every tap, every reduced channel) within 256 KB, so the pixel
// tiles of a thread's rows reread them from L2 rather than L3.
int64_t dot_channel_block(const DirectProblem& d, const DirectConvKernels& k) {
  constexpr int64_t kBudgetFloats = (256 * 1024) / sizeof(float);
  const int64_t per_channel = d.kernel_h * d.kernel_w * d.reduce_per_group;
  const int64_t tiles = std::max<int64_t>(1, kBudgetFloats / (per_channel * k.dot_max_channels));
  return std::min(tiles * k.dot_max_channels, d.out_per_group);
}

// Rows [line_begin, line_end) of image n, group g, channel block cblock of the transposed
// problem d. w is HWIO of the forward problem. Blocking the reduction for cache measured slower
// on the layers this form runs (small images, whose whole working set sits in L2).
void run_dot_lines(const DirectProblem& d, const DirectConvKernels& k, const float* dy, const float* w, float* dx,
                   int64_t n, int64_t g, int64_t cblock, int64_t line_begin, int64_t line_end) {
  const int64_t c_begin = cblock * d.dot_block, channels = std::min(d.dot_block, d.out_per_group - c_begin);
  const int64_t max_pixels = k.dot_max_pixels, max_channels = k.dot_max_channels;
  // HWIO is [kh][kw][forward in_c / groups = d.out_per_group][forward out_c = d.in_c].
  const int64_t w_row = d.in_c, w_tap = d.out_per_group * d.in_c;
  const int64_t x_channel = g * d.reduce_per_group, y_channel = g * d.out_per_group + c_begin;
  DirectDotTile t{};
  t.reduce = d.reduce_per_group;
  t.w_channel_stride = w_row;
  for_each_rectangle(d, n, line_begin, line_end, Tiling{max_pixels, false}, [&](const Rectangle& r) {
    t.taps_h = r.rows.taps;
    t.taps_w = r.cols.taps;
    t.x_tap_h = r.rows.input_step * d.in_w * d.in_c;
    t.x_tap_w = r.cols.input_step * d.in_c;
    t.w_tap_h = r.rows.tap_step * d.kernel_w * w_tap;
    t.w_tap_w = r.cols.tap_step * w_tap;
    const float* w_first = w + (r.rows.first_tap * d.kernel_w + r.cols.first_tap) * w_tap + c_begin * w_row + x_channel;
    t.x_pixel_stride = r.x_pixel_step;
    t.y_pixel_stride = r.y_pixel_step;
    for_each_even_tile(r, [&](int64_t x_offset, int64_t y_offset, int64_t pixels) {
      t.pixels = pixels;
      t.x = r.reads_input ? dy + x_channel + x_offset : dy;
      float* y_tile = dx + y_channel + y_offset;
      for (int64_t c = 0; c < channels; c += max_channels) {
        t.channels = std::min(max_channels, channels - c);
        t.w = w_first + c * w_row;
        t.y = y_tile + c;
        k.dot_tile[pixels - 1][t.channels - 1](t);
      }
    });
  });
}

void run_dot(const DirectProblem& d, const DirectConvKernels& k, const float* dy, const float* w, float* dx,
             int threads) {
  const int64_t rows = d.out_h, cblocks = ceil_div(d.out_per_group, d.dot_block);
  const int64_t total = d.batch * d.groups * cblocks * rows;
  run_team(threads, [&](int thread, int team) {
    const Share share = share_of(total, thread, team);
    for (int64_t item = share.begin; item < share.end;) {
      const int64_t row = item % rows, block_index = item / rows;
      const int64_t cb = block_index % cblocks, g = (block_index / cblocks) % d.groups;
      const int64_t n = block_index / (cblocks * d.groups);
      const int64_t row_end = std::min(rows, row + (share.end - item));
      run_dot_lines(d, k, dy, w, dx, n, g, cb, row, row_end);
      item += row_end - row;
    }
  });
}

// ---- Depthwise: groups == in_c == out_c, vectors along the channels. ----

// Channels one weight-gradient item covers: up to 16 vectors, in the fewest blocks, as even as
// whole vectors allow, so that threads splitting the blocks get equal work.
constexpr int64_t kDepthwiseBlockVectors = 16;

// Channels per block when `channels` go in `blocks` blocks of whole vectors, as even as possible.
int64_t even_block(int64_t channels, int64_t lanes, int64_t blocks) {
  return ceil_div(ceil_div(channels, lanes), blocks) * lanes;
}

int64_t depthwise_block(int64_t channels, int64_t lanes) {
  return even_block(channels, lanes, ceil_div(ceil_div(channels, lanes), kDepthwiseBlockVectors));
}

// Channels one forward (or backward-data) item covers: whole pixels unless the rows alone
// split badly among the threads. Threads splitting a pixel's channels slow each other: the L2
// prefetchers of one fetch the other's lines, outputs included, and at as many blocks as
// threads they walk the same rows in step. Forced into two blocks, MobileNetV2's 384 channels
// at 14x14 ran 0.22x oneDNN against 1.41x in whole pixels (medians of 3 runs); its 7-row layers
// (576 channels at stride 2, 960 at 7x7) ran 0.98x and 0.93x in whole pixels, 4 rows on one
// thread and 3 on the other, against 0.31x and 0.63x in two blocks (medians of 5 alternating
// runs; two threads throughout). Fewer rows (1, 3 or 5 for two threads) are cut into the
// fewest even blocks of at least 4 vectors that even the items out, never as many as threads.
constexpr double kDepthwiseRowBalance = 0.85;

int64_t depthwise_rows_block(int64_t channels, int64_t lanes, int64_t rows, int threads) {
  const int64_t vectors = ceil_div(channels, lanes);
  const auto efficiency = [&](int64_t blocks) {
    const int64_t items = rows * blocks, per_thread = ceil_div(items, threads);
    return double(items) / double(per_thread * threads);
  };
  if (efficiency(1) >= kDepthwiseRowBalance) return vectors * lanes;
  int64_t best = 1;
  for (int64_t blocks = 2; blocks <= std::max<int64_t>(1, vectors / 4); ++blocks) {
    if (blocks != threads && efficiency(blocks) > efficiency(best) + 1e-9) best = blocks;
    if (efficiency(best) >= 0.95) break;
  }
  return even_block(channels, lanes, best);
}

// Turns one tap axis of a tile that walks its input backwards (backward data through dy) into
// the same products walked forwards, summed in the other order: from the axis's last input
// and last weight, with both steps negated.
void walk_taps_forwards(int64_t taps, int64_t& x_tap, int64_t& w_tap, const float*& w, int64_t& x_shift) {
  x_shift += (taps - 1) * x_tap;
  w += (taps - 1) * w_tap;
  x_tap = -x_tap;
  w_tap = -w_tap;
}

// Rows [oh_begin, oh_end) of image n for channels [c0, c0 + channels). Weights are packed
// [kh][kw][padded channels].
void run_depthwise_rows(const DirectProblem& d, const DepthwiseConvKernels& k, const float* x, const float* packed,
                        const float* bias, float* y, int64_t n, int64_t oh_begin, int64_t oh_end, int64_t c0,
                        int64_t channels, bool relu) {
  const int64_t C = d.in_c, padded = ceil_div(C, k.lanes) * k.lanes;
  DepthwiseConvTile t{};
  t.bias = bias != nullptr ? bias + c0 : nullptr;
  t.channels = channels;
  t.relu = relu;
  for_each_rectangle(d, n, oh_begin, oh_end, Tiling{kMaxDepthwisePixels, false}, [&](const Rectangle& r) {
    t.taps_h = r.rows.taps;
    t.taps_w = r.cols.taps;
    t.x_tap_h = r.rows.input_step * d.in_w * C;
    t.x_tap_w = r.cols.input_step * C;
    t.w_tap_h = r.rows.tap_step * d.kernel_w * padded;
    t.w_tap_w = r.cols.tap_step * padded;
    int64_t x_shift = c0;
    t.w = packed + (r.rows.first_tap * d.kernel_w + r.cols.first_tap) * padded + c0;
    // Backward data walks the taps backwards through dy. Walking a row's taps forwards instead
    // lets the row-reuse path of the tile take stride-1 rows; walking the kernel rows forwards
    // lets the two-row path pair them, and is done only for that (stride 2's phases ran 3%
    // slower with their rows walked forwards).
    if (r.reads_input && t.x_tap_w < 0) walk_taps_forwards(t.taps_w, t.x_tap_w, t.w_tap_w, t.w, x_shift);
    t.x_pixel_stride = r.x_pixel_step;
    t.y_pixel_stride = r.y_pixel_step;
    t.x_row_stride = r.x_line_step;
    t.y_row_stride = r.y_line_step;
    t.rows = 2;
    bool pairs = k.pair_pixels > 0 && depthwise_pairs_rows(t);
    if (k.pair_pixels > 0 && r.reads_input && t.x_tap_h < 0) {
      DepthwiseConvTile forwards = t;
      int64_t forwards_shift = x_shift;
      walk_taps_forwards(t.taps_h, forwards.x_tap_h, forwards.w_tap_h, forwards.w, forwards_shift);
      if (depthwise_pairs_rows(forwards)) {
        t = forwards;
        x_shift = forwards_shift;
        pairs = true;
      }
    }
    int64_t line = 0;
    if (pairs) {
      const EvenTiles split(r.length, k.pair_pixels);
      for (; line + 2 <= r.lines; line += 2) {
        for (int64_t i = 0; i < split.count; ++i) {
          t.pixels = split.size(i);
          t.x = x + x_shift + r.x_at(line, split.start(i));
          t.y = y + c0 + r.y_at(line, split.start(i));
          k.tile[t.pixels - 1](t);
        }
      }
    }
    t.rows = 1;
    for (; line < r.lines; ++line) {
      for (int64_t j = 0; j < r.length; j += kMaxDepthwisePixels) {
        t.pixels = std::min<int64_t>(kMaxDepthwisePixels, r.length - j);
        t.x = r.reads_input ? x + x_shift + r.x_at(line, j) : x;
        t.y = y + c0 + r.y_at(line, j);
        k.tile[t.pixels - 1](t);
      }
    }
  });
}

// Packs depthwise HWIO weights ([kh][kw][1][C]) to [kh][kw][padded C], taps [begin, end).
void pack_depthwise(const DirectProblem& d, int64_t lanes, const float* w, float* packed, int64_t begin, int64_t end) {
  const int64_t C = d.in_c, padded = ceil_div(C, lanes) * lanes;
  for (int64_t tap = begin; tap < end; ++tap) {
    std::memcpy(packed + tap * padded, w + tap * C, static_cast<size_t>(C) * sizeof(float));
    for (int64_t c = C; c < padded; ++c) packed[tap * padded + c] = 0.0f;
  }
}

// One region: when `unpacked` is not null, first pack it into `pack_target` (which `packed`
// then names), then run the (image, channel block, row) items.
void run_depthwise(const DirectProblem& d, const DepthwiseConvKernels& k, const float* x, const float* packed,
                   const float* bias, float* y, bool relu, int threads, const float* unpacked = nullptr,
                   float* pack_target = nullptr) {
  const int64_t C = d.in_c, rows = d.out_h;
  const int64_t block = depthwise_rows_block(C, k.lanes, d.batch * rows, threads);
  const int64_t blocks = ceil_div(C, block);
  const int64_t total = d.batch * blocks * rows;
  run_team(threads, [&](int thread, int team) {
    if (unpacked != nullptr) {
      const Share packing = share_of(d.kernel_h * d.kernel_w, thread, team);
      pack_depthwise(d, k.lanes, unpacked, pack_target, packing.begin, packing.end);
#pragma omp barrier
    }
    const Share share = share_of(total, thread, team);
    for (int64_t item = share.begin; item < share.end;) {
      const int64_t oh = item % rows, cb = (item / rows) % blocks, n = item / (rows * blocks);
      const int64_t oh_end = std::min(rows, oh + (share.end - item));
      const int64_t c0 = cb * block;
      run_depthwise_rows(d, k, x, packed, bias, y, n, oh, oh_end, c0, std::min(block, C - c0), relu);
      item += oh_end - oh;
    }
  });
}

class DirectConv final : public ConvForward, public ConvBackwardData, public ConvBackwardWeights {
 public:
  DirectConv(const Conv2dParams& p, const PlanContext& ctx)
      : ConvBackwardData(p),
        p_(p),
        relu_(ctx.activation == Activation::relu),
        k_(kernels<DirectConvKernels>(ctx.isa)),
        dk_(kernels<DepthwiseConvKernels>(ctx.isa)),
        depthwise_(p.groups == p.in_c && p.out_c == p.in_c && p.groups > 1),
        fwd_(forward_problem(p, k_)),
        bwd_(backward_data_problem(p, k_)) {
    choose_blocking(fwd_, k_);
    choose_blocking(bwd_, k_);
    // A strip's tiles sum rc channels per tap, where a whole row of taps otherwise merges into
    // one reduction when rc is all of the channels. Below a vector of them that matters more than
    // the lone border pixels: ResNet's stem (3 channels) ran 0.970-0.974x oneDNN in strips
    // against 0.943-1.020x (median 0.994x) without, three alternating runs.
    for (DirectProblem* d : {&fwd_, &bwd_}) {
      if (depthwise_ || d->columns.size() == 1 || d->reduce_chunk < k_.lanes) continue;
      d->column_strips = tap_strips(column_axis(p), d->transposed);
      if (!d->column_strips.empty() && !d->transposed) d->column_strips.push_back({0, 1, d->out_w, 0, 0, TapRange{}});
    }
    // Packing the transposed weights costs about one pass over them per call; the convolution
    // reuses each weight once per input pixel. Below ~128 pixels (ResNet's 7x7 stage at batch
    // 1), packing costs more than the dot form's slower tile (85% of the packed tile's rate on
    // Zen 4); from 14x14 up, packing wins. So does the dot form when few input channels would
    // fill under half the packed tile's lanes (an RGB stem). A reduction shorter than a vector
    // would run on tails.
    // Weights packed once ahead of the calls (backward_data_packed) leave only the tile rates to
    // compare: res5b (512 channels at 7x7) ran 263 GFLOP/s on packed tiles against the dot
    // form's 238, so there only thin lanes choose the dot form.
    const int64_t lanes = k_.lanes, icg = p.in_c_per_group();
    const bool few_pixels = p.batch * p.in_h * p.in_w <= 128;
    const bool thin_lanes = 2 * icg < ceil_div(icg, lanes) * lanes;
    const bool dot_possible = !depthwise_ && p.out_c_per_group() >= lanes;
    bwd_.dot = dot_possible && (few_pixels || thin_lanes);
    bwd_prepacked_dot_ = dot_possible && thin_lanes;
    bwd_.dot_block = dot_channel_block(bwd_, k_);
    if (depthwise_) fwd_.pointwise = bwd_.pointwise = false;
    cache_tile_geometry();
    for (int64_t kh = 0; kh < p.kernel_h; ++kh) {
      rows_of_kh_.push_back(outputs_reading_tap(row_axis(p), kh));
    }
    for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
      cols_of_kw_.push_back(outputs_reading_tap(column_axis(p), kw));
    }

  }

  size_t packed_weights_size() const override {
    if (depthwise_) return static_cast<size_t>(p_.kernel_h * p_.kernel_w * padded_channels());
    return static_cast<size_t>(p_.groups * fwd_.blocking.group_lanes() * p_.kernel_h * p_.kernel_w *
                               p_.in_c_per_group());
  }

  void pack_weights(const float* w, float* packed) const override {
    if (depthwise_) {
      pack_depthwise(fwd_, dk_.lanes, w, packed, 0, p_.kernel_h * p_.kernel_w);
    } else {
      pack_hwio(fwd_, k_, w, packed, 0, pack_items(fwd_));
    }
  }

  void forward_packed(const float* x, const float* packed_w, const float* b, float* y, int threads) const override {
    auto lease = scratch_.acquire(bias_size());
    const float* bias = pad_bias(b, lease.data());
    if (depthwise_) {
      run_depthwise(fwd_, dk_, x, packed_w, bias, y, relu_, team(threads));
    } else {
      run_direct(fwd_, k_, x, packed_w, bias, y, relu_, team(threads), nullptr);
    }
  }

  // Packs inside the call's one parallel region, then runs.
  void forward(const float* x, const float* w, const float* b, float* y, int threads) const override {
    const size_t packed_size = packed_weights_size();
    auto lease = scratch_.acquire(packed_size + bias_size());
    float* packed = lease.data();
    const float* bias = pad_bias(b, packed + packed_size);
    if (depthwise_) {
      run_depthwise(fwd_, dk_, x, packed, bias, y, relu_, team(threads), w, packed);
    } else {
      run_direct(fwd_, k_, x, packed, bias, y, relu_, team(threads),
                 [&](int64_t begin, int64_t end) { pack_hwio(fwd_, k_, w, packed, begin, end); });
    }
  }

  void backward_data(const float* dy, const float* w, float* dx, int threads) const override {
    if (depthwise_) {
      auto lease = scratch_.acquire(packed_weights_size());
      run_depthwise(bwd_, dk_, dy, lease.data(), nullptr, dx, false, team(threads), w, lease.data());
      return;
    }
    if (bwd_.dot) {
      run_dot(bwd_, k_, dy, w, dx, team(threads));
      return;
    }
    auto lease = scratch_.acquire(transposed_weights_size());
    float* packed = lease.data();
    run_direct(bwd_, k_, dy, packed, nullptr, dx, false, team(threads),
               [&](int64_t begin, int64_t end) { pack_hwio(bwd_, k_, w, packed, begin, end); });
  }

  // Packed once: depthwise, forward's layout (the taps are walked backwards instead); the dot
  // form, HWIO as it is (ConvBackwardData's default); otherwise the transposed blocks.
  size_t backward_data_packed_size() const override {
    if (depthwise_) return packed_weights_size();
    if (bwd_prepacked_dot_) return ConvBackwardData::backward_data_packed_size();
    return transposed_weights_size();
  }

  void pack_backward_data_weights(const float* w, float* packed) const override {
    if (depthwise_) {
      pack_weights(w, packed);
    } else if (bwd_prepacked_dot_) {
      ConvBackwardData::pack_backward_data_weights(w, packed);
    } else {
      pack_hwio(bwd_, k_, w, packed, 0, pack_items(bwd_));
    }
  }

  void backward_data_packed(const float* dy, const float* packed_w, float* dx, int threads) const override {
    if (depthwise_) {
      run_depthwise(bwd_, dk_, dy, packed_w, nullptr, dx, false, team(threads));
    } else if (bwd_prepacked_dot_) {
      run_dot(bwd_, k_, dy, packed_w, dx, team(threads));
    } else {
      run_direct(bwd_, k_, dy, packed_w, nullptr, dx, false, team(threads), nullptr);
    }
  }

  void backward_weights(const float* x, const float* dy, float* dw, float* db, int threads) const override {
    if (depthwise_) {
      depthwise_weight_grad(x, dy, dw, db, threads);
    } else {
      weight_grad(x, dy, dw, db, team(threads));
    }
  }

 private:
  // The whole-image rectangles of every tile width the directions will ask for.
  void cache_tile_geometry() {
    if (depthwise_) {
      cache_image_rectangles(fwd_, Tiling{kMaxDepthwisePixels, false});
      cache_image_rectangles(bwd_, Tiling{kMaxDepthwisePixels, false});
      return;
    }
    if (bwd_.dot) cache_image_rectangles(bwd_, Tiling{k_.dot_max_pixels, false});
    for (DirectProblem* d : {&fwd_, &bwd_}) {
      if (d == &bwd_ && bwd_prepacked_dot_) continue;  // no packed tiles either way
      const ChannelBlocking& cb = d->blocking;
      cache_image_rectangles(*d, Tiling{k_.max_pixels[cb.block_vectors - 1], true});
      cache_image_rectangles(*d, Tiling{k_.max_pixels[cb.vectors_of(cb.blocks - 1) - 1], true});
    }
  }

  // The team a call opens: one thread below ~0.5 MFLOP, where starting a second costs more
  // than it saves (measured: ~1 us per region on this machine). Results do not depend on it.
  int team(int threads) const { return p_.flops() < 5e5 ? 1 : threads; }

  int64_t padded_channels() const { return ceil_div(p_.out_c, dk_.lanes) * dk_.lanes; }
  // Backward data's weights transposed into blocks of forward input channels.
  size_t transposed_weights_size() const {
    return static_cast<size_t>(p_.groups * bwd_.blocking.group_lanes() * p_.kernel_h * p_.kernel_w *
                               p_.out_c_per_group());
  }
  size_t bias_size() const {
    return static_cast<size_t>(depthwise_ ? padded_channels() : p_.groups * fwd_.blocking.group_lanes());
  }

  // The bias zero-padded to the kernels' whole vectors (per group), or nullptr.
  const float* pad_bias(const float* b, float* padded) const {
    if (b == nullptr) return nullptr;
    const int64_t group_lanes = depthwise_ ? padded_channels() : fwd_.blocking.group_lanes();
    const int64_t groups = depthwise_ ? 1 : p_.groups, per_group = depthwise_ ? p_.out_c : p_.out_c_per_group();
    for (int64_t g = 0; g < groups; ++g) {
      for (int64_t c = 0; c < group_lanes; ++c) {
        padded[g * group_lanes + c] = c < per_group ? b[g * per_group + c] : 0.0f;
      }
    }
    return padded;
  }

  // dw[kh,kw,ci,oc] = sum_{n,oh,ow} x[n, oh*sh-pt+kh*dh, ow*sw-pl+kw*dw, g*ICG+ci] * dy[n,oh,ow,g*OCG+oc]:
  // for each tap, a tile of input channels (the tile's "pixels") by output-channel vectors, the
  // reduction running over the output pixels that tap reads in bounds. dy is first packed per
  // block ([group][block][n][oh][ow][block lanes], zero-padded) so the tile reads it as it
  // reads packed weights. The output rows go in bands whose x rows and one block's dy rows (what
  // a thread rereads from one item to the next) fit in the L2 (l2_bytes), every item summing its band into dw (the first band overwrites); a thread owns the same
  // items in every band, so bands need no barrier and each sum runs in image and row order.
  // Every band rereads and rewrites the thread's whole share of dw, so a band is only cut where
  // the cache needs it: a 256 KB budget over all blocks' dy rows cut 512 channels at 14x14 into
  // 4 bands (186-187 GFLOP/s against 226-241 in one) and 128 channels at 56x56, stride 2,
  // into 14 (131-136 against 202-226 in 2); VGG's 224x224 layers still need them.
  // db is summed by `threads` segments of the output pixels (a fixed partition for a given
  // thread count) into partial sums, added in segment order at the end: split by channels, a
  // layer of 64 or fewer output channels left one thread summing every pixel alone.
  void weight_grad(const float* x, const float* dy, float* dw, float* db, int threads) const {
    const Conv2dParams& p = p_;
    const ChannelBlocking& cb = fwd_.blocking;
    const int64_t OH = p.out_h(), OW = p.out_w(), ICG = p.in_c_per_group(), OCG = p.out_c_per_group();
    const int64_t pixels = p.batch * OH * OW;
    // When every block is whole vectors, the tile reads dy where it lies (a pixel's channels
    // are out_c floats apart); packing it only pays for zero-padding a partial last vector.
    // The copy cost a sixth of res2a's 1x1 weight gradient.
    const bool dy_in_place = OCG % cb.lanes == 0;
    const int64_t packed_floats = dy_in_place ? 0 : p.groups * cb.group_lanes() * pixels, segments = threads;
    auto lease = scratch_.acquire(static_cast<size_t>(packed_floats + (db != nullptr ? segments * p.out_c : 0)));
    float* packed_dy = lease.data();
    float* db_partial = packed_dy + packed_floats;  // [segment][out_c]
    const auto block_base = [&](int64_t g, int64_t b) { return (g * cb.group_lanes() + cb.first_channel(b)) * pixels; };
    const int64_t ci_tile = k_.max_pixels[cb.block_vectors - 1];
    const int64_t ci_tiles = ceil_div(ICG, ci_tile), taps = p.kernel_h * p.kernel_w;
    const int64_t pack_total = dy_in_place ? 0 : p.groups * cb.blocks * p.batch * OH;
    const int64_t grad_total = p.groups * cb.blocks * taps * ci_tiles;
    const int64_t row_floats = p.stride_h * p.in_w * p.in_c + OW * cb.block_vectors * cb.lanes;
    const int64_t row_bytes = row_floats * int64_t(sizeof(float));
    const int64_t band = std::max<int64_t>(1, l2_bytes() / row_bytes);
    run_team(threads, [&](int thread, int team) {
      const Share packing = share_of(pack_total, thread, team);
      for (int64_t item = packing.begin; item < packing.end; ++item) {
        const int64_t row = item % (p.batch * OH), b = (item / (p.batch * OH)) % cb.blocks;
        const int64_t g = item / (p.batch * OH * cb.blocks);
        const int64_t width = cb.vectors_of(b) * cb.lanes, valid = std::min(width, OCG - cb.first_channel(b));
        float* out = packed_dy + block_base(g, b) + row * OW * width;
        const float* in = dy + row * OW * p.out_c + g * OCG + cb.first_channel(b);
        for (int64_t ow = 0; ow < OW; ++ow, out += width, in += p.out_c) {
          std::memcpy(out, in, static_cast<size_t>(valid) * sizeof(float));
          for (int64_t j = valid; j < width; ++j) out[j] = 0.0f;
        }
      }
      if (db != nullptr) bias_grad_segments(dy, db_partial, segments, thread, team);
#pragma omp barrier
      // Items are (group, block, tap, input-channel tile), tiles innermost: what depends on the
      // tap is set up once per run of its tiles.
      const Share share = share_of(grad_total, thread, team);
      DirectConvTile t{};
      t.x_pixel_stride = 1;
      t.y_pixel_stride = p.out_c;
      t.taps_w = 1;
      t.x_tap_h = p.stride_h * p.in_w * p.in_c;
      t.x_reduce_stride = p.stride_w * p.in_c;
      for (int64_t n = 0; n < p.batch; ++n) {
        for (int64_t oh0 = 0; oh0 < OH; oh0 += band) {
          const int64_t oh1 = std::min(OH, oh0 + band);
          t.accumulate = n > 0 || oh0 > 0;
          int64_t current_tap_item = -1, vectors = 0, x_first = 0, dy_first = 0, dw_first = 0;
          bool reads = false;
          for (int64_t item = share.begin; item < share.end; ++item) {
            const int64_t tap_item = item / ci_tiles, ci0 = (item - tap_item * ci_tiles) * ci_tile;
            if (tap_item != current_tap_item) {
              current_tap_item = tap_item;
              const int64_t tap = tap_item % taps, b = (tap_item / taps) % cb.blocks, g = tap_item / (taps * cb.blocks);
              const int64_t kh = tap / p.kernel_w, kw = tap % p.kernel_w;
              vectors = cb.vectors_of(b);
              const int64_t width = vectors * cb.lanes;
              const OutputRange& all_rows = rows_of_kh_[static_cast<size_t>(kh)];
              const OutputRange rows{std::max(all_rows.lo, oh0), std::min(all_rows.hi, oh1)};
              const OutputRange& cols = cols_of_kw_[static_cast<size_t>(kw)];
              t.taps_h = rows.count();
              t.reduce = cols.count();
              const int64_t dy_step = dy_in_place ? p.out_c : width;
              t.w_tap_h = OW * dy_step;
              t.w_reduce_stride = dy_step;
              t.out_channels = std::min(width, OCG - cb.first_channel(b));
              reads = t.taps_h > 0 && t.reduce > 0;
              const int64_t ih = rows.lo * p.stride_h - p.pad_top + kh * p.dilation_h;
              const int64_t iw = cols.lo * p.stride_w - p.pad_left + kw * p.dilation_w;
              x_first = reads ? ((n * p.in_h + ih) * p.in_w + iw) * p.in_c + g * ICG : 0;
              const int64_t dy_pixel_index = (n * OH + rows.lo) * OW + cols.lo;
              dy_first = !reads      ? 0
                         : dy_in_place ? dy_pixel_index * p.out_c + g * OCG + cb.first_channel(b)
                                       : block_base(g, b) + dy_pixel_index * width;
              dw_first = tap * ICG * p.out_c + g * OCG + cb.first_channel(b);
            }
            t.pixels = std::min(ci_tile, ICG - ci0);
            t.y = dw + dw_first + ci0 * p.out_c;
            t.x = reads ? x + x_first + ci0 : x;
            const float* dy_source = dy_in_place ? dy : packed_dy;
            t.w = reads ? dy_source + dy_first : dy_source;
            k_.tile[vectors - 1][t.pixels - 1](t);
          }
        }
      }
      if (db != nullptr) {
        // The partial sums were complete at the barrier above.
        const Share channels = share_of(p.out_c, thread, team);
        const int64_t width = channels.end - channels.begin;
        if (width > 0) {
          std::copy_n(db_partial + channels.begin, width, db + channels.begin);
          for (int64_t segment = 1; segment < segments; ++segment) {
            const float* in = db_partial + segment * p.out_c + channels.begin;
            for (int64_t c = 0; c < width; ++c) db[channels.begin + c] += in[c];
          }
        }
      }
    });
  }

  // Depthwise dw[kh,kw,c] = sum_{n,oh,ow} x[n, ih, iw, c] * dy[n, oh, ow, c], vectorized over c.
  // The output rows are cut into `threads` segments (a fixed partition for a given thread
  // count); each (segment, channel block) item walks its rows once, adding every tap's
  // products for a row while that row's inputs are in cache, into partial sums of its own.
  // db's partial sums come from the same pass, each dy row summed while it is in cache: a
  // separate pass split by channels left one thread summing every pixel of a 32-channel
  // layer alone, which took as long as the whole weight gradient. The segments' partial sums
  // are then added in segment order.
  void depthwise_weight_grad(const float* x, const float* dy, float* dw, float* db, int threads) const {
    const Conv2dParams& p = p_;
    const int64_t C = p.in_c, OH = p.out_h(), OW = p.out_w(), taps = p.kernel_h * p.kernel_w;
    const int64_t block = depthwise_block(C, dk_.lanes), blocks = ceil_div(C, block);
    const int64_t segments = threads, rows = p.batch * OH;
    const int64_t sums_per_segment = db != nullptr ? taps + 1 : taps;  // row `taps` holds db
    auto lease = scratch_.acquire(static_cast<size_t>(segments * sums_per_segment * C));
    float* partial = lease.data();  // [segment][tap, then db][C]
    run_team(team(threads), [&](int thread, int team) {
      const Share share = share_of(segments * blocks, thread, team);
      DepthwiseWeightGradTile t{};
      t.dy_row_stride = OW * C;
      t.dw_tap_h = p.kernel_w * C;
      t.dw_tap_stride = C;
      t.accumulate = true;
      for (int64_t item = share.begin; item < share.end; ++item) {
        const int64_t segment = item / blocks, c0 = (item % blocks) * block;
        const Share seg = share_of(rows, static_cast<int>(segment), static_cast<int>(segments));
        float* sums = partial + segment * sums_per_segment * C + c0;
        t.channels = std::min(block, C - c0);
        for (int64_t s = 0; s < sums_per_segment; ++s) std::fill_n(sums + s * C, t.channels, 0.0f);
        // Forward's row runs, a stretch of output rows reading the same kernel rows each: all of
        // those kernel rows at once, so that each dy load feeds all their taps, and all of the
        // stretch's rows in one call, so that the tile's sums stay in registers across them.
        for (int64_t n = seg.begin / OH; n * OH < seg.end; ++n) {
          const int64_t oh_begin = std::max<int64_t>(seg.begin - n * OH, 0), oh_end = std::min(seg.end - n * OH, OH);
          for (const AxisRun& rows_run : fwd_.row_runs) {
            const RunSlice rows = slice(rows_run, oh_begin, oh_end);
            if (rows.count == 0) continue;
            const int64_t row = n * OH + rows_run.out_begin + rows.first;
            t.rows = rows.count;
            t.taps_h = rows_run.taps.taps;
            t.x_row_stride = rows_run.in_step * p.in_w * C;
            t.x_tap_h = rows_run.taps.input_step * p.in_w * C;
            const int64_t ih = rows_run.in_begin + rows.first * rows_run.in_step;
            // The forward column runs: each a stretch of output columns reading the same taps
            // (none where the row run's rows read only padding).
            for (const AxisRun& run : fwd_.columns) {
              if (t.taps_h == 0 || run.taps.taps == 0) continue;
              t.x = x + ((n * p.in_h + ih) * p.in_w + run.in_begin) * C + c0;
              t.dy = dy + (row * OW + run.out_begin) * C + c0;
              t.dw = sums + (rows_run.taps.first_tap * p.kernel_w + run.taps.first_tap) * C;
              t.cols = run.pixels;
              t.taps_w = run.taps.taps;
              t.x_col_stride = run.in_step * C;
              t.x_tap_w = run.taps.input_step * C;
              t.dy_col_stride = run.out_step * C;
              dk_.weight_grad(t);
            }
            if (db != nullptr) dk_.bias_grad(dy + row * OW * C + c0, rows.count * OW, C, t.channels, sums + taps * C);
          }
        }
      }
#pragma omp barrier
      const Share reduce = share_of(sums_per_segment * blocks, thread, team);
      for (int64_t item = reduce.begin; item < reduce.end; ++item) {
        const int64_t s = item / blocks, c0 = (item % blocks) * block, width = std::min(block, C - c0);
        float* out = s < taps ? dw + s * C + c0 : db + c0;
        std::copy_n(partial + s * C + c0, width, out);
        for (int64_t segment = 1; segment < segments; ++segment) {
          const float* in = partial + (segment * sums_per_segment + s) * C + c0;
          for (int64_t c = 0; c < width; ++c) out[c] += in[c];
        }
      }
    });
  }

  // This thread's segments of the bias-gradient partial sums: partial[segment][oc] = the sum
  // of dy over that segment's output pixels, taken in chunks whose dy stays in L1 across the
  // kernel's passes over the channel vectors (each chunk added to the partial sums in order).
  void bias_grad_segments(const float* dy, float* partial, int64_t segments, int thread, int team) const {
    const int64_t OC = p_.out_c, pixels = p_.batch * p_.out_h() * p_.out_w();
    constexpr int64_t kChunkBytes = 16 * 1024;
    const int64_t chunk = std::max<int64_t>(1, kChunkBytes / (OC * int64_t(sizeof(float))));
    const Share mine = share_of(segments, thread, team);
    for (int64_t segment = mine.begin; segment < mine.end; ++segment) {
      const Share seg = share_of(pixels, static_cast<int>(segment), static_cast<int>(segments));
      float* sums = partial + segment * OC;
      std::fill_n(sums, OC, 0.0f);
      for (int64_t i = seg.begin; i < seg.end; i += chunk) {
        dk_.bias_grad(dy + i * OC, std::min(chunk, seg.end - i), OC, OC, sums);
      }
    }
  }

  Conv2dParams p_;
  bool relu_;
  const DirectConvKernels& k_;
  const DepthwiseConvKernels& dk_;
  bool depthwise_;
  DirectProblem fwd_, bwd_;
  // Backward data from weights packed ahead of the call runs the dot form (on HWIO) too.
  bool bwd_prepacked_dot_ = false;
  // Backward weights: for each kh (kw), the output rows (columns) that read inside the input.
  std::vector<OutputRange> rows_of_kh_, cols_of_kw_;
  mutable WorkspacePool scratch_;  // per-call buffers, reused across calls
};

}  // namespace

ConvImpls make_direct_conv(const Conv2dParams& p, const PlanContext& ctx) {
  ConvImpls impls = conv_impls(std::make_shared<const DirectConv>(p, ctx));
  take_grouped_directions(p, ctx, impls);
  return impls;
}

}  // namespace convkit::detail
