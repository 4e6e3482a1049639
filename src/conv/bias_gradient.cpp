// The shared bias gradient (bias_gradient.hpp).
#include "conv/bias_gradient.hpp"

#include <algorithm>

#include "conv/integer.hpp"
#include "threading.hpp"

namespace convkit::detail {

namespace {

// Enough segments for every thread of a large layer, and segments long enough that adding
// their sums (a pass over segments x channels) stays small beside summing the pixels.
constexpr int64_t kMaxSegments = 16;
constexpr int64_t kMinSegmentPixels = 64;
// A chunk's dy rows stay in L1 across the kernel's passes over pairs of channel vectors.
constexpr int64_t kChunkBytes = 16 * 1024;
constexpr int64_t kMinChunkPixels = 8;  // two rounds of the kernel's four chains

}  // namespace

BiasGradient::BiasGradient(int64_t pixels, int64_t channels, Isa isa)
    : pixels_(pixels),
      channels_(channels),
      segments_(std::clamp<int64_t>(ceil_div(pixels, kMinSegmentPixels), 1, kMaxSegments)),
      chunk_pixels_(std::max(kMinChunkPixels, kChunkBytes / (channels * int64_t(sizeof(float))))),
      k_(kernels<BiasGradientKernels>(isa)) {}

void BiasGradient::sum_segments(const float* dy, float* partial, int thread, int team) const {
  // With fewer segments than threads (one below 128 pixels), the threads split each segment's
  // channels as well, in whole vectors: a channel's sum is the same whichever thread takes it.
  const int64_t slices = segments_ >= team ? 1 : ceil_div(int64_t{team}, segments_);
  const int64_t vectors = ceil_div(channels_, int64_t{k_.lanes});
  const Share mine = share_of(segments_ * slices, thread, team);
  for (int64_t item = mine.begin; item < mine.end; ++item) {
    const int64_t segment = item / slices;
    const Share slice = share_of(vectors, static_cast<int>(item % slices), static_cast<int>(slices));
    const int64_t c0 = slice.begin * k_.lanes, width = std::min(channels_, slice.end * k_.lanes) - c0;
    if (width <= 0) continue;
    sum_segment(dy, segment, c0, width, partial + segment * channels_ + c0);
  }
}

void BiasGradient::sum_segment(const float* dy, int64_t segment, int64_t c0, int64_t width, float* sums) const {
  const Share pixels = share_of(pixels_, static_cast<int>(segment), static_cast<int>(segments_));
  std::fill_n(sums, width, 0.0f);
  for (int64_t p = pixels.begin; p < pixels.end; p += chunk_pixels_) {
    k_.sum_pixels(dy + p * channels_ + c0, std::min(chunk_pixels_, pixels.end - p), channels_, width, sums);
  }
}

void BiasGradient::sum_channels(const float* dy, float* db, int64_t c_begin, int64_t c_end, float* segment_sums) const {
  const int64_t width = c_end - c_begin;
  if (width <= 0) return;
  sum_segment(dy, 0, c_begin, width, db + c_begin);
  for (int64_t segment = 1; segment < segments_; ++segment) {
    sum_segment(dy, segment, c_begin, width, segment_sums);
    for (int64_t c = 0; c < width; ++c) db[c_begin + c] += segment_sums[c];
  }
}

void BiasGradient::add_segments(const float* partial, float* db, int thread, int team) const {
  const Share mine = share_of(channels_, thread, team);
  const int64_t width = mine.end - mine.begin;
  if (width <= 0) return;
  std::copy_n(partial + mine.begin, width, db + mine.begin);
  for (int64_t segment = 1; segment < segments_; ++segment) {
    const float* sums = partial + segment * channels_ + mine.begin;
    float* out = db + mine.begin;
    for (int64_t c = 0; c < width; ++c) out[c] += sums[c];
  }
}

void BiasGradient::run(const float* dy, float* db, float* partial, int threads) const {
  run_team(threads, [&](int thread, int team) {
    sum_segments(dy, partial, thread, team);
    team_barrier(team);
    add_segments(partial, db, thread, team);
  });
}

}  // namespace convkit::detail
