#pragma once
// What the pooling kernels share (pool_impl.hpp): the Lanes traits that let one template serve
// every chunk type, the chunk walk over channels, correctly rounded division by a window's
// divisor, and the test for rows of 2x2 windows. Per instruction set, in an anonymous
// namespace, like every kernel header.
//
// GCC 12's _mm512_max_ps reads a self-initialised _mm512_undefined_ps(), which
// -Wmaybe-uninitialized reports wherever it is inlined (GCC bug 105593); the warning is keyed to
// the intrinsic header's lines, so silencing it around the include leaves it on for this file.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <xsimd/xsimd.hpp>
#pragma GCC diagnostic pop

#include <cstdint>
#include <limits>
#include <type_traits>

#include "isa.hpp"
#include "kernels/pool.hpp"
#include "kernels/fused_multiply_add.hpp"

namespace convkit::detail {
namespace {

template <class V>
struct Lanes;

// Whether this arch's vectors have a fused multiply-add instruction (SSE2's have none).
template <class A>
inline constexpr bool kFusedMultiplyAdd = !std::is_same_v<A, xsimd::sse2>;

template <class A>
struct Lanes<xsimd::batch<float, A>> {
  using Vec = xsimd::batch<float, A>;
  using Mask = xsimd::batch_bool<float, A>;
  using Scalar = float;
  static constexpr bool has_fma = kFusedMultiplyAdd<A>;
  static constexpr int64_t width = Vec::size;
  static Vec load(const float* p) { return Vec::load_unaligned(p); }
  static void store(float* p, const Vec& v) { v.store_unaligned(p); }
  static Vec splat(float s) { return Vec(s); }
  // xsimd::max(v, m) is x86's max, which returns v only where v > m: the running maximum
  // keeps the first of equal values (a first -0 stays -0, as in the reference) and ignores a
  // NaN v, which callers detect separately.
  static Vec keep_first_max(const Vec& v, const Vec& m) { return xsimd::max(v, m); }
  static bool any_nan(const Vec& v) { return xsimd::any(xsimd::isnan(v)); }
  static Mask equal(const Vec& a, const Vec& b) { return a == b; }
  static Vec select(const Mask& m, const Vec& a, const Vec& b) { return xsimd::select(m, a, b); }
};

template <>
struct Lanes<float> {
  using Vec = float;
  using Mask = bool;
  using Scalar = float;
  static constexpr bool has_fma = false;
  static constexpr int64_t width = 1;
  static float load(const float* p) { return *p; }
  static void store(float* p, float v) { *p = v; }
  static float splat(float s) { return s; }
  static float keep_first_max(float v, float m) { return v > m ? v : m; }
  static bool any_nan(float v) { return v != v; }
  static bool equal(float a, float b) { return a == b; }
  static float select(bool m, float a, float b) { return m ? a : b; }
};

// Doubles for the average's gradient where windows overlap, which must round like the
// reference's double sums of double quotients.
template <class A>
struct Lanes<xsimd::batch<double, A>> {
  using Vec = xsimd::batch<double, A>;
  using Scalar = double;
  static constexpr bool has_fma = kFusedMultiplyAdd<A>;
  static constexpr int64_t width = Vec::size;
  static Vec load(const double* p) { return Vec::load_unaligned(p); }
  static void store(double* p, const Vec& v) { v.store_unaligned(p); }
  static Vec load_widened(const float* p) { return Vec::load_unaligned(p); }
  static void store_narrowed(float* p, const Vec& v) { v.store_unaligned(p); }
  static Vec splat(double s) { return Vec(s); }
};

template <>
struct Lanes<double> {
  using Vec = double;
  using Scalar = double;
  static constexpr bool has_fma = false;
  static constexpr int64_t width = 1;
  static double load(const double* p) { return *p; }
  static void store(double* p, double v) { *p = v; }
  static double load_widened(const float* p) { return double(*p); }
  static void store_narrowed(float* p, double v) { *p = static_cast<float>(v); }
  static double splat(double s) { return s; }
};

template <int K>
using Block = std::integral_constant<int, K>;

// Vectors per chunk of float work: AVX-512's 32 registers hold eight accumulators with their
// NaN sums and loads; the 16 of SSE2 and AVX2 hold four.
template <class A>
inline constexpr int kFloatBlock = xsimd::batch<float, A>::size >= 16 ? 8 : 4;

// Calls chunk(Lanes<V>{}, Block<K>{}, c) for chunks of K vectors of V that tile
// [c_begin, c_end): blocks of `kBlock` full vectors, of four when that is larger, single full
// vectors, 2- or 4-lane SSE vectors when the full vector is wider, then scalars.
template <class A, class T, int kBlock, class Chunk>
[[gnu::always_inline]] inline void for_channel_chunks(int64_t c_begin, int64_t c_end, const Chunk& chunk) {
  using Full = xsimd::batch<T, A>;
  constexpr int64_t width = Full::size;
  int64_t c = c_begin;
  for (; c + kBlock * width <= c_end; c += kBlock * width) chunk(Lanes<Full>{}, Block<kBlock>{}, c);
  if constexpr (kBlock > 4) {
    for (; c + 4 * width <= c_end; c += 4 * width) chunk(Lanes<Full>{}, Block<4>{}, c);
  }
  for (; c + width <= c_end; c += width) chunk(Lanes<Full>{}, Block<1>{}, c);
  using Sse = xsimd::batch<T, xsimd::sse2>;
  constexpr int64_t sse_width = Sse::size;
  if constexpr (width > sse_width) {
    for (; c + sse_width <= c_end; c += sse_width) chunk(Lanes<Sse>{}, Block<1>{}, c);
  }
  for (; c < c_end; ++c) chunk(Lanes<T>{}, Block<1>{}, c);
}

// v / divisor correctly rounded, for an integer divisor, as a division gives it but cheaper
// where that is safe:
// - A power of two: a multiplication by its reciprocal, exact.
// - A double v holding a float, with fused multiply-adds (one instruction, not SSE2's two
//   roundings), from r = RN(1/d): q0 = RN(v r) lies within 1.5 ulp of v/d, so e = v - d q0 is
//   a multiple of ulp(q0) (v's 24 bits sit above it), at most 1.5 d of them, which the FMA
//   gives exactly. q0 + e r then lies within 1.5 ulp 2^-53 of v/d, while v/d lies at least
//   ulp/(2d) from any midpoint between doubles (being one would take v 54 bits), so rounding
//   it yields RN(v/d) for d below 2^51; no double involved is subnormal. An infinite or NaN
//   v makes e NaN; q0 is then the quotient. (In float the same steps can misround a
//   subnormal quotient, and cost the sums their registers, so floats divide.)
// - Otherwise a true division.
// One correctly rounded float quotient of an exact float sum equals the reference's double
// quotient rounded to float: double rounding is innocuous for division at these precisions.
template <class L>
[[gnu::always_inline]] inline typename L::Vec divide(const typename L::Vec& v, int64_t divisor) {
  using V = typename L::Vec;
  using T = typename L::Scalar;
  if ((divisor & (divisor - 1)) == 0) return v * L::splat(T(1) / static_cast<T>(divisor));
  if constexpr (L::has_fma && std::is_same_v<T, double>) {
    if (divisor < (int64_t(1) << 51)) {
      const V d = L::splat(static_cast<T>(divisor)), r = L::splat(T(1) / static_cast<T>(divisor));
      const V q0 = v * r;
      const V e = fused_multiply_add(-q0, d, v);
      return xsimd::select(xsimd::isnan(e), q0, fused_multiply_add(e, r, q0));
    }
  }
  return v / L::splat(static_cast<T>(divisor));
}

// Rows of 2x2 windows (VGG's pools, DenseNet's transitions) have their own loops, the window
// unrolled so that each vector's four positions load together, faster than the general loops
// (the max of rows that fit one block runs along the row instead, in max_forward_row). Kept out of line:
// inlined into the general row function, GCC 12 spilled the accumulators
// (docs/results/decisions.md, "pooling kernel: 2x2 windows").
bool all_windows_2x2(const PoolRow& r) {
  if (r.rows.end - r.rows.begin != 2) return false;
  for (int64_t ow = 0; ow < r.out_w; ++ow) {
    if (r.cols[ow].end - r.cols[ow].begin != 2) return false;
  }
  return true;
}

}  // namespace
}  // namespace convkit::detail
