#pragma once
// Average pooling's row kernels (pool_impl.hpp): forward (2x2 rows, 3-wide windows sharing
// column sums), and backward by storing shares or gathering the reference's double quotients.
#include "kernels/pool_chunks_impl.hpp"

namespace convkit::detail {
namespace {

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

}  // namespace
}  // namespace convkit::detail
