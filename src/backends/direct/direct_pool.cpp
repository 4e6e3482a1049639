// Vectorized pooling. The plan computes every window's in-bounds span and divisor factors
// once; the PoolKernels micro-kernels then run one output row at a time, over channels.
//
// Backward partitions dx so that no two threads write one element, and every element takes
// its contributions in the reference's (output row, output column) order whatever the
// partition, so results do not even depend on the thread count:
// - disjoint windows (stride >= window on both axes): each output row owns the input rows
//   from its window's top to the next window's top and writes them outright, the gradient or
//   zero, with no zeroing pass before;
// - overlapping max windows: a band of output rows owns the input rows from its first
//   window's top to the next band's, zeroes them and adds the gradient of every window that
//   reaches into them (a window straddling two bands has its argmax found by both);
// - overlapping average windows: each input row gathers from the windows covering it the
//   reference's double quotients, each computed once per work item, and sums them in double
//   in the reference's order, so that it rounds exactly as the reference does.
// Max backward compares each window against its maximum, computed first into a row of
// scratch by the forward kernel.
#include "backends/direct/direct_pool.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

#include "aligned_buffer.hpp"
#include "conv/integer.hpp"
#include "kernels/pool.hpp"
#include "threading.hpp"

namespace convkit::detail {
namespace {

// Per output index along one axis, the in-bounds input span of its window and its divisor
// factor (docs/design.md, "Pooling semantics": with count_include_pad, the window clipped to the
// padded input).
std::vector<PoolSpan> window_spans(int64_t out, int64_t in, int64_t window, int64_t stride, int64_t pad_begin,
                                   int64_t pad_end, bool count_include_pad) {
  std::vector<PoolSpan> spans(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    const int64_t start = o * stride - pad_begin;
    PoolSpan& s = spans[static_cast<size_t>(o)];
    s.begin = std::max<int64_t>(start, 0);
    s.end = std::min(start + window, in);
    s.divisor = count_include_pad ? std::min(start + window, in + pad_end) - start : s.end - s.begin;
  }
  return spans;
}

// Per input index along one axis, the output indices whose spans contain it: a range,
// because spans only move forward. Empty for an index no window reaches.
std::vector<PoolCover> window_covers(const std::vector<PoolSpan>& spans, int64_t in) {
  std::vector<PoolCover> covers(static_cast<size_t>(in));
  const int64_t out = static_cast<int64_t>(spans.size());
  int64_t first = 0, last = 0;
  for (int64_t i = 0; i < in; ++i) {
    while (first < out && spans[static_cast<size_t>(first)].end <= i) ++first;
    while (last < out && spans[static_cast<size_t>(last)].begin <= i) ++last;
    covers[static_cast<size_t>(i)] = PoolCover{first, std::max(first, last)};
  }
  return covers;
}

// The runs of input indices no window reaches.
std::vector<PoolCover> uncovered_runs(const std::vector<PoolCover>& covers) {
  std::vector<PoolCover> runs;
  for (int64_t i = 0; i < static_cast<int64_t>(covers.size()); ++i) {
    if (covers[static_cast<size_t>(i)].begin != covers[static_cast<size_t>(i)].end) continue;
    if (!runs.empty() && runs.back().end == i) {
      runs.back().end = i + 1;
    } else {
      runs.push_back(PoolCover{i, i + 1});
    }
  }
  return runs;
}

// How one call's work is cut: per image, `row_blocks` blocks of rows times `channel_blocks`
// blocks of `block_channels` channels (whole vectors, the last block shorter).
struct WorkSplit {
  int64_t row_blocks, channel_blocks, block_channels;
};

// Enough blocks per image that batch * blocks is a multiple of the thread count, so a static
// schedule gives every thread the same share; rows first, channels only for images with
// fewer rows than that (global pooling at batch 1, say).
WorkSplit split_work(int64_t batch, int64_t rows, int64_t channels, int64_t lanes, int threads) {
  const int64_t per_image = threads / std::gcd<int64_t>(batch, threads);
  const int64_t row_blocks = std::min(per_image, rows);
  const int64_t vectors = ceil_div(channels, lanes);
  const int64_t channel_cuts = std::min(ceil_div(per_image, row_blocks), vectors);
  const int64_t block_channels = ceil_div(vectors, channel_cuts) * lanes;
  return WorkSplit{row_blocks, ceil_div(channels, block_channels), block_channels};
}

// Zeroes channels [c_begin, c_end) of `pixels` consecutive pixels from `at`.
void zero_channels(float* at, int64_t pixels, int64_t channels, int64_t c_begin, int64_t c_end) {
  if (c_begin == 0 && c_end == channels) {
    std::memset(at, 0, sizeof(float) * static_cast<size_t>(pixels * channels));
    return;
  }
  for (int64_t i = 0; i < pixels; ++i) {
    std::memset(at + i * channels + c_begin, 0, sizeof(float) * static_cast<size_t>(c_end - c_begin));
  }
}

// The input rows of one image known to hold no NaN, learnt from the max kernel as a work item
// moves down the image: windows over rows already found clean skip the check.
class CleanRows {
 public:
  // Up to where the rows from span.begin are known clean.
  int64_t clean_end(PoolSpan span) const {
    return begin_ <= span.begin && span.begin < end_ ? std::min(end_, span.end) : span.begin;
  }
  // What max_forward answered for `span`, which it was told was clean up to `clean_end`.
  void learn(PoolSpan span, int64_t clean_end, bool rest_clean) {
    if (!rest_clean) {
      begin_ = end_ = 0;
      return;
    }
    if (clean_end == span.begin) begin_ = span.begin;
    end_ = std::max(end_, span.end);
  }

 private:
  int64_t begin_ = 0, end_ = 0;
};

// Computes an output row's maxima, with what the item has learnt of clean rows.
inline void max_row(const PoolKernels& kernels, const PoolRow& r, CleanRows& clean, float* y_row) {
  const int64_t clean_end = clean.clean_end(r.rows);
  clean.learn(r.rows, clean_end, kernels.max_forward(r, clean_end, y_row));
}

class DirectPool final : public PoolImpl {
 public:
  DirectPool(const Pool2dParams& p, const PlanContext& context)
      : p_(p),
        kernels_(kernels<PoolKernels>(context.isa)),
        out_h_(p.out_h()),
        out_w_(p.out_w()),
        rows_(window_spans(out_h_, p.in_h, p.window_h, p.stride_h, p.pad_top, p.pad_bottom, p.count_include_pad)),
        cols_(window_spans(out_w_, p.in_w, p.window_w, p.stride_w, p.pad_left, p.pad_right, p.count_include_pad)),
        row_covers_(window_covers(rows_, p.in_h)),
        col_covers_(window_covers(cols_, p.in_w)),
        uncovered_cols_(uncovered_runs(col_covers_)),
        disjoint_(p.stride_h >= p.window_h && p.stride_w >= p.window_w) {
    if (p.mode == PoolMode::average && !disjoint_) {
      divisors_.reserve(static_cast<size_t>(out_h_ * out_w_));
      for (const PoolSpan& r : rows_) {
        for (const PoolSpan& c : cols_) divisors_.push_back(r.divisor * c.divisor);
      }
      for (const PoolCover& cover : row_covers_) {
        quotient_ring_rows_ = std::max(quotient_ring_rows_, cover.end - cover.begin);
      }
    }
  }

  void forward(const float* x, float* y, int threads) const override {
    threads = team(threads);
    const int64_t C = p_.channels;
    const WorkSplit split = split_work(p_.batch, out_h_, C, kernels_.lanes, threads);
    const int64_t items = p_.batch * split.row_blocks * split.channel_blocks;
    for_each_item(threads, items, [&](int64_t item, int /*thread*/) {
      const Block b = block_of(item, split, out_h_);
      CleanRows clean;
      for (int64_t oh = b.row_begin; oh < b.row_end; ++oh) {
        const PoolRow r = row(x, b, oh);
        float* y_row = y + (b.n * out_h_ + oh) * out_w_ * C;
        if (p_.mode == PoolMode::max) {
          max_row(kernels_, r, clean, y_row);
        } else {
          kernels_.avg_forward(r, y_row);
        }
      }
    });
  }

  void backward(const float* x, const float* dy, float* dx, int threads) const override {
    threads = team(threads);
    if (p_.mode == PoolMode::average && !disjoint_) {
      gather_average(dy, dx, threads);
    } else {
      scatter(x, dy, dx, threads);
    }
  }

 private:
  // One work item: an image, a range of rows (output or input, as the caller cut them) and
  // a range of channels.
  struct Block {
    int64_t n, row_begin, row_end, c_begin, c_end;
  };

  // The team a call opens: one thread below 64 KB of input and output, where starting a second
  // costs more than its share of the work.
  int team(int threads) const {
    const int64_t bytes = 4 * (p_.input_elements() + p_.output_elements());
    return bytes < 64 * 1024 ? 1 : threads;
  }

  Block block_of(int64_t item, const WorkSplit& split, int64_t rows) const {
    const int64_t cb = item % split.channel_blocks;
    const int64_t rb = item / split.channel_blocks % split.row_blocks;
    const int64_t n = item / split.channel_blocks / split.row_blocks;
    const int64_t c_begin = cb * split.block_channels;
    return Block{n, rows * rb / split.row_blocks, rows * (rb + 1) / split.row_blocks, c_begin,
                 std::min(c_begin + split.block_channels, p_.channels)};
  }

  PoolRow row(const float* x, const Block& b, int64_t oh) const {
    return PoolRow{x + b.n * p_.in_h * p_.in_w * p_.channels,
                   p_.in_w,
                   p_.channels,
                   rows_[static_cast<size_t>(oh)],
                   cols_.data(),
                   out_w_,
                   b.c_begin,
                   b.c_end};
  }

  // The first input row output row `oh` owns: its window's top, clipped to the input; the
  // first output row also owns the rows above, and out_h_ stands for the end of the input.
  int64_t owned_from(int64_t oh) const {
    if (oh == 0) return 0;
    if (oh >= out_h_) return p_.in_h;
    return std::clamp<int64_t>(oh * p_.stride_h - p_.pad_top, 0, p_.in_h);
  }

  void scatter(const float* x, const float* dy, float* dx, int threads) const {
    const int64_t C = p_.channels, row_floats = p_.in_w * C;
    const WorkSplit split = split_work(p_.batch, out_h_, C, kernels_.lanes, threads);
    const int64_t items = p_.batch * split.row_blocks * split.channel_blocks;
    // Max: each thread's output row of maxima, which the scatter compares the window against.
    const int64_t maxima_floats = p_.mode == PoolMode::max ? out_w_ * C : 0;
    const auto maxima = scratch_.acquire(static_cast<size_t>(maxima_floats * threads));
    for_each_item(threads, items, [&](int64_t item, int thread) {
      const Block b = block_of(item, split, out_h_);
      float* dx_image = dx + b.n * p_.in_h * row_floats;
      const float* dy_image = dy + b.n * out_h_ * out_w_ * C;
      float* row_maxima = maxima.data() + thread * maxima_floats;
      CleanRows clean;
      if (disjoint_) {
        for (int64_t oh = b.row_begin; oh < b.row_end; ++oh) {
          const PoolSpan span = rows_[static_cast<size_t>(oh)];
          const int64_t own_begin = owned_from(oh), own_end = owned_from(oh + 1);
          zero_channels(dx_image + own_begin * row_floats, (span.begin - own_begin) * p_.in_w, C, b.c_begin, b.c_end);
          zero_channels(dx_image + span.end * row_floats, (own_end - span.end) * p_.in_w, C, b.c_begin, b.c_end);
          for (int64_t h = span.begin; h < span.end; ++h) {
            for (const PoolCover& gap : uncovered_cols_) {
              zero_channels(dx_image + h * row_floats + gap.begin * C, gap.end - gap.begin, C, b.c_begin, b.c_end);
            }
          }
          const PoolRow r = row(x, b, oh);
          const float* dy_row = dy_image + oh * out_w_ * C;
          if (p_.mode == PoolMode::max) {
            max_row(kernels_, r, clean, row_maxima);
            kernels_.max_backward(r, row_maxima, dy_row, own_begin, own_end, true, dx_image);
          } else {
            kernels_.avg_backward_store(r, dy_row, dx_image);
          }
        }
      } else {
        // Rows are zeroed just before the first window reaches them, so that the gradient is
        // added into lines still in cache.
        const int64_t own_begin = owned_from(b.row_begin), own_end = owned_from(b.row_end);
        int64_t zeroed_end = own_begin;
        const auto zero_rows_to = [&](int64_t end) {
          if (end <= zeroed_end) return;
          zero_channels(dx_image + zeroed_end * row_floats, (end - zeroed_end) * p_.in_w, C, b.c_begin, b.c_end);
          zeroed_end = end;
        };
        for (int64_t oh = 0; oh < out_h_ && rows_[static_cast<size_t>(oh)].begin < own_end; ++oh) {
          if (rows_[static_cast<size_t>(oh)].end <= own_begin) continue;
          zero_rows_to(std::min(rows_[static_cast<size_t>(oh)].end, own_end));
          const PoolRow r = row(x, b, oh);
          max_row(kernels_, r, clean, row_maxima);
          kernels_.max_backward(r, row_maxima, dy_image + oh * out_w_ * C, own_begin, own_end, false, dx_image);
        }
        zero_rows_to(own_end);
      }
    });
  }

  // Each output row's quotients are computed once per work item into a ring that holds as
  // many rows as cover one input row, then summed by every input row they reach.
  void gather_average(const float* dy, float* dx, int threads) const {
    const int64_t C = p_.channels, row_doubles = out_w_ * C, ring_doubles = quotient_ring_rows_ * row_doubles;
    const WorkSplit split = split_work(p_.batch, p_.in_h, C, kernels_.lanes, threads);
    const int64_t items = p_.batch * split.row_blocks * split.channel_blocks;
    // Doubles in a float workspace: two floats each, and the buffer is 64-byte aligned.
    const auto rings = scratch_.acquire(static_cast<size_t>(2 * ring_doubles * threads));
    for_each_item(threads, items, [&](int64_t item, int thread) {
      const Block b = block_of(item, split, p_.in_h);
      const float* dy_image = dy + b.n * out_h_ * row_doubles;
      double* ring = reinterpret_cast<double*>(rings.data()) + thread * ring_doubles;
      int64_t computed_end = 0;  // output rows below this one are in the ring or no longer needed
      for (int64_t ih = b.row_begin; ih < b.row_end; ++ih) {
        const PoolCover cover = row_covers_[static_cast<size_t>(ih)];
        for (int64_t oh = std::max(computed_end, cover.begin); oh < cover.end; ++oh) {
          kernels_.avg_quotients(dy_image + oh * row_doubles, divisors_.data() + oh * out_w_, out_w_, C, b.c_begin,
                                 b.c_end, ring + oh % quotient_ring_rows_ * row_doubles);
        }
        computed_end = std::max(computed_end, cover.end);
        const PoolGatherRow g{ring, quotient_ring_rows_, out_w_, p_.in_w, C, cover, col_covers_.data(),
                              b.c_begin, b.c_end};
        kernels_.avg_backward_gather(g, dx + (b.n * p_.in_h + ih) * p_.in_w * C);
      }
    });
  }

  Pool2dParams p_;
  const PoolKernels& kernels_;
  int64_t out_h_, out_w_;
  std::vector<PoolSpan> rows_, cols_;           // per output row / column
  std::vector<PoolCover> row_covers_, col_covers_;  // per input row / column
  std::vector<PoolCover> uncovered_cols_;       // input columns no window reaches
  bool disjoint_;                               // no two windows share an input position
  // Overlapping averages: per output position its divisor, and the most output rows covering
  // one input row (the rows of quotients the gather keeps).
  std::vector<int64_t> divisors_;
  int64_t quotient_ring_rows_ = 1;
  mutable WorkspacePool scratch_;               // per-call buffers, reused across calls
};

}  // namespace

std::unique_ptr<PoolImpl> make_direct_pool(const Pool2dParams& p, const PlanContext& context) {
  return std::make_unique<DirectPool>(p, context);
}

}  // namespace convkit::detail
