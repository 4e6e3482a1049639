#pragma once
// PoolKernels for one instruction set, written once on the xsimd arch tag A and instantiated
// by the per-arch translation units cmake/kernel_arch.cpp.in generates. Everything lives in
// an anonymous namespace so that no function built with one unit's flags can be merged into
// another's.
//
// Channels are walked in chunks: blocks of eight or four full vectors, single vectors, then on wider
// instruction sets 4-lane SSE vectors, then single floats, so a chunk never reads or writes a
// channel outside [c_begin, c_end). One template per operation serves every chunk type
// through the Lanes traits below.
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

// The reference's rule for one channel (x_c points at it, pixels `channels` floats apart):
// the pixel offset of the window's first NaN, else of its first maximum.
int64_t first_max_pixel(const float* x_c, int64_t in_w, int64_t channels, PoolSpan rows, PoolSpan cols) {
  int64_t best = rows.begin * in_w + cols.begin;
  float m = x_c[best * channels];
  for (int64_t h = rows.begin; h < rows.end; ++h) {
    for (int64_t w = cols.begin; w < cols.end; ++w) {
      if (m != m) return best;
      const int64_t pixel = h * in_w + w;
      const float v = x_c[pixel * channels];
      if (v > m || v != v) {
        m = v;
        best = pixel;
      }
    }
  }
  return best;
}

// Channels [c, c + count) of one output column by the reference's rule, for chunks whose
// window may hold a NaN. The exact paths are kept out of line: inlined, they cost the vector
// loops their registers.
[[gnu::noinline]] void max_forward_exact(const PoolRow& r, PoolSpan cols, int64_t c, int64_t count, float* y) {
  const float* x_c = r.x + c;
  for (int64_t i = 0; i < count; ++i) {
    y[c + i] = x_c[i + first_max_pixel(x_c + i, r.in_w, r.channels, r.rows, cols) * r.channels];
  }
}

[[gnu::noinline]] void max_backward_exact(const PoolRow& r, PoolSpan cols, int64_t c, int64_t count, const float* dy,
                                          int64_t own_begin, int64_t own_end, bool store, float* dx) {
  const float* x_c = r.x + c;
  float* dx_c = dx + c;
  const int64_t write_begin = r.rows.begin < own_begin ? own_begin : r.rows.begin;
  const int64_t write_end = r.rows.end < own_end ? r.rows.end : own_end;
  for (int64_t i = 0; i < count; ++i) {
    const int64_t best = first_max_pixel(x_c + i, r.in_w, r.channels, r.rows, cols);
    // The reference adds to +0: a -0 gradient lands as +0.
    const float g = dy[c + i] + 0.0f;
    for (int64_t h = write_begin; h < write_end; ++h) {
      for (int64_t w = cols.begin; w < cols.end; ++w) {
        const int64_t pixel = h * r.in_w + w;
        float& out = dx_c[pixel * r.channels + i];
        if (store) {
          out = pixel == best ? g : 0.0f;
        } else if (pixel == best) {
          out += g;
        }
      }
    }
  }
}

// The maxima of one window over K vectors of channels (x_c points at the first channel).
// The running maximum ignores a NaN, so a running sum looks for them (it also trips on
// infinities of both signs, which merely takes the exact path) over the positions the caller
// cannot vouch for: rows from check_rows_from, and in those the columns from check_cols_from.
// `clean` says whether the maxima stand.
template <class L, int K>
struct WindowMax {
  typename L::Vec max[K];
  bool clean;
};

// The chunk functions, the lambdas of the row functions that call them and for_channel_chunks
// are forced inline: otherwise GCC 12 keeps accumulator arrays in memory across the window
// loop, or calls a chunk walker per output column.
template <class L, int K>
[[gnu::always_inline]] inline WindowMax<L, K> window_max(const float* x_c, int64_t in_w, int64_t channels,
                                                         PoolSpan rows, PoolSpan cols, int64_t check_rows_from,
                                                         int64_t check_cols_from) {
  using V = typename L::Vec;
  // Starting below every value, the first value becomes the maximum bit for bit (-inf included).
  V m[K], poison[K];
  for (int k = 0; k < K; ++k) {
    m[k] = L::splat(-std::numeric_limits<float>::infinity());
    poison[k] = L::splat(0.0f);
  }
  const int64_t checked_cols_begin = check_cols_from > cols.begin ? check_cols_from : cols.begin;
  for (int64_t h = rows.begin; h < rows.end; ++h) {
    const int64_t unchecked_end = h < check_rows_from ? cols.end : checked_cols_begin;
    const float* px = x_c + (h * in_w + cols.begin) * channels;
    int64_t w = cols.begin;
    for (; w < unchecked_end; ++w, px += channels) {
      for (int k = 0; k < K; ++k) m[k] = L::keep_first_max(L::load(px + k * L::width), m[k]);
    }
    for (; w < cols.end; ++w, px += channels) {
      for (int k = 0; k < K; ++k) {
        const V v = L::load(px + k * L::width);
        m[k] = L::keep_first_max(v, m[k]);
        poison[k] = poison[k] + v;
      }
    }
  }
  WindowMax<L, K> result;
  for (int k = 1; k < K; ++k) poison[0] = poison[0] + poison[k];
  result.clean = !L::any_nan(poison[0]);
  for (int k = 0; k < K; ++k) result.max[k] = m[k];
  return result;
}

// Stores the chunk's maxima and returns true, or returns false having stored nothing when the
// checked positions may hold a NaN.
template <class L, int K>
[[gnu::always_inline]] inline bool max_forward_chunk(const PoolRow& r, PoolSpan cols, int64_t check_rows_from,
                                                     int64_t check_cols_from, int64_t c, float* y) {
  const WindowMax<L, K> window =
      window_max<L, K>(r.x + c, r.in_w, r.channels, r.rows, cols, check_rows_from, check_cols_from);
  if (!window.clean) return false;
  for (int k = 0; k < K; ++k) L::store(y + c + k * L::width, window.max[k]);
  return true;
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

template <class L, int K>
[[gnu::always_inline]] inline void avg_forward_chunk(const PoolRow& r, PoolSpan cols, int64_t c, float* y) {
  using V = typename L::Vec;
  const float* x_c = r.x + c;
  // Starting from +0 like the reference's sum, so that a window of -0 averages to +0.
  V sum[K];
  for (int k = 0; k < K; ++k) sum[k] = L::splat(0.0f);
  for (int64_t h = r.rows.begin; h < r.rows.end; ++h) {
    const float* px = x_c + (h * r.in_w + cols.begin) * r.channels;
    for (int64_t w = cols.begin; w < cols.end; ++w, px += r.channels) {
      for (int k = 0; k < K; ++k) sum[k] = sum[k] + L::load(px + k * L::width);
    }
  }
  // The reference divides its (double) sum once; so does this, and the results agree
  // whenever the float sum is exact.
  const int64_t divisor = r.rows.divisor * cols.divisor;
  for (int k = 0; k < K; ++k) L::store(y + c + k * L::width, divide<L>(sum[k], divisor));
}

template <class L, int K>
[[gnu::always_inline]] inline void max_backward_chunk(const PoolRow& r, PoolSpan cols, int64_t c, const float* y,
                                                      const float* dy, int64_t own_begin, int64_t own_end, bool store,
                                                      float* dx) {
  using V = typename L::Vec;
  using Mask = typename L::Mask;
  V m[K];
  for (int k = 0; k < K; ++k) m[k] = L::load(y + c + k * L::width);
  // A NaN maximum marks a window holding a NaN: the reference's rule then picks the position.
  V nan_probe = m[0];
  for (int k = 1; k < K; ++k) nan_probe = nan_probe + m[k];
  if (L::any_nan(nan_probe)) {
    max_backward_exact(r, cols, c, K * L::width, dy, own_begin, own_end, store, dx);
    return;
  }
  // The gradient still to place, per lane: the first position equal to the maximum takes it
  // (equal zeros of either sign included, as the reference compares with >), leaving zero for
  // later equal ones. The reference adds to +0, so a -0 gradient lands as +0.
  const V zero = L::splat(0.0f);
  V unplaced[K];
  for (int k = 0; k < K; ++k) unplaced[k] = L::load(dy + c + k * L::width) + zero;
  // Rows above the owned ones are still scanned: an earlier maximum there takes the gradient.
  const int64_t write_end = r.rows.end < own_end ? r.rows.end : own_end;
  for (int64_t h = r.rows.begin; h < write_end; ++h) {
    const bool owned = h >= own_begin;
    const int64_t offset = (h * r.in_w + cols.begin) * r.channels + c;
    const float* px = r.x + offset;
    float* pdx = dx + offset;
    for (int64_t w = cols.begin; w < cols.end; ++w, px += r.channels, pdx += r.channels) {
      for (int k = 0; k < K; ++k) {
        const Mask hit = L::equal(L::load(px + k * L::width), m[k]);
        const V share = L::select(hit, unplaced[k], zero);
        unplaced[k] = L::select(hit, zero, unplaced[k]);
        if (!owned) continue;
        float* out = pdx + k * L::width;
        L::store(out, store ? share : L::load(out) + share);
      }
    }
  }
}

template <class L, int K>
[[gnu::always_inline]] inline void avg_backward_store_chunk(const PoolRow& r, PoolSpan cols, int64_t c,
                                                            const float* dy, float* dx) {
  using V = typename L::Vec;
  const int64_t divisor = r.rows.divisor * cols.divisor;
  // One quotient per gradient, as the reference's, rounded alike (see divide); adding +0
  // turns a -0 quotient into the +0 the reference's sum gives.
  V share[K];
  for (int k = 0; k < K; ++k) share[k] = divide<L>(L::load(dy + c + k * L::width), divisor) + L::splat(0.0f);
  for (int64_t h = r.rows.begin; h < r.rows.end; ++h) {
    float* pdx = dx + (h * r.in_w + cols.begin) * r.channels + c;
    for (int64_t w = cols.begin; w < cols.end; ++w, pdx += r.channels) {
      for (int k = 0; k < K; ++k) L::store(pdx + k * L::width, share[k]);
    }
  }
}

template <class L, int K>
[[gnu::always_inline]] inline void avg_backward_gather_chunk(const PoolGatherRow& r, int64_t iw, int64_t c,
                                                             float* dx_row) {
  using V = typename L::Vec;
  const PoolCover cover = r.col_cover[iw];
  const int64_t row_doubles = r.out_w * r.channels;
  // Starting from +0 like the reference's sum.
  V sum[K];
  for (int k = 0; k < K; ++k) sum[k] = L::splat(0.0);
  for (int64_t oh = r.out_rows.begin; oh < r.out_rows.end; ++oh) {
    const double* q = r.quotients + (oh % r.ring_rows) * row_doubles + cover.begin * r.channels + c;
    for (int64_t ow = cover.begin; ow < cover.end; ++ow, q += r.channels) {
      for (int k = 0; k < K; ++k) sum[k] = sum[k] + L::load(q + k * L::width);
    }
  }
  for (int k = 0; k < K; ++k) L::store_narrowed(dx_row + iw * r.channels + c + k * L::width, sum[k]);
}

// Rows of 2x2 windows (VGG's pools, DenseNet's transitions) have their own loops, the window
// unrolled so that each vector's four positions load together. On 256 channels the max ran 7%
// faster at two threads and 9% at one than through window_max's loops; the average 4% faster
// at one thread than through avg_forward_chunk's, level at two. (The max of rows that fit one
// block runs along the row instead, below.) Kept out of line: inlined into the general row
// function, GCC 12 spilled the accumulators and the max ran 1.5-1.6x slower.
bool all_windows_2x2(const PoolRow& r) {
  if (r.rows.end - r.rows.begin != 2) return false;
  for (int64_t ow = 0; ow < r.out_w; ++ow) {
    if (r.cols[ow].end - r.cols[ow].begin != 2) return false;
  }
  return true;
}

// One window's maxima over K vectors (top points at its top-left position): stores them and
// returns true, or returns false having stored nothing if the window may hold a NaN.
template <class L, int K>
[[gnu::always_inline]] inline bool max_2x2_chunk(const float* top, int64_t row_step, int64_t pixel_step, float* y) {
  using V = typename L::Vec;
  V m[K], poison[K];
  const float* bottom = top + row_step;
  for (int k = 0; k < K; ++k) {
    const V a = L::load(top + k * L::width), b = L::load(top + pixel_step + k * L::width);
    const V c = L::load(bottom + k * L::width), d = L::load(bottom + pixel_step + k * L::width);
    // A NaN a stays the maximum (keep_first_max returns m where either is NaN), so only the
    // other three need the check.
    m[k] = L::keep_first_max(d, L::keep_first_max(c, L::keep_first_max(b, a)));
    poison[k] = (b + c) + d;
  }
  for (int k = 1; k < K; ++k) poison[0] = poison[0] + poison[k];
  if (L::any_nan(poison[0])) return false;
  for (int k = 0; k < K; ++k) L::store(y + k * L::width, m[k]);
  return true;
}

template <class A>
[[gnu::noinline]] bool max_forward_2x2_row(const PoolRow& row, float* y_row) {
  const PoolRow r = row;  // a local copy, which stores through y_row cannot alias
  const int64_t row_step = r.in_w * r.channels;
  bool clean = true;
  for (int64_t ow = 0; ow < r.out_w && clean; ++ow) {
    const float* top = r.x + (r.rows.begin * r.in_w + r.cols[ow].begin) * r.channels;
    float* y = y_row + ow * r.channels;
    for_channel_chunks<A, float, 4>(
        r.c_begin, r.c_end, [&](auto lanes, auto block, int64_t c) __attribute__((always_inline)) {
          if (!clean) return;
          clean = max_2x2_chunk<decltype(lanes), decltype(block)::value>(top + c, row_step, r.channels, y + c);
        });
  }
  return clean;
}

template <class A>
[[gnu::noinline]] void avg_forward_2x2_row(const PoolRow& row, float* y_row) {
  const PoolRow r = row;  // a local copy, which stores through y_row cannot alias
  const int64_t row_step = r.in_w * r.channels;
  for (int64_t ow = 0; ow < r.out_w; ++ow) {
    const float* top = r.x + (r.rows.begin * r.in_w + r.cols[ow].begin) * r.channels;
    float* y = y_row + ow * r.channels;
    const int64_t divisor = r.rows.divisor * r.cols[ow].divisor;
    for_channel_chunks<A, float, 4>(
        r.c_begin, r.c_end, [&](auto lanes, auto block, int64_t c) __attribute__((always_inline)) {
          using L = decltype(lanes);
          constexpr int K = decltype(block)::value;
          const float* p = top + c;
          for (int k = 0; k < K; ++k) {
            // Row-major from +0, as the contract says.
            typename L::Vec sum = L::splat(0.0f) + L::load(p + k * L::width);
            sum = sum + L::load(p + r.channels + k * L::width);
            sum = sum + L::load(p + row_step + k * L::width);
            sum = sum + L::load(p + row_step + r.channels + k * L::width);
            L::store(y + c + k * L::width, divide<L>(sum, divisor));
          }
        });
  }
}

// A first pass checks for NaN only the input rows from clean_rows_end (the caller knows the
// rows above hold none) and, in those, only the columns no earlier window of the row
// covered. Should it find one, other windows covering it have been computed without the
// check, so a second pass checks everything and takes the reference's rule where it must.
template <class A>
bool max_forward_row(const PoolRow& row, int64_t clean_rows_end, float* y_row) {
  const PoolRow r = row;  // a local copy, which stores through y_row cannot alias
  bool clean = true;
  if (r.c_end - r.c_begin <= kFloatBlock<A> * int64_t(xsimd::batch<float, A>::size)) {
    // Channels that fit one block: each chunk runs along the whole row with its loop state
    // in registers, 12-21% faster at two threads than a chunk walk per column on ResNet's and
    // VGG's 64-channel first pools. Wider rows keep the walk per column: whole rows per chunk,
    // their pixels no longer read in address order, measured 10-17% slower on 256 and 512
    // channels with AVX-512, 1.1-1.8x on AVX2 (64 to 256 channels).
    for_channel_chunks<A, float, kFloatBlock<A>>(
        r.c_begin, r.c_end, [&](auto lanes, auto block, int64_t c) __attribute__((always_inline)) {
          int64_t checked_cols_end = 0;
          for (int64_t ow = 0; ow < r.out_w && clean; ++ow) {
            const PoolSpan cols = r.cols[ow];
            clean = max_forward_chunk<decltype(lanes), decltype(block)::value>(
                r, cols, clean_rows_end, checked_cols_end, c, y_row + ow * r.channels);
            checked_cols_end = cols.end;
          }
        });
  } else if (all_windows_2x2(r)) {
    clean = max_forward_2x2_row<A>(r, y_row);
  } else {
    int64_t checked_cols_end = 0;
    for (int64_t ow = 0; ow < r.out_w && clean; ++ow) {
      const PoolSpan cols = r.cols[ow];
      float* y = y_row + ow * r.channels;
      for_channel_chunks<A, float, kFloatBlock<A>>(
          r.c_begin, r.c_end, [&](auto lanes, auto block, int64_t c) __attribute__((always_inline)) {
            if (!clean) return;
            clean = max_forward_chunk<decltype(lanes), decltype(block)::value>(r, cols, clean_rows_end,
                                                                               checked_cols_end, c, y);
          });
      checked_cols_end = cols.end;
    }
  }
  if (clean) return true;
  for (int64_t ow = 0; ow < r.out_w; ++ow) {
    const PoolSpan cols = r.cols[ow];
    float* y = y_row + ow * r.channels;
    for_channel_chunks<A, float, kFloatBlock<A>>(
        r.c_begin, r.c_end, [&](auto lanes, auto block, int64_t c) __attribute__((always_inline)) {
          using L = decltype(lanes);
          constexpr int K = decltype(block)::value;
          if (!max_forward_chunk<L, K>(r, cols, r.rows.begin, cols.begin, c, y)) {
            max_forward_exact(r, cols, c, K * L::width, y);
          }
        });
  }
  return false;
}

// 3-wide windows one column apart, outputs [ow_begin, ow_end) of the row: each input column's
// sum over the window's rows is made once and serves the three windows covering it, so a
// 3x3 window costs three loads and three additions per vector instead of nine and eight. The
// additions are what limits this loop: pairing windows to share only their loads measured no
// faster. Each window sums as (column + column) + column rather than in row-major order,
// within the same rounding bound; adding +0 turns a sum of -0s into +0, as the reference's sum
// from +0 gives.
template <class L, int K>
[[gnu::always_inline]] inline void avg_forward_sliding_chunk(const PoolRow& r, int64_t ow_begin, int64_t ow_end,
                                                             int64_t c, float* y_row) {
  using V = typename L::Vec;
  const float* x_c = r.x + c;
  const auto column_sum = [&](int64_t w, V (&sum)[K]) __attribute__((always_inline)) {
    const float* px = x_c + (r.rows.begin * r.in_w + w) * r.channels;
    for (int k = 0; k < K; ++k) sum[k] = L::load(px + k * L::width);
    for (int64_t h = r.rows.begin + 1; h < r.rows.end; ++h) {
      px += r.in_w * r.channels;
      for (int k = 0; k < K; ++k) sum[k] = sum[k] + L::load(px + k * L::width);
    }
  };
  V left[K], middle[K], right[K];
  const int64_t w0 = r.cols[ow_begin].begin;
  column_sum(w0, left);
  column_sum(w0 + 1, middle);
  for (int64_t ow = ow_begin; ow < ow_end; ++ow) {
    column_sum(w0 + (ow - ow_begin) + 2, right);
    const int64_t divisor = r.rows.divisor * r.cols[ow].divisor;
    float* y = y_row + ow * r.channels + c;
    for (int k = 0; k < K; ++k) {
      const V sum = ((left[k] + middle[k]) + right[k]) + L::splat(0.0f);
      L::store(y + k * L::width, divide<L>(sum, divisor));
      left[k] = middle[k];
      middle[k] = right[k];
    }
  }
}

template <class A>
void avg_forward_row(const PoolRow& row, float* y_row) {
  if (all_windows_2x2(row)) {
    avg_forward_2x2_row<A>(row, y_row);
    return;
  }
  const PoolRow r = row;  // a local copy, which stores through y_row cannot alias
  // The run of 3-wide windows one column apart, if the row has one (at stride 1 the clipped
  // windows are only at its ends, so there is one run at most).
  int64_t slide_begin = 0;
  while (slide_begin < r.out_w && r.cols[slide_begin].end - r.cols[slide_begin].begin != 3) ++slide_begin;
  int64_t slide_end = slide_begin < r.out_w ? slide_begin + 1 : r.out_w;
  while (slide_end < r.out_w && r.cols[slide_end].end - r.cols[slide_end].begin == 3 &&
         r.cols[slide_end].begin == r.cols[slide_end - 1].begin + 1) {
    ++slide_end;
  }
  if (slide_end - slide_begin < 2) slide_begin = slide_end = r.out_w;  // a lone window: row-major
  const auto window_by_window = [&](int64_t ow_begin, int64_t ow_end) __attribute__((always_inline)) {
    for (int64_t ow = ow_begin; ow < ow_end; ++ow) {
      const PoolSpan cols = r.cols[ow];
      float* y = y_row + ow * r.channels;
      for_channel_chunks<A, float, kFloatBlock<A>>(
          r.c_begin, r.c_end, [&](auto lanes, auto block, int64_t c) __attribute__((always_inline)) {
            avg_forward_chunk<decltype(lanes), decltype(block)::value>(r, cols, c, y);
          });
    }
  };
  window_by_window(0, slide_begin);
  if (slide_begin < slide_end) {
    for_channel_chunks<A, float, 4>(
        r.c_begin, r.c_end, [&](auto lanes, auto block, int64_t c) __attribute__((always_inline)) {
          avg_forward_sliding_chunk<decltype(lanes), decltype(block)::value>(r, slide_begin, slide_end, c, y_row);
        });
  }
  window_by_window(slide_end, r.out_w);
}

template <class A>
void max_backward_row(const PoolRow& row, const float* y_row, const float* dy_row, int64_t own_begin, int64_t own_end,
                      bool store, float* dx) {
  const PoolRow r = row;  // a local copy, which stores through dx cannot alias
  for (int64_t ow = 0; ow < r.out_w; ++ow) {
    const PoolSpan cols = r.cols[ow];
    const float* y = y_row + ow * r.channels;
    const float* dy = dy_row + ow * r.channels;
    for_channel_chunks<A, float, kFloatBlock<A>>(
        r.c_begin, r.c_end, [&](auto lanes, auto block, int64_t c) __attribute__((always_inline)) {
          max_backward_chunk<decltype(lanes), decltype(block)::value>(r, cols, c, y, dy, own_begin, own_end, store, dx);
        });
  }
}

template <class A>
void avg_backward_store_row(const PoolRow& row, const float* dy_row, float* dx) {
  const PoolRow r = row;  // a local copy, which stores through dx cannot alias
  for (int64_t ow = 0; ow < r.out_w; ++ow) {
    const PoolSpan cols = r.cols[ow];
    const float* dy = dy_row + ow * r.channels;
    for_channel_chunks<A, float, kFloatBlock<A>>(
        r.c_begin, r.c_end, [&](auto lanes, auto block, int64_t c) __attribute__((always_inline)) {
          avg_backward_store_chunk<decltype(lanes), decltype(block)::value>(r, cols, c, dy, dx);
        });
  }
}

template <class A>
void avg_quotients_row(const float* dy_row, const int64_t* divisors, int64_t out_w, int64_t channels, int64_t c_begin,
                       int64_t c_end, double* quotient_row) {
  for (int64_t ow = 0; ow < out_w; ++ow) {
    const float* dy = dy_row + ow * channels;
    double* q = quotient_row + ow * channels;
    const int64_t divisor = divisors[ow];
    for_channel_chunks<A, double, kFloatBlock<A>>(
        c_begin, c_end, [&](auto lanes, auto block, int64_t c) __attribute__((always_inline)) {
          using L = decltype(lanes);
          for (int k = 0; k < decltype(block)::value; ++k) {
            L::store(q + c + k * L::width, divide<L>(L::load_widened(dy + c + k * L::width), divisor));
          }
        });
  }
}

template <class A>
void avg_backward_gather_row(const PoolGatherRow& row, float* dx_row) {
  const PoolGatherRow r = row;  // a local copy, which stores through dx_row cannot alias
  for (int64_t iw = 0; iw < r.in_w; ++iw) {
    for_channel_chunks<A, double, kFloatBlock<A>>(
        r.c_begin, r.c_end, [&](auto lanes, auto block, int64_t c) __attribute__((always_inline)) {
          avg_backward_gather_chunk<decltype(lanes), decltype(block)::value>(r, iw, c, dx_row);
        });
  }
}

template <class A>
PoolKernels make_pool_kernels() {
  return PoolKernels{int64_t(xsimd::batch<float, A>::size),
                     max_forward_row<A>,
                     avg_forward_row<A>,
                     max_backward_row<A>,
                     avg_backward_store_row<A>,
                     avg_quotients_row<A>,
                     avg_backward_gather_row<A>};
}

}  // namespace
}  // namespace convkit::detail
