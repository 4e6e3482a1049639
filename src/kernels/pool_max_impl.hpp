#pragma once
// Max pooling's row kernels (pool_impl.hpp): forward with its NaN check, the exact path for
// windows holding a NaN, 2x2 rows, and backward to the first maximum.
#include "kernels/pool_chunks_impl.hpp"

namespace convkit::detail {
namespace {

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
    // in registers. Wider rows keep the walk per column: whole rows per chunk would read their
    // pixels out of address order (docs/results/decisions.md, "pooling kernel: max along the row").
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

}  // namespace
}  // namespace convkit::detail
