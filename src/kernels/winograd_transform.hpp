#pragma once
// The Winograd F(m x m, 3x3) transforms, m = 4 (Lavin and Gray's, interpolation points 0, 1,
// -1, 2, -2 and infinity) and m = 6 (points 0, 1, -1, 2, -2, 1/2, -1/2 and infinity, as in
// NNPACK and ncnn), each vectorized over the channels NHWC and HWIO keep contiguous. With d an
// (m+2) x (m+2) input tile, g a 3x3 kernel and e the element-wise products of their transforms,
//   input   V = B^T d B        weight  U = G g G^T        output  Y = A^T e A  (an m x m tile)
// and Y is the 3x3 correlation of d with g, sum over (i, j) of d[r + i][c + j] * g[i][j].
// Position xi = (m+2)*row + column of the transformed tile. Nothing here knows layers: the
// caller (src/backends/winograd) chooses tiles, channels and where the results go.
#include <cstdint>

#include "convkit/conv2d.hpp"

namespace convkit::detail {

inline constexpr int64_t kWinogradMaxPositions = 64;  // (6 + 2)^2

// The three transforms of one tile size.
struct WinogradTileTransforms {
  int64_t output_tile = 0;  // m
  int64_t input_tile = 0;   // m + 2
  int64_t positions() const { return input_tile * input_tile; }

  // One input tile: the window of input_tile x input_tile pixels at (row0, col0) of an image of
  // rows x cols pixels, pixel (r, c) channel k at image[(r*cols + c)*pixel_stride + k]; pixels
  // outside the image are zero. Writes channels [0, channels) of position xi at
  // v[xi*position_stride], rounded up to whole vectors (the lanes past `channels` get zeros), so
  // each position's row must have room for it.
  void (*input)(const float* image, int64_t rows, int64_t cols, int64_t pixel_stride, int64_t row0, int64_t col0,
                int64_t channels, float* v, int64_t position_stride);
  // One output tile: reads channels [0, channels) of position xi at e[xi*position_stride]
  // (rounded up to whole vectors, whose extra lanes may hold anything), adds bias[k] (bias may
  // be null), applies the activation (kernels/epilogue.hpp), and writes the first `rows` x `cols` (<= m x m) outputs,
  // output (r, c) channel k at y[r*row_stride + c*pixel_stride + k].
  void (*output)(const float* e, int64_t position_stride, int64_t channels, const float* bias, Activation activation, float* y,
                 int64_t pixel_stride, int64_t row_stride, int64_t rows, int64_t cols);
  // The weight transform of `count` kernels: kernel j's tap (kh, kw) at w[(3*kh + kw)*tap_stride + j];
  // writes kernel j's position xi to u[xi*position_stride + j].
  void (*weights)(const float* w, int64_t tap_stride, int64_t count, float* u, int64_t position_stride);
};

struct WinogradTransforms {
  WinogradTileTransforms f4x4, f6x6;
};

}  // namespace convkit::detail
