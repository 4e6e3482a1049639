#pragma once
// The Winograd transforms of kernels/winograd_transform.hpp, written once on
// xsimd::batch<float, Arch> for either tile size (F4 and F6 below hold the 1-D transforms) and
// compiled once per instruction set. Each 2-D transform is the 1-D one along rows, then along
// columns, with the subexpressions the rows of B^T and A^T share computed once (F4's input
// transform takes 12 operations per 6 values, not 22). A tile of vectors outgrows the register
// file, so the first pass keeps its results in a stack array the second reads back (L1).
#include <xsimd/xsimd.hpp>

#include <cstdint>

#include "isa.hpp"
#include "kernels/epilogue.hpp"
#include "kernels/fused_multiply_add.hpp"
#include "kernels/partial_vector.hpp"
#include "kernels/winograd_transform.hpp"

namespace convkit::detail {
namespace {

// F(4x4, 3x3).
struct F4 {
  static constexpr int in = 6, out = 4;

  // B^T d:
  //   [4  0 -5  0 1 0]   [0 -4 -4  1 1 0]   [0 4 -4 -1 1 0]
  //   [0 -2 -1  2 1 0]   [0  2 -1 -2 1 0]   [0 4  0 -5 0 1]
  template <class V>
  [[gnu::always_inline]] static void input_1d(const V (&d)[in], V (&t)[in]) {
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

  // A^T e:
  //   [1 1  1 1  1 0]   [0 1 -1 2 -2 0]   [0 1 1 4 4 0]   [0 1 -1 8 -8 1]
  template <class V>
  [[gnu::always_inline]] static void output_1d(const V (&m)[in], V (&o)[out]) {
    const V sum12 = m[1] + m[2], dif12 = m[1] - m[2];
    const V sum34 = m[3] + m[4], dif34 = m[3] - m[4];
    o[0] = m[0] + sum12 + sum34;
    o[1] = fused_multiply_add(V(2.0f), dif34, dif12);
    o[2] = fused_multiply_add(V(4.0f), sum34, sum12);
    o[3] = fused_multiply_add(V(8.0f), dif34, dif12) + m[5];
  }

  // G g:
  //   [1/4 0 0]   [-1/6 -1/6 -1/6]   [-1/6 1/6 -1/6]   [1/24 1/12 1/6]   [1/24 -1/12 1/6]   [0 0 1]
  template <class V>
  [[gnu::always_inline]] static void weight_1d(const V (&g)[3], V (&u)[in]) {
    const V sum02 = g[0] + g[2];
    const V quarter_g0_plus_g2 = fused_multiply_add(V(0.25f), g[0], g[2]);
    u[0] = V(0.25f) * g[0];
    u[1] = V(-1.0f / 6.0f) * (sum02 + g[1]);
    u[2] = V(-1.0f / 6.0f) * (sum02 - g[1]);
    u[3] = V(1.0f / 6.0f) * fused_multiply_add(V(0.5f), g[1], quarter_g0_plus_g2);
    u[4] = V(1.0f / 6.0f) * fused_multiply_add(V(-0.5f), g[1], quarter_g0_plus_g2);
    u[5] = g[2];
  }
};

// F(6x6, 3x3).
struct F6 {
  static constexpr int in = 8, out = 6;

  // B^T d:
  //   [1 0 -21/4 0 21/4 0 -1 0]   [0 1 1 -17/4 -17/4 1 1 0]   [0 -1 1 17/4 -17/4 -1 1 0]
  //   [0 1/2 1/4 -5/2 -5/4 2 1 0] [0 -1/2 1/4 5/2 -5/4 -2 1 0]
  //   [0 2 4 -5/2 -5 1/2 1 0]     [0 -2 4 5/2 -5 -1/2 1 0]     [0 -1 0 21/4 0 -21/4 0 1]
  template <class V>
  [[gnu::always_inline]] static void input_1d(const V (&d)[in], V (&t)[in]) {
    t[0] = fused_multiply_add(V(5.25f), d[4] - d[2], d[0] - d[6]);
    t[7] = fused_multiply_add(V(5.25f), d[3] - d[5], d[7] - d[1]);
    const V a12 = fused_multiply_add(V(-4.25f), d[4], d[2] + d[6]);
    const V b12 = fused_multiply_add(V(-4.25f), d[3], d[1] + d[5]);
    t[1] = a12 + b12;
    t[2] = a12 - b12;
    const V a34 = fused_multiply_add(V(0.25f), d[2], fused_multiply_add(V(-1.25f), d[4], d[6]));
    const V b34 = fused_multiply_add(V(0.5f), d[1], fused_multiply_add(V(-2.5f), d[3], V(2.0f) * d[5]));
    t[3] = a34 + b34;
    t[4] = a34 - b34;
    const V a56 = fused_multiply_add(V(4.0f), fused_multiply_add(V(-1.25f), d[4], d[2]), d[6]);
    const V b56 = fused_multiply_add(V(2.0f), d[1], fused_multiply_add(V(-2.5f), d[3], V(0.5f) * d[5]));
    t[5] = a56 + b56;
    t[6] = a56 - b56;
  }

  // A^T e:
  //   [1 1 1 1 1 1 1 0]   [0 1 -1 2 -2 1/2 -1/2 0]   [0 1 1 4 4 1/4 1/4 0]
  //   [0 1 -1 8 -8 1/8 -1/8 0]   [0 1 1 16 16 1/16 1/16 0]   [0 1 -1 32 -32 1/32 -1/32 1]
  template <class V>
  [[gnu::always_inline]] static void output_1d(const V (&m)[in], V (&o)[out]) {
    const V sum12 = m[1] + m[2], dif12 = m[1] - m[2];
    const V sum34 = m[3] + m[4], dif34 = m[3] - m[4];
    const V sum56 = m[5] + m[6], dif56 = m[5] - m[6];
    o[0] = m[0] + sum12 + sum34 + sum56;
    o[1] = fused_multiply_add(V(2.0f), dif34, fused_multiply_add(V(0.5f), dif56, dif12));
    o[2] = fused_multiply_add(V(4.0f), sum34, fused_multiply_add(V(0.25f), sum56, sum12));
    o[3] = fused_multiply_add(V(8.0f), dif34, fused_multiply_add(V(0.125f), dif56, dif12));
    o[4] = fused_multiply_add(V(16.0f), sum34, fused_multiply_add(V(0.0625f), sum56, sum12));
    o[5] = fused_multiply_add(V(32.0f), dif34, fused_multiply_add(V(0.03125f), dif56, dif12)) + m[7];
  }

  // G g:
  //   [1 0 0]   [-2/9 -2/9 -2/9]   [-2/9 2/9 -2/9]   [1/90 1/45 2/45]   [1/90 -1/45 2/45]
  //   [32/45 16/45 8/45]   [32/45 -16/45 8/45]   [0 0 1]
  template <class V>
  [[gnu::always_inline]] static void weight_1d(const V (&g)[3], V (&u)[in]) {
    const V sum02 = g[0] + g[2];
    const V low = fused_multiply_add(V(1.0f / 90.0f), g[0], V(2.0f / 45.0f) * g[2]);
    const V high = fused_multiply_add(V(32.0f / 45.0f), g[0], V(8.0f / 45.0f) * g[2]);
    u[0] = g[0];
    u[1] = V(-2.0f / 9.0f) * (sum02 + g[1]);
    u[2] = V(-2.0f / 9.0f) * (sum02 - g[1]);
    u[3] = fused_multiply_add(V(1.0f / 45.0f), g[1], low);
    u[4] = fused_multiply_add(V(-1.0f / 45.0f), g[1], low);
    u[5] = fused_multiply_add(V(16.0f / 45.0f), g[1], high);
    u[6] = fused_multiply_add(V(-16.0f / 45.0f), g[1], high);
    u[7] = g[2];
  }
};

// The window's rows and columns [lo, hi) that lie inside the image.
struct InsideSpan {
  int lo, hi;
};
inline InsideSpan inside_span(int64_t first, int64_t extent, int window) {
  const int64_t lo = first < 0 ? -first : 0, hi = extent - first < window ? extent - first : window;
  return {static_cast<int>(lo), static_cast<int>(hi < lo ? lo : hi)};
}

// Inside: the whole window lies in the image (no pixel needs checking).
template <class Arch, class F, bool WholeVector, bool Inside>
void input_tile_channels(const float* image, int64_t cols, int64_t pixel_stride, int64_t row0, int64_t col0,
                         InsideSpan r_in, InsideSpan c_in, int64_t c, int64_t count, float* v, int64_t position_stride) {
  using V = xsimd::batch<float, Arch>;
  constexpr int N = F::in;
  V t[N][N];
#pragma GCC unroll 8
  for (int r = 0; r < N; ++r) {
    V d[N];
    const bool row_inside = Inside || (r >= r_in.lo && r < r_in.hi);
#pragma GCC unroll 8
    for (int q = 0; q < N; ++q) {
      if (Inside || (row_inside && q >= c_in.lo && q < c_in.hi)) {
        const float* src = image + ((row0 + r) * cols + col0 + q) * pixel_stride + c;
        d[q] = WholeVector ? V::load_unaligned(src) : load_partial<Arch>(src, count);
      } else {
        d[q] = V(0.0f);
      }
    }
    F::input_1d(d, t[r]);
  }
#pragma GCC unroll 8
  for (int q = 0; q < N; ++q) {
    V column[N], out[N];
#pragma GCC unroll 8
    for (int r = 0; r < N; ++r) column[r] = t[r][q];
    F::input_1d(column, out);
#pragma GCC unroll 8
    for (int r = 0; r < N; ++r) out[r].store_unaligned(v + (r * N + q) * position_stride + c);
  }
}

template <class Arch, class F>
void input_tile(const float* image, int64_t rows, int64_t cols, int64_t pixel_stride, int64_t row0, int64_t col0,
                int64_t channels, float* v, int64_t position_stride) {
  constexpr int64_t W = xsimd::batch<float, Arch>::size;
  const InsideSpan r_in = inside_span(row0, rows, F::in), c_in = inside_span(col0, cols, F::in);
  const int64_t whole = channels / W * W;
  const bool inside = r_in.lo == 0 && r_in.hi == F::in && c_in.lo == 0 && c_in.hi == F::in;
  for (int64_t c = 0; c < whole; c += W) {
    if (inside) {
      input_tile_channels<Arch, F, true, true>(image, cols, pixel_stride, row0, col0, r_in, c_in, c, W, v,
                                               position_stride);
    } else {
      input_tile_channels<Arch, F, true, false>(image, cols, pixel_stride, row0, col0, r_in, c_in, c, W, v,
                                                position_stride);
    }
  }
  if (whole < channels) {
    input_tile_channels<Arch, F, false, false>(image, cols, pixel_stride, row0, col0, r_in, c_in, whole,
                                               channels - whole, v, position_stride);
  }
}

template <class Arch, class F>
void output_tile(const float* e, int64_t position_stride, int64_t channels, const float* bias, Activation activation, float* y,
                 int64_t pixel_stride, int64_t row_stride, int64_t rows, int64_t cols) {
  using V = xsimd::batch<float, Arch>;
  constexpr int64_t W = V::size;
  constexpr int N = F::in, M = F::out;
  for (int64_t c = 0; c < channels; c += W) {
    const int64_t count = channels - c < W ? channels - c : W;
    V s[N][M];
#pragma GCC unroll 8
    for (int r = 0; r < N; ++r) {
      V row[N];
#pragma GCC unroll 8
      for (int q = 0; q < N; ++q) row[q] = V::load_unaligned(e + (r * N + q) * position_stride + c);
      F::output_1d(row, s[r]);
    }
    const V b = bias_vector<Arch>(bias, c, count);  // loaded once for the tile's outputs
#pragma GCC unroll 6
    for (int q = 0; q < M; ++q) {
      if (q >= cols) break;
      V column[N], out[M];
#pragma GCC unroll 8
      for (int r = 0; r < N; ++r) column[r] = s[r][q];
      F::output_1d(column, out);
#pragma GCC unroll 6
      for (int r = 0; r < M; ++r) {
        if (r >= rows) break;
        store_channels<Arch>(y + r * row_stride + q * pixel_stride + c,
                             activate<Arch>(out[r] + b, activation), count);
      }
    }
  }
}

template <class Arch, class F>
void weight_tiles(const float* w, int64_t tap_stride, int64_t count, float* u, int64_t position_stride) {
  using V = xsimd::batch<float, Arch>;
  constexpr int64_t W = V::size;
  constexpr int N = F::in;
  for (int64_t j = 0; j < count; j += W) {
    const int64_t n = count - j < W ? count - j : W;
    V s[3][N];
#pragma GCC unroll 3
    for (int kh = 0; kh < 3; ++kh) {
      V g[3];
#pragma GCC unroll 3
      for (int kw = 0; kw < 3; ++kw) {
        const float* src = w + (3 * kh + kw) * tap_stride + j;
        g[kw] = n == W ? V::load_unaligned(src) : load_partial<Arch>(src, n);
      }
      F::weight_1d(g, s[kh]);
    }
#pragma GCC unroll 8
    for (int q = 0; q < N; ++q) {
      V column[3] = {s[0][q], s[1][q], s[2][q]}, out[N];
      F::weight_1d(column, out);
#pragma GCC unroll 8
      for (int r = 0; r < N; ++r) {
        float* dst = u + (r * N + q) * position_stride + j;
        if (n == W) {
          out[r].store_unaligned(dst);
        } else {
          store_partial<Arch>(dst, out[r], n);
        }
      }
    }
  }
}

template <class Arch, class F>
WinogradTileTransforms tile_transforms() {
  WinogradTileTransforms t;
  t.output_tile = F::out;
  t.input_tile = F::in;
  t.input = input_tile<Arch, F>;
  t.output = output_tile<Arch, F>;
  t.weights = weight_tiles<Arch, F>;
  return t;
}

template <class Arch>
WinogradTransforms make_winograd_transforms() {
  return WinogradTransforms{tile_transforms<Arch, F4>(), tile_transforms<Arch, F6>()};
}

}  // namespace
}  // namespace convkit::detail
