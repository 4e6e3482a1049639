#pragma once
// The direct backend's dense driver: forward, and backward data as the transposed problem, on
// packed weights and the register tiles of kernels/direct_conv.hpp, threaded over (image, group,
// channel block, output row) items (docs/design.md, "The direct backend").
#include <algorithm>
#include <cstddef>

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

// Whether the (image, group, block) cycle runs segments of lines outermost, every block on
// each. Weights packed in the call are packed a share per thread, and segments outermost then
// read the other thread's share from its core: on fewer lines than two segments, that cost more
// than whole pixels saved (docs/results/decisions.md, "direct: pointwise segments outermost").
inline bool runs_segments_outer(const DirectProblem& d, bool packs_in_call) {
  return d.segments_outer && (!packs_in_call || d.lines() >= 2 * d.segment);
}

// The (group, block)s a share of work_share's items runs, as pack order counts them
// (g * blocks + b): `count` of them from `first` on, wrapping past the last to the first.
struct BlockRun {
  int64_t first, count;
};
inline BlockRun blocks_run(const DirectProblem& d, Share share) {
  if (share.end <= share.begin) return {0, 0};
  const int64_t lines = d.lines(), all = d.groups * d.blocking.blocks;
  const int64_t first = share.begin / lines, last = (share.end - 1) / lines;
  return {first % all, std::min(all, last - first + 1)};
}

// Whether each thread of a team packs its own copy of the blocks its share runs instead of a
// share of all of them into one copy. One copy's lines are written by one core and read by the
// other on every call, so they move between the cores' caches each time, and the packing's
// stores wait on the other core's copies: two threads packed slower than one. Own copies cost
// the blocks two shares have in common packed twice, worth it while every share runs at most one
// block more than an even split of them (docs/results/decisions.md, "direct: weights packed per
// thread").
inline bool packs_own_copies(const DirectProblem& d, int threads) {
  if (threads <= 1 || runs_segments_outer(d, true)) return false;
  const int64_t even_split = ceil_div(d.groups * d.blocking.blocks, int64_t{threads});
  for (int thread = 0; thread < threads; ++thread) {
    if (blocks_run(d, work_share(d, thread, threads)).count > even_split + 1) return false;
  }
  return true;
}

// The floats of the weights run_direct_packing packs into `scratch` for a call of `threads`.
inline int64_t packing_floats(const DirectProblem& d, int threads) {
  return d.packed_floats() * (packs_own_copies(d, threads) ? threads : 1);
}

// Whether a call of `threads` copies x's groups (DirectProblem::slice): not where segments run
// outermost, whose threads walk every group for each segment.
inline bool runs_sliced(const DirectProblem& d, bool packs_in_call) {
  return d.slice != nullptr && !runs_segments_outer(d, packs_in_call);
}
// The floats of the threads' copies of x's groups a call of `threads` needs.
inline int64_t slicing_floats(const DirectProblem& d, int threads, bool packs_in_call) {
  return runs_sliced(d, packs_in_call) ? threads * d.slice_floats() : 0;
}

// Runs d on weights packed ahead of the call (pack_hwio); `slices` holds slicing_floats(d,
// threads, false) where that is not 0.
void run_direct(const DirectProblem& d, const DirectConvKernels& k, const float* x, const float* packed,
                const float* bias, float* y, Activation activation, int threads, float* slices = nullptr);
// Runs d on the HWIO weights `hwio`, packed into `scratch` (packing_floats, then
// slicing_floats(d, threads, true)) within the call's region.
void run_direct_packing(const DirectProblem& d, const DirectConvKernels& k, const float* x, const float* hwio,
                        float* scratch, const float* bias, float* y, Activation activation, int threads);

}  // namespace convkit::detail::direct
