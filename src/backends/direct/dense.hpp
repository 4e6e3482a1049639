#pragma once
// The direct backend's dense driver: forward, and backward data as the transposed problem, on
// packed weights and the register tiles of kernels/direct_conv.hpp, threaded over (image, group,
// channel block, output row) items (docs/design.md, "The direct backend").
#include <algorithm>
#include <cstddef>
#include <type_traits>

#include "backends/direct/direct_problem.hpp"
#include "threading.hpp"

namespace convkit::detail::direct {

// Runs rows (or pointwise pixels) [line_begin, line_end) of image n, group g, block b, for the
// reduced channels [r0, r0 + rc); with images > 1, all rows of images [n, n + images), each
// rectangle set up once for all of them (dense.cpp).
void run_lines(const DirectProblem& d, const DirectConvKernels& k, const float* x, const float* packed,
               const float* bias, float* y, int64_t n, int64_t images, int64_t g, int64_t b, int64_t line_begin,
               int64_t line_end, int64_t r0, int64_t rc, Activation activation);

// Thread `thread`'s share of the (image, group, block, line) items of run_direct, of equal work
// rather than equal count: a line of a block costs about its vectors, and a last block narrower
// than the others (96 channels on AVX-512 are blocks of 4 and 2 vectors) left to one thread by
// an even count made the other wait for it (docs/results/decisions.md, "direct: shares of
// equal work").
inline Share work_share(const DirectProblem& d, int thread, int team) {
  const ChannelBlocking& cb = d.blocking;
  const int64_t lines = d.lines(), block_work = cb.block_vectors * lines, cycle_work = cb.vectors_per_group * lines;
  // The first item whose work starts at or after `work`.
  const auto item_at = [&](int64_t work) {
    const int64_t cycle = work / cycle_work, rest = work % cycle_work;
    const int64_t b = std::min(rest / block_work, cb.blocks - 1);
    const int64_t line = ceil_div(rest - b * block_work, cb.vectors_of(b));
    return (cycle * cb.blocks + b) * lines + line;
  };
  const Share work = share_of(d.line_batches() * d.groups * cycle_work, thread, team);
  return {item_at(work.begin), item_at(work.end)};
}

// `pack(begin, end)`, when given, first packs items [begin, end) of pack_items(d) into `packed`
// within the same region.
template <class Pack>
void run_direct(const DirectProblem& d, const DirectConvKernels& k, const float* x, const float* packed,
                const float* bias, float* y, Activation activation, int threads, Pack pack) {
  const int64_t lines = d.lines(), blocks = d.blocking.blocks;
  // Whole images in a row of a share, with one channel block and one pass over the reduction,
  // run together: their geometry is the same (small layers at batch > 1 spent most of a call
  // redoing it per image).
  const bool images_together = d.groups * blocks == 1 && d.reduce_chunk == d.reduce_per_group && !d.pointwise;
  // Weights packed in the call are packed a share per thread, and segments outermost then read
  // the other thread's share from its core: on fewer lines than two segments, that cost more
  // than whole pixels saved (docs/results/decisions.md, "direct: pointwise segments outermost").
  constexpr bool packs = !std::is_same_v<Pack, std::nullptr_t>;
  const bool segments_outer = d.segments_outer && (!packs || lines >= 2 * d.segment);
  // Lines [begin, end) of images [n, n + images), group g, block b: every chunk of the reduction.
  const auto run_chunks = [&](int64_t n, int64_t images, int64_t g, int64_t b, int64_t begin, int64_t end) {
    for (int64_t r0 = 0; r0 < d.reduce_per_group; r0 += d.reduce_chunk) {
      const int64_t rc = std::min(d.reduce_chunk, d.reduce_per_group - r0);
      run_lines(d, k, x, packed, bias, y, n, images, g, b, begin, end, r0, rc, activation);
    }
  };
  run_team(threads, [&](int thread, int team) {
    if constexpr (packs) {
      const Share packing = share_of(pack_items(d), thread, team);
      pack(packing.begin, packing.end);
      team_barrier(team);
    }
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
            for (int64_t b = 0; b < blocks; ++b) run_chunks(n, 1, g, b, begin, end);
          }
        }
        item += last - first;
      }
      return;
    }
    const Share share = work_share(d, thread, team);
    for (int64_t item = share.begin; item < share.end;) {
      const auto [n, g, b, line] = line_item(item, lines, blocks, d.groups);
      const int64_t line_end = std::min(lines, line + (share.end - item));
      const int64_t images = images_together && line == 0 ? std::max<int64_t>(1, (share.end - item) / lines) : 1;
      run_chunks(n, images, g, b, line, line_end);
      item += images > 1 ? images * lines : line_end - line;
    }
  });
}

}  // namespace convkit::detail::direct
