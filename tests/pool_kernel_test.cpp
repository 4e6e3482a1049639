// The PoolKernels micro-kernels on their own, under every instruction set this CPU has:
// channel counts around each vector width (full blocks, single vectors, SSE tails, scalar
// tails), channel sub-ranges with guard values around them, NaN, ties, signed zeros and
// infinities, checked bit for bit against the rules pool.hpp states, written here as plain loops.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "isa.hpp"
#include "kernels/pool.hpp"
#include "support/tensors.hpp"

namespace convkit::detail {

// Failure messages name the instruction set.
void PrintTo(Isa isa, std::ostream* os) { *os << isa_name(isa); }

namespace {

using test::Tensor;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kGuard = -12345.0f;  // what a kernel must leave alone outside its channels

std::vector<Isa> cpu_isas() {
  std::vector<Isa> isas;
  for (Isa isa : kAllIsas) {
    if (isa <= cpu_isa()) isas.push_back(isa);
  }
  return isas;
}

uint32_t bits(float v) {
  uint32_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

// Bitwise, so that NaN payloads and the sign of zero count.
void expect_same(const Tensor& actual, const Tensor& expected, const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  int reported = 0;
  for (size_t i = 0; i < actual.size() && reported < 5; ++i) {
    if (bits(actual[i]) != bits(expected[i])) {
      ADD_FAILURE() << what << " [" << i << "]: " << actual[i] << " (0x" << std::hex << bits(actual[i])
                    << "), expected " << expected[i] << " (0x" << bits(expected[i]) << ")" << std::dec;
      ++reported;
    }
  }
}

// Spans of a square window along one axis, as docs/design.md defines them (floor mode).
std::vector<PoolSpan> spans(int64_t in, int64_t window, int64_t stride, int64_t pad, bool include_pad) {
  std::vector<PoolSpan> out;
  for (int64_t start = -pad; start + window <= in + pad; start += stride) {
    const int64_t begin = std::max<int64_t>(start, 0), end = std::min(start + window, in);
    out.push_back(PoolSpan{begin, end, include_pad ? std::min(start + window, in + pad) - start : end - begin});
  }
  return out;
}

// One image and the windows over it, the kernels run on channels [c_begin, c_end).
struct Geometry {
  int64_t in_h, in_w, channels, c_begin, c_end;
  std::vector<PoolSpan> rows, cols;

  int64_t out_h() const { return int64_t(rows.size()); }
  int64_t out_w() const { return int64_t(cols.size()); }
  int64_t in_size() const { return in_h * in_w * channels; }
  int64_t out_size() const { return out_h() * out_w() * channels; }
  PoolRow row(const float* x, int64_t oh) const {
    return PoolRow{x, in_w, channels, rows[size_t(oh)], cols.data(), out_w(), c_begin, c_end};
  }
  bool computed(int64_t c) const { return c >= c_begin && c < c_end; }
};

Geometry square(int64_t channels, int64_t in, int64_t window, int64_t stride, int64_t pad, bool include_pad = false) {
  return Geometry{in, in, channels, 0, channels, spans(in, window, stride, pad, include_pad),
                  spans(in, window, stride, pad, include_pad)};
}

// ---- the rules, as plain loops ----

int64_t first_max_pixel(const Tensor& x, const Geometry& g, int64_t oh, int64_t ow, int64_t c) {
  const PoolSpan r = g.rows[size_t(oh)], s = g.cols[size_t(ow)];
  int64_t best = -1;
  float m = 0.0f;
  for (int64_t h = r.begin; h < r.end; ++h) {
    for (int64_t w = s.begin; w < s.end; ++w) {
      const float v = x[size_t((h * g.in_w + w) * g.channels + c)];
      if (best < 0 || (!std::isnan(m) && (v > m || std::isnan(v)))) m = v, best = h * g.in_w + w;
    }
  }
  return best;
}

Tensor forward_reference(const Tensor& x, const Geometry& g, bool max, Tensor y) {
  for (int64_t oh = 0; oh < g.out_h(); ++oh) {
    for (int64_t ow = 0; ow < g.out_w(); ++ow) {
      for (int64_t c = g.c_begin; c < g.c_end; ++c) {
        float& out = y[size_t((oh * g.out_w() + ow) * g.channels + c)];
        if (max) {
          out = x[size_t(first_max_pixel(x, g, oh, ow, c) * g.channels + c)];
          continue;
        }
        const PoolSpan r = g.rows[size_t(oh)], s = g.cols[size_t(ow)];
        const auto at = [&](int64_t h, int64_t w) { return x[size_t((h * g.in_w + w) * g.channels + c)]; };
        const auto sliding_neighbour = [&](int64_t o) {
          if (o < 0 || o >= g.out_w()) return false;
          const PoolSpan n = g.cols[size_t(o)];
          return n.end - n.begin == 3 && (n.begin == s.begin + 1 || n.begin + 1 == s.begin);
        };
        float sum = 0.0f;
        if (s.end - s.begin == 3 && (sliding_neighbour(ow - 1) || sliding_neighbour(ow + 1))) {
          float column[3];
          for (int64_t j = 0; j < 3; ++j) {
            column[j] = at(r.begin, s.begin + j);
            for (int64_t h = r.begin + 1; h < r.end; ++h) column[j] += at(h, s.begin + j);
          }
          sum = ((column[0] + column[1]) + column[2]) + 0.0f;
        } else {
          for (int64_t h = r.begin; h < r.end; ++h) {
            for (int64_t w = s.begin; w < s.end; ++w) sum += at(h, w);
          }
        }
        out = sum / float(r.divisor * s.divisor);
      }
    }
  }
  return y;
}

// How much of each output row's input rows a max kernel is told holds no NaN: none, the first
// row, or all (the last two only for data without NaN).
enum class Vouched { none, first_row, all };
constexpr Vouched kVouched[] = {Vouched::none, Vouched::first_row, Vouched::all};

int64_t clean_rows_end(PoolSpan rows, Vouched vouched) {
  switch (vouched) {
    case Vouched::all: return rows.end;
    case Vouched::first_row: return std::min(rows.begin + 1, rows.end);
    case Vouched::none: break;
  }
  return rows.begin;
}

Tensor run_forward(Isa isa, const Tensor& x, const Geometry& g, bool max, Tensor y, Vouched vouched = Vouched::none) {
  const PoolKernels& k = kernels<PoolKernels>(isa);
  for (int64_t oh = 0; oh < g.out_h(); ++oh) {
    float* y_row = y.data() + oh * g.out_w() * g.channels;
    if (max) {
      k.max_forward(g.row(x.data(), oh), clean_rows_end(g.rows[size_t(oh)], vouched), y_row);
    } else {
      k.avg_forward(g.row(x.data(), oh), y_row);
    }
  }
  return y;
}

// Every output row's max gradient, rows [own_begin, own_end) of dx only.
Tensor max_backward_reference(const Tensor& x, const Tensor& dy, const Geometry& g, int64_t own_begin, int64_t own_end,
                              bool store, Tensor dx) {
  for (int64_t oh = 0; oh < g.out_h(); ++oh) {
    for (int64_t ow = 0; ow < g.out_w(); ++ow) {
      const PoolSpan r = g.rows[size_t(oh)], s = g.cols[size_t(ow)];
      for (int64_t c = g.c_begin; c < g.c_end; ++c) {
        const int64_t best = first_max_pixel(x, g, oh, ow, c);
        const float grad = dy[size_t((oh * g.out_w() + ow) * g.channels + c)] + 0.0f;
        for (int64_t h = std::max(r.begin, own_begin); h < std::min(r.end, own_end); ++h) {
          for (int64_t w = s.begin; w < s.end; ++w) {
            float& out = dx[size_t((h * g.in_w + w) * g.channels + c)];
            const bool hit = h * g.in_w + w == best;
            if (store) out = hit ? grad : 0.0f;
            else if (hit) out += grad;
          }
        }
      }
    }
  }
  return dx;
}

// The maxima come from max_forward, as the backend gets them.
Tensor run_max_backward(Isa isa, const Tensor& x, const Tensor& dy, const Geometry& g, int64_t own_begin,
                        int64_t own_end, bool store, Tensor dx) {
  const PoolKernels& k = kernels<PoolKernels>(isa);
  const Tensor y = run_forward(isa, x, g, true, Tensor(size_t(g.out_size()), kGuard));
  for (int64_t oh = 0; oh < g.out_h(); ++oh) {
    const int64_t row = oh * g.out_w() * g.channels;
    k.max_backward(g.row(x.data(), oh), y.data() + row, dy.data() + row, own_begin, own_end, store, dx.data());
  }
  return dx;
}

// Integers in [-4, 4] (many ties), or uniform floats.
Tensor data(int64_t count, uint32_t seed, bool integers) {
  return integers ? test::integer_tensor(count, seed) : test::uniform_tensor(count, seed);
}

class PoolKernelTest : public ::testing::TestWithParam<Isa> {
 protected:
  Isa isa() const { return GetParam(); }

  // The max's forward, and its backward storing into every input row, against the references.
  void expect_max_matches(const Tensor& x, const Tensor& dy, const Geometry& g, const std::string& what) const {
    expect_same(run_forward(isa(), x, g, true, test::nan_tensor(g.out_size())),
                forward_reference(x, g, true, test::nan_tensor(g.out_size())), what);
    expect_same(run_max_backward(isa(), x, dy, g, 0, g.in_h, true, test::nan_tensor(g.in_size())),
                max_backward_reference(x, dy, g, 0, g.in_h, true, test::nan_tensor(g.in_size())), what + " backward");
  }
};

// Every chunk kind: four-vector blocks, single vectors, SSE tails, scalar tails.
const int64_t kChannelCounts[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 20, 31, 32, 33, 47, 48, 63, 64, 65, 67, 80, 129};

TEST_P(PoolKernelTest, MaxForwardChecksTheRowsNotVouchedFor) {
  // 3x3 windows, stride 2, over 9 rows: output row 1 covers input rows 2..4. A NaN in one
  // channel of one position, every position in turn: only the rows not vouched for are
  // checked, and the answer says whether they held the NaN; the output is right either way.
  // Up to a block of channels, chunks run along the row; from 129 (AVX-512), column by column.
  for (int64_t channels : {1, 5, 16, 17, 64, 80, 129}) {
    const Geometry g = square(channels, 9, 3, 2, 0);
    const PoolKernels& k = kernels<PoolKernels>(isa());
    const int64_t row = 1 * g.out_w() * channels, row_size = g.out_w() * channels;
    for (int64_t h = 2; h <= 4; ++h) {
      for (int64_t w = 0; w < 9; ++w) {
        Tensor x = data(g.in_size(), uint32_t(h * 9 + w), false);
        x[size_t((h * 9 + w) * channels + channels / 2)] = kNaN;
        const std::string what = "c" + std::to_string(channels) + " NaN at (" + std::to_string(h) + ", " +
                                 std::to_string(w) + ")";
        const Tensor expected = forward_reference(x, g, true, test::nan_tensor(g.out_size()));
        for (int64_t clean_end = 2; clean_end <= h; ++clean_end) {
          Tensor y = test::nan_tensor(g.out_size());
          EXPECT_FALSE(k.max_forward(g.row(x.data(), 1), clean_end, y.data() + row)) << what;
          expect_same(Tensor(y.begin() + row, y.begin() + row + row_size),
                      Tensor(expected.begin() + row, expected.begin() + row + row_size), what);
        }
        // Output row 0 covers input rows 0..2.
        Tensor y(size_t(g.out_size()));
        EXPECT_EQ(k.max_forward(g.row(x.data(), 0), 0, y.data()), h != 2) << what;
      }
    }
    // Infinities of one sign are no NaN.
    Tensor x(size_t(g.in_size()), kInf);
    Tensor y(size_t(g.out_size()));
    EXPECT_TRUE(k.max_forward(g.row(x.data(), 0), 0, y.data()));
  }
}

// 3x3 windows at stride 2, and at stride 1, whose average windows share column sums; 2x2
// windows at stride 2, which have their own loops, over an input with a last row and column
// no window reads.
TEST_P(PoolKernelTest, ForwardOverChannelCounts) {
  for (int64_t channels : kChannelCounts) {
    for (bool max : {true, false}) {
      for (bool integers : {true, false}) {
        for (const auto& [window, stride, pad] : {std::array<int64_t, 3>{3, 2, 1}, {3, 1, 1}, {2, 2, 0}}) {
          const Geometry g = square(channels, 9, window, stride, pad);
          const Tensor x = data(g.in_size(), uint32_t(channels), integers);
          const std::string what = std::string(max ? "max" : "avg") + " c" + std::to_string(channels) +
                                   (integers ? " integers" : " floats") + " window " + std::to_string(window) +
                                   " stride " + std::to_string(stride);
          // Sized exactly: the sanitizer build catches any read or write past a tensor.
          for (Vouched vouched : kVouched) {
            expect_same(run_forward(isa(), x, g, max, test::nan_tensor(g.out_size()), vouched),
                        forward_reference(x, g, max, test::nan_tensor(g.out_size())), what);
          }
        }
      }
    }
  }
}

TEST_P(PoolKernelTest, ChannelRangeLeavesOtherChannelsAlone) {
  const int64_t ranges[][2] = {{0, 1}, {3, 4}, {5, 37}, {16, 33}, {1, 40}, {32, 40}, {0, 40}};
  for (const auto& range : ranges) {
    Geometry g = square(40, 7, 3, 2, 1);
    g.c_begin = range[0], g.c_end = range[1];
    const std::string what = "channels [" + std::to_string(range[0]) + ", " + std::to_string(range[1]) + ")";
    const Tensor x = data(g.in_size(), 7, true), dy = data(g.out_size(), 8, true);
    // Outside the range: guards to leave alone; inside: NaN, which forward overwrites unread.
    Tensor y0(size_t(g.out_size()), kGuard);
    for (size_t i = 0; i < y0.size(); ++i) {
      if (g.computed(int64_t(i) % g.channels)) y0[i] = kNaN;
    }
    const Tensor dx0(size_t(g.in_size()), kGuard);  // max backward here accumulates into it
    for (bool max : {true, false}) {
      expect_same(run_forward(isa(), x, g, max, y0), forward_reference(x, g, max, y0), what);
    }
    expect_same(run_max_backward(isa(), x, dy, g, 0, g.in_h, false, dx0),
                max_backward_reference(x, dy, g, 0, g.in_h, false, dx0), what + " max backward");
  }
}

TEST_P(PoolKernelTest, NaNGivesTheFirstNaNAndTakesTheGradient) {
  // Two NaNs of different payloads: the first in window order must come out.
  float other_nan = kNaN;
  const uint32_t payload = bits(kNaN) | 0x1234u;
  std::memcpy(&other_nan, &payload, sizeof other_nan);
  // Beyond a block of channels (128 on AVX-512), rows of 2x2 max windows take their own loops.
  for (int64_t channels : {1, 4, 5, 16, 17, 21, 33, 64, 67, 145}) {
    // One window of nine pixels, and one of four.
    for (int64_t window : {3, 2}) {
      const Geometry g = square(channels, window, window, 1, 0);
      const int64_t pixels = window * window;
      for (int64_t first = 0; first < pixels; ++first) {
        Tensor x = data(g.in_size(), uint32_t(first), true);
        const Tensor dy = data(g.out_size(), 99, true);
        // Channel c gets a NaN at pixel (first + c) % pixels and the other payload two pixels
        // later, so every lane of every chunk sees NaNs at different places, some lanes none
        // before wrap.
        for (int64_t c = 0; c < channels; ++c) {
          const int64_t p = (first + c) % pixels;
          x[size_t(p * channels + c)] = kNaN;
          if (p + 2 < pixels) x[size_t((p + 2) * channels + c)] = other_nan;
        }
        const std::string what = "c" + std::to_string(channels) + " window " + std::to_string(window) +
                                 " first NaN " + std::to_string(first);
        expect_max_matches(x, dy, g, what);
      }
    }
  }
}

TEST_P(PoolKernelTest, LoneNaNAnywhereInTheWindow) {
  // One NaN in one channel: no other lane of its chunk trips the check for it.
  for (int64_t channels : {1, 17, 64, 145}) {
    for (int64_t window : {3, 2}) {
      const Geometry g = square(channels, window, window, 1, 0);
      for (int64_t p = 0; p < window * window; ++p) {
        for (int64_t c : {int64_t(0), channels / 2, channels - 1}) {
          Tensor x = data(g.in_size(), uint32_t(p), true);
          x[size_t(p * channels + c)] = kNaN;
          const Tensor dy = data(g.out_size(), 98, true);
          const std::string what = "c" + std::to_string(channels) + " window " + std::to_string(window) +
                                   " NaN at pixel " + std::to_string(p) + " channel " + std::to_string(c);
          expect_max_matches(x, dy, g, what);
        }
      }
    }
  }
}

TEST_P(PoolKernelTest, TiesSignedZerosAndInfinities) {
  for (int64_t channels : {1, 4, 16, 17, 33, 145}) {
    const Geometry g = square(channels, 2, 2, 1, 0);  // one window of four pixels
    const float windows[][4] = {
        {-0.0f, 0.0f, -1.0f, -0.0f},  // first maximum is -0: forward gives -0, gradient to pixel 0
        {0.0f, -0.0f, -0.0f, -2.0f},
        {-1.0f, 3.0f, 3.0f, 3.0f},    // ties: pixel 1
        {kInf, -kInf, 1.0f, kInf},    // infinities of both signs: no NaN, first +inf wins
        {-kInf, -kInf, -kInf, -kInf},
        {-kInf, kNaN, kInf, 1.0f},
    };
    for (const auto& w : windows) {
      Tensor x(size_t(g.in_size()));
      for (int64_t p = 0; p < 4; ++p) {
        // Rotated per channel, so each lane meets the window in another order.
        for (int64_t c = 0; c < channels; ++c) x[size_t(p * channels + c)] = w[(p + c) % 4];
      }
      const Tensor dy(size_t(g.out_size()), -0.0f);  // a -0 gradient lands as +0, like the reference's sum
      const std::string what = "c" + std::to_string(channels) + " window " + std::to_string(w[0]) + "," +
                               std::to_string(w[1]) + "," + std::to_string(w[2]) + "," + std::to_string(w[3]);
      expect_max_matches(x, dy, g, what);
      Tensor dy_ones(size_t(g.out_size()), 1.0f);
      expect_same(run_max_backward(isa(), x, dy_ones, g, 0, 2, false, Tensor(size_t(g.in_size()), 0.0f)),
                  max_backward_reference(x, dy_ones, g, 0, 2, false, Tensor(size_t(g.in_size()), 0.0f)),
                  what + " backward, accumulated");
    }
  }
}

TEST_P(PoolKernelTest, AverageOfNegativeZerosIsPositiveZero) {
  for (int64_t channels : {1, 4, 16, 17}) {
    // Disjoint windows, and 3-wide windows one column apart (summed by columns).
    for (const Geometry& g : {square(channels, 2, 2, 2, 0), square(channels, 5, 3, 1, 1)}) {
      const Tensor x(size_t(g.in_size()), -0.0f);
      const Tensor y = run_forward(isa(), x, g, false, test::nan_tensor(g.out_size()));
      for (float v : y) EXPECT_EQ(bits(v), bits(0.0f)) << channels;
    }
  }
}

TEST_P(PoolKernelTest, AverageDivisors) {
  for (bool include_pad : {false, true}) {
    for (int64_t channels : {3, 16, 19, 67}) {
      // The last: 3x3 windows over a 2x2 input padded by 1, whose in-bounds spans are all 2x2.
      for (const auto& [in, stride] : {std::array<int64_t, 2>{8, 2}, {8, 1}, {2, 1}}) {
        const Geometry g = square(channels, in, 3, stride, 1, include_pad);
        const Tensor x = data(g.in_size(), 5, false);
        expect_same(run_forward(isa(), x, g, false, test::nan_tensor(g.out_size())),
                    forward_reference(x, g, false, test::nan_tensor(g.out_size())),
                    include_pad ? "count_include_pad" : "in-bounds divisor");
      }
    }
  }
}

TEST_P(PoolKernelTest, MaxBackwardStoreAndAccumulate) {
  for (int64_t channels : {1, 5, 16, 17, 35, 64}) {
    for (bool integers : {true, false}) {
      // Overlapping windows accumulate; every band of owned rows, including one cutting windows.
      const Geometry overlapping = square(channels, 9, 3, 2, 1);
      const Tensor x = data(overlapping.in_size(), 11, integers), dy = data(overlapping.out_size(), 12, integers);
      const Tensor dx0 = data(overlapping.in_size(), 13, integers);
      for (const auto& own : {std::pair<int64_t, int64_t>{0, 9}, {0, 3}, {3, 4}, {4, 9}, {2, 7}}) {
        const std::string what = "c" + std::to_string(channels) + " rows [" + std::to_string(own.first) + ", " +
                                 std::to_string(own.second) + ")";
        expect_same(run_max_backward(isa(), x, dy, overlapping, own.first, own.second, false, dx0),
                    max_backward_reference(x, dy, overlapping, own.first, own.second, false, dx0), what);
      }
      // Disjoint windows with gaps (stride 3 > window 2) are stored, gaps untouched.
      const Geometry disjoint = square(channels, 10, 2, 3, 1);
      const Tensor xd = data(disjoint.in_size(), 14, integers), dyd = data(disjoint.out_size(), 15, integers);
      const Tensor guard(size_t(disjoint.in_size()), kGuard);
      expect_same(run_max_backward(isa(), xd, dyd, disjoint, 0, 10, true, guard),
                  max_backward_reference(xd, dyd, disjoint, 0, 10, true, guard), "stored");
    }
  }
}

TEST_P(PoolKernelTest, AverageBackwardStore) {
  for (int64_t channels : kChannelCounts) {
    for (bool include_pad : {false, true}) {
      const Geometry g = square(channels, 7, 2, 3, 1, include_pad);
      const Tensor dy = data(g.out_size(), 21, false);
      Tensor expected(size_t(g.in_size()), kGuard);
      for (int64_t oh = 0; oh < g.out_h(); ++oh) {
        for (int64_t ow = 0; ow < g.out_w(); ++ow) {
          const PoolSpan r = g.rows[size_t(oh)], s = g.cols[size_t(ow)];
          for (int64_t h = r.begin; h < r.end; ++h) {
            for (int64_t w = s.begin; w < s.end; ++w) {
              for (int64_t c = 0; c < channels; ++c) {
                // The reference: double quotient added to +0 and rounded to float.
                expected[size_t((h * g.in_w + w) * channels + c)] = static_cast<float>(
                    0.0 + double(dy[size_t((oh * g.out_w() + ow) * channels + c)]) / double(r.divisor * s.divisor));
              }
            }
          }
        }
      }
      Tensor dx(size_t(g.in_size()), kGuard);
      const PoolKernels& k = kernels<PoolKernels>(isa());
      for (int64_t oh = 0; oh < g.out_h(); ++oh) {
        k.avg_backward_store(g.row(nullptr, oh), dy.data() + oh * g.out_w() * channels, dx.data());
      }
      expect_same(dx, expected, "c" + std::to_string(channels));
    }
  }
}

TEST_P(PoolKernelTest, AverageBackwardGatherRoundsLikeDoubleSums) {
  for (int64_t channels : kChannelCounts) {
    for (int64_t stride : {1, 2}) {
      Geometry g = square(channels, 8, 3, stride, 1, stride == 1);
      if (channels > 20) g.c_begin = 3, g.c_end = channels - 2;
      const Tensor dy = data(g.out_size(), 31, false);
      // Per input position, the windows covering it, in (output row, output column) order.
      const auto covers = [](const std::vector<PoolSpan>& spans, int64_t in) {
        std::vector<PoolCover> out(size_t(in), PoolCover{0, 0});
        for (int64_t i = 0; i < in; ++i) {
          int64_t begin = -1, end = -1;
          for (int64_t o = 0; o < int64_t(spans.size()); ++o) {
            if (spans[size_t(o)].begin <= i && i < spans[size_t(o)].end) {
              if (begin < 0) begin = o;
              end = o + 1;
            }
          }
          if (begin >= 0) out[size_t(i)] = PoolCover{begin, end};
        }
        return out;
      };
      const std::vector<PoolCover> row_covers = covers(g.rows, g.in_h), col_covers = covers(g.cols, g.in_w);
      // Every output row's quotients, in a ring as long as the image, so that row oh sits at oh.
      const PoolKernels& k = kernels<PoolKernels>(isa());
      std::vector<double> quotients(size_t(g.out_size()), -1.0);
      for (int64_t oh = 0; oh < g.out_h(); ++oh) {
        std::vector<int64_t> divisors;
        for (const PoolSpan& c : g.cols) divisors.push_back(g.rows[size_t(oh)].divisor * c.divisor);
        const int64_t row = oh * g.out_w() * channels;
        k.avg_quotients(dy.data() + row, divisors.data(), g.out_w(), channels, g.c_begin, g.c_end,
                        quotients.data() + row);
      }
      Tensor expected(size_t(g.in_size()), kGuard), dx(size_t(g.in_size()), kGuard);
      for (int64_t ih = 0; ih < g.in_h; ++ih) {
        const PoolGatherRow row{quotients.data(),       g.out_h(),         g.out_w(), g.in_w, channels,
                                row_covers[size_t(ih)], col_covers.data(), g.c_begin, g.c_end};
        k.avg_backward_gather(row, dx.data() + ih * g.in_w * channels);
        for (int64_t iw = 0; iw < g.in_w; ++iw) {
          for (int64_t c = g.c_begin; c < g.c_end; ++c) {
            double sum = 0.0;
            for (int64_t oh = row_covers[size_t(ih)].begin; oh < row_covers[size_t(ih)].end; ++oh) {
              for (int64_t ow = col_covers[size_t(iw)].begin; ow < col_covers[size_t(iw)].end; ++ow) {
                sum += double(dy[size_t((oh * g.out_w() + ow) * channels + c)]) /
                       (double(g.rows[size_t(oh)].divisor) * double(g.cols[size_t(ow)].divisor));
              }
            }
            expected[size_t((ih * g.in_w + iw) * channels + c)] = static_cast<float>(sum);
          }
        }
      }
      expect_same(dx, expected, "c" + std::to_string(channels) + " stride " + std::to_string(stride));
    }
  }
}

// The quotients are the reference's correctly rounded double(dy) / divisor (the kernels may
// get them from a reciprocal): floats of every magnitude, integers, zeros, infinities, NaN,
// subnormals, over small divisors and a few large and awkward ones.
TEST_P(PoolKernelTest, AverageQuotientsAreCorrectlyRounded) {
  std::vector<float> values = {0.0f, -0.0f, 1.0f, -3.0f, 7.0f, kInf, -kInf, kNaN,
                               std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(),
                               std::numeric_limits<float>::min(), std::numeric_limits<float>::denorm_min(),
                               -3 * std::numeric_limits<float>::denorm_min(), 16777215.0f, 0.1f, 1.0f / 3.0f};
  std::mt19937 rng(5);
  std::uniform_int_distribution<uint32_t> any_bits;
  while (values.size() < 4099) {  // a count no vector width divides, so every tail runs
    const uint32_t b = any_bits(rng);
    float v;
    std::memcpy(&v, &b, sizeof v);
    if (!std::isnan(v)) values.push_back(v);
  }
  std::vector<int64_t> divisors;
  for (int64_t d = 1; d <= 300; ++d) divisors.push_back(d);
  for (int64_t d : {16777215LL, 16777216LL, 16777217LL, 14348907LL, 1000003LL, 1073741831LL, 4294967291LL}) {
    divisors.push_back(d);
  }
  const PoolKernels& k = kernels<PoolKernels>(isa());
  const int64_t channels = int64_t(values.size());
  std::vector<double> quotients(values.size());
  for (int64_t d : divisors) {
    k.avg_quotients(values.data(), &d, 1, channels, 0, channels, quotients.data());
    for (size_t i = 0; i < values.size(); ++i) {
      const double expected = double(values[i]) / double(d);
      if (std::isnan(expected) ? !std::isnan(quotients[i]) : quotients[i] != expected) {
        ADD_FAILURE() << values[i] << " / " << d << " = " << quotients[i] << ", expected " << expected;
        break;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(EveryIsa, PoolKernelTest, ::testing::ValuesIn(cpu_isas()),
                         [](const ::testing::TestParamInfo<Isa>& info) { return std::string(isa_name(info.param)); });

}  // namespace
}  // namespace convkit::detail
