// The direct backend's dense weight and bias gradients (weight_gradient.hpp).
#include "backends/direct/weight_gradient.hpp"

#include <algorithm>

#include "conv/cache_sizes.hpp"
#include "conv/gather_runs.hpp"
#include "threading.hpp"

namespace convkit::detail::direct {

ChannelBlocking DenseWeightGradient::blocking_for(int64_t channels_per_group, const DirectConvKernels& k) {
  const int64_t vectors = ceil_div(channels_per_group, int64_t{k.lanes}), preferred = k.preferred_vectors;
  const bool lone = vectors > 1 && vectors % preferred == 1, wider_exists = preferred < kMaxTileVectors;
  if (lone && wider_exists && vectors % (preferred + 1) != 1) {
    return ChannelBlocking(channels_per_group, k.lanes, preferred + 1);
  }
  return ChannelBlocking(channels_per_group, k.lanes, preferred);
}

bool DenseWeightGradient::sums_transposed(const Conv2dParams& p, const DirectConvKernels& k) {
  const int64_t lanes = k.lanes, icg = p.in_c_per_group(), ocg = p.out_c_per_group();
  const int64_t output_lanes = ceil_div(ocg, lanes) * lanes, idle = output_lanes - ocg;
  if (p.groups != 1 || icg % lanes != 0) return false;
  return kIdleLanesShare * idle >= output_lanes || (ocg == lanes && icg >= 2 * ocg);
}

DenseWeightGradient::DenseWeightGradient(const Conv2dParams& p, const DirectConvKernels& k, Isa isa)
    : p_(p), transposed_(sums_transposed(p, k)),
      blocking_(blocking_for(transposed_ ? p.in_c_per_group() : p.out_c_per_group(), k)), k_(k),
      outer_(kernels<OuterProductKernels>(isa)), bias_(p.batch * p.out_h() * p.out_w(), p.out_c, isa),
      x_slices_(p.groups > 1 && p.kernel_h * p.kernel_w > 1 && blocking_.block_vectors == 1 &&
                p.in_c * int64_t(sizeof(float)) >= kSliceMinPixelBytes) {
  for (int64_t kh = 0; kh < p.kernel_h; ++kh) rows_of_kh_.push_back(outputs_reading_tap(row_axis(p), kh));
  for (int64_t kw = 0; kw < p.kernel_w; ++kw) cols_of_kw_.push_back(outputs_reading_tap(column_axis(p), kw));
  // Bands count a block of `width` lanes per output pixel beside x's rows: dy's block, or where
  // transposed x's block again in place of dy's narrower rows, which only makes the L2's bands
  // smaller than they need be (the transposed layers were measured with these bands).
  const int64_t OH = p.out_h(), OW = p.out_w(), width = blocking_.block_vectors * blocking_.lanes;
  const int64_t row_bytes = (p.stride_h * p.in_w * p.in_c + OW * width) * int64_t(sizeof(float));
  const int64_t l2_band = std::min(OH, std::max<int64_t>(1, l2_bytes() / row_bytes));
  const int64_t l1_row_bytes = OW * (width + kLineFloats) * int64_t(sizeof(float));
  const int64_t l1_band = std::max<int64_t>(1, l1_bytes() / l1_row_bytes);
  bands_ = EvenTiles(OH, l2_band > kL1BandsFromRatio * l1_band ? l1_band : l2_band);
}

void DenseWeightGradient::run(const float* x, const float* dy, float* dw, float* db, int threads,
                              WorkspacePool& scratch) const {
  const Conv2dParams& p = p_;
  if (p.out_h() * p.out_w() <= kOuterProductMaxPixels) {
    run_outer_products(x, dy, dw, db, threads, scratch);
    return;
  }
  const ChannelBlocking& cb = blocking_;
  const int64_t OH = p.out_h(), OW = p.out_w(), ICG = p.in_c_per_group(), OCG = p.out_c_per_group();
  // The tile reads dy where it lies, a pixel's channels out_c floats apart: a block's partial
  // last vector reads the next pixel's first channels into lanes that are never stored (lanes
  // do not mix). So every block is read in place except wherever dy's pixels lie
  // kGatherDyPixelBytes or more apart, and a block with a partial vector in the band that holds
  // the tensor's last pixel, which it would read past dy's end: there the thread working on the
  // block gathers the band's rows of it into a panel, [row][ow][block lanes], zero-padded to
  // whole vectors, and runs all its tiles of that block on them. Every band gathered cost more
  // than the tiles on few input channels (docs/results/decisions.md, "direct: weight-gradient
  // dy panels"). Transposed, dy is the broadcast operand, read a value at a time wherever it
  // lies.
  const bool wide_dy_pixels = p.out_c * int64_t(sizeof(float)) >= kGatherDyPixelBytes;
  const auto partial_block = [&](int64_t b) { return cb.first_channel(b) + cb.vectors_of(b) * cb.lanes > OCG; };
  const auto gathers_block = [&](int64_t b, bool last_band) {
    return !transposed_ && (wide_dy_pixels || (last_band && partial_block(b)));
  };
  const EvenTiles& bands = bands_;
  const int64_t band_rows = bands.size(0);
  // The input rows [lo, hi) that output rows [oh0, oh1) read, clipped to the image.
  const auto input_rows_of = [&](int64_t oh0, int64_t oh1) {
    return OutputRange{std::max<int64_t>(0, oh0 * p.stride_h - p.pad_top),
                       std::min(p.in_h, (oh1 - 1) * p.stride_h - p.pad_top + (p.kernel_h - 1) * p.dilation_h + 1)};
  };
  const int64_t band_input_rows =
      std::min(p.in_h, (band_rows - 1) * p.stride_h + (p.kernel_h - 1) * p.dilation_h + 1);
  const int64_t slice_floats = x_slices_ ? band_input_rows * p.in_w * ICG : 0;
  // Any block gathered, so is the last (a partial vector ends a group's blocks).
  const int64_t panel_floats = gathers_block(cb.blocks - 1, true) ? band_rows * OW * cb.block_vectors * cb.lanes : 0;
  const int64_t thread_floats = slice_floats + panel_floats;
  const int64_t taps = p.kernel_h * p.kernel_w, transposed_floats = transposed_ ? taps * OCG * ICG : 0;
  auto lease = scratch.acquire(static_cast<size_t>(transposed_floats + threads * thread_floats +
                                                   (db != nullptr ? bias_.workspace_floats() : 0)));
  float* dw_transposed = lease.data();  // [tap][output channel][input channel]
  float* thread_buffers = dw_transposed + transposed_floats;
  float* db_partial = thread_buffers + threads * thread_floats;
  // The tile's rows (input channels, or output channels where transposed) in even tiles (16 as
  // 8 + 8, not 14 + 2): a tile of few rows has too few accumulators to hide the FMA latency (as
  // for_each_even_tile's pixels).
  const EvenTiles row_split(transposed_ ? OCG : ICG, k_.max_pixels[cb.block_vectors - 1]);
  const int64_t row_tiles = row_split.count;
  const int64_t units = p.groups * cb.blocks, rows_per_unit = taps * row_tiles;
  // The items a thread runs. Ungrouped, where each block has enough (tap, row tile) items to
  // share evenly, a thread takes the same share of every block's: its dw rows ([tap][input
  // channel], every output channel; transposed, the sums' rows) then form one stretch of its own.
  // Shares of whole blocks interleave the threads' stores along every row, and each core's L2
  // prefetcher pulls in the lines the other is writing. Grouped layers keep whole (group, block)s,
  // so that a thread reads only its own groups' channels of x and dy, which measured no slower
  // (docs/results/decisions.md, "direct: weight-gradient threads own whole rows of dw").
  struct OwnedItems {  // `runs` runs of `length` items, run r from item first + r * step
    int64_t first, step, runs, length;
  };
  const auto owned_items = [&](int thread, int team) {
    const int64_t per_thread = ceil_div(rows_per_unit, int64_t{team});
    if (p.groups > 1 || double(rows_per_unit) / double(per_thread * team) < kMinRowBalance) {
      const Share items = share_of(units * rows_per_unit, thread, team);
      return OwnedItems{items.begin, 0, 1, items.end - items.begin};
    }
    const Share rows = share_of(rows_per_unit, thread, team);
    return OwnedItems{rows.begin, rows_per_unit, units, rows.end - rows.begin};
  };
  // Taps that read only padding for every output (a 3x3 kernel on a 1x1 image) have zero dw:
  // their [ICG][out_c] slices are cleared whole rather than tile by tile.
  const auto dead = [&](int64_t tap) {
    return rows_of_kh_[static_cast<size_t>(tap / p.kernel_w)].count() == 0 ||
           cols_of_kw_[static_cast<size_t>(tap % p.kernel_w)].count() == 0;
  };
  run_team(threads, [&](int thread, int team) {
    const Share clearing = share_of(taps, thread, team);
    for (int64_t tap = clearing.begin; tap < clearing.end; ++tap) {
      if (dead(tap)) std::fill_n(dw + tap * ICG * p.out_c, ICG * p.out_c, 0.0f);
    }
    if (db != nullptr) bias_.sum_segments(dy, db_partial, thread, team);
    team_barrier(team);
    // Items are (group, block, tap, row tile), tiles innermost: what depends on the tap is set
    // up once per run of its tiles.
    const OwnedItems owned = owned_items(thread, team);
    DirectConvTile t{};
    t.x_pixel_stride = 1;
    t.y_pixel_stride = transposed_ ? ICG : p.out_c;
    t.taps_w = 1;
    float* x_slice = thread_buffers + thread * thread_floats;
    float* dy_panel = x_slice + slice_floats;
    const int64_t x_pixel_floats = x_slices_ ? ICG : p.in_c;
    // x's steps from one output row and column to the next, the broadcast operand's or, where
    // transposed, the vectors'.
    (transposed_ ? t.w_tap_h : t.x_tap_h) = p.stride_h * p.in_w * x_pixel_floats;
    (transposed_ ? t.w_reduce_stride : t.x_reduce_stride) = p.stride_w * x_pixel_floats;
    for (int64_t n = 0; n < p.batch; ++n) {
      for (int64_t band = 0; band < bands.count; ++band) {
        const int64_t oh0 = bands.start(band), oh1 = oh0 + bands.size(band);
        t.accumulate = n > 0 || oh0 > 0;
        const OutputRange band_inputs = input_rows_of(oh0, oh1);
        int64_t sliced_group = -1, gathered_unit = -1;
        int64_t current_tap_item = -1, vectors = 0, x_first = 0, dy_first = 0, dw_first = 0;
        bool reads = false, gathered = false, cleared = false;
        for (int64_t run = 0; run < owned.runs; ++run) {
          const int64_t run_first = owned.first + run * owned.step;
          for (int64_t item = run_first, tiles = 1; item < run_first + owned.length; item += tiles) {
            const int64_t tap_item = item / row_tiles, row_index = item - tap_item * row_tiles;
            const int64_t row0 = row_split.start(row_index);
            if (tap_item != current_tap_item) {
              current_tap_item = tap_item;
              const int64_t tap = tap_item % taps, b = (tap_item / taps) % cb.blocks, g = tap_item / (taps * cb.blocks);
              const int64_t kh = tap / p.kernel_w, kw = tap % p.kernel_w;
              cleared = dead(tap);
              vectors = cb.vectors_of(b);
              const int64_t width = vectors * cb.lanes;
              const OutputRange& all_rows = rows_of_kh_[static_cast<size_t>(kh)];
              const OutputRange rows{std::max(all_rows.lo, oh0), std::min(all_rows.hi, oh1)};
              const OutputRange& cols = cols_of_kw_[static_cast<size_t>(kw)];
              t.taps_h = rows.count();
              t.reduce = cols.count();
              gathered = gathers_block(b, n == p.batch - 1 && band == bands.count - 1);
              const int64_t dy_step = gathered ? width : p.out_c;
              (transposed_ ? t.x_tap_h : t.w_tap_h) = OW * dy_step;
              (transposed_ ? t.x_reduce_stride : t.w_reduce_stride) = dy_step;
              t.out_channels = std::min(width, (transposed_ ? ICG : OCG) - cb.first_channel(b));
              reads = t.taps_h > 0 && t.reduce > 0;
              const int64_t ih = rows.lo * p.stride_h - p.pad_top + kh * p.dilation_h;
              const int64_t iw = cols.lo * p.stride_w - p.pad_left + kw * p.dilation_w;
              // Rows whose x lies back to back (every column of a 1x1 layer at stride 1; dy's
              // rows always do when the run covers them whole) sum as one run: a 7-wide row
              // ends the tile's loop every seven steps.
              if (reads && t.reduce == OW && t.x_tap_h == OW * t.x_reduce_stride &&
                  t.w_tap_h == OW * t.w_reduce_stride) {
                t.reduce *= t.taps_h;
                t.taps_h = 1;
              }
              const int64_t unit = tap_item / taps;
              if (reads && gathered && unit != gathered_unit) {
                gather_runs(dy + ((n * OH + oh0) * OW) * p.out_c + g * OCG + cb.first_channel(b), p.out_c,
                            (oh1 - oh0) * OW, t.out_channels, width, dy_panel);
                gathered_unit = unit;
              }
              if (reads && x_slices_ && g != sliced_group) {
                gather_runs(x + (n * p.in_h + band_inputs.lo) * p.in_w * p.in_c + g * ICG, p.in_c,
                            band_inputs.count() * p.in_w, ICG, ICG, x_slice);
                sliced_group = g;
              }
              // The block's first channel: of dy and dw's columns, or where transposed of x and
              // the transposed sums' columns.
              const int64_t block_channel = cb.first_channel(b);
              x_first = !reads     ? 0
                        : x_slices_ ? ((ih - band_inputs.lo) * p.in_w + iw) * ICG
                                    : ((n * p.in_h + ih) * p.in_w + iw) * p.in_c + g * ICG +
                                          (transposed_ ? block_channel : 0);
              const int64_t dy_pixel_index = (n * OH + rows.lo) * OW + cols.lo;
              dy_first = !reads   ? 0
                         : gathered ? ((rows.lo - oh0) * OW + cols.lo) * width
                                    : dy_pixel_index * p.out_c + g * OCG + (transposed_ ? 0 : block_channel);
              dw_first = transposed_ ? tap * OCG * ICG + block_channel : tap * ICG * p.out_c + g * OCG + block_channel;
            }
            // The run's tiles of this tap and width in one call (DirectConvTile::more_tiles): over a
            // few pixels (1x1 images) a call per tile cost more than its sums.
            tiles = std::min(run_first + owned.length - item, row_split.same_width(row_index));
            if (cleared) continue;
            t.more_tiles = tiles - 1;
            t.pixels = row_split.size(row_index);
            const float* x_tile = reads ? (x_slices_ ? x_slice : x) + x_first : x;
            const float* dy_tile = (gathered ? dy_panel : dy) + dy_first;
            t.x = transposed_ ? dy_tile + row0 : x_tile + (reads ? row0 : 0);
            t.w = transposed_ ? x_tile : dy_tile;
            t.y = transposed_ ? dw_transposed + dw_first + row0 * ICG : dw + dw_first + row0 * p.out_c;
            k_.tile[vectors - 1][t.pixels - 1](t);
          }
        }
      }
    }
    if (transposed_) {
      // dw's rows from the transposed sums, in runs of a vector of input channels.
      team_barrier(team);
      const int64_t runs_per_tap = ICG / cb.lanes;
      const Share runs = share_of(taps * runs_per_tap, thread, team);
      for (int64_t run = runs.begin; run < runs.end; ++run) {
        const int64_t tap = run / runs_per_tap, ci0 = run % runs_per_tap * cb.lanes;
        if (dead(tap)) continue;
        k_.transpose(dw_transposed + tap * OCG * ICG + ci0, ICG, cb.lanes, OCG, dw + (tap * ICG + ci0) * p.out_c,
                     p.out_c);
      }
    }
    if (db != nullptr) bias_.add_segments(db_partial, db, thread, team);  // complete at the barrier above
  });
}

// Threads take even shares of dw's rows ([tap][input channel], every group's output channels).
// For each tap it meets, a thread gathers that tap's pixels (every image's, in image, row and
// column order) into panels of its own, [pixel][in_c] of x and [pixel][out_c] of dy, in chunks of
// kOuterProductChunk pixels, and sums its rows over each chunk in turn, the first overwriting. A
// tap that reads only padding has no pixels: its rows are written as zeros.
void DenseWeightGradient::run_outer_products(const float* x, const float* dy, float* dw, float* db, int threads,
                                             WorkspacePool& scratch) const {
  const Conv2dParams& p = p_;
  const int64_t OH = p.out_h(), OW = p.out_w(), ICG = p.in_c_per_group(), OCG = p.out_c_per_group();
  const int64_t chunk = std::min(kOuterProductChunk, p.batch * OH * OW);
  const int64_t x_stride = odd_line_stride(p.in_c), dy_stride = odd_line_stride(p.out_c);
  const int64_t panel_floats = chunk * (x_stride + dy_stride);
  auto lease = scratch.acquire(
      static_cast<size_t>(threads * panel_floats + (db != nullptr ? bias_.workspace_floats() : 0)));
  float* db_partial = lease.data() + threads * panel_floats;
  run_team(threads, [&](int thread, int team) {
    if (db != nullptr) bias_.sum_segments(dy, db_partial, thread, team);
    team_barrier(team);
    float* x_panel = lease.data() + thread * panel_floats;
    float* dy_panel = x_panel + chunk * x_stride;
    // Gathers pixels [first, first + chunk) of the tap, clipped to its pixel count, and
    // returns how many it gathered.
    const auto gather_chunk = [&](int64_t kh, int64_t kw, int64_t first) {
      const OutputRange& oh_range = rows_of_kh_[static_cast<size_t>(kh)];
      const OutputRange& ow_range = cols_of_kw_[static_cast<size_t>(kw)];
      const int64_t cols = ow_range.count();
      int64_t gathered = 0, index = 0;
      for (int64_t n = 0; n < p.batch && cols > 0; ++n) {
        for (int64_t oh = oh_range.lo; oh < oh_range.hi && gathered < chunk; ++oh, index += cols) {
          const int64_t skip = std::max<int64_t>(0, first - index);
          const int64_t count = std::min(cols - skip, chunk - gathered);
          if (count <= 0) continue;
          const int64_t ih = oh * p.stride_h - p.pad_top + kh * p.dilation_h;
          const int64_t ow = ow_range.lo + skip, iw = ow * p.stride_w - p.pad_left + kw * p.dilation_w;
          gather_runs(x + ((n * p.in_h + ih) * p.in_w + iw) * p.in_c, p.stride_w * p.in_c, count, p.in_c, x_stride,
                      x_panel + gathered * x_stride);
          gather_runs(dy + ((n * OH + oh) * OW + ow) * p.out_c, p.out_c, count, p.out_c, dy_stride,
                      dy_panel + gathered * dy_stride);
          gathered += count;
        }
      }
      return gathered;
    };
    const Share rows = share_of(p.kernel_h * p.kernel_w * p.in_c, thread, team);
    for (int64_t row = rows.begin; row < rows.end;) {
      const int64_t tap = row / p.in_c, kh = tap / p.kernel_w, kw = tap % p.kernel_w;
      const int64_t tap_end = std::min(rows.end, (tap + 1) * p.in_c);
      const int64_t tap_pixels = p.batch * rows_of_kh_[static_cast<size_t>(kh)].count() *
                                 cols_of_kw_[static_cast<size_t>(kw)].count();
      for (int64_t first = 0; first == 0 || first < tap_pixels; first += chunk) {
        OuterProductRows t{};
        t.pixels = gather_chunk(kh, kw, first);
        t.accumulate = first > 0;
        t.x_pixel_stride = x_stride;
        t.dy_pixel_stride = dy_stride;
        t.y_row_stride = p.out_c;
        t.channels = OCG;
        // The tap's rows of this thread, group by group.
        for (int64_t r = row; r < tap_end;) {
          const int64_t g = r % p.in_c / ICG, ci = r % ICG, run_end = std::min(tap_end, r - ci + ICG);
          t.x = x_panel + g * ICG + ci;
          t.dy = dy_panel + g * OCG;
          t.y = dw + (tap * ICG + ci) * p.out_c + g * OCG;
          t.rows = run_end - r;
          outer_.rows(t);
          r = run_end;
        }
      }
      row = tap_end;
    }
    if (db != nullptr) bias_.add_segments(db_partial, db, thread, team);  // complete at the barrier above
  });
}

}  // namespace convkit::detail::direct
