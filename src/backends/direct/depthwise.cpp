// The direct backend's depthwise convolution (depthwise.hpp).
#include "backends/direct/depthwise.hpp"

#include <algorithm>

#include "conv/gather_runs.hpp"
#include "threading.hpp"

namespace convkit::detail::direct {
namespace {

// Channels one weight-gradient item covers: up to 16 vectors, in the fewest blocks, as even as
// whole vectors allow, so that threads splitting the blocks get equal work.
constexpr int64_t kDepthwiseBlockVectors = 16;

// Channels per block when `channels` go in `blocks` blocks of whole vectors, as even as possible.
int64_t even_block(int64_t channels, int64_t lanes, int64_t blocks) {
  return ceil_div(ceil_div(channels, lanes), blocks) * lanes;
}

// Channels one forward (or backward-data) item covers: whole pixels unless the rows alone
// split badly among the threads. Threads splitting a pixel's channels slow each other: the L2
// prefetchers of one fetch the other's lines, outputs included, and at as many blocks as
// threads they walk the same rows in step, even where the rows split unevenly
// (docs/results/decisions.md, "direct: depthwise channel blocks"). Fewer rows (1, 3 or 5 for two threads) are cut into the
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

// The paired columns (DirectProblem::paired) of rows [oh_begin, oh_end) of image n, channels
// [c0, c0 + channels), line by line in tiles of at most k.max_pairs pairs.
void run_paired_columns(const DirectProblem& d, const DepthwiseConvKernels& k, const float* x, const float* packed,
                        float* y, int64_t n, int64_t oh_begin, int64_t oh_end, int64_t c0, int64_t channels) {
  const int64_t C = d.in_c, padded = ceil_div(C, k.lanes) * k.lanes;
  const EvenTiles tiles(d.paired.pairs, k.max_pairs);
  PhasePairTile t{};
  t.channels = channels;
  t.x_pixel_stride = C;
  t.y_pixel_stride = C;
  t.w_tap_w = padded;
  t.taps_w = d.kernel_w;
  for (const AxisRun& rr : d.row_runs) {
    const RunSlice rows = slice(rr, oh_begin, oh_end);
    t.taps_h = rr.taps.taps;
    t.x_tap_h = rr.taps.input_step * d.in_w * C;
    t.w_tap_h = rr.taps.tap_step * d.kernel_w * padded;
    t.w = packed + rr.taps.first_tap * d.kernel_w * padded + c0;
    for (int64_t i = rows.first; i < rows.first + rows.count; ++i) {
      const int64_t oh = rr.out_begin + i * rr.out_step, ih = rr.in_begin + i * rr.in_step;
      const float* x_row = x + ((n * d.in_h + ih) * d.in_w + d.paired.in_begin) * C + c0;
      float* y_row = y + ((n * d.out_h + oh) * d.out_w + d.paired.out_begin) * C + c0;
      for (int64_t tile = 0; tile < tiles.count; ++tile) {
        t.pairs = tiles.size(tile);
        t.x = t.taps_h > 0 ? x_row + tiles.start(tile) * C : x;
        t.y = y_row + 2 * tiles.start(tile) * C;
        k.pair_tile[t.pairs - 1](t);
      }
    }
  }
}

// Rows [oh_begin, oh_end) of image n for channels [c0, c0 + channels). Weights are packed
// [kh][kw][padded channels].
void run_depthwise_rows(const DirectProblem& d, const DepthwiseConvKernels& k, const float* x, const float* packed,
                        const float* bias, float* y, int64_t n, int64_t oh_begin, int64_t oh_end, int64_t c0,
                        int64_t channels, Activation activation) {
  const int64_t C = d.in_c, padded = ceil_div(C, k.lanes) * k.lanes;
  DepthwiseConvTile t{};
  t.bias = bias != nullptr ? bias + c0 : nullptr;
  t.channels = channels;
  t.activation = activation;
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
    // lets the two-row path pair them, and is done only for that: otherwise it measured slower
    // (docs/results/decisions.md, "direct: depthwise kernel rows walked forwards").
    if (r.reads_input && t.x_tap_w < 0) walk_taps_forwards(t.taps_w, t.x_tap_w, t.w_tap_w, t.w, x_shift);
    t.x_pixel_stride = r.x_pixel_step;
    t.y_pixel_stride = r.y_pixel_step;
    t.x_row_stride = r.x_line_step;
    t.y_row_stride = r.y_line_step;
    t.rows = 2;
    // Where pixels lie a multiple of 2 KB apart, every pixel a tile reads for one channel vector
    // falls in the same two L1 sets, and two-row tiles ran slower than one-row tiles
    // (docs/results/decisions.md, "direct: depthwise row pairs at 512 channels").
    const bool may_pair = k.pair_pixels > 0 && !lie_multiple_of(C, 2048);
    bool pairs = may_pair && depthwise_pairs_rows(t);
    if (may_pair && r.reads_input && t.x_tap_h < 0) {
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
    const auto run_tile = [&](int64_t line_index, int64_t j, int64_t pixels) {
      t.pixels = pixels;
      t.x = r.reads_input ? x + x_shift + r.x_at(line_index, j) : x;
      t.y = y + c0 + r.y_at(line_index, j);
      k.tile[pixels - 1](t);
    };
    // Wide tiles (depthwise_wide_tiles) of even widths; otherwise the widest tiles and what is
    // left.
    const bool wide = k.wide_pixels > 0 && r.reads_input && depthwise_wide_tiles(t.x_pixel_stride, k.lanes);
    const EvenTiles wide_tiles = wide ? EvenTiles(r.length, k.wide_pixels) : EvenTiles();
    for (; line < r.lines; ++line) {
      if (wide) {
        for (int64_t i = 0; i < wide_tiles.count; ++i) run_tile(line, wide_tiles.start(i), wide_tiles.size(i));
        continue;
      }
      for (int64_t j = 0; j < r.length; j += kMaxDepthwisePixels) {
        run_tile(line, j, std::min<int64_t>(kMaxDepthwisePixels, r.length - j));
      }
    }
  });
  if (d.paired.pairs > 0) run_paired_columns(d, k, x, packed, y, n, oh_begin, oh_end, c0, channels);
}

}  // namespace

int64_t depthwise_block(int64_t channels, int64_t lanes) {
  return even_block(channels, lanes, ceil_div(ceil_div(channels, lanes), kDepthwiseBlockVectors));
}

namespace {

// How the weight gradient's items cut the work: `segments` stretches of the rows, each summing
// into partial sums of its own, times channel blocks of `block` channels.
struct GradientSplit {
  int64_t segments, block;
};

// Threads take whole channel blocks over all the rows (one segment: no partial sums to clear
// and add, and results the same at any thread count) where the channels give each thread more
// than kMinSharedPixelBytes of every pixel and split at least as evenly as the rows; otherwise
// the rows are cut into `threads` segments. Few rows split unevenly and leave the partial sums
// a large share of the work; narrower blocks put both threads on the same lines' neighbours,
// which each core's prefetchers then fetch for it too (docs/results/decisions.md, "direct:
// depthwise weight gradient by channels").
constexpr int64_t kMinSharedPixelBytes = 256;

GradientSplit depthwise_gradient_split(int64_t channels, int64_t lanes, int64_t rows, int threads) {
  const int64_t vectors = ceil_div(channels, lanes), fewest = ceil_div(vectors, kDepthwiseBlockVectors);
  if (threads > 1 && vectors >= 2 * threads) {
    const int64_t blocks = ceil_div(fewest, threads) * threads, block_vectors = ceil_div(vectors, blocks);
    const double channel_balance = double(vectors) / double(blocks * block_vectors);
    const double row_balance = double(rows) / double(ceil_div(rows, threads) * threads);
    const bool wide_blocks = block_vectors * lanes * int64_t(sizeof(float)) > kMinSharedPixelBytes;
    if (wide_blocks && channel_balance >= row_balance) return {1, block_vectors * lanes};
  }
  return {threads, even_block(channels, lanes, fewest)};
}

}  // namespace

void pack_depthwise(const DirectProblem& d, int64_t lanes, const float* w, float* packed, int64_t c_begin,
                    int64_t c_end) {
  const int64_t C = d.in_c, padded = ceil_div(C, lanes) * lanes;
  for (int64_t tap = 0; tap < d.kernel_h * d.kernel_w; ++tap) {
    std::copy(w + tap * C + c_begin, w + tap * C + c_end, packed + tap * padded + c_begin);
    if (c_end == C) std::fill(packed + tap * padded + C, packed + (tap + 1) * padded, 0.0f);
  }
}

void run_depthwise(const DirectProblem& d, const DepthwiseConvKernels& k, const float* x, const float* packed,
                   const float* bias, float* y, Activation activation, int threads, const float* unpacked,
                   float* pack_target) {
  const int64_t C = d.in_c, rows = d.out_h;
  const int64_t block = depthwise_rows_block(C, k.lanes, d.batch * rows, threads);
  const int64_t blocks = ceil_div(C, block);
  const int64_t total = d.batch * blocks * rows;
  run_team(threads, [&](int thread, int team) {
    const Share share = share_of(total, thread, team);
    if (share.begin >= share.end) return;
    const float* w = packed;
    if (unpacked != nullptr) {
      // The channels of this thread's items: its blocks within one image, else all of them.
      const int64_t first = share.begin / rows, last = (share.end - 1) / rows;
      const bool one_image = first / blocks == last / blocks;
      const int64_t c_begin = one_image ? first % blocks * block : 0;
      const int64_t c_end = one_image ? std::min(C, (last % blocks + 1) * block) : C;
      float* copy = pack_target + thread * depthwise_packed_floats(d, k.lanes);
      pack_depthwise(d, k.lanes, unpacked, copy, c_begin, c_end);
      w = copy;
    }
    for (int64_t item = share.begin; item < share.end;) {
      const int64_t oh = item % rows, cb = (item / rows) % blocks, n = item / (rows * blocks);
      const int64_t oh_end = std::min(rows, oh + (share.end - item));
      const int64_t c0 = cb * block;
      run_depthwise_rows(d, k, x, w, bias, y, n, oh, oh_end, c0, std::min(block, C - c0), activation);
      item += oh_end - oh;
    }
  });
}

// A band of `rows` output rows reads this many padded input rows.
int64_t DepthwiseWeightGradient::StagedBand::input_rows(const Conv2dParams& p, int64_t rows) {
  return (rows - 1) * p.stride_h + (p.kernel_h - 1) * p.dilation_h + 1;
}

DepthwiseWeightGradient::StagedBand DepthwiseWeightGradient::staged_band() const {
  const Conv2dParams& p = p_;
  StagedBand band{};
  const bool sliding = p.stride_w == 1 && p.dilation_w == 1;
  const int64_t outputs = p.out_h() * p.out_w();
  const int64_t interior =
      std::max<int64_t>(0, p.out_h() - p.kernel_h + 1) * std::max<int64_t>(0, p.out_w() - p.kernel_w + 1);
  const bool border_heavy = double(outputs - interior) >= kStagedBorderShare * double(outputs);
  // AVX2's tile reads one vector (half a line) of a pixel: pixels a multiple of 1 KB apart
  // put each kernel row's reads in at most four L1 sets, and the copy paid off there on
  // interior-heavy images too.
  const bool stages = dk_.lanes == 8 ? lie_multiple_of(p.in_c, 1024)
                                     : border_heavy && lie_multiple_of(p.in_c, 2048);
  if (!sliding || !stages) return band;
  band.channels = kStagedVectors * dk_.lanes;
  band.width = p.in_w + p.pad_left + p.pad_right;
  const auto floats = [&](int64_t rows) {
    return band.channels * StagedBand::input_rows(p, rows) * band.width;
  };
  const int64_t budget = l2_bytes() / kStagedL2Share / int64_t(sizeof(float));
  band.rows = 1;
  while (band.rows < p.out_h() && floats(band.rows + 1) <= budget) ++band.rows;
  band.floats = floats(band.rows);
  return band;
}

void DepthwiseWeightGradient::run_staged(const float* x, const float* dy, float* dw, int64_t c0, int64_t width,
                                         const StagedBand& band, float* stage) const {
  const Conv2dParams& p = p_;
  const int64_t C = p.in_c, B = band.channels, OH = p.out_h(), OW = p.out_w(), W = band.width;
  float* xs = stage;  // [input row of the band][padded column][B]
  DepthwiseWeightGradTile t{};
  t.x = xs;
  t.cols = OW;
  t.taps_h = p.kernel_h;
  t.taps_w = p.kernel_w;
  t.x_row_stride = p.stride_h * W * B;
  t.x_col_stride = p.stride_w * B;
  t.x_tap_h = p.dilation_h * W * B;
  t.x_tap_w = p.dilation_w * B;
  t.dy_row_stride = OW * C;
  t.dy_col_stride = C;
  t.dw_tap_h = p.kernel_w * C;
  t.dw_tap_stride = C;
  for (int64_t sub = 0; sub < width; sub += B) {
    const int64_t cs = c0 + sub, count = std::min(B, width - sub);
    t.channels = count;
    t.dw = dw + cs;
    for (int64_t n = 0; n < p.batch; ++n) {
      for (int64_t oh = 0; oh < OH; oh += band.rows) {
        t.rows = std::min(band.rows, OH - oh);
        const int64_t input_rows = StagedBand::input_rows(p, t.rows);
        for (int64_t i = 0; i < input_rows; ++i) {
          const int64_t ih = oh * p.stride_h + i - p.pad_top;
          float* row = xs + i * W * B;
          if (ih < 0 || ih >= p.in_h) {
            std::fill_n(row, W * B, 0.0f);
            continue;
          }
          std::fill_n(row, p.pad_left * B, 0.0f);
          gather_runs(x + (n * p.in_h + ih) * p.in_w * C + cs, C, p.in_w, count, B, row + p.pad_left * B);
          std::fill_n(row + (p.pad_left + p.in_w) * B, p.pad_right * B, 0.0f);
        }
        t.dy = dy + (n * OH + oh) * OW * C + cs;
        t.accumulate = n > 0 || oh > 0;
        dk_.weight_grad(t);
      }
    }
  }
}

// The tiles of forward's rectangles over rows [seg.begin, seg.end) of the batch, channels
// [c0, c0 + channels), summed into `sums` (which it first clears).
void DepthwiseWeightGradient::run_rectangles(const float* x, const float* dy, float* sums, Share seg, int64_t c0,
                                             int64_t channels) const {
  const Conv2dParams& p = p_;
  const int64_t C = p.in_c, OH = p.out_h(), OW = p.out_w(), taps = p.kernel_h * p.kernel_w;
  DepthwiseWeightGradTile t{};
  t.dy_row_stride = OW * C;
  t.dw_tap_h = p.kernel_w * C;
  t.dw_tap_stride = C;
  t.accumulate = true;
  t.channels = channels;
  for (int64_t s = 0; s < taps; ++s) std::fill_n(sums + s * C, channels, 0.0f);
  // Forward's row runs, a stretch of output rows reading the same kernel rows each: all of
  // those kernel rows at once, so that each dy load feeds all their taps, and the stretch's
  // rows in bands, every column run of a band in turn. The tile walks its rows once per vector
  // of channels; a band's rows of x and dy, all the block's channels, take half of L2, so that
  // walks after the first find them there (docs/results/decisions.md, "depthwise weight
  // gradient: bands of rows").
  const int64_t row_floats = (OW + p.stride_h * p.in_w) * channels;
  const int64_t band_rows = std::max<int64_t>(1, l2_bytes() / 2 / int64_t(sizeof(float)) / row_floats);
  for (int64_t n = seg.begin / OH; n * OH < seg.end; ++n) {
    const int64_t oh_begin = std::max<int64_t>(seg.begin - n * OH, 0), oh_end = std::min(seg.end - n * OH, OH);
    for (const AxisRun& rows_run : fwd_.row_runs) {
      const RunSlice rows = slice(rows_run, oh_begin, oh_end);
      for (int64_t first = rows.first; first < rows.first + rows.count; first += band_rows) {
        const RunSlice band{first, std::min(band_rows, rows.first + rows.count - first)};
        run_band(x, dy, sums, n, rows_run, band, c0, t);
      }
    }
  }
}

// The tiles of one band of a row run: rows `rows` of rows_run in image n, every column run.
void DepthwiseWeightGradient::run_band(const float* x, const float* dy, float* sums, int64_t n,
                                       const AxisRun& rows_run, RunSlice rows, int64_t c0,
                                       DepthwiseWeightGradTile& t) const {
  const Conv2dParams& p = p_;
  const int64_t C = p.in_c, OH = p.out_h(), OW = p.out_w();
  const int64_t row = n * OH + rows_run.out_begin + rows.first;
  t.rows = rows.count;
  t.taps_h = rows_run.taps.taps;
  t.x_row_stride = rows_run.in_step * p.in_w * C;
  t.x_tap_h = rows_run.taps.input_step * p.in_w * C;
  const int64_t ih = rows_run.in_begin + rows.first * rows_run.in_step;
  // The forward column runs: each a stretch of output columns reading the same taps (none
  // where the row run's rows read only padding).
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
}

void DepthwiseWeightGradient::run(const float* x, const float* dy, float* dw, float* db, int threads, int team_size,
                                  WorkspacePool& scratch) const {
  const Conv2dParams& p = p_;
  const int64_t C = p.in_c, OH = p.out_h(), taps = p.kernel_h * p.kernel_w;
  const int64_t rows = p.batch * OH;
  const GradientSplit split = depthwise_gradient_split(C, dk_.lanes, rows, threads);
  const int64_t segments = split.segments, block = split.block, blocks = ceil_div(C, block);
  const StagedBand band = segments == 1 ? band_ : StagedBand{};
  // One segment sums straight into dw, and each thread sums db for the channels it owns, the
  // same bits as the shared steps give, so that the threads never meet: at a barrier, small
  // layers ran slower on two threads than on one (docs/results/decisions.md, "direct: depthwise
  // weights packed per thread").
  const int64_t partial_floats = segments > 1 ? segments * taps * C : 0;
  const int64_t db_floats = db == nullptr ? 0 : segments > 1 ? bias_.workspace_floats() : team_size * C;
  auto lease = scratch.acquire(static_cast<size_t>(partial_floats + db_floats + team_size * band.floats));
  float* partial = segments > 1 ? lease.data() : dw;  // [segment][tap][C]
  float* db_partial = lease.data() + partial_floats;  // the segments' sums, or each thread's
  float* stage_base = db_partial + db_floats;
  run_team(team_size, [&](int thread, int team) {
    const Share share = share_of(segments * blocks, thread, team);
    for (int64_t item = share.begin; item < share.end; ++item) {
      const int64_t segment = item / blocks, c0 = (item % blocks) * block, channels = std::min(block, C - c0);
      if (band.channels > 0) {
        run_staged(x, dy, dw, c0, channels, band, stage_base + thread * band.floats);
      } else {
        run_rectangles(x, dy, partial + segment * taps * C + c0, share_of(rows, int(segment), int(segments)), c0,
                       channels);
      }
    }
    if (segments == 1) {
      if (db != nullptr) {
        bias_.sum_channels(dy, db, std::min(C, share.begin * block), std::min(C, share.end * block),
                           db_partial + thread * C);
      }
      return;
    }
    if (db != nullptr) bias_.sum_segments(dy, db_partial, thread, team);
    team_barrier(team);
    if (db != nullptr) bias_.add_segments(db_partial, db, thread, team);
    const Share reduce = share_of(taps * blocks, thread, team);
    for (int64_t item = reduce.begin; item < reduce.end; ++item) {
      const int64_t s = item / blocks, c0 = (item % blocks) * block, width = std::min(block, C - c0);
      float* out = dw + s * C + c0;
      std::copy_n(partial + s * C + c0, width, out);
      for (int64_t segment = 1; segment < segments; ++segment) {
        const float* in = partial + (segment * taps + s) * C + c0;
        for (int64_t c = 0; c < width; ++c) out[c] += in[c];
      }
    }
  });
}

}  // namespace convkit::detail::direct
