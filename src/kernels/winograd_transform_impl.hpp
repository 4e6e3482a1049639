#pragma once
// The Winograd F(4x4, 3x3) transforms of kernels/winograd_transform.hpp, written once on
// xsimd::batch<float, Arch> and compiled once per instruction set. Each 2-D transform is the
// 1-D one along rows, then along columns, with the subexpressions the rows of B^T and A^T share
// computed once (the input transform takes 12 operations per 6 values, not 22). A 6x6 tile of
// vectors outgrows the register file, so the first pass keeps its results in a stack array the
// second reads back (L1).
#include <xsimd/xsimd.hpp>

#include <cstdint>

#include "isa.hpp"
#include "kernels/fused_multiply_add.hpp"
#include "kernels/partial_vector.hpp"
#include "kernels/winograd_transform.hpp"

namespace convkit::detail {
namespace {

constexpr int kIn = static_cast<int>(kWinogradInputTile), kOut = static_cast<int>(kWinogradOutputTile);

// B^T d of six values:
//   [4  0 -5  0 1 0]   [0 -4 -4  1 1 0]   [0 4 -4 -1 1 0]
//   [0 -2 -1  2 1 0]   [0  2 -1 -2 1 0]   [0 4  0 -5 0 1]
template <class V>
[[gnu::always_inline]] inline void input_1d(const V (&d)[kIn], V (&t)[kIn]) {
  const V four(4.0f), five(5.0f), two(2.0f);
  const V sum12 = d[1] + d[2], dif12 = d[1] - d[2];
  const V sum34 = d[3] + d[4], dif43 = d[4] - d[3];
  const V dif42 = d[4] - d[2], dif31 = d[3] - d[1];
  t[0] = fused_multiply_add(four, d[0], fused_multiply_add(-five, d[2], d[4]));
  t[1] = fused_multiply_add(-four, sum12, sum34);
  t[2] = fused_multiply_add(four, dif12, dif43);
  t[3] = fused_multiply_add(two, dif31, dif42);
  t[4] = fused_multiply_add(-two, dif31, dif42);
  t[5] = fused_multiply_add(four, d[1], fused_multiply_add(-five, d[3], d[5]));
}

// A^T m of six values:
//   [1 1  1 1  1 0]   [0 1 -1 2 -2 0]   [0 1 1 4 4 0]   [0 1 -1 8 -8 1]
template <class V>
[[gnu::always_inline]] inline void output_1d(const V (&m)[kIn], V (&o)[kOut]) {
  const V sum12 = m[1] + m[2], dif12 = m[1] - m[2];
  const V sum34 = m[3] + m[4], dif34 = m[3] - m[4];
  o[0] = m[0] + sum12 + sum34;
  o[1] = fused_multiply_add(V(2.0f), dif34, dif12);
  o[2] = fused_multiply_add(V(4.0f), sum34, sum12);
  o[3] = fused_multiply_add(V(8.0f), dif34, dif12) + m[5];
}

// G g of three values:
//   [1/4 0 0]   [-1/6 -1/6 -1/6]   [-1/6 1/6 -1/6]   [1/24 1/12 1/6]   [1/24 -1/12 1/6]   [0 0 1]
template <class V>
[[gnu::always_inline]] inline void weight_1d(const V (&g)[3], V (&u)[kIn]) {
  const V sum02 = g[0] + g[2];
  const V quarter_g0_plus_g2 = fused_multiply_add(V(0.25f), g[0], g[2]);  // (g0/4 + g2)
  u[0] = V(0.25f) * g[0];
  u[1] = V(-1.0f / 6.0f) * (sum02 + g[1]);
  u[2] = V(-1.0f / 6.0f) * (sum02 - g[1]);
  u[3] = V(1.0f / 6.0f) * fused_multiply_add(V(0.5f), g[1], quarter_g0_plus_g2);
  u[4] = V(1.0f / 6.0f) * fused_multiply_add(V(-0.5f), g[1], quarter_g0_plus_g2);
  u[5] = g[2];
}

// The window's rows and columns [lo, hi) that lie inside the image.
struct InsideSpan {
  int lo, hi;
};
inline InsideSpan inside_span(int64_t first, int64_t extent) {
  const int64_t lo = first < 0 ? -first : 0, hi = extent - first < kIn ? extent - first : kIn;
  return {static_cast<int>(lo), static_cast<int>(hi < lo ? lo : hi)};
}

// Inside: the whole window lies in the image (no pixel needs checking).
template <class Arch, bool WholeVector, bool Inside>
void input_tile_channels(const float* image, int64_t cols, int64_t pixel_stride, int64_t row0, int64_t col0,
                         InsideSpan r_in, InsideSpan c_in, int64_t c, int64_t count, float* v, int64_t position_stride) {
  using V = xsimd::batch<float, Arch>;
  V t[kIn][kIn];
#pragma GCC unroll 6
  for (int r = 0; r < kIn; ++r) {
    V d[kIn];
    const bool row_inside = Inside || (r >= r_in.lo && r < r_in.hi);
#pragma GCC unroll 6
    for (int q = 0; q < kIn; ++q) {
      if (Inside || (row_inside && q >= c_in.lo && q < c_in.hi)) {
        const float* src = image + ((row0 + r) * cols + col0 + q) * pixel_stride + c;
        d[q] = WholeVector ? V::load_unaligned(src) : load_partial<Arch>(src, count);
      } else {
        d[q] = V(0.0f);
      }
    }
    input_1d(d, t[r]);
  }
#pragma GCC unroll 6
  for (int q = 0; q < kIn; ++q) {
    V column[kIn], out[kIn];
#pragma GCC unroll 6
    for (int r = 0; r < kIn; ++r) column[r] = t[r][q];
    input_1d(column, out);
#pragma GCC unroll 6
    for (int r = 0; r < kIn; ++r) out[r].store_unaligned(v + (r * kIn + q) * position_stride + c);
  }
}

template <class Arch>
void input_tile(const float* image, int64_t rows, int64_t cols, int64_t pixel_stride, int64_t row0, int64_t col0,
                int64_t channels, float* v, int64_t position_stride) {
  constexpr int64_t W = xsimd::batch<float, Arch>::size;
  const InsideSpan r_in = inside_span(row0, rows), c_in = inside_span(col0, cols);
  const int64_t whole = channels / W * W;
  const bool inside = r_in.lo == 0 && r_in.hi == kIn && c_in.lo == 0 && c_in.hi == kIn;
  for (int64_t c = 0; c < whole; c += W) {
    if (inside) {
      input_tile_channels<Arch, true, true>(image, cols, pixel_stride, row0, col0, r_in, c_in, c, W, v, position_stride);
    } else {
      input_tile_channels<Arch, true, false>(image, cols, pixel_stride, row0, col0, r_in, c_in, c, W, v,
                                             position_stride);
    }
  }
  if (whole < channels) {
    input_tile_channels<Arch, false, false>(image, cols, pixel_stride, row0, col0, r_in, c_in, whole, channels - whole,
                                            v, position_stride);
  }
}

template <class Arch>
void output_tile(const float* m, int64_t position_stride, int64_t channels, const float* bias, bool relu, float* y,
                 int64_t pixel_stride, int64_t row_stride, int64_t rows, int64_t cols) {
  using V = xsimd::batch<float, Arch>;
  constexpr int64_t W = V::size;
  for (int64_t c = 0; c < channels; c += W) {
    const int64_t count = channels - c < W ? channels - c : W;
    V s[kIn][kOut];
#pragma GCC unroll 6
    for (int r = 0; r < kIn; ++r) {
      V row[kIn];
#pragma GCC unroll 6
      for (int q = 0; q < kIn; ++q) row[q] = V::load_unaligned(m + (r * kIn + q) * position_stride + c);
      output_1d(row, s[r]);
    }
    const V b = bias == nullptr ? V(0.0f) : count == W ? V::load_unaligned(bias + c) : load_partial<Arch>(bias + c, count);
#pragma GCC unroll 4
    for (int q = 0; q < kOut; ++q) {
      V column[kIn], out[kOut];
#pragma GCC unroll 6
      for (int r = 0; r < kIn; ++r) column[r] = s[r][q];
      output_1d(column, out);
      if (q >= cols) continue;
#pragma GCC unroll 4
      for (int r = 0; r < kOut; ++r) {
        if (r >= rows) break;
        V value = out[r] + b;
        if (relu) value = xsimd::select(value < V(0.0f), V(0.0f), value);
        float* dst = y + r * row_stride + q * pixel_stride + c;
        if (count == W) {
          value.store_unaligned(dst);
        } else {
          store_partial<Arch>(dst, value, count);
        }
      }
    }
  }
}

template <class Arch>
void weight_tiles(const float* w, int64_t tap_stride, int64_t count, float* u, int64_t position_stride) {
  using V = xsimd::batch<float, Arch>;
  constexpr int64_t W = V::size;
  for (int64_t j = 0; j < count; j += W) {
    const int64_t n = count - j < W ? count - j : W;
    V s[3][kIn];
#pragma GCC unroll 3
    for (int kh = 0; kh < 3; ++kh) {
      V g[3];
#pragma GCC unroll 3
      for (int kw = 0; kw < 3; ++kw) {
        const float* src = w + (3 * kh + kw) * tap_stride + j;
        g[kw] = n == W ? V::load_unaligned(src) : load_partial<Arch>(src, n);
      }
      weight_1d(g, s[kh]);
    }
#pragma GCC unroll 6
    for (int q = 0; q < kIn; ++q) {
      V column[3] = {s[0][q], s[1][q], s[2][q]}, out[kIn];
      weight_1d(column, out);
#pragma GCC unroll 6
      for (int r = 0; r < kIn; ++r) {
        float* dst = u + (r * kIn + q) * position_stride + j;
        if (n == W) {
          out[r].store_unaligned(dst);
        } else {
          store_partial<Arch>(dst, out[r], n);
        }
      }
    }
  }
}

template <class Arch>
WinogradTransforms make_winograd_transforms() {
  WinogradTransforms t;
  t.input = input_tile<Arch>;
  t.output = output_tile<Arch>;
  t.weights = weight_tiles<Arch>;
  return t;
}

}  // namespace
}  // namespace convkit::detail
