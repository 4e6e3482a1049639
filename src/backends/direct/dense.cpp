// The dense driver's rows (dense.hpp): rectangles of identical taps cut into register tiles.
#include "backends/direct/dense.hpp"

#include "conv/gather_runs.hpp"

namespace convkit::detail::direct {

namespace {

// Pointwise lines: pixels [line_begin, line_end) of the flattened images. Kept apart from the
// rectangles' driver, whose frame setup (its tile and visitor zeroed on entry) cost a tenth of
// a call over 16 reduced channels.
void run_pointwise_lines(const DirectProblem& d, const DirectConvTileFn* tiles, int64_t max_pixels,
                         DirectConvTile& t, const float* x, float* y, int64_t line_begin, int64_t line_end,
                         int64_t x_channel, int64_t y_channel) {
  t.taps_h = t.taps_w = 1;
  t.x_tap_h = t.x_tap_w = t.w_tap_h = t.w_tap_w = 0;
  t.x_pixel_stride = d.in_c;
  t.y_pixel_stride = d.out_c;
  // The tiles of each width in one call (DirectConvTile::more_tiles): over few reduced
  // channels, a call per tile cost as much as a tenth of the sums.
  const EvenTiles split(line_end - line_begin, widest_tile(max_pixels, t.x_pixel_stride));
  for (int64_t i = 0; i < split.count;) {
    const int64_t p = line_begin + split.start(i), same = split.same_width(i);
    t.pixels = split.size(i);
    t.more_tiles = same - 1;
    t.x = x + p * d.in_c + x_channel;
    t.y = y + p * d.out_c + y_channel;
    tiles[t.pixels - 1](t);
    i += same;
  }
}

}  // namespace

void run_lines(const DirectProblem& d, const DirectConvKernels& k, const float* x, const float* packed,
               const float* bias, float* y, int64_t n, int64_t images, int64_t g, int64_t b, int64_t line_begin,
               int64_t line_end, int64_t r0, int64_t rc, Activation activation) {
  const ChannelBlocking& cb = d.blocking;
  const int64_t vectors = cb.vectors_of(b), width = vectors * cb.lanes;
  const int64_t max_pixels = k.max_pixels[vectors - 1];
  const DirectConvTileFn* tiles = k.tile[vectors - 1];
  const float* block_w = packed + d.packed_block_offset(g, b);
  const bool last_chunk = r0 + rc == d.reduce_per_group;
  const int64_t x_channel = g * d.x_group_floats() + r0;
  const int64_t y_channel = g * d.out_per_group + cb.first_channel(b);

  DirectConvTile t;
  t.bias = bias != nullptr ? bias + g * d.out_per_group + cb.first_channel(b) : nullptr;
  t.out_channels = std::min(width, d.out_per_group - cb.first_channel(b));
  t.reduce = rc;
  t.x_reduce_stride = 1;
  t.w_reduce_stride = width;

  if (d.pointwise) {
    t.w = block_w + r0 * width;
    t.accumulate = r0 > 0;
    t.activation = last_chunk ? activation : Activation::none;
    run_pointwise_lines(d, tiles, max_pixels, t, x, y, line_begin, line_end, x_channel, y_channel);
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
    // place of taps_w runs of rc, which short channel counts (an RGB stem) run much faster
    // (docs/results/decisions.md, "direct: taps along a row merged into one reduction").
    t.reduce = rc;
    if (t.x_tap_w == rc && t.w_tap_w == rc * width) {
      t.reduce = rc * t.taps_w;
      t.taps_w = 1;
    }
    t.w = block_w + ((r.rows.first_tap * d.kernel_w + r.cols.first_tap) * d.reduce_per_group + r0) * width;
    t.x_pixel_stride = r.x_pixel_step;
    t.y_pixel_stride = r.y_pixel_step;
    t.accumulate = r0 > 0 || r.adds;
    t.activation = last_chunk && !r.partial ? activation : Activation::none;
    if (r.adds && !r.reads_input && t.activation == Activation::none) return;  // a strip line's finishing run, with nothing to do
    // Each run of tiles of one width in one call, as for pointwise lines; a run over padding
    // only, whose x is a placeholder never read, a tile at a time.
    for_each_tile_run(
        r,
        [&](int64_t x_offset, int64_t y_offset, int64_t pixels, int64_t run) {
          t.pixels = pixels;
          t.x = r.reads_input ? x + x_channel + x_offset : x;
          t.y = y + y_channel + y_offset;
          if (r.reads_input) {
            t.more_tiles = run - 1;
            tiles[pixels - 1](t);
            return;
          }
          t.more_tiles = 0;
          for (int64_t i = 0; i < run; ++i) {
            t.y = y + y_channel + y_offset + i * pixels * r.y_pixel_step;
            tiles[pixels - 1](t);
          }
        },
        images, d.x_image_floats(), d.out_h * d.out_w * d.out_c);
  });
}

namespace {

// run_direct with `hwio`, when given, packed into `scratch` first, and x's groups copied into
// `slices` (slice_floats each per thread) where d has a slice.
void run_direct_impl(const DirectProblem& d, const DirectConvKernels& k, const float* x, const float* packed,
                     const float* hwio, float* scratch, float* slices, const float* bias, float* y,
                     Activation activation, int threads) {
  const int64_t lines = d.lines(), blocks = d.blocking.blocks, taps = d.kernel_h * d.kernel_w;
  // Whole images in a row of a share, with one channel block and one pass over the reduction,
  // run together: their geometry is the same (small layers at batch > 1 spent most of a call
  // redoing it per image).
  const bool images_together = d.groups * blocks == 1 && d.reduce_chunk == d.reduce_per_group && !d.pointwise;
  const bool packs = hwio != nullptr;
  const bool segments_outer = runs_segments_outer(d, packs);
  const bool own_copies = packs && packs_own_copies(d, threads);
  run_team(threads, [&](int thread, int team) {
    const float* w = packed;
    if (own_copies) {
      float* copy = scratch + thread * d.packed_floats();
      const BlockRun run = blocks_run(d, work_share(d, thread, team));
      for (int64_t i = 0; i < run.count; ++i) {
        const int64_t block = (run.first + i) % (d.groups * blocks);
        pack_hwio(d, k, hwio, copy, block * taps, (block + 1) * taps);
      }
      w = copy;
    } else if (packs) {
      const Share packing = share_of(pack_items(d), thread, team);
      pack_hwio(d, k, hwio, scratch, packing.begin, packing.end);
      team_barrier(team);
      w = scratch;
    }
    // Lines [begin, end) of images [n, n + images), group g, block b: every chunk of the
    // reduction, of problem `rd` on x `rx` (d on x, or its slice on a copy).
    const auto run_chunks = [&](const DirectProblem& rd, const float* rx, int64_t n, int64_t images, int64_t g,
                                int64_t b, int64_t begin, int64_t end) {
      for (int64_t r0 = 0; r0 < d.reduce_per_group; r0 += d.reduce_chunk) {
        const int64_t rc = std::min(d.reduce_chunk, d.reduce_per_group - r0);
        run_lines(rd, k, rx, w, bias, y, n, images, g, b, begin, end, r0, rc, activation);
      }
    };
    if (segments_outer) {
      // Every line costs every block, so equal line shares are equal work. A segment stays
      // within one image (pointwise lines span all images).
      const Share share = share_of(d.line_batches() * lines, thread, team);
      for (int64_t item = share.begin; item < share.end;) {
        const int64_t n = item / lines, first = item % lines, last = std::min(lines, first + (share.end - item));
        const EvenTiles segments(last - first, d.segment);
        for (int64_t s = 0; s < segments.count; ++s) {
          const int64_t begin = first + segments.start(s), end = begin + segments.size(s);
          for (int64_t g = 0; g < d.groups; ++g) {
            for (int64_t b = 0; b < blocks; ++b) run_chunks(d, x, n, 1, g, b, begin, end);
          }
        }
        item += last - first;
      }
      return;
    }
    // A thread's items run a group's blocks and lines one after another: it copies the group's
    // channels of the image once for all of them.
    float* slice = slices != nullptr ? slices + thread * d.slice_floats() : nullptr;
    const DirectProblem& run_d = slice != nullptr ? *d.slice : d;
    const float* run_x = slice != nullptr ? slice : x;
    int64_t sliced_image = -1, sliced_group = -1;
    const Share share = work_share(d, thread, team);
    for (int64_t item = share.begin; item < share.end;) {
      const auto [n, g, b, line] = line_item(item, lines, blocks, d.groups);
      const int64_t line_end = std::min(lines, line + (share.end - item));
      const int64_t images = images_together && line == 0 ? std::max<int64_t>(1, (share.end - item) / lines) : 1;
      if (slice != nullptr && (n != sliced_image || g != sliced_group)) {
        const int64_t pixels = d.in_h * d.in_w;
        gather_runs(x + n * pixels * d.in_c + g * d.reduce_per_group, d.in_c, pixels, d.reduce_per_group,
                    d.reduce_per_group, slice);
        sliced_image = n;
        sliced_group = g;
      }
      run_chunks(run_d, run_x, n, images, g, b, line, line_end);
      item += images > 1 ? images * lines : line_end - line;
    }
  });
}

}  // namespace

void run_direct(const DirectProblem& d, const DirectConvKernels& k, const float* x, const float* packed,
                const float* bias, float* y, Activation activation, int threads, float* slices) {
  run_direct_impl(d, k, x, packed, nullptr, nullptr, slices, bias, y, activation, threads);
}

void run_direct_packing(const DirectProblem& d, const DirectConvKernels& k, const float* x, const float* hwio,
                        float* scratch, const float* bias, float* y, Activation activation, int threads) {
  float* slices = runs_sliced(d, true) ? scratch + packing_floats(d, threads) : nullptr;
  run_direct_impl(d, k, x, nullptr, hwio, scratch, slices, bias, y, activation, threads);
}

}  // namespace convkit::detail::direct
