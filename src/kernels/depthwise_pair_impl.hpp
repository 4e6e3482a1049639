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

// One vector of channels of a pair tile of TapsW taps; the last vector,
// when Partial, `count` lanes wide.
template <class Arch, int Pairs, int TapsW, bool Partial>
inline void depthwise_pair_vector(const PhasePairTile& tile, int64_t c, int64_t count) {
  const PhasePairTile t = tile;  // a local copy, as in depthwise_vectors (depthwise_conv_impl.hpp)
  using Batch = xsimd::batch<float, Arch>;
  constexpr int window = (TapsW + 1) / 2;  // dy columns m - window + 1 .. m
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
#pragma GCC unroll 4
    for (int j = 0; j + 1 < window; ++j) in[j] = load_lanes<Arch, Partial>(x + (j + 1 - window) * t.x_pixel_stride, count);
#pragma GCC unroll 16
    for (int m = 0; m < Pairs; ++m) {
      in[window - 1] = load_lanes<Arch, Partial>(x + m * t.x_pixel_stride, count);
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

template <class Arch, int Pairs, int TapsW>
void depthwise_pair_channels(const PhasePairTile& t) {
  constexpr int64_t lanes = xsimd::batch<float, Arch>::size;
  int64_t c = 0;
  for (; c + lanes <= t.channels; c += lanes) depthwise_pair_vector<Arch, Pairs, TapsW, false>(t, c, lanes);
  if (c < t.channels) depthwise_pair_vector<Arch, Pairs, TapsW, true>(t, c, t.channels - c);
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
