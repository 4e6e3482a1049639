// The direct backend's micro-kernels on their own (XNNPACK style): every tile shape the
// register budget allows, pixel counts equal to and smaller than the register block, channel
// counts at, below and just above vector boundaries, under every instruction set this CPU
// has. Pixel counts larger than the block are the driver's business (conv_backend_test).
// Data are small integers, so any summation order gives the exact reference; outputs live in
// guard-filled buffers with a guard tail, so a write outside the tile's channels or pixels is
// caught, and what an overwriting kernel must write starts as NaN, so reading it first shows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "isa.hpp"
#include "kernels/depthwise_conv.hpp"
#include "kernels/direct_conv.hpp"
#include "kernels/outer_product.hpp"
#include "support/kernel_isas.hpp"
#include "support/tensors.hpp"

namespace convkit::detail {
namespace {

using test::integer_tensor;
using test::isas_here;
using test::kSentinel;
using test::outputs_match;

constexpr int64_t kGuardTail = 4;       // guard floats after the last element a kernel may touch

// `size` elements, then a guard tail: kSentinel everywhere except where `written` holds, there
// NaN (an overwriting kernel must write those without reading them).
template <class Written>
std::vector<float> output_buffer(int64_t size, Written written) {
  std::vector<float> buffer(size_t(size + kGuardTail), kSentinel);
  for (int64_t i = 0; i < size; ++i) {
    if (written(i)) buffer[size_t(i)] = std::numeric_limits<float>::quiet_NaN();
  }
  return buffer;
}

// An output buffer laid out as output_buffer's, whose `is_output` elements hold `start` where
// the kernel adds onto them (accumulate) and NaN where it must overwrite them.
template <class IsOutput>
std::vector<float> output_buffer_from(int64_t size, IsOutput is_output, bool accumulate,
                                      const std::vector<float>& start) {
  std::vector<float> buffer = output_buffer(size, [&](int64_t i) { return !accumulate && is_output(i); });
  for (int64_t i = 0; i < size && accumulate; ++i) {
    if (is_output(i)) buffer[size_t(i)] = start[size_t(i)];
  }
  return buffer;
}

::testing::AssertionResult guard_tail_intact(const std::vector<float>& buffer) {
  for (size_t i = buffer.size() - size_t(kGuardTail); i < buffer.size(); ++i) {
    if (buffer[i] != kSentinel) return ::testing::AssertionFailure() << "wrote past the end, at " << i;
  }
  return ::testing::AssertionSuccess();
}

// The tile's sum in double, straight from the header's formula.
double direct_reference(const DirectConvTile& t, int64_t p, int64_t c) {
  double sum = 0.0;
  for (int64_t th = 0; th < t.taps_h; ++th) {
    for (int64_t tw = 0; tw < t.taps_w; ++tw) {
      for (int64_t k = 0; k < t.reduce; ++k) {
        sum += double(t.x[p * t.x_pixel_stride + th * t.x_tap_h + tw * t.x_tap_w + k * t.x_reduce_stride]) *
               t.w[th * t.w_tap_h + tw * t.w_tap_w + k * t.w_reduce_stride + c];
      }
    }
  }
  return sum;
}

struct DirectCase {
  int vectors, pixels;
  int64_t out_channels, reduce, taps_h, taps_w;
  bool accumulate, relu, bias, strided_reduce;
  int64_t more_tiles = 0;  // further tiles of the call (DirectConvTile::more_tiles)
};

std::string describe(Isa isa, const DirectCase& c) {
  return std::string(isa_name(isa)) + " " + std::to_string(c.pixels) + "x" + std::to_string(c.vectors) +
         " out_channels=" + std::to_string(c.out_channels) + " reduce=" + std::to_string(c.reduce) +
         " taps=" + std::to_string(c.taps_h) + "x" + std::to_string(c.taps_w) + (c.accumulate ? " accumulate" : "") +
         (c.relu ? " relu" : "") + (c.bias ? " bias" : "") + (c.strided_reduce ? " strided-reduce" : "") +
         (c.more_tiles > 0 ? " more_tiles=" + std::to_string(c.more_tiles) : "");
}

// Lays out x with pixels, taps and the reduction at distinct strides (taps walked backwards
// on one axis, as backward data does), w as whole padded vectors, y with a gap after each
// pixel's channels.
void check_direct(Isa isa, const DirectConvKernels& k, const DirectCase& c) {
  const int64_t lanes = k.lanes, width = c.vectors * lanes;
  const int64_t reduce_stride = c.strided_reduce ? 3 : 1;
  const int64_t x_tap_w = c.reduce * reduce_stride + 1, x_tap_h = -(c.taps_w * x_tap_w + 2);
  const int64_t x_pixel_stride = c.taps_w * x_tap_w + 5;
  const int64_t x_origin = (c.taps_h > 0 ? (c.taps_h - 1) * -x_tap_h : 0);
  const int64_t pixels = c.pixels * (c.more_tiles + 1);  // over every tile of the call
  const int64_t x_size = x_origin + pixels * x_pixel_stride + c.taps_w * x_tap_w + 8;
  const int64_t w_tap_w = c.reduce * width, w_tap_h = c.taps_w * w_tap_w;
  const std::vector<float> x = integer_tensor(x_size, 11);
  std::vector<float> w = integer_tensor(c.taps_h * w_tap_h + width, 12);
  const std::vector<float> bias = integer_tensor(c.out_channels, 13);  // exactly the block's channels: no padding read
  // The packed layout's promise: lanes past out_channels hold zeros.
  for (int64_t i = 0; i < static_cast<int64_t>(w.size()); ++i) {
    if (i % width >= c.out_channels) w[size_t(i)] = 0.0f;
  }
  const int64_t y_pixel_stride = width + 3;
  std::vector<float> y = output_buffer(pixels * y_pixel_stride, [&](int64_t i) {
    return !c.accumulate && i % y_pixel_stride < c.out_channels;
  });
  const std::vector<float> start = integer_tensor(int64_t(y.size()), 14);
  if (c.accumulate) {
    for (int64_t p = 0; p < pixels; ++p) {
      for (int64_t j = 0; j < c.out_channels; ++j) {
        y[size_t(p * y_pixel_stride + j)] = start[size_t(p * y_pixel_stride + j)];
      }
    }
  }

  DirectConvTile t{};
  t.x = x.data() + x_origin;
  t.w = w.data();
  t.bias = c.bias ? bias.data() : nullptr;
  t.y = y.data();
  t.pixels = c.pixels;
  t.x_pixel_stride = x_pixel_stride;
  t.y_pixel_stride = y_pixel_stride;
  t.taps_h = c.taps_h;
  t.taps_w = c.taps_w;
  t.x_tap_h = x_tap_h;
  t.x_tap_w = x_tap_w;
  t.w_tap_h = w_tap_h;
  t.w_tap_w = w_tap_w;
  t.reduce = c.reduce;
  t.x_reduce_stride = reduce_stride;
  t.w_reduce_stride = width;
  t.out_channels = c.out_channels;
  t.accumulate = c.accumulate;
  t.activation = c.relu ? Activation::relu : Activation::none;
  t.more_tiles = c.more_tiles;
  k.tile[c.vectors - 1][c.pixels - 1](t);

  const auto expected_at = [&](int64_t p, int64_t j) {
    double expected = direct_reference(t, p, j);
    expected += c.accumulate ? start[size_t(p * y_pixel_stride + j)] : c.bias ? bias[size_t(j)] : 0.0;
    return c.relu && expected < 0.0 ? 0.0 : expected;
  };
  EXPECT_TRUE(outputs_match(y, pixels, y_pixel_stride, c.out_channels, expected_at)) << describe(isa, c);
  ASSERT_TRUE(guard_tail_intact(y)) << describe(isa, c);
}

TEST(DirectConvTile, EveryShapeEveryIsa) {
  for (Isa isa : isas_here()) {
    const DirectConvKernels& k = kernels<DirectConvKernels>(isa);
    ASSERT_GT(k.preferred_vectors, 0);
    for (int vectors = 1; vectors <= kMaxTileVectors; ++vectors) {
      const int widest = k.max_pixels[vectors - 1];
      ASSERT_LE(widest, kMaxTilePixels);
      const int64_t full = vectors * k.lanes;
      for (int pixels = 1; pixels <= widest; ++pixels) {
        ASSERT_NE(k.tile[vectors - 1][pixels - 1], nullptr) << isa_name(isa) << " " << pixels << "x" << vectors;
        // Whole vectors, one lane short, a single lane into the last vector.
        for (int64_t out : {full, full - 1, full - k.lanes + 1}) {
          check_direct(isa, k, {vectors, pixels, out, 7, 1, 1, false, false, true, false});
        }
      }
      // Around the register block: the widest tile, one under it, taps, accumulation, ReLU,
      // no bias, a strided reduction (backward weights), empty tap windows (padding only).
      for (int pixels : {widest, widest > 1 ? widest - 1 : 1}) {
        check_direct(isa, k, {vectors, pixels, full, 5, 3, 3, false, true, true, false});
        check_direct(isa, k, {vectors, pixels, full - 1, 4, 2, 3, true, false, false, false});
        check_direct(isa, k, {vectors, pixels, full, 3, 2, 1, true, true, true, true});
        check_direct(isa, k, {vectors, pixels, full, 3, 0, 3, false, true, true, false});
        check_direct(isa, k, {vectors, pixels, full - 2, 3, 2, 0, true, false, true, false});
        // Several tiles in one call, as the pointwise forward and the weight gradient run them.
        check_direct(isa, k, {vectors, pixels, full - 1, 2, 1, 1, false, true, true, false, 3});
        check_direct(isa, k, {vectors, pixels, full, 1, 1, 1, true, false, false, true, 2});
        // Plain calls (whole vectors over contiguous channels) that accumulate, with and
        // without the activation.
        check_direct(isa, k, {vectors, pixels, full, 2, 1, 2, true, false, true, false, 2});
        check_direct(isa, k, {vectors, pixels, full, 3, 2, 1, true, true, false, false, 1});
      }
    }
  }
}

// The dot tile: vectors along the reduction, read from unpadded rows with a tail.
TEST(DirectDotTile, EveryShapeEveryIsa) {
  for (Isa isa : isas_here()) {
    const DirectConvKernels& k = kernels<DirectConvKernels>(isa);
    ASSERT_LE(k.dot_max_pixels, kMaxDotPixels);
    ASSERT_LE(k.dot_max_channels, kMaxDotChannels);
    for (int pixels = 1; pixels <= k.dot_max_pixels; ++pixels) {
      for (int channels = 1; channels <= k.dot_max_channels; ++channels) {
        for (int64_t reduce : {int64_t(k.lanes), 2 * int64_t(k.lanes) + 1, int64_t(k.lanes) - 1, int64_t(1)}) {
          for (int64_t taps : {0, 1, 2}) {
            const std::string what = std::string(isa_name(isa)) + " " + std::to_string(pixels) + "x" +
                                     std::to_string(channels) + " reduce=" + std::to_string(reduce) +
                                     " taps=" + std::to_string(taps);
            const int64_t x_tap_w = reduce + 2, x_tap_h = -(3 * x_tap_w);
            const int64_t x_pixel_stride = 2 * x_tap_w + 1, x_origin = (taps > 0 ? (taps - 1) * -x_tap_h : 0);
            const int64_t w_channel_stride = reduce + 3, w_tap_w = channels * w_channel_stride + 1;
            const int64_t w_tap_h = 2 * w_tap_w;
            // The last input row read ends exactly at the buffer's end: a tail read past it would
            // show under ASan.
            const std::vector<float> x =
                integer_tensor(taps > 0 ? x_origin + (pixels - 1) * x_pixel_stride + x_tap_w + reduce : 1, 21);
            const std::vector<float> w = integer_tensor((taps > 0 ? taps - 1 : 0) * w_tap_h + w_tap_w +
                                                            (channels - 1) * w_channel_stride + reduce, 22);
            const int64_t y_pixel_stride = channels + 2;
            std::vector<float> y =
                output_buffer(pixels * y_pixel_stride, [&](int64_t i) { return i % y_pixel_stride < channels; });
            // One tap: forward's epilogue too, a bias of exactly `channels` values, then ReLU.
            const bool epilogue = taps == 1;
            const std::vector<float> bias = integer_tensor(channels, 23);
            DirectDotTile t{};
            t.bias = epilogue ? bias.data() : nullptr;
            t.activation = epilogue ? Activation::relu : Activation::none;
            t.x = x.data() + x_origin;
            t.w = w.data();
            t.y = y.data();
            t.pixels = pixels;
            t.channels = channels;
            t.x_pixel_stride = x_pixel_stride;
            t.y_pixel_stride = y_pixel_stride;
            t.w_channel_stride = w_channel_stride;
            t.taps_h = taps;
            t.taps_w = taps > 0 ? 2 : 0;
            t.x_tap_h = x_tap_h;
            t.x_tap_w = x_tap_w;
            t.w_tap_h = w_tap_h;
            t.w_tap_w = w_tap_w;
            t.reduce = reduce;
            k.dot_tile[pixels - 1][channels - 1](t);
            for (int64_t p = 0; p < pixels; ++p) {
              for (int64_t c = 0; c < y_pixel_stride; ++c) {
                const float got = y[size_t(p * y_pixel_stride + c)];
                if (c >= channels) {
                  ASSERT_EQ(got, kSentinel) << what;
                  continue;
                }
                double expected = 0.0;
                for (int64_t th = 0; th < t.taps_h; ++th) {
                  for (int64_t tw = 0; tw < t.taps_w; ++tw) {
                    for (int64_t r = 0; r < reduce; ++r) {
                      expected += double(t.x[p * x_pixel_stride + th * x_tap_h + tw * x_tap_w + r]) *
                                  t.w[c * w_channel_stride + th * w_tap_h + tw * w_tap_w + r];
                    }
                  }
                }
                if (epilogue) {
                  expected += bias[size_t(c)];
                  expected = expected < 0.0 ? 0.0 : expected;
                }
                ASSERT_EQ(got, float(expected)) << what << " pixel " << p << " channel " << c;
              }
            }
            ASSERT_TRUE(guard_tail_intact(y)) << what;
          }
        }
      }
    }
  }
}

// The packing transpose: whole 16x16, 8x8 and 4x4 blocks, ragged edges on both sides, strides
// wider than a row.
TEST(DirectTranspose, EveryEdgeEveryIsa) {
  for (Isa isa : isas_here()) {
    const DirectConvKernels& k = kernels<DirectConvKernels>(isa);
    for (int64_t rows : {1, 3, 4, 8, 9, 16, 21, 32, 45}) {
      for (int64_t cols : {1, 4, 6, 8, 13, 16, 17, 24, 31, 44}) {
        const int64_t src_stride = rows + 3, dst_stride = cols + 2;
        const std::vector<float> src = integer_tensor((cols - 1) * src_stride + rows, 51);
        std::vector<float> dst = output_buffer(rows * dst_stride, [&](int64_t i) { return i % dst_stride < cols; });
        k.transpose(src.data(), src_stride, rows, cols, dst.data(), dst_stride);
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t j = 0; j < dst_stride; ++j) {
            const float expected = j < cols ? src[size_t(j * src_stride + r)] : kSentinel;
            ASSERT_EQ(dst[size_t(r * dst_stride + j)], expected)
                << isa_name(isa) << " rows=" << rows << " cols=" << cols << " at " << r << "," << j;
          }
        }
        ASSERT_TRUE(guard_tail_intact(dst)) << isa_name(isa) << " rows=" << rows << " cols=" << cols;
      }
    }
  }
}

// Depthwise tiles: every pixel count, channel counts around vectors and pairs of vectors, the
// row-reuse paths (3 taps at stride 1 and 2) and the general one (other tap counts, dilation),
// one row or two: two 3x3 rows at stride 1 and 2 (the two-row path where the instruction set
// has one) and two rows whose inputs do not line up (as two tiles of one).
TEST(DepthwiseConvTile, EveryShapeEveryIsa) {
  for (Isa isa : isas_here()) {
    const DepthwiseConvKernels& k = kernels<DepthwiseConvKernels>(isa);
    const int64_t L = k.lanes;
    for (int pixels = 1; pixels <= kMaxDepthwisePixels; ++pixels) {
      for (int64_t channels : {int64_t(1), L - 1, L, L + 1, 2 * L, 3 * L + 5, 4 * L + 3}) {
        // {taps_w, input step per tap in pixels, pixel stride in pixels}: reuse at stride 1 and
        // 2 (3, 2, 5 and 4 taps), dilation 2 (general), 5 taps at stride 3 (general).
        const int64_t shapes[][3] = {{3, 1, 1}, {3, 1, 2}, {3, 2, 1}, {2, 1, 1}, {5, 1, 1}, {5, 1, 2}, {4, 1, 2}, {5, 1, 3}};
        // {rows, taps_h, input step per row in kernel rows; 0 for one that is not a multiple}.
        const int64_t verticals[][3] = {{1, 2, 1}, {2, 3, 1}, {2, 3, 2}, {2, 3, 0}};
        for (const auto& shape : shapes) {
          for (const auto& vertical : verticals) {
            for (bool relu : {false, true}) {
              // A few channels of other work between pixels; 1024 floats for the widest count, whose
              // pixels then lie a multiple of 4 KB apart (the four-vector tiles).
              const int64_t taps_w = shape[0], C = channels == 4 * L + 3 ? 1024 : channels + 3;
              const int64_t rows = vertical[0], taps_h = vertical[1];
              const int64_t padded = (channels + L - 1) / L * L;
              const int64_t x_tap_w = shape[1] * C, x_pixel_stride = shape[2] * C;
              const int64_t row = ((pixels - 1) * shape[2] + (taps_w - 1) * shape[1] + 1) * C;
              const int64_t x_tap_h = row + 7;
              const int64_t x_row_stride = vertical[2] > 0 ? vertical[2] * x_tap_h : 2 * x_tap_h + 5;
              const int64_t y_row_stride = pixels * C + 2;  // a gap that must stay untouched
              const std::vector<float> x = integer_tensor((rows - 1) * x_row_stride + x_tap_h * taps_h, 31);
              std::vector<float> w = integer_tensor(taps_h * taps_w * padded, 32);
              const std::vector<float> bias = integer_tensor(channels, 33);  // unpadded: the tail is masked
              for (int64_t i = 0; i < static_cast<int64_t>(w.size()); ++i) {
                if (i % padded >= channels) w[size_t(i)] = 0.0f;
              }
              std::vector<float> y = output_buffer(rows * y_row_stride, [&](int64_t i) {
                return i % y_row_stride / C < pixels && i % y_row_stride % C < channels;
              });
              DepthwiseConvTile t{};
              t.x = x.data();
              t.w = w.data();
              t.bias = bias.data();
              t.y = y.data();
              t.rows = rows;
              t.pixels = pixels;
              t.x_row_stride = x_row_stride;
              t.y_row_stride = y_row_stride;
              t.x_pixel_stride = x_pixel_stride;
              t.y_pixel_stride = C;
              t.taps_h = taps_h;
              t.taps_w = taps_w;
              t.x_tap_h = x_tap_h;
              t.x_tap_w = x_tap_w;
              t.w_tap_h = taps_w * padded;
              t.w_tap_w = padded;
              t.channels = channels;
              t.activation = relu ? Activation::relu : Activation::none;
              k.tile[pixels - 1](t);
              const std::string what = std::string(isa_name(isa)) + " rows=" + std::to_string(rows) +
                                       " pixels=" + std::to_string(pixels) + " channels=" + std::to_string(channels) +
                                       " taps=" + std::to_string(taps_h) + "x" + std::to_string(taps_w) +
                                       " tap step=" + std::to_string(shape[1]) +
                                       " pixel step=" + std::to_string(shape[2]) +
                                       " row step=" + std::to_string(vertical[2]);
              for (int64_t r = 0; r < rows; ++r) {
                for (int64_t i = 0; i < y_row_stride; ++i) {
                  const int64_t p = i / C, c = i % C;
                  const float got = y[size_t(r * y_row_stride + i)];
                  if (p >= pixels || c >= channels) {
                    ASSERT_EQ(got, kSentinel) << what << " row " << r << " offset " << i;
                    continue;
                  }
                  double expected = bias[size_t(c)];
                  for (int64_t th = 0; th < taps_h; ++th) {
                    for (int64_t tw = 0; tw < taps_w; ++tw) {
                      expected +=
                          double(x[size_t(r * x_row_stride + p * x_pixel_stride + th * x_tap_h + tw * x_tap_w + c)]) *
                          w[size_t(th * t.w_tap_h + tw * t.w_tap_w + c)];
                    }
                  }
                  if (relu && expected < 0.0) expected = 0.0;
                  ASSERT_EQ(got, float(expected)) << what << " row " << r << " pixel " << p << " channel " << c;
                }
              }
              ASSERT_TRUE(guard_tail_intact(y)) << what;
            }
          }
        }
      }
    }
  }
}

// The pair tile of stride-2 backward data: every pair count, 3 and 5 taps, channel tails, 0 to
// 3 kernel rows walked up or down through x (as the transposed problem's rows walk dy),
// against the formula in kernels/depthwise_conv.hpp; the channels between pixels stay
// untouched.
TEST(DepthwisePairKernel, EveryPairCountEveryIsa) {
  for (Isa isa : isas_here()) {
    const DepthwiseConvKernels& k = kernels<DepthwiseConvKernels>(isa);
    const int64_t L = k.lanes;
    ASSERT_GE(k.max_pairs, 2) << isa_name(isa);
    for (int pairs = 1; pairs <= k.max_pairs; ++pairs) {
      for (int64_t taps_w : {3, 5}) {
        for (int64_t channels : {int64_t(1), L - 1, L, L + 1, 3 * L + 5}) {
          for (int64_t taps_h : {0, 1, 2, 3}) {
            for (int64_t row_direction : {1, -1}) {
              const int64_t C = channels + 3, padded = (channels + L - 1) / L * L, reach = (taps_w - 1) / 2;
              const int64_t row = (pairs + reach) * C + 4;  // x rows of pairs + reach pixels and a gap
              const int64_t rows = std::max<int64_t>(taps_h, 1);
              const std::vector<float> x = integer_tensor(rows * row, 51);
              std::vector<float> w = integer_tensor(rows * (taps_w * padded + 1), 52);
              std::vector<float> y = output_buffer(2 * pairs * C, [&](int64_t i) { return i % C < channels; });
              PhasePairTile t{};
              // x at pixel `reach` of its first row (walking down) or last row (walking up): pair
              // 0's farthest tap reads pixel 0.
              const int64_t first_row = row_direction > 0 ? 0 : rows - 1;
              t.x = x.data() + first_row * row + reach * C;
              t.w = w.data();
              t.y = y.data();
              t.pairs = pairs;
              t.taps_h = taps_h;
              t.taps_w = taps_w;
              t.x_pixel_stride = C;
              t.y_pixel_stride = C;
              t.x_tap_h = row_direction * row;
              t.w_tap_h = taps_w * padded + 1;  // not a multiple of the vector: loads must not assume alignment
              t.w_tap_w = padded;
              t.channels = channels;
              k.pair_tile[pairs - 1](t);
              const std::string what = std::string(isa_name(isa)) + " pairs=" + std::to_string(pairs) +
                                       " taps_w=" + std::to_string(taps_w) + " channels=" + std::to_string(channels) +
                                       " taps_h=" + std::to_string(taps_h) + " direction=" + std::to_string(row_direction);
              for (int64_t i = 0; i < 2 * pairs * C; ++i) {
                const int64_t p = i / C, c = i % C, m = p / 2;
                const float got = y[size_t(i)];
                if (c >= channels) {
                  ASSERT_EQ(got, kSentinel) << what << " offset " << i;
                  continue;
                }
                double expected = 0.0;
                for (int64_t th = 0; th < taps_h; ++th) {
                  for (int64_t tap = p % 2; tap < taps_w; tap += 2) {
                    expected += double(t.x[th * t.x_tap_h + (m - tap / 2) * C + c]) * t.w[th * t.w_tap_h + tap * padded + c];
                  }
                }
                ASSERT_EQ(got, float(expected)) << what << " pixel " << p << " channel " << c;
              }
            }
          }
        }
      }
    }
  }
}

// Weight-gradient tiles: channel counts around one and two vectors, 1 to 7 taps (three at a
// time in registers, then the rest), empty rectangles, accumulation.
TEST(DepthwiseWeightGrad, EveryChannelAndTapCountEveryIsa) {
  for (Isa isa : isas_here()) {
    const DepthwiseConvKernels& k = kernels<DepthwiseConvKernels>(isa);
    const int64_t L = k.lanes;
    for (int64_t channels : {int64_t(1), L - 1, L, L + 1, 2 * L, 5 * L + 3}) {
      for (int64_t taps_h : {1, 2, 3, 4}) {
        for (int64_t taps : {1, 2, 3, 4, 7}) {
          for (int64_t rows : {0, 1, 3}) {
            // Strided and dilated columns, then stride 1 (the sliding path: groups of 4 columns
            // plus a remainder).
            for (const bool sliding : {false, true}) {
              // Mode 2 accumulates with pixels 512 floats apart (on AVX-512 the four-vector tiles,
              // a kernel row at a time: depthwise_grad_wide_tiles).
              for (const int mode : {0, 1, 2}) {
                const bool accumulate = mode > 0;
                const int64_t C = mode == 2 ? 512 : channels + 2, cols = sliding ? 9 : 5;
                const int64_t x_tap_w = sliding ? C : 2 * C, x_col_stride = sliding ? C : 3 * C;
                const int64_t x_row_stride = (cols - 1) * x_col_stride + (taps - 1) * x_tap_w + C;
                const int64_t x_tap_h = std::max<int64_t>(rows, 1) * x_row_stride + C;
                const int64_t dy_col_stride = C, dy_row_stride = cols * C, dw_tap_stride = C + 1;
                const int64_t dw_tap_h = taps * dw_tap_stride + 3, dw_size = taps_h * dw_tap_h;
                const std::vector<float> x = integer_tensor(taps_h * x_tap_h, 41);
                const std::vector<float> dy = integer_tensor(std::max<int64_t>(rows, 1) * dy_row_stride, 42);
                const std::vector<float> start = integer_tensor(dw_size, 43);
                const auto is_dw = [&](int64_t i) {
                  return i % dw_tap_h < taps * dw_tap_stride && i % dw_tap_h % dw_tap_stride < channels;
                };
                std::vector<float> dw = output_buffer_from(dw_size, is_dw, accumulate, start);
                DepthwiseWeightGradTile t{};
                t.x = x.data();
                t.dy = dy.data();
                t.dw = dw.data();
                t.rows = rows;
                t.cols = cols;
                t.taps_h = taps_h;
                t.taps_w = taps;
                t.x_row_stride = x_row_stride;
                t.x_col_stride = x_col_stride;
                t.x_tap_h = x_tap_h;
                t.x_tap_w = x_tap_w;
                t.dy_row_stride = dy_row_stride;
                t.dy_col_stride = dy_col_stride;
                t.dw_tap_h = dw_tap_h;
                t.dw_tap_stride = dw_tap_stride;
                t.channels = channels;
                t.accumulate = accumulate;
                k.weight_grad(t);
                for (int64_t i = 0; i < dw_size; ++i) {
                  const float got = dw[size_t(i)];
                  if (!is_dw(i)) {
                    ASSERT_EQ(got, kSentinel);
                    continue;
                  }
                  const int64_t th = i / dw_tap_h, tw = i % dw_tap_h / dw_tap_stride, c = i % dw_tap_h % dw_tap_stride;
                  double expected = accumulate ? start[size_t(i)] : 0.0;
                  for (int64_t r = 0; r < rows; ++r) {
                    for (int64_t q = 0; q < cols; ++q) {
                      const int64_t xi = th * x_tap_h + r * x_row_stride + q * x_col_stride + tw * x_tap_w + c;
                      expected += double(x[size_t(xi)]) * dy[size_t(r * dy_row_stride + q * dy_col_stride + c)];
                    }
                  }
                  ASSERT_EQ(got, float(expected)) << isa_name(isa) << " channels=" << channels << " taps " << taps_h
                                                  << "x" << taps << " rows=" << rows << (sliding ? " stride 1" : "")
                                                  << " tap " << th << "," << tw << " channel " << c;
                }
                ASSERT_TRUE(guard_tail_intact(dw)) << isa_name(isa) << " channels=" << channels;
              }
            }
          }
        }
      }
    }
  }
}

// Rows that end mid-group of four, channel counts around one and two vectors (the last vector
// overlapped when overwriting, in pieces when adding), no pixels (zero rows), and strides that
// leave gaps the kernel must neither read nor write.
TEST(OuterProductRows, EveryRowChannelAndPixelCountEveryIsa) {
  for (Isa isa : isas_here()) {
    const OuterProductKernels& k = kernels<OuterProductKernels>(isa);
    const int64_t L = k.lanes;
    for (int64_t channels : {int64_t(1), L - 1, L, L + 1, 2 * L - 1, 2 * L, 2 * L + 3, 5 * L + 3}) {
      for (int64_t rows : {1, 2, 3, 4, 5, 9}) {
        for (int64_t pixels : {0, 1, 2, 5}) {
          for (const bool accumulate : {false, true}) {
            const int64_t x_stride = rows + 3, dy_stride = channels + 2, y_stride = channels + 5;
            const int64_t y_size = (rows - 1) * y_stride + channels;
            const std::vector<float> x = integer_tensor(std::max<int64_t>(pixels, 1) * x_stride, 51);
            const std::vector<float> dy = integer_tensor(std::max<int64_t>(pixels, 1) * dy_stride, 52);
            const std::vector<float> start = integer_tensor(y_size, 53);
            const auto is_y = [&](int64_t i) { return i % y_stride < channels; };
            std::vector<float> y = output_buffer_from(y_size, is_y, accumulate, start);
            OuterProductRows t{};
            t.x = x.data();
            t.dy = dy.data();
            t.y = y.data();
            t.pixels = pixels;
            t.rows = rows;
            t.channels = channels;
            t.x_pixel_stride = x_stride;
            t.dy_pixel_stride = dy_stride;
            t.y_row_stride = y_stride;
            t.accumulate = accumulate;
            k.rows(t);
            const std::string what = std::string(isa_name(isa)) + " channels=" + std::to_string(channels) +
                                     " rows=" + std::to_string(rows) + " pixels=" + std::to_string(pixels) +
                                     (accumulate ? " accumulate" : "");
            for (int64_t i = 0; i < y_size; ++i) {
              if (!is_y(i)) {
                ASSERT_EQ(y[size_t(i)], kSentinel) << what << ": wrote between rows, at " << i;
                continue;
              }
              const int64_t r = i / y_stride, c = i % y_stride;
              double expected = accumulate ? start[size_t(i)] : 0.0;
              for (int64_t q = 0; q < pixels; ++q) {
                expected += double(x[size_t(q * x_stride + r)]) * dy[size_t(q * dy_stride + c)];
              }
              ASSERT_EQ(y[size_t(i)], float(expected)) << what << " row " << r << " channel " << c;
            }
            ASSERT_TRUE(guard_tail_intact(y)) << what;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace convkit::detail
