// The direct backend's dense weight and bias gradients (weight_gradient.hpp).
#include "backends/direct/weight_gradient.hpp"

#include <algorithm>

#include "conv/cache_sizes.hpp"
#include "conv/gather_runs.hpp"
#include "threading.hpp"

namespace convkit::detail::direct {

DenseWeightGradient::DenseWeightGradient(const Conv2dParams& p, const ChannelBlocking& blocking,
                                         const DirectConvKernels& k, Isa isa)
    : p_(p), blocking_(blocking), k_(k), bias_(p.batch * p.out_h() * p.out_w(), p.out_c, isa),
      x_slices_(p.groups > 1 && p.kernel_h * p.kernel_w > 1 && blocking.block_vectors == 1 &&
                p.in_c * int64_t(sizeof(float)) >= kSliceMinPixelBytes) {
  for (int64_t kh = 0; kh < p.kernel_h; ++kh) rows_of_kh_.push_back(outputs_reading_tap(row_axis(p), kh));
  for (int64_t kw = 0; kw < p.kernel_w; ++kw) cols_of_kw_.push_back(outputs_reading_tap(column_axis(p), kw));
}

void DenseWeightGradient::run(const float* x, const float* dy, float* dw, float* db, int threads,
                              WorkspacePool& scratch) const {
  const Conv2dParams& p = p_;
  const ChannelBlocking& cb = blocking_;
  const int64_t OH = p.out_h(), OW = p.out_w(), ICG = p.in_c_per_group(), OCG = p.out_c_per_group();
  const int64_t pixels = p.batch * OH * OW;
  // The tile reads dy where it lies, a pixel's channels out_c floats apart: a block's partial
  // last vector reads the next pixel's first channels into lanes that are never stored (lanes
  // do not mix). Ungrouped, with the lanes past the channels no more than a pixel, only dy's
  // last pixel would read beyond the tensor, so the last block reads the last output row from
  // `last_row`, a copy zero-padded to whole vectors (packing all of dy instead cost more than
  // the tile at two threads). Otherwise (groups with partial vectors, or fewer channels than the
  // padding) dy is packed per block, [group][block][n][oh][ow][block lanes], zero-padded.
  const int64_t last_block = cb.blocks - 1, last_width = cb.vectors_of(last_block) * cb.lanes;
  const int64_t last_valid = std::min(last_width, OCG - cb.first_channel(last_block));
  const bool dy_in_place = OCG % cb.lanes == 0 || (p.groups == 1 && last_width - last_valid <= p.out_c);
  const bool overruns = dy_in_place && last_valid < last_width;
  const int64_t last_row_floats = overruns ? OW * last_width : 0;
  const int64_t packed_floats = dy_in_place ? 0 : p.groups * cb.group_lanes() * pixels;
  const int64_t row_floats = p.stride_h * p.in_w * p.in_c + OW * cb.block_vectors * cb.lanes;
  const int64_t row_bytes = row_floats * int64_t(sizeof(float));
  const int64_t band = std::max<int64_t>(1, l2_bytes() / row_bytes);
  // The input rows [lo, hi) that output rows [oh0, oh1) read, clipped to the image.
  const auto input_rows_of = [&](int64_t oh0, int64_t oh1) {
    return OutputRange{std::max<int64_t>(0, oh0 * p.stride_h - p.pad_top),
                       std::min(p.in_h, (oh1 - 1) * p.stride_h - p.pad_top + (p.kernel_h - 1) * p.dilation_h + 1)};
  };
  const int64_t band_input_rows =
      std::min(p.in_h, (std::min(band, OH) - 1) * p.stride_h + (p.kernel_h - 1) * p.dilation_h + 1);
  const int64_t slice_floats = x_slices_ ? band_input_rows * p.in_w * ICG : 0;
  auto lease = scratch.acquire(static_cast<size_t>(last_row_floats + packed_floats + threads * slice_floats +
                                                   (db != nullptr ? bias_.workspace_floats() : 0)));
  float* last_row = lease.data();
  float* packed_dy = last_row + last_row_floats;
  float* x_slices = packed_dy + packed_floats;
  float* db_partial = x_slices + threads * slice_floats;
  const auto block_base = [&](int64_t g, int64_t b) { return (g * cb.group_lanes() + cb.first_channel(b)) * pixels; };
  // Input channels in even tiles (16 as 8 + 8, not 14 + 2): a tile of few channels has too
  // few accumulators to hide the FMA latency (as for_each_even_tile's pixels).
  const EvenTiles ci_split(ICG, k_.max_pixels[cb.block_vectors - 1]);
  const int64_t ci_tiles = ci_split.count, taps = p.kernel_h * p.kernel_w;
  const int64_t pack_total = dy_in_place ? 0 : p.groups * cb.blocks * p.batch * OH;
  const int64_t units = p.groups * cb.blocks, rows_per_unit = taps * ci_tiles;
  // The items a thread runs. Ungrouped, where each block of output channels has enough (tap,
  // input-channel tile) items to share evenly, a thread takes the same share of every block's:
  // its dw rows ([tap][input channel], every output channel) then form one stretch of its own.
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
    if (overruns && thread == 0) {
      gather_runs(dy + (pixels - OW) * p.out_c + cb.first_channel(last_block), p.out_c, OW, last_valid, last_width,
                  last_row);
    }
    const Share packing = share_of(pack_total, thread, team);
    for (int64_t item = packing.begin; item < packing.end; ++item) {
      const int64_t row = item % (p.batch * OH), b = (item / (p.batch * OH)) % cb.blocks;
      const int64_t g = item / (p.batch * OH * cb.blocks);
      const int64_t width = cb.vectors_of(b) * cb.lanes, valid = std::min(width, OCG - cb.first_channel(b));
      gather_runs(dy + row * OW * p.out_c + g * OCG + cb.first_channel(b), p.out_c, OW, valid, width,
                  packed_dy + block_base(g, b) + row * OW * width);
    }
    if (db != nullptr) bias_.sum_segments(dy, db_partial, thread, team);
    team_barrier(team);
    // Items are (group, block, tap, input-channel tile), tiles innermost: what depends on the
    // tap is set up once per run of its tiles.
    const OwnedItems owned = owned_items(thread, team);
    DirectConvTile t{};
    t.x_pixel_stride = 1;
    t.y_pixel_stride = p.out_c;
    t.taps_w = 1;
    float* x_slice = x_slices + thread * slice_floats;
    const int64_t x_pixel_floats = x_slices_ ? ICG : p.in_c;
    t.x_tap_h = p.stride_h * p.in_w * x_pixel_floats;
    t.x_reduce_stride = p.stride_w * x_pixel_floats;
    for (int64_t n = 0; n < p.batch; ++n) {
      for (int64_t oh0 = 0; oh0 < OH; oh0 += band) {
        const int64_t oh1 = std::min(OH, oh0 + band);
        t.accumulate = n > 0 || oh0 > 0;
        const OutputRange band_inputs = input_rows_of(oh0, oh1);
        int64_t sliced_group = -1;
        int64_t current_tap_item = -1, vectors = 0, x_first = 0, dy_first = 0, dw_first = 0, cols_lo = 0;
        bool reads = false, split_last_row = false, cleared = false;
        for (int64_t run = 0; run < owned.runs; ++run) {
          const int64_t run_first = owned.first + run * owned.step;
          for (int64_t item = run_first, tiles = 1; item < run_first + owned.length; item += tiles) {
            const int64_t tap_item = item / ci_tiles, ci_index = item - tap_item * ci_tiles;
            const int64_t ci0 = ci_split.start(ci_index);
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
              const int64_t dy_step = dy_in_place ? p.out_c : width;
              t.w_tap_h = OW * dy_step;
              t.w_reduce_stride = dy_step;
              t.out_channels = std::min(width, OCG - cb.first_channel(b));
              reads = t.taps_h > 0 && t.reduce > 0;
              split_last_row =
                  reads && overruns && b == last_block && n == p.batch - 1 && rows.hi == OH && cols.hi == OW;
              cols_lo = cols.lo;
              const int64_t ih = rows.lo * p.stride_h - p.pad_top + kh * p.dilation_h;
              const int64_t iw = cols.lo * p.stride_w - p.pad_left + kw * p.dilation_w;
              if (reads && x_slices_ && g != sliced_group) {
                gather_runs(x + (n * p.in_h + band_inputs.lo) * p.in_w * p.in_c + g * ICG, p.in_c,
                            band_inputs.count() * p.in_w, ICG, ICG, x_slice);
                sliced_group = g;
              }
              x_first = !reads     ? 0
                        : x_slices_ ? ((ih - band_inputs.lo) * p.in_w + iw) * ICG
                                    : ((n * p.in_h + ih) * p.in_w + iw) * p.in_c + g * ICG;
              const int64_t dy_pixel_index = (n * OH + rows.lo) * OW + cols.lo;
              dy_first = !reads      ? 0
                         : dy_in_place ? dy_pixel_index * p.out_c + g * OCG + cb.first_channel(b)
                                       : block_base(g, b) + dy_pixel_index * width;
              dw_first = tap * ICG * p.out_c + g * OCG + cb.first_channel(b);
            }
            // The run's tiles of this tap and width in one call (DirectConvTile::more_tiles): over a
            // few pixels (1x1 images) a call per tile cost more than its sums.
            tiles = split_last_row ? 1 : std::min(run_first + owned.length - item, ci_split.same_width(ci_index));
            if (cleared) continue;
            t.more_tiles = tiles - 1;
            t.pixels = ci_split.size(ci_index);
            t.y = dw + dw_first + ci0 * p.out_c;
            t.x = reads ? (x_slices_ ? x_slice : x) + x_first + ci0 : x;
            t.w = (dy_in_place ? dy : packed_dy) + dy_first;
            if (!split_last_row) {
              k_.tile[vectors - 1][t.pixels - 1](t);
              continue;
            }
            // Every row but the last in place, then the last from its padded copy.
            DirectConvTile head = t, last = t;
            head.taps_h = t.taps_h - 1;
            if (head.taps_h > 0) k_.tile[vectors - 1][t.pixels - 1](head);
            last.taps_h = 1;
            last.accumulate = t.accumulate || head.taps_h > 0;
            last.x = t.x + head.taps_h * t.x_tap_h;
            last.w = last_row + cols_lo * last_width;
            last.w_reduce_stride = last_width;
            k_.tile[vectors - 1][t.pixels - 1](last);
          }
        }
      }
    }
    if (db != nullptr) bias_.add_segments(db_partial, db, thread, team);  // complete at the barrier above
  });
}

}  // namespace convkit::detail::direct
