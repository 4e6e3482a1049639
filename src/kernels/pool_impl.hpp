#pragma once
// PoolKernels for one instruction set, written once on the xsimd arch tag A and instantiated
// by the per-arch translation units cmake/kernel_arch.cpp.in generates. Everything lives in
// an anonymous namespace so that no function built with one unit's flags can be merged into
// another's.
//
// Channels are walked in chunks: blocks of four full vectors, single vectors, then on wider
// instruction sets 4-lane SSE vectors, then single floats, so a chunk never reads or writes a
// channel outside [c_begin, c_end). One template per operation serves every chunk type
// through the Lanes traits below.
// GCC 12's _mm512_max_ps reads a self-initialised _mm512_undefined_ps(), which
// -Wmaybe-uninitialized reports wherever it is inlined (GCC bug 105593); the warning is keyed to
// the intrinsic header's lines, so silencing it around the include leaves it on for this file.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <xsimd/xsimd.hpp>
#pragma GCC diagnostic pop

#include <cstdint>
#include <type_traits>

#include "isa.hpp"
#include "kernels/pool.hpp"

namespace convkit::detail {
namespace {

template <class V>
struct Lanes;

template <class A>
struct Lanes<xsimd::batch<float, A>> {
  using Vec = xsimd::batch<float, A>;
  using Mask = xsimd::batch_bool<float, A>;
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
  static Mask no_lanes() { return Mask(false); }
  static Mask first_hits(const Mask& hit, const Mask& found) { return hit & ~found; }
  static Mask either(const Mask& a, const Mask& b) { return a | b; }
  static Vec select(const Mask& m, const Vec& a, const Vec& b) { return xsimd::select(m, a, b); }
};

template <>
struct Lanes<float> {
  using Vec = float;
  using Mask = bool;
  static constexpr int64_t width = 1;
  static float load(const float* p) { return *p; }
  static void store(float* p, float v) { *p = v; }
  static float splat(float s) { return s; }
  static float keep_first_max(float v, float m) { return v > m ? v : m; }
  static bool any_nan(float v) { return v != v; }
  static bool equal(float a, float b) { return a == b; }
  static bool no_lanes() { return false; }
  static bool first_hits(bool hit, bool found) { return hit && !found; }
  static bool either(bool a, bool b) { return a || b; }
  static float select(bool m, float a, float b) { return m ? a : b; }
};

// Doubles for the average's gradient, which must round like the reference's double sums.
template <class A>
struct Lanes<xsimd::batch<double, A>> {
  using Vec = xsimd::batch<double, A>;
  static constexpr int64_t width = Vec::size;
  static Vec load_widened(const float* p) { return Vec::load_unaligned(p); }
  static void store_narrowed(float* p, const Vec& v) { v.store_unaligned(p); }
  static Vec splat(double s) { return Vec(s); }
};

template <>
struct Lanes<double> {
  using Vec = double;
  static constexpr int64_t width = 1;
  static double load_widened(const float* p) { return double(*p); }
  static void store_narrowed(float* p, double v) { *p = static_cast<float>(v); }
  static double splat(double s) { return s; }
};

template <int K>
using Block = std::integral_constant<int, K>;

// Calls chunk(Lanes<V>{}, Block<K>{}, c) for chunks of K vectors of V that tile
// [c_begin, c_end): blocks of `kBlock` full vectors, single full vectors, 2- or 4-lane SSE
// vectors when the full vector is wider, then scalars.
template <class A, class T, int kBlock, class Chunk>
void for_channel_chunks(int64_t c_begin, int64_t c_end, const Chunk& chunk) {
  using Full = xsimd::batch<T, A>;
  constexpr int64_t width = Full::size;
  int64_t c = c_begin;
  for (; c + kBlock * width <= c_end; c += kBlock * width) chunk(Lanes<Full>{}, Block<kBlock>{}, c);
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

// The maxima of one window over K vectors of channels (x_c points at the first channel).
// Returns false when the window may hold a NaN: the running maximum ignores those, so the
// caller redoes such chunks with first_max_pixel. A running sum detects them cheaply (it
// also trips on infinities of both signs, which merely takes the exact path).
template <class L, int K>
bool window_max(const float* x_c, int64_t in_w, int64_t channels, PoolSpan rows, PoolSpan cols,
                typename L::Vec (&m)[K]) {
  using V = typename L::Vec;
  const float* first = x_c + (rows.begin * in_w + cols.begin) * channels;
  V poison[K];
  for (int k = 0; k < K; ++k) {
    m[k] = L::load(first + k * L::width);
    poison[k] = L::splat(0.0f);
  }
  for (int64_t h = rows.begin; h < rows.end; ++h) {
    const float* px = x_c + (h * in_w + cols.begin) * channels;
    for (int64_t w = cols.begin; w < cols.end; ++w, px += channels) {
      for (int k = 0; k < K; ++k) {
        const V v = L::load(px + k * L::width);
        m[k] = L::keep_first_max(v, m[k]);
        poison[k] = poison[k] + v;
      }
    }
  }
  for (int k = 1; k < K; ++k) poison[0] = poison[0] + poison[k];
  return !L::any_nan(poison[0]);
}

template <class L, int K>
void max_forward_chunk(const PoolRow& r, PoolSpan cols, int64_t c, float* y) {
  const float* x_c = r.x + c;
  typename L::Vec m[K];
  if (window_max<L, K>(x_c, r.in_w, r.channels, r.rows, cols, m)) {
    for (int k = 0; k < K; ++k) L::store(y + c + k * L::width, m[k]);
    return;
  }
  for (int64_t i = 0; i < K * L::width; ++i) {
    y[c + i] = x_c[i + first_max_pixel(x_c + i, r.in_w, r.channels, r.rows, cols) * r.channels];
  }
}

template <class L, int K>
void avg_forward_chunk(const PoolRow& r, PoolSpan cols, int64_t c, float* y) {
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
  // One correctly rounded float division of the sum matches the reference's double division
  // rounded to float whenever the sum is exact (the divisor is exact below 2^24).
  const V divisor = L::splat(static_cast<float>(r.rows.divisor * cols.divisor));
  for (int k = 0; k < K; ++k) L::store(y + c + k * L::width, sum[k] / divisor);
}

template <class L, int K>
void max_backward_chunk(const PoolRow& r, PoolSpan cols, int64_t c, const float* dy, int64_t own_begin,
                        int64_t own_end, bool store, float* dx) {
  using V = typename L::Vec;
  using Mask = typename L::Mask;
  const float* x_c = r.x + c;
  float* dx_c = dx + c;
  const int64_t write_end = r.rows.end < own_end ? r.rows.end : own_end;
  const V zero = L::splat(0.0f);
  V m[K];
  if (!window_max<L, K>(x_c, r.in_w, r.channels, r.rows, cols, m)) {
    for (int64_t i = 0; i < K * L::width; ++i) {
      const int64_t best = first_max_pixel(x_c + i, r.in_w, r.channels, r.rows, cols);
      // The reference adds to +0: a -0 gradient lands as +0.
      const float g = dy[c + i] + 0.0f;
      for (int64_t h = r.rows.begin < own_begin ? own_begin : r.rows.begin; h < write_end; ++h) {
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
    return;
  }
  V g[K];
  Mask found[K];
  for (int k = 0; k < K; ++k) {
    g[k] = L::load(dy + c + k * L::width) + zero;
    found[k] = L::no_lanes();
  }
  // Rows above the owned ones are still scanned: an earlier maximum there takes the gradient.
  for (int64_t h = r.rows.begin; h < write_end; ++h) {
    const bool owned = h >= own_begin;
    const int64_t offset = (h * r.in_w + cols.begin) * r.channels;
    const float* px = x_c + offset;
    float* pdx = dx_c + offset;
    for (int64_t w = cols.begin; w < cols.end; ++w, px += r.channels, pdx += r.channels) {
      for (int k = 0; k < K; ++k) {
        const Mask hit = L::first_hits(L::equal(L::load(px + k * L::width), m[k]), found[k]);
        found[k] = L::either(found[k], hit);
        if (!owned) continue;
        const V share = L::select(hit, g[k], zero);
        float* out = pdx + k * L::width;
        L::store(out, store ? share : L::load(out) + share);
      }
    }
  }
}

template <class L, int K>
void avg_backward_store_chunk(const PoolRow& r, PoolSpan cols, int64_t c, const float* dy, float* dx) {
  using V = typename L::Vec;
  const V divisor = L::splat(static_cast<float>(r.rows.divisor * cols.divisor));
  // One float division of one gradient is the reference's double quotient rounded to float;
  // adding +0 turns a -0 quotient into the +0 the reference's sum gives.
  V share[K];
  for (int k = 0; k < K; ++k) share[k] = L::load(dy + c + k * L::width) / divisor + L::splat(0.0f);
  for (int64_t h = r.rows.begin; h < r.rows.end; ++h) {
    float* pdx = dx + (h * r.in_w + cols.begin) * r.channels + c;
    for (int64_t w = cols.begin; w < cols.end; ++w, pdx += r.channels) {
      for (int k = 0; k < K; ++k) L::store(pdx + k * L::width, share[k]);
    }
  }
}

template <class L, int K>
void avg_backward_gather_chunk(const PoolGatherRow& r, int64_t iw, int64_t c, float* dx_row) {
  using V = typename L::Vec;
  const PoolCover cover = r.col_cover[iw];
  V sum[K];
  for (int k = 0; k < K; ++k) sum[k] = L::splat(0.0);
  for (int64_t oh = r.out_rows.begin; oh < r.out_rows.end; ++oh) {
    const double row_divisor = double(r.rows[oh].divisor);
    const float* pdy = r.dy + (oh * r.out_w + cover.begin) * r.channels + c;
    for (int64_t ow = cover.begin; ow < cover.end; ++ow, pdy += r.channels) {
      const V divisor = L::splat(row_divisor * double(r.cols[ow].divisor));
      for (int k = 0; k < K; ++k) sum[k] = sum[k] + L::load_widened(pdy + k * L::width) / divisor;
    }
  }
  for (int k = 0; k < K; ++k) L::store_narrowed(dx_row + iw * r.channels + c + k * L::width, sum[k]);
}

template <class A>
void max_forward_row(const PoolRow& r, float* y_row) {
  for (int64_t ow = 0; ow < r.out_w; ++ow) {
    const PoolSpan cols = r.cols[ow];
    float* y = y_row + ow * r.channels;
    for_channel_chunks<A, float, 4>(r.c_begin, r.c_end, [&](auto lanes, auto block, int64_t c) {
      max_forward_chunk<decltype(lanes), decltype(block)::value>(r, cols, c, y);
    });
  }
}

template <class A>
void avg_forward_row(const PoolRow& r, float* y_row) {
  for (int64_t ow = 0; ow < r.out_w; ++ow) {
    const PoolSpan cols = r.cols[ow];
    float* y = y_row + ow * r.channels;
    for_channel_chunks<A, float, 4>(r.c_begin, r.c_end, [&](auto lanes, auto block, int64_t c) {
      avg_forward_chunk<decltype(lanes), decltype(block)::value>(r, cols, c, y);
    });
  }
}

template <class A>
void max_backward_row(const PoolRow& r, const float* dy_row, int64_t own_begin, int64_t own_end, bool store,
                      float* dx) {
  for (int64_t ow = 0; ow < r.out_w; ++ow) {
    const PoolSpan cols = r.cols[ow];
    const float* dy = dy_row + ow * r.channels;
    for_channel_chunks<A, float, 4>(r.c_begin, r.c_end, [&](auto lanes, auto block, int64_t c) {
      max_backward_chunk<decltype(lanes), decltype(block)::value>(r, cols, c, dy, own_begin, own_end, store, dx);
    });
  }
}

template <class A>
void avg_backward_store_row(const PoolRow& r, const float* dy_row, float* dx) {
  for (int64_t ow = 0; ow < r.out_w; ++ow) {
    const PoolSpan cols = r.cols[ow];
    const float* dy = dy_row + ow * r.channels;
    for_channel_chunks<A, float, 4>(r.c_begin, r.c_end, [&](auto lanes, auto block, int64_t c) {
      avg_backward_store_chunk<decltype(lanes), decltype(block)::value>(r, cols, c, dy, dx);
    });
  }
}

template <class A>
void avg_backward_gather_row(const PoolGatherRow& r, float* dx_row) {
  for (int64_t iw = 0; iw < r.in_w; ++iw) {
    for_channel_chunks<A, double, 2>(r.c_begin, r.c_end, [&](auto lanes, auto block, int64_t c) {
      avg_backward_gather_chunk<decltype(lanes), decltype(block)::value>(r, iw, c, dx_row);
    });
  }
}

template <class A>
PoolKernels make_pool_kernels() {
  return PoolKernels{int64_t(xsimd::batch<float, A>::size), max_forward_row<A>, avg_forward_row<A>,
                     max_backward_row<A>, avg_backward_store_row<A>, avg_backward_gather_row<A>};
}

}  // namespace
}  // namespace convkit::detail
