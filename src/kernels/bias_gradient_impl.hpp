#pragma once
// The bias-gradient kernel (bias_gradient.hpp) on xsimd batches, compiled once per instruction
// set; internal linkage for the same reason as direct_conv_impl.hpp.
#include <xsimd/xsimd.hpp>

#include <cstdint>

#include "kernels/bias_gradient.hpp"
#include "kernels/partial_vector.hpp"

namespace convkit::detail {
namespace {

// Vectors of channels [c, c + Vectors*lanes), the last `tail` lanes wide when Partial: four
// chains of Vectors accumulators each, 8 of AVX2's 16 registers when Vectors is 2.
template <class Arch, int Vectors, bool Partial>
inline void sum_pixel_vectors(const float* dy, int64_t pixels, int64_t pixel_stride, float* db, int64_t c,
                              int64_t tail) {
  using Batch = xsimd::batch<float, Arch>;
  constexpr int64_t lanes = Batch::size;
  constexpr int kChains = 4;
  const auto load = [&](const float* src, int v) {
    return Partial && v == Vectors - 1 ? load_partial<Arch>(src + v * lanes, tail) : Batch::load_unaligned(src + v * lanes);
  };
  Batch chain[kChains][Vectors];
#pragma GCC unroll 4
  for (int k = 0; k < kChains; ++k) {
#pragma GCC unroll 4
    for (int v = 0; v < Vectors; ++v) chain[k][v] = Batch(0.0f);
  }
  const float* row = dy + c;
  int64_t p = 0;
  for (; p + kChains <= pixels; p += kChains, row += kChains * pixel_stride) {
#pragma GCC unroll 4
    for (int k = 0; k < kChains; ++k) {
#pragma GCC unroll 4
      for (int v = 0; v < Vectors; ++v) chain[k][v] += load(row + k * pixel_stride, v);
    }
  }
  for (int k = 0; p < pixels; ++p, ++k, row += pixel_stride) {
#pragma GCC unroll 4
    for (int v = 0; v < Vectors; ++v) chain[k][v] += load(row, v);
  }
#pragma GCC unroll 4
  for (int v = 0; v < Vectors; ++v) {
    const Batch sum = load(db + c, v) + ((chain[0][v] + chain[1][v]) + (chain[2][v] + chain[3][v]));
    if (Partial && v == Vectors - 1) {
      store_partial<Arch>(db + c + v * lanes, sum, tail);
    } else {
      sum.store_unaligned(db + c + v * lanes);
    }
  }
}

template <class Arch>
void sum_pixels(const float* dy, int64_t pixels, int64_t pixel_stride, int64_t channels, float* db) {
  constexpr int64_t lanes = xsimd::batch<float, Arch>::size;
  int64_t c = 0;
  for (; c + 2 * lanes <= channels; c += 2 * lanes) sum_pixel_vectors<Arch, 2, false>(dy, pixels, pixel_stride, db, c, lanes);
  for (; c + lanes <= channels; c += lanes) sum_pixel_vectors<Arch, 1, false>(dy, pixels, pixel_stride, db, c, lanes);
  if (c < channels) sum_pixel_vectors<Arch, 1, true>(dy, pixels, pixel_stride, db, c, channels - c);
}

template <class Arch>
BiasGradientKernels make_bias_gradient_kernels() {
  BiasGradientKernels k{};
  k.lanes = static_cast<int>(xsimd::batch<float, Arch>::size);
  k.sum_pixels = &sum_pixels<Arch>;
  return k;
}

}  // namespace
}  // namespace convkit::detail
