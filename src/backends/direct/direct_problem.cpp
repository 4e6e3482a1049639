// Building the direct backend's problems: tap runs, channel blocks, cache chunks, packed
// weights and the cached rectangles of a whole image (direct_problem.hpp).
#include "backends/direct/direct_problem.hpp"

#include <cstring>
#include <memory>

#include "conv/cache_sizes.hpp"

namespace convkit::detail::direct {

DirectProblem forward_problem(const Conv2dParams& p, const DirectConvKernels& k) {
  DirectProblem d;
  d.batch = p.batch, d.in_h = p.in_h, d.in_w = p.in_w, d.in_c = p.in_c;
  d.out_h = p.out_h(), d.out_w = p.out_w(), d.out_c = p.out_c, d.groups = p.groups;
  d.kernel_h = p.kernel_h, d.kernel_w = p.kernel_w;
  d.reduce_per_group = p.in_c_per_group(), d.out_per_group = p.out_c_per_group();
  d.row_runs = axis_runs(row_axis(p), false);
  d.columns = axis_runs(column_axis(p), false);
  d.blocking = ChannelBlocking(d.out_per_group, k.lanes, k.preferred_vectors, k.preferred_vectors < kMaxTileVectors);
  d.pointwise = is_pointwise(p);
  return d;
}

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
  d.blocking = ChannelBlocking(d.out_per_group, k.lanes, k.preferred_vectors, k.preferred_vectors < kMaxTileVectors);
  return d;
}

// Chunk and segment sizes. The weights of one block for one chunk of reduced channels stay in
// L2 next to the input rows a thread streams. The budget is the whole L2 rather than half of
// it: each pass beyond the first rereads the input and stores and reloads every partial sum
// (docs/results/decisions.md, "direct: one reduction chunk per L2").
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
  const int64_t all_weights = d.groups * d.blocking.group_lanes() * d.kernel_h * d.kernel_w * d.reduce_per_group;
  constexpr int64_t kSegmentsOuterMaxWeightFloats = (128 * 1024) / sizeof(float);
  const bool weights_stay = d.groups * d.blocking.blocks > 1 && all_weights <= kSegmentsOuterMaxWeightFloats;
  if (d.pointwise) {
    d.segment = 8 * k.max_pixels[d.blocking.block_vectors - 1];
    d.segments_outer = weights_stay;
    return;
  }
  // Rows: a segment's output and the input rows it reads take at most half of L2, so that every
  // block's pass finds them there; worth it only where an image's rows outgrow that.
  const int64_t row_floats = d.out_w * d.out_c + ceil_div(d.in_h, d.out_h) * d.in_w * d.in_c;
  d.segment = std::max<int64_t>(1, budget_floats / 2 / row_floats);
  d.segments_outer = weights_stay && d.out_h > d.segment;
}

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

void cache_image_rectangles(DirectProblem& d, Tiling tiling) {
  if (d.slice != nullptr) cache_image_rectangles(*d.slice, tiling);
  if (d.pointwise || d.image_rectangles_for(tiling) != nullptr) return;
  std::vector<Rectangle> rectangles;
  make_rectangles(d, 0, 0, d.out_h, tiling, [&](const Rectangle& r) { rectangles.push_back(r); });
  d.image_rectangles.emplace_back(tiling, std::move(rectangles));
}

// A group's tiles broadcast x a pixel at a time, each pixel's channels of the group from a
// line of their own; pixels a multiple of 1 KB apart put a tile's lines in a few L1 sets, with
// few FMAs per line where a group's channels fill at most one line (ResNeXt's 512 channels in
// 32 groups of 16). A copy of one group's channels of the image puts them back to back. Groups
// of 32 channels and more ran level or slower with the copy, and so did pixels 1344 and 1792
// bytes apart; copies larger than half of L2 would be reread from memory. Not on pointwise
// lines, which span the batch (docs/results/decisions.md, "direct: grouped x in per-group
// copies").
void slice_groups(DirectProblem& d) {
  constexpr int64_t kSlicePixelBytes = 1024;
  const int64_t slice_bytes = d.in_h * d.in_w * d.reduce_per_group * int64_t(sizeof(float));
  if (d.groups == 1 || d.pointwise || d.dot || d.reduce_per_group > kLineFloats ||
      !lie_multiple_of(d.in_c, kSlicePixelBytes) || 2 * slice_bytes > l2_bytes()) {
    return;
  }
  auto slice = std::make_shared<DirectProblem>(d);
  slice->in_c = d.reduce_per_group;
  slice->x_sliced = true;
  slice->image_rectangles.clear();
  d.slice = std::move(slice);  // d had no slice of its own, so neither has the copy
}

int call_team(const Conv2dParams& p, Direction d, int threads) {
  constexpr double kTeamFlops = 5e5, kDepthwiseTeamFlops = 1.5e5, kForwardTeamFlops = 2e5;
  constexpr int64_t kForwardTeamPixels = 16;
  // The weight gradient writes every dw float, mostly zeros on tiny images under large kernels.
  constexpr double kTeamFlopsPerWrittenWeight = 16;
  const double written = d == Direction::backward_weights ? double(p.weight_elements()) : 0.0;
  const double work = p.flops() + kTeamFlopsPerWrittenWeight * written;
  const bool depthwise = p.groups > 1 && p.groups == p.in_c && p.out_c == p.in_c;
  if (depthwise) return work < kDepthwiseTeamFlops ? 1 : threads;
  const bool spread_forward = d == Direction::forward && p.groups == 1 &&
                              p.batch * p.out_h() * p.out_w() >= kForwardTeamPixels && work >= kForwardTeamFlops;
  return work < kTeamFlops && !spread_forward ? 1 : threads;
}

}  // namespace convkit::detail::direct
