#pragma once
// The bias gradient every backend but the reference computes: db[c] = the sum over all of a
// layer's output pixels (batch included) of dy[pixel][c], NHWC's dy as [pixels][channels].
// Bitwise the same for any thread count: the pixels are cut into a number of segments that
// depends on the problem alone, each segment is summed by the kernel of
// kernels/bias_gradient.hpp in pixel chunks taken in order, and the segment sums are added in
// segment order (docs/design.md, "Shared layer").
#include <cstdint>

#include "isa.hpp"
#include "kernels/bias_gradient.hpp"

namespace convkit::detail {

class BiasGradient {
 public:
  BiasGradient(int64_t pixels, int64_t channels, Isa isa);

  // The floats of the segment sums a call needs: [segment][channel].
  int64_t workspace_floats() const { return segments_ * channels_; }

  // Inside a caller's run_team region: thread `thread` of `team` sums its share of the
  // segments into `partial`; after a team_barrier, add_segments writes its share of db's
  // channels (overwritten) from every segment's sums.
  void sum_segments(const float* dy, float* partial, int thread, int team) const;
  void add_segments(const float* partial, float* db, int thread, int team) const;

  // Channels [c_begin, c_end) of db, overwritten with the bits the two steps above give them,
  // by one thread: each segment summed (into `segment_sums`, c_end - c_begin floats, after the
  // first), then added in segment order. For a thread that owns those channels, as a depthwise
  // weight gradient's does: no barrier, and no sums of another thread's read.
  void sum_channels(const float* dy, float* db, int64_t c_begin, int64_t c_end, float* segment_sums) const;

  // Both steps in a region of `threads` threads of its own, for callers not already in one.
  void run(const float* dy, float* db, float* partial, int threads) const;

 private:
  // Segment `segment`'s sums of channels [c0, c0 + width) into `sums` (overwritten).
  void sum_segment(const float* dy, int64_t segment, int64_t c0, int64_t width, float* sums) const;
  int64_t pixels_, channels_, segments_, chunk_pixels_;
  const BiasGradientKernels& k_;
};

}  // namespace convkit::detail
