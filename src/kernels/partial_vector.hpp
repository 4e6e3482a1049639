#pragma once
// The first `count` (0 <= count < lanes) floats of a vector, loaded or stored without touching
// memory past them: channel tails. AVX-512 masks loads and stores and AVX2 loads (masked-off
// lanes never fault); AVX2 stores a tail as pieces of 4, 2 and 1 lanes; SSE2 has no masked move
// and goes through a buffer on the stack. Cheap tail forms matter on small layers, where a tail
// store per tile is a sizable part of the call (8-channel layers store only tails). Used wherever
// a kernel meets a channel tail: the tiles, epilogue.hpp, the bias gradient, GEMM packing.
#include <immintrin.h>
#include <xsimd/xsimd.hpp>

#include <cstdint>
#include <type_traits>

namespace convkit::detail {
namespace {

template <class Arch>
[[gnu::always_inline]] inline xsimd::batch<float, Arch> load_partial(const float* src, int64_t count) {
  if constexpr (std::is_same_v<Arch, xsimd::avx512f>) {
    return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << count) - 1u), src);
  } else if constexpr (std::is_base_of_v<xsimd::avx2, Arch>) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_maskload_ps(src, _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)), lane));
  } else {
    alignas(64) float buffer[xsimd::batch<float, Arch>::size] = {};
    for (int64_t i = 0; i < count; ++i) buffer[i] = src[i];
    return xsimd::batch<float, Arch>::load_aligned(buffer);
  }
}

template <class Arch>
[[gnu::always_inline]] inline void store_partial(float* dst, const xsimd::batch<float, Arch>& v, int64_t count) {
  if constexpr (std::is_same_v<Arch, xsimd::avx512f>) {
    _mm512_mask_storeu_ps(dst, static_cast<__mmask16>((1u << count) - 1u), v);
  } else if constexpr (std::is_base_of_v<xsimd::avx2, Arch>) {
    // Plain stores of 4, 2 and 1 lanes: on Zen 3 the masked store (vmaskmovps) took half of a
    // one-pixel weight gradient with a 12-channel tail (docs/results/decisions.md, "AVX2
    // channel tails: plain stores, not masked").
    __m128 part = _mm256_castps256_ps128(v);
    if (count & 4) {
      _mm_storeu_ps(dst, part);
      part = _mm256_extractf128_ps(v, 1);
      dst += 4;
    }
    if (count & 2) {
      _mm_storel_pi(reinterpret_cast<__m64*>(dst), part);
      part = _mm_movehl_ps(part, part);
      dst += 2;
    }
    if (count & 1) _mm_store_ss(dst, part);
  } else {
    alignas(64) float buffer[xsimd::batch<float, Arch>::size];
    v.store_aligned(buffer);
    for (int64_t i = 0; i < count; ++i) dst[i] = buffer[i];
  }
}

// The first `count` lanes when Partial (a channel tail), the whole vector otherwise: the choice
// made at compile time, for loops that peel their tail (epilogue.hpp's store_channels makes it
// at run time).
template <class Arch, bool Partial>
[[gnu::always_inline]] inline xsimd::batch<float, Arch> load_lanes(const float* src, int64_t count) {
  if constexpr (Partial) return load_partial<Arch>(src, count);
  (void)count;
  return xsimd::batch<float, Arch>::load_unaligned(src);
}

template <class Arch, bool Partial>
[[gnu::always_inline]] inline void store_lanes(float* dst, const xsimd::batch<float, Arch>& v, int64_t count) {
  if constexpr (Partial) {
    store_partial<Arch>(dst, v, count);
  } else {
    (void)count;
    v.store_unaligned(dst);
  }
}

}  // namespace
}  // namespace convkit::detail
