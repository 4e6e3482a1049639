#pragma once
// The depthwise pair tile (pair_tile in depthwise_conv.hpp) on xsimd batches, part of
// depthwise_conv_impl.hpp's per-arch family.
#include <xsimd/xsimd.hpp>

#include "kernels/depthwise_conv.hpp"
#include "kernels/fused_multiply_add.hpp"
#include "kernels/keep_in_register.hpp"
#include "kernels/partial_vector.hpp"

namespace convkit::detail {
namespace {

// The vectors of channels of a pair tile of TapsW taps from c while they fit below c_end, one
// call for all (as depthwise_row_vectors in depthwise_conv_impl.hpp, and for the same reason);
// when Partial, the one vector at c, `count` lanes wide. Returns the first channel left.
template <class Arch, int Pairs, int TapsW, bool Partial>
inline int64_t depthwise_pair_vectors(const PhasePairTile& tile, int64_t c, int64_t c_end, int64_t count) {
  const PhasePairTile t = tile;  // a local copy, as in depthwise_vectors (depthwise_conv_impl.hpp)
  using Batch = xsimd::batch<float, Arch>;
  constexpr int64_t lanes = Batch::size;
  constexpr int window = (TapsW + 1) / 2;  // dy columns m - window + 1 .. m
  for (; Partial ? c < c_end : c + lanes <= c_end; c += lanes) {
    Batch even[Pairs], odd[Pairs];
#pragma GCC unroll 16
    for (int m = 0; m < Pairs; ++m) even[m] = odd[m] = Batch(0.0f);
    for (int64_t th = 0; th < t.taps_h; ++th) {
      const float* x = t.x + th * t.x_tap_h + c;
      const float* w = t.w + th * t.w_tap_h + c;
      Batch wv[TapsW];
#pragma GCC unroll 5
      for (int k = 0; k < TapsW; ++k) wv[k] = Batch::load_unaligned(w + k * t.w_tap_w);
      Batch in[window];
      const float* xm = x + (1 - window) * t.x_pixel_stride;  // stepped, as in depthwise_row_vectors
#pragma GCC unroll 4
      for (int j = 0; j + 1 < window; ++j, xm += t.x_pixel_stride) in[j] = load_lanes<Arch, Partial>(xm, count);
#pragma GCC unroll 16
      for (int m = 0; m < Pairs; ++m, xm += t.x_pixel_stride) {
        in[window - 1] = load_lanes<Arch, Partial>(xm, count);
        keep_in_register(in[window - 1]);
#pragma GCC unroll 5
        for (int k = TapsW - 1; k >= 0; --k) {
          if (k % 2 == 0) {
            even[m] = fused_multiply_add(in[window - 1 - k / 2], wv[k], even[m]);
          } else {
            odd[m] = fused_multiply_add(in[window - 1 - (k - 1) / 2], wv[k], odd[m]);
          }
        }
#pragma GCC unroll 4
        for (int j = 0; j + 1 < window; ++j) in[j] = in[j + 1];
      }
    }
#pragma GCC unroll 16
    for (int m = 0; m < Pairs; ++m) {
      store_lanes<Arch, Partial>(t.y + c + 2 * m * t.y_pixel_stride, even[m], count);
      store_lanes<Arch, Partial>(t.y + c + (2 * m + 1) * t.y_pixel_stride, odd[m], count);
    }
  }
  return c;
}

template <class Arch, int Pairs, int TapsW>
void depthwise_pair_channels(const PhasePairTile& t) {
  constexpr int64_t lanes = xsimd::batch<float, Arch>::size;
  const int64_t c = depthwise_pair_vectors<Arch, Pairs, TapsW, false>(t, 0, t.channels, lanes);
  if (c < t.channels) depthwise_pair_vectors<Arch, Pairs, TapsW, true>(t, c, t.channels, t.channels - c);
}

template <class Arch, int Pairs>
void depthwise_pair_tile(const PhasePairTile& t) {
  if (t.taps_w == 5) {
    depthwise_pair_channels<Arch, Pairs, 5>(t);
  } else {
    depthwise_pair_channels<Arch, Pairs, 3>(t);
  }
}

// 2*Pairs accumulators, up to five weights and three inputs: 8 pairs fit AVX-512's 32
// registers, 4 the 16 of narrower instruction sets.
template <class Arch>
constexpr int depthwise_max_pairs() {
  return xsimd::batch<float, Arch>::size == 16 ? kMaxDepthwisePairs : 4;
}

template <class Arch, int Pairs>
void fill_depthwise_pair_tiles(DepthwiseConvKernels& k) {
  if constexpr (Pairs <= depthwise_max_pairs<Arch>()) {
    k.pair_tile[Pairs - 1] = &depthwise_pair_tile<Arch, Pairs>;
    fill_depthwise_pair_tiles<Arch, Pairs + 1>(k);
  }
}

}  // namespace
}  // namespace convkit::detail
