#pragma once
// The depthwise tiles (depthwise_conv.hpp) on xsimd batches, compiled once per instruction
// set; internal linkage for the same reason as direct_conv_impl.hpp.
#include <xsimd/xsimd.hpp>

#include "kernels/depthwise_conv.hpp"

namespace convkit::detail {
namespace {

// x loads of the last, partial vector must not read past the channels: they go through a
// zeroed buffer. Full vectors load directly.
template <class Arch, bool Partial>
inline xsimd::batch<float, Arch> depthwise_load(const float* src, int64_t count) {
  if constexpr (Partial) {
    alignas(64) float buffer[xsimd::batch<float, Arch>::size] = {};
    for (int64_t i = 0; i < count; ++i) buffer[i] = src[i];
    return xsimd::batch<float, Arch>::load_aligned(buffer);
  } else {
    (void)count;
    return xsimd::batch<float, Arch>::load_unaligned(src);
  }
}

template <class Arch, bool Partial>
inline void depthwise_store(float* dst, const xsimd::batch<float, Arch>& v, int64_t count) {
  if constexpr (Partial) {
    alignas(64) float buffer[xsimd::batch<float, Arch>::size];
    v.store_aligned(buffer);
    for (int64_t i = 0; i < count; ++i) dst[i] = buffer[i];
  } else {
    (void)count;
    v.store_unaligned(dst);
  }
}

// One vector of channels starting at c for all the tile's pixels; `count` valid lanes.
template <class Arch, int Pixels, bool Partial>
inline void depthwise_vector(const DepthwiseConvTile& t, int64_t c, int64_t count) {
  using Batch = xsimd::batch<float, Arch>;
  const Batch start = t.bias != nullptr ? Batch::load_unaligned(t.bias + c) : Batch(0.0f);
  Batch acc[Pixels];
#pragma GCC unroll 8
  for (int p = 0; p < Pixels; ++p) acc[p] = start;
  for (int64_t th = 0; th < t.taps_h; ++th) {
    for (int64_t tw = 0; tw < t.taps_w; ++tw) {
      const float* x = t.x + th * t.x_tap_h + tw * t.x_tap_w + c;
      const Batch wv = Batch::load_unaligned(t.w + th * t.w_tap_h + tw * t.w_tap_w + c);
#pragma GCC unroll 8
      for (int p = 0; p < Pixels; ++p) {
        acc[p] = xsimd::fma(depthwise_load<Arch, Partial>(x + p * t.x_pixel_stride, count), wv, acc[p]);
      }
    }
  }
  const Batch zero(0.0f);
#pragma GCC unroll 8
  for (int p = 0; p < Pixels; ++p) {
    const Batch out = t.relu ? xsimd::select(acc[p] < zero, zero, acc[p]) : acc[p];
    depthwise_store<Arch, Partial>(t.y + p * t.y_pixel_stride + c, out, count);
  }
}

template <class Arch, int Pixels>
void depthwise_conv_tile(const DepthwiseConvTile& t) {
  constexpr int64_t lanes = xsimd::batch<float, Arch>::size;
  int64_t c = 0;
  for (; c + lanes <= t.channels; c += lanes) depthwise_vector<Arch, Pixels, false>(t, c, lanes);
  if (c < t.channels) depthwise_vector<Arch, Pixels, true>(t, c, t.channels - c);
}

// Vectors of channels [c, c + Vectors*lanes), the last one `tail` lanes wide (lanes if full).
template <class Arch, int Vectors, bool Partial>
inline void depthwise_grad_vectors(const DepthwiseWeightGradTile& t, int64_t c, int64_t tail) {
  using Batch = xsimd::batch<float, Arch>;
  constexpr int64_t lanes = Batch::size;
  Batch acc[Vectors];
#pragma GCC unroll 4
  for (int v = 0; v < Vectors; ++v) {
    const bool last = v == Vectors - 1;
    acc[v] = !t.accumulate ? Batch(0.0f)
             : last && Partial ? depthwise_load<Arch, true>(t.dw + c + v * lanes, tail)
                               : Batch::load_unaligned(t.dw + c + v * lanes);
  }
  for (int64_t r = 0; r < t.rows; ++r) {
    const float* x = t.x + r * t.x_row_stride + c;
    const float* dy = t.dy + r * t.dy_row_stride + c;
    for (int64_t q = 0; q < t.cols; ++q) {
#pragma GCC unroll 4
      for (int v = 0; v < Vectors; ++v) {
        if (Partial && v == Vectors - 1) {
          acc[v] = xsimd::fma(depthwise_load<Arch, true>(x + v * lanes, tail),
                              depthwise_load<Arch, true>(dy + v * lanes, tail), acc[v]);
        } else {
          acc[v] = xsimd::fma(Batch::load_unaligned(x + v * lanes), Batch::load_unaligned(dy + v * lanes), acc[v]);
        }
      }
      x += t.x_col_stride;
      dy += t.dy_col_stride;
    }
  }
#pragma GCC unroll 4
  for (int v = 0; v < Vectors; ++v) {
    if (Partial && v == Vectors - 1) {
      depthwise_store<Arch, true>(t.dw + c + v * lanes, acc[v], tail);
    } else {
      acc[v].store_unaligned(t.dw + c + v * lanes);
    }
  }
}

template <class Arch>
void depthwise_weight_grad(const DepthwiseWeightGradTile& t) {
  constexpr int64_t lanes = xsimd::batch<float, Arch>::size;
  int64_t c = 0;
  for (; c + 4 * lanes <= t.channels; c += 4 * lanes) depthwise_grad_vectors<Arch, 4, false>(t, c, lanes);
  for (; c + lanes <= t.channels; c += lanes) depthwise_grad_vectors<Arch, 1, false>(t, c, lanes);
  if (c < t.channels) depthwise_grad_vectors<Arch, 1, true>(t, c, t.channels - c);
}

template <class Arch, int Pixels>
void fill_depthwise_tiles(DepthwiseConvKernels& k) {
  if constexpr (Pixels <= kMaxDepthwisePixels) {
    k.tile[Pixels - 1] = &depthwise_conv_tile<Arch, Pixels>;
    fill_depthwise_tiles<Arch, Pixels + 1>(k);
  }
}

template <class Arch>
DepthwiseConvKernels make_depthwise_conv_kernels() {
  DepthwiseConvKernels k{};
  k.lanes = static_cast<int>(xsimd::batch<float, Arch>::size);
  fill_depthwise_tiles<Arch, 1>(k);
  k.weight_grad = &depthwise_weight_grad<Arch>;
  return k;
}

}  // namespace
}  // namespace convkit::detail
