#pragma once
// The grouped-convolution micro-kernel family, for groups of a few channels (in_per_group <=
// out_per_group <= kMaxGroupedDiagonals, at least two groups per vector): one vector holds the
// input channels of several neighbouring groups as NHWC keeps them, and every FMA uses all its
// lanes. The products lane (g, j) of an input vector owes to output channels (g, o) are split
// into "diagonals": diagonal s pairs input lane (g, j) with output (g, (j + s) mod out_per_group),
// so each diagonal is a full-width multiply of the unpermuted input by a packed weight vector
// and sums into an accumulator of its own; the lanes move to their output channels only once
// per pixel, in the epilogue, by one permute per diagonal and output vector. A dense tile on
// each group (DirectConvKernels) fills out_per_group of its lanes; a block-diagonal dense tile
// fills the same fraction. Portable: no SIMD types here.
#include <cstdint>

#include "isa.hpp"

namespace convkit::detail {

inline constexpr int kMaxGroupedDiagonals = 8;
inline constexpr int kMaxGroupedPixels = 14;

// One call's work over `pixels` output pixels of one block of groups. Accumulators
//   acc[p][s][l] = sum_{th < taps_h, tw < taps_w} x[p*x_pixel_stride + th*x_tap_h + tw*x_tap_w + l]
//                                               * w[th*w_tap_h + tw*w_tap_w + s*lanes + l]
// for l < lanes (x read only at l < in_lanes, the others taken as 0), summed in (th, tw) order;
// then output channel q of the block (q < out_channels, out_vectors = ceil(out_channels / lanes)
// vectors) gets
//   y[p*y_pixel_stride + q] = (bias[q] or 0) + sum_{s < diagonals, source[v][s][l] >= 0} acc[p][s][source[v][s][l]]
// with v = q / lanes, l = q % lanes, the diagonals added in order, then v < 0 ? 0 : v when
// relu. `source` is [out_vectors][diagonals][lanes] lane indices (-1: no term). x need not be
// dereferenceable when a tap count is 0; bias (when not null) is read at its first
// out_channels floats only.
struct GroupedConvTile {
  const float* x;
  const float* w;
  const float* bias;
  float* y;
  const int32_t* source;
  int64_t pixels;
  int64_t x_pixel_stride, y_pixel_stride;
  int64_t taps_h, taps_w;
  int64_t x_tap_h, x_tap_w, w_tap_h, w_tap_w;
  int64_t in_lanes, out_channels;
  bool relu;
};

using GroupedConvTileFn = void (*)(const GroupedConvTile&);

struct GroupedConvKernels {
  int lanes;
  // The widest tile of s+1 diagonals whose accumulators and operands stay in the register
  // file; tile[s][p-1] exists for 1 <= p <= max_pixels[s] (diagonals >= 2).
  int max_pixels[kMaxGroupedDiagonals];
  GroupedConvTileFn tile[kMaxGroupedDiagonals][kMaxGroupedPixels];
};

}  // namespace convkit::detail
