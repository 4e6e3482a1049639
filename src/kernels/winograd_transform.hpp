#pragma once
// The Winograd F(4x4, 3x3) transforms (Lavin and Gray's, interpolation points 0, 1, -1, 2, -2
// and infinity), each vectorized over the channels NHWC and HWIO keep contiguous. With d a 6x6
// input tile, g a 3x3 kernel and m the 6x6 element-wise products of their transforms,
//   input   V = B^T d B        weight  U = G g G^T        output  Y = A^T m A  (a 4x4 tile)
// and Y is the 3x3 correlation of d with g, sum over (i, j) of d[r + i][c + j] * g[i][j].
// Position xi = 6*row + column of the 6x6 transformed tile. Nothing here knows layers: the
// caller (src/backends/winograd) chooses tiles, channels and where the results go.
#include <cstdint>

namespace convkit::detail {

inline constexpr int64_t kWinogradOutputTile = 4;                       // m of F(m x m, 3 x 3)
inline constexpr int64_t kWinogradInputTile = kWinogradOutputTile + 2;  // m + 2
inline constexpr int64_t kWinogradPositions = kWinogradInputTile * kWinogradInputTile;

struct WinogradTransforms {
  // One input tile: the 6x6 window at (row0, col0) of an image of rows x cols pixels, pixel
  // (r, c) channel k at image[(r*cols + c)*pixel_stride + k]; pixels outside the image are zero.
  // Writes channels [0, channels) of position xi at v[xi*position_stride], rounded up to whole
  // vectors (the lanes past `channels` get zeros), so each position's row must have room for it.
  void (*input)(const float* image, int64_t rows, int64_t cols, int64_t pixel_stride, int64_t row0, int64_t col0,
                int64_t channels, float* v, int64_t position_stride);
  // One output tile: reads channels [0, channels) of position xi at m[xi*position_stride]
  // (rounded up to whole vectors, whose extra lanes may hold anything), adds bias[k] (bias may
  // be null), applies ReLU when asked, and writes the first `rows` x `cols` (<= 4 x 4) outputs,
  // output (r, c) channel k at y[r*row_stride + c*pixel_stride + k].
  void (*output)(const float* m, int64_t position_stride, int64_t channels, const float* bias, bool relu, float* y,
                 int64_t pixel_stride, int64_t row_stride, int64_t rows, int64_t cols);
  // The weight transform of `count` kernels: kernel j's tap (kh, kw) at w[(3*kh + kw)*tap_stride + j]
  // (a negative tap_stride with w at the last tap reads the kernels flipped); writes kernel j's
  // position xi to u[xi*position_stride + j].
  void (*weights)(const float* w, int64_t tap_stride, int64_t count, float* u, int64_t position_stride);
};

}  // namespace convkit::detail
