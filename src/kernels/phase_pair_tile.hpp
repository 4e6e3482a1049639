#pragma once
// The arguments of a pair tile, which both the depthwise and the grouped families run
// (DepthwiseConvKernels::pair_tile, GroupedConvKernels::tile_pairs; each header gives its
// formula): backward data along a stride-2 column axis of taps_w = 3 or 5 taps, whose (even,
// odd) output pairs share a window of dy (conv/tap_geometry.hpp, pair_phases). x is pair 0's
// tap-0 input, w the first kernel row's tap 0. Portable: no SIMD types here.
#include <cstdint>

namespace convkit::detail {

struct PhasePairTile {
  const float* x;
  const float* w;
  float* y;
  int64_t pairs, taps_h, taps_w;
  int64_t x_pixel_stride, y_pixel_stride, x_tap_h, w_tap_h, w_tap_w;
  int64_t channels;
};

}  // namespace convkit::detail
