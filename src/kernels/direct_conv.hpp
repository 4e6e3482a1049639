#pragma once
// The direct-convolution micro-kernel family: a register tile of up to kMaxTilePixels output
// pixels by one to four output-channel vectors, summing over a rectangle of taps and, per tap,
// over a run of reduced channels. It knows nothing of padding, groups or layouts beyond the
// strides below, so forward, backward-data (taps walked backwards, per stride phase) and
// backward-weights (pixels become input channels, the reduction runs over output pixels) all
// drive the same code. Portable: no SIMD types here.
#include <cstdint>

#include "convkit/conv2d.hpp"
#include "isa.hpp"

namespace convkit::detail {

inline constexpr int kMaxTileVectors = 4;
inline constexpr int kMaxTilePixels = 14;

// One call's work. Output pixel p (0 <= p < pixels) and output channel c of the block get
//   y[p*y_pixel_stride + c] = (accumulate ? y[...] : bias[c] or 0)
//       + sum_{th < taps_h, tw < taps_w, k < reduce}
//           x[p*x_pixel_stride + th*x_tap_h + tw*x_tap_w + k*x_reduce_stride]
//         * w[th*w_tap_h + tw*w_tap_w + k*w_reduce_stride + c]
// then the activation (kernels/epilogue.hpp). Strides are in floats and may be negative; every
// address the sum names must lie inside the caller's arrays (x need not be dereferenceable when
// a tap count is 0). w holds whole vectors: the block's channels zero-padded to vectors*lanes.
// Only the first out_channels channels of y and of bias (when not null) are read or written.
// With more_tiles > 0 the call runs that many further tiles after the first, tile i at x and y
// moved i*pixels pixels along: a driver of tiles over a short reduction (1x1 layers of few
// channels, a weight gradient over a few pixels) saves a call and its setup per tile.
struct DirectConvTile {
  const float* x;
  const float* w;
  const float* bias;  // nullptr: start from zero
  float* y;
  int64_t pixels;
  int64_t x_pixel_stride, y_pixel_stride;
  int64_t taps_h, taps_w;
  int64_t x_tap_h, x_tap_w, w_tap_h, w_tap_w;
  int64_t reduce, x_reduce_stride, w_reduce_stride;
  int64_t out_channels;
  bool accumulate;
  Activation activation;
  int64_t more_tiles;
};

using DirectConvTileFn = void (*)(const DirectConvTile&);

inline constexpr int kMaxDotPixels = 5;
inline constexpr int kMaxDotChannels = 4;

// The same sum with the vectors along the reduction instead: for weights whose reduced
// channels are contiguous (HWIO read by backward data, where packing them would cost as much
// as the convolution on small images; forward layers of a few output channels, whose lanes the
// packed tile would leave idle). Pixel p and output channel c get
//   y[p*y_pixel_stride + c] = (bias[c] or 0) + sum_{th < taps_h, tw < taps_w, k < reduce}
//           x[p*x_pixel_stride + th*x_tap_h + tw*x_tap_w + k] * w[c*w_channel_stride + th*w_tap_h + tw*w_tap_w + k]
// then the activation. Each (p, c) sums lane-wise partial sums over k (a partial last vector
// read through a zeroed buffer), adds the lanes in a fixed order, then the bias.
struct DirectDotTile {
  const float* x;
  const float* w;
  const float* bias;  // nullptr: no bias
  float* y;
  int64_t pixels, channels;
  int64_t x_pixel_stride, y_pixel_stride, w_channel_stride;
  int64_t taps_h, taps_w;
  int64_t x_tap_h, x_tap_w, w_tap_h, w_tap_w;
  int64_t reduce;
  Activation activation;
};

using DirectDotTileFn = void (*)(const DirectDotTile&);

struct DirectConvKernels {
  int lanes;  // floats per vector
  // The widest pixel count of a tile with v+1 vectors whose accumulators, weight vectors and
  // broadcast value stay in the register file; tile[v][p-1] exists for 1 <= p <= max_pixels[v].
  int max_pixels[kMaxTileVectors];
  // The number of vectors per output-channel block this instruction set prefers.
  int preferred_vectors;
  DirectConvTileFn tile[kMaxTileVectors][kMaxTilePixels];
  // dot_tile[p-1][c-1] for p <= dot_max_pixels pixels and c <= dot_max_channels channels.
  int dot_max_pixels, dot_max_channels;
  DirectDotTileFn dot_tile[kMaxDotPixels][kMaxDotChannels];
  // dst[r*dst_stride + j] = src[j*src_stride + r] for r < rows, j < cols: backward data's
  // packing, where HWIO's output channels become the reduction and its input channels the lanes.
  void (*transpose)(const float* src, int64_t src_stride, int64_t rows, int64_t cols, float* dst,
                    int64_t dst_stride);
};

}  // namespace convkit::detail
