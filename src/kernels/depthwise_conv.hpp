#pragma once
// The depthwise micro-kernel family (groups == in_c == out_c): every output channel reads its
// own input channel, so the vectors run along the channels NHWC keeps contiguous and the
// taps are the only reduction. Portable: no SIMD types here.
#include <cstdint>

#include "conv/cache_sizes.hpp"
#include "convkit/conv2d.hpp"
#include "isa.hpp"
#include "kernels/phase_pair_tile.hpp"

namespace convkit::detail {

inline constexpr int kMaxDepthwisePixels = 8;

// Input pixels a multiple of 512 bytes apart put all of a tile's loads of one vector in at most
// 8 of a 32 KB 8-way L1's 64 sets (4 KB apart: in one). There the row tiles take more vectors of
// fewer pixels (at most kMaxDepthwiseWidePixels), spreading each pixel over more sets:
// - AVX-512, four vectors, at 4 KB: 1.2-1.6x on such layers (MobileNet v1's 1024 channels, 512
//   at stride 2), level or slower at 2 KB (docs/results/decisions.md, "direct: depthwise tiles
//   at 4 KB pixel strides");
// - AVX2, two vectors (a whole line), at 512 bytes: 1.3-2x on Zen 3 at 2 KB and 4 KB, level where
//   the pixels spread over more sets (docs/results/decisions.md, "direct: AVX2 depthwise tiles at 512-byte
//   pixel strides").
inline constexpr int kMaxDepthwiseWidePixels = 4;
inline bool depthwise_wide_tiles(int64_t x_pixel_stride, int64_t lanes) {
  return lie_multiple_of(x_pixel_stride, lanes == 16 ? 4096 : 512);
}

// Output row r < rows, pixel p and channel c (0 <= c < channels) get
//   y[r*y_row_stride + p*y_pixel_stride + c] = (bias[c] or 0)
//       + sum_{th < taps_h, tw < taps_w} x[r*x_row_stride + p*x_pixel_stride + th*x_tap_h + tw*x_tap_w + c]
//                                      * w[th*w_tap_h + tw*w_tap_w + c]
// then the activation (kernels/epilogue.hpp), the taps summed in (th, tw) order. x, y and bias
// (when not null) are read and written only at their first `channels` channels; w is
// zero-padded to whole vectors.
struct DepthwiseConvTile {
  const float* x;
  const float* w;
  const float* bias;
  float* y;
  int64_t rows, pixels;
  int64_t x_row_stride, y_row_stride, x_pixel_stride, y_pixel_stride;
  int64_t taps_h, taps_w;
  int64_t x_tap_h, x_tap_w, w_tap_h, w_tap_w;
  int64_t channels;
  Activation activation;
};

inline constexpr int kMaxDepthwisePairs = 8;

// pair_tile (a PhasePairTile): backward data of a stride-2 column axis, both of its phases at once:
// the transposed problem's even-phase outputs read the even taps (dy columns m, m - 1, ...) and
// the odd-phase outputs between them the odd ones, so a run of `pairs` (even, odd) output pairs
// loads each dy vector once for every tap instead of once per phase, and stores whole runs of
// pixels:
//   y[2m*y_pixel_stride + c] = sum_{th < taps_h} sum_{even k < taps_w} x[th*x_tap_h + (m - k/2)*x_pixel_stride + c] * w[th*w_tap_h + k*w_tap_w + c]
//   y[(2m+1)*y_pixel_stride + c] = sum_{th < taps_h} sum_{odd k < taps_w} x[th*x_tap_h + (m - (k-1)/2)*x_pixel_stride + c] * w[th*w_tap_h + k*w_tap_w + c]
// for m < pairs and 0 <= c < channels, summed kernel row by kernel row, the taps from the last
// to the first (the order each phase's own tile sums in); 0 when taps_h is 0 (x then unread).
// x and y are read and written only at their first `channels` channels; w is zero-padded to
// whole vectors.

// The weight gradient of a rectangle of taps (taps_h kernel rows of taps_w taps), over a
// rectangle of output pixels:
//   dw[th*dw_tap_h + tw*dw_tap_stride + c] = (accumulate ? dw[...] : 0)
//       + sum_{r < rows, q < cols} x[r*x_row_stride + q*x_col_stride + th*x_tap_h + tw*x_tap_w + c]
//                                * dy[r*dy_row_stride + q*dy_col_stride + c]
// for th < taps_h, tw < taps_w and 0 <= c < channels, summed in (r, q) order. Up to three
// kernel rows of three taps share each dy load and keep their sums in registers.
struct DepthwiseWeightGradTile {
  const float* x;
  const float* dy;
  float* dw;
  int64_t rows, cols, taps_h, taps_w;
  int64_t x_row_stride, x_col_stride, x_tap_h, x_tap_w, dy_row_stride, dy_col_stride, dw_tap_h, dw_tap_stride;
  int64_t channels;
  bool accumulate;
};

// Where every input pixel a weight-gradient tile reads along a row lies a multiple of 2 KB
// from the others (columns and taps both 512 floats apart, as at 512 channels and their
// multiples), each pixel's lines of one vector fall in the same two L1 sets. There the AVX-512
// tile takes four vectors a kernel row at a time instead of two vectors three kernel rows at a
// time, spreading each pixel over twice the sets: 1.1-1.5x on such layers, slower elsewhere
// (docs/results/decisions.md, "direct: depthwise weight gradient by channels").
inline bool depthwise_grad_wide_tiles(const DepthwiseWeightGradTile& t) {
  return lie_multiple_of(t.x_col_stride, 2048) && lie_multiple_of(t.x_tap_w, 2048);
}

// Whether a tile of two rows computes both in one pass: a 3x3 kernel at stride 1 or 2 along
// each axis, without dilation, where the rows share input rows (one of five at stride 2, two of
// four at stride 1) and load them once. Other tiles of two rows run as two tiles of one.
inline bool depthwise_pairs_rows(const DepthwiseConvTile& t) {
  const bool stride_h = t.x_row_stride == t.x_tap_h || t.x_row_stride == 2 * t.x_tap_h;
  const bool stride_w = t.x_pixel_stride == t.x_tap_w || t.x_pixel_stride == 2 * t.x_tap_w;
  return t.rows == 2 && t.taps_h == 3 && t.taps_w == 3 && stride_h && stride_w;
}

struct DepthwiseConvKernels {
  int lanes;
  // The widest tile worth running as two rows (see depthwise_pairs_rows); 0 where the registers
  // do not hold two rows of accumulators next to the nine weight vectors.
  int pair_pixels;
  // The widest wide tile (depthwise_wide_tiles); 0 where there is none.
  int wide_pixels;
  void (*tile[kMaxDepthwisePixels])(const DepthwiseConvTile&);  // tile[p-1] for p pixels
  void (*weight_grad)(const DepthwiseWeightGradTile&);
  // pair_tile[p-1] for 1 <= p <= max_pairs.
  int max_pairs;
  void (*pair_tile[kMaxDepthwisePairs])(const PhasePairTile&);
};

}  // namespace convkit::detail
