// The grouped micro-kernels (kernels/grouped_conv.hpp) on their own: every diagonal count and
// pixel (or, backward weights, tap; the paired tile, pixel; the pair tile, a range of pair
// counts) count the register budget allows, under every instruction set this CPU has, checked
// against the header's formula with random lane tables (lanes with no term included), input
// lanes past in_lanes holding NaN (they must read as 0), and outputs in sentinel-filled
// buffers (a write past out_channels or between pixels is caught). Small integers make every
// summation order exact.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "isa.hpp"
#include "kernels/grouped_conv.hpp"
#include "support/kernel_isas.hpp"
#include "support/tensors.hpp"

namespace convkit::detail {
namespace {

using test::integer_tensor;
using test::isas_here;
using test::kSentinel;
using test::outputs_match;

// Input taps as the tiles walk them in backward data (down the rows backwards): pixels one
// after another, each tap's `floats` inputs followed by `gap` floats of its own and no two taps
// overlapping, so marking a tap's unread floats touches no other's.
struct TapLayout {
  int64_t tap_w, tap_h, pixel_stride, origin, size;
};
TapLayout tap_layout(int64_t pixels, int64_t taps_h, int64_t taps_w, int64_t floats, int64_t gap) {
  TapLayout x;
  x.tap_w = floats + 3;
  x.tap_h = -(taps_w * x.tap_w + 5);
  x.pixel_stride = std::max<int64_t>(taps_h, 1) * -x.tap_h + 2;
  x.origin = taps_h > 0 ? (taps_h - 1) * -x.tap_h : 0;
  x.size = x.origin + (pixels - 1) * x.pixel_stride + std::max<int64_t>(taps_w - 1, 0) * x.tap_w + floats + gap;
  return x;
}

// NaN in floats [begin, end) of every tap of every pixel (lanes a tile must not read).
void mark_unread(std::vector<float>& x, const TapLayout& at, int64_t pixels, int64_t taps_h, int64_t taps_w,
                 int64_t begin, int64_t end) {
  for (int64_t p = 0; p < pixels; ++p) {
    for (int64_t th = 0; th < taps_h; ++th) {
      for (int64_t tw = 0; tw < taps_w; ++tw) {
        const int64_t tap = at.origin + p * at.pixel_stride + th * at.tap_h + tw * at.tap_w;
        for (int64_t i = begin; i < end; ++i) x[size_t(tap + i)] = std::numeric_limits<float>::quiet_NaN();
      }
    }
  }
}

// A tile call's pointers and strides over x laid out as `at`, every other field zero.
GroupedConvTile tile_over(const TapLayout& at, const std::vector<float>& x, const float* w, int64_t w_tap_h,
                          int64_t w_tap_w, const float* bias, std::vector<float>& y, int64_t y_pixel_stride,
                          int64_t pixels, int64_t taps_h, int64_t taps_w, int64_t out_channels, bool relu) {
  GroupedConvTile t{};
  t.x = x.data() + at.origin;
  t.w = w;
  t.bias = bias;
  t.y = y.data();
  t.pixels = pixels;
  t.x_pixel_stride = at.pixel_stride;
  t.y_pixel_stride = y_pixel_stride;
  t.taps_h = taps_h;
  t.taps_w = taps_w;
  t.x_tap_h = at.tap_h;
  t.x_tap_w = at.tap_w;
  t.w_tap_h = w_tap_h;
  t.w_tap_w = w_tap_w;
  t.out_channels = out_channels;
  t.activation = relu ? Activation::relu : Activation::none;
  return t;
}

struct GroupedCase {
  int diagonals, pixels;
  int64_t in_lanes, out_channels, taps_h, taps_w;
  bool relu, bias;
  bool per_input = false;  // tile_per_input, its input vector s for accumulator s
  int64_t terms = 1;
  bool xor_lanes = false;  // tile_xor (no source table; out_channels <= lanes)
  bool gather = false;     // tile_gather (likewise)
};

std::string describe(Isa isa, const GroupedCase& c) {
  return std::string(isa_name(isa)) + " diagonals=" + std::to_string(c.diagonals) +
         " pixels=" + std::to_string(c.pixels) + " in_lanes=" + std::to_string(c.in_lanes) +
         " out_channels=" + std::to_string(c.out_channels) + " taps=" + std::to_string(c.taps_h) + "x" +
         std::to_string(c.taps_w) + (c.relu ? " relu" : "") + (c.bias ? " bias" : "") +
         (c.per_input ? " per-input" : "") + (c.xor_lanes ? " xor" : "") + (c.gather ? " gather" : "") + " terms=" + std::to_string(c.terms);
}

// x laid out by tap_layout, with NaN in every lane at or past in_lanes; the last vector read
// ends at x's end.
void check_grouped(Isa isa, const GroupedConvKernels& k, const GroupedCase& c, uint32_t seed) {
  const int64_t lanes = k.lanes, S = c.diagonals, inputs = c.per_input ? S : 1;
  const int64_t out_vectors = (c.out_channels + lanes - 1) / lanes;
  const TapLayout at = tap_layout(c.pixels, c.taps_h, c.taps_w, inputs * lanes, 0);
  const int64_t x_tap_w = at.tap_w, x_tap_h = at.tap_h, x_pixel_stride = at.pixel_stride;
  std::vector<float> x = integer_tensor(at.size, seed);
  mark_unread(x, at, c.pixels, c.taps_h, c.taps_w, c.in_lanes, inputs * lanes);
  const int64_t w_tap_w = S * lanes + lanes, w_tap_h = c.taps_w * w_tap_w + 1;
  const std::vector<float> w = integer_tensor(c.taps_h * w_tap_h + w_tap_w, seed + 1);
  const std::vector<float> bias = integer_tensor(c.out_channels, seed + 2);
  std::mt19937 rng(seed + 3);
  std::uniform_int_distribution<int32_t> lane(-1, int32_t(lanes) - 1);
  std::vector<int32_t> source(size_t(out_vectors * S * c.terms * lanes));
  for (int32_t& s : source) s = lane(rng);
  const int64_t y_pixel_stride = out_vectors * lanes + 3;
  std::vector<float> y(size_t(c.pixels * y_pixel_stride), kSentinel);

  GroupedConvTile t = tile_over(at, x, w.data(), w_tap_h, w_tap_w, c.bias ? bias.data() : nullptr, y, y_pixel_stride,
                                c.pixels, c.taps_h, c.taps_w, c.out_channels, c.relu);
  t.source = source.data();
  t.terms = c.terms;
  t.in_lanes = c.in_lanes;
  (c.per_input ? k.tile_per_input : c.xor_lanes ? k.tile_xor : c.gather ? k.tile_gather : k.tile)[S - 1][c.pixels - 1](t);

  // acc[p][s][l] from the header's formula, in double.
  const auto acc = [&](int64_t p, int64_t s, int64_t l) {
    const int64_t e = c.per_input ? s : 0;
    if (e * lanes + l >= c.in_lanes) return 0.0;
    double sum = 0.0;
    for (int64_t th = 0; th < c.taps_h; ++th) {
      for (int64_t tw = 0; tw < c.taps_w; ++tw) {
        sum += double(t.x[p * x_pixel_stride + th * x_tap_h + tw * x_tap_w + e * lanes + l]) *
               w[size_t(th * w_tap_h + tw * w_tap_w + s * lanes + l)];
      }
    }
    return sum;
  };
  // tile_xor's sums: xor_sum(p, s, b, l) is acc[p][s][l] after the folds of bits below b.
  const std::function<double(int64_t, int64_t, int64_t, int64_t)> xor_sum = [&](int64_t p, int64_t s, int64_t b,
                                                                                int64_t l) {
    if (b == 1) return acc(p, s, l);
    return xor_sum(p, s, b / 2, l) + xor_sum(p, s + b / 2, b / 2, l ^ (b / 2));
  };
  const auto expected_at = [&](int64_t p, int64_t q) {
    double expected = c.bias ? bias[size_t(q)] : 0.0;
    if (c.xor_lanes || c.gather) {
      // tile_gather: input lane q XOR s times the weight in lane q, for every diagonal s.
      for (int64_t s = 0; s < S && c.gather; ++s) {
        for (int64_t th = 0; th < c.taps_h; ++th) {
          for (int64_t tw = 0; tw < c.taps_w; ++tw) {
            if ((q ^ s) >= c.in_lanes) continue;
            expected += double(t.x[p * x_pixel_stride + th * x_tap_h + tw * x_tap_w + (q ^ s)]) *
                        w[size_t(th * w_tap_h + tw * w_tap_w + s * lanes + q)];
          }
        }
      }
      if (c.xor_lanes) expected += xor_sum(p, 0, S, q);
    } else {
      const int64_t v = q / lanes, l = q % lanes;
      for (int64_t s = 0; s < S; ++s) {
        for (int64_t term = 0; term < c.terms; ++term) {
          const int32_t from = source[size_t(((v * S + s) * c.terms + term) * lanes + l)];
          if (from >= 0) expected += acc(p, s, from);
        }
      }
    }
    if (c.relu && expected < 0.0) expected = 0.0;
    return expected;
  };
  EXPECT_TRUE(outputs_match(y, c.pixels, y_pixel_stride, c.out_channels, expected_at)) << describe(isa, c);
}

TEST(GroupedConvTile, EveryShapeEveryIsa) {
  uint32_t seed = 1;
  for (Isa isa : isas_here()) {
    const GroupedConvKernels& k = kernels<GroupedConvKernels>(isa);
    const int64_t lanes = k.lanes;
    for (int diagonals = 2; diagonals <= kMaxGroupedDiagonals; ++diagonals) {
      const int widest = k.max_pixels[diagonals - 1];
      ASSERT_GE(widest, 1);
      ASSERT_LE(widest, kMaxGroupedPixels);
      for (int pixels = 1; pixels <= widest; ++pixels) {
        ASSERT_NE(k.tile[diagonals - 1][pixels - 1], nullptr) << isa_name(isa) << " " << diagonals << "x" << pixels;
        // Full and partial input vectors; one, several and partial output vectors.
        check_grouped(isa, k, {diagonals, pixels, lanes, lanes, 3, 3, false, true}, seed++);
        check_grouped(isa, k, {diagonals, pixels, lanes - 1, 2 * lanes - 3, 1, 2, true, true}, seed++);
        // Per input vector: all of them full, the last partial, the last ones unread.
        check_grouped(isa, k, {diagonals, pixels, diagonals * lanes, lanes, 3, 3, false, true, true, diagonals}, seed++);
        check_grouped(isa, k, {diagonals, pixels, diagonals * lanes - 1, lanes - 2, 2, 1, true, true, true, 2}, seed++);
        check_grouped(isa, k, {diagonals, pixels, lanes + 1, lanes, 1, 3, false, false, true, 3}, seed++);
      }
      // Around the register block: the widest tile and one under it, empty tap windows
      // (padding only: bias alone), no bias, single lanes.
      for (int pixels : {widest, widest > 1 ? widest - 1 : 1}) {
        check_grouped(isa, k, {diagonals, pixels, 1, 3 * lanes, 3, 1, true, false}, seed++);
        check_grouped(isa, k, {diagonals, pixels, lanes / 2, 1, 2, 3, false, true}, seed++);
        check_grouped(isa, k, {diagonals, pixels, lanes, lanes + 1, 0, 3, true, true}, seed++);
        check_grouped(isa, k, {diagonals, pixels, lanes, lanes, 3, 0, false, true}, seed++);
      }
    }
  }
}

// tile_xor and tile_gather, where they exist (a power of two of diagonals, two groups or more per vector):
// full and partial inputs and outputs (a partial block), every pixel count, empty tap windows.
TEST(GroupedXorTile, EveryShapeEveryIsa) {
  uint32_t seed = 1000;
  for (Isa isa : isas_here()) {
    const GroupedConvKernels& k = kernels<GroupedConvKernels>(isa);
    const int64_t lanes = k.lanes;
    for (int diagonals = 2; diagonals <= kMaxGroupedDiagonals; ++diagonals) {
      const bool exists = (diagonals & (diagonals - 1)) == 0 && 2 * diagonals <= lanes;
      for (int pixels = 1; pixels <= kMaxGroupedPixels; ++pixels) {
        const bool in_budget = pixels <= k.max_pixels[diagonals - 1];
        ASSERT_EQ(k.tile_xor[diagonals - 1][pixels - 1] != nullptr, exists && in_budget)
            << isa_name(isa) << " " << diagonals << "x" << pixels;
        ASSERT_EQ(k.tile_gather[diagonals - 1][pixels - 1] != nullptr, exists && in_budget)
            << isa_name(isa) << " " << diagonals << "x" << pixels;
        if (!exists || !in_budget) continue;
        const auto xor_case = [&](int64_t in_lanes, int64_t out_channels, int64_t taps_h, int64_t taps_w, bool relu,
                                  bool bias) {
          GroupedCase c{diagonals, pixels, in_lanes, out_channels, taps_h, taps_w, relu, bias};
          c.xor_lanes = true;
          check_grouped(isa, k, c, seed++);
          c.xor_lanes = false;
          c.gather = true;
          check_grouped(isa, k, c, seed++);
        };
        xor_case(lanes, lanes, 3, 3, false, true);
        xor_case(lanes - diagonals, lanes - diagonals, 1, 2, true, true);
        xor_case(diagonals, diagonals, 2, 3, false, false);
        xor_case(lanes, lanes, 0, 3, true, true);
        xor_case(lanes, lanes - 1, 3, 0, false, true);
      }
    }
  }
}

// tile_paired: one group of up to 8 outputs from 8 inputs in lane pairs, every pixel count,
// on every instruction set that has it (AVX2 and up); x laid out by tap_layout with NaN right
// after each tap's 8 inputs (read past them, it would show), partial outputs,
// empty tap windows, with and without bias and ReLU.
struct PairedCase {
  int pixels;
  int64_t out_channels, taps_h, taps_w;
  bool relu, bias;
};

void check_paired(Isa isa, const GroupedConvKernels& k, const PairedCase& c, uint32_t seed) {
  const std::string what = std::string(isa_name(isa)) + " pixels=" + std::to_string(c.pixels) +
                           " out_channels=" + std::to_string(c.out_channels) + " taps=" + std::to_string(c.taps_h) +
                           "x" + std::to_string(c.taps_w) + (c.relu ? " relu" : "") + (c.bias ? " bias" : "");
  constexpr int64_t inputs = 8;
  const TapLayout at = tap_layout(c.pixels, c.taps_h, c.taps_w, inputs, 1);
  const int64_t x_tap_w = at.tap_w, x_tap_h = at.tap_h, x_pixel_stride = at.pixel_stride;
  std::vector<float> x = integer_tensor(at.size, seed);
  mark_unread(x, at, c.pixels, c.taps_h, c.taps_w, inputs, inputs + 1);
  const int64_t w_tap_w = 4 * 16 + 5, w_tap_h = c.taps_w * w_tap_w + 3;
  const std::vector<float> w = integer_tensor(std::max<int64_t>(c.taps_h, 1) * w_tap_h, seed + 1);
  const std::vector<float> bias = integer_tensor(c.out_channels, seed + 2);
  const int64_t y_pixel_stride = 8 + 3;
  std::vector<float> y(size_t(c.pixels * y_pixel_stride), kSentinel);

  GroupedConvTile t = tile_over(at, x, w.data(), w_tap_h, w_tap_w, c.bias ? bias.data() : nullptr, y, y_pixel_stride,
                                c.pixels, c.taps_h, c.taps_w, c.out_channels, c.relu);
  t.steps = inputs / 2;
  k.tile_paired[c.pixels - 1](t);

  // The header's formula: output o(q) = 4*((q%8)/4) + 2*(q/8) + (q%4)/2 sums lanes q and q + 1.
  const auto expected_at = [&](int64_t p, int64_t o) {
    int64_t q = 0;
    while (4 * (q % 8 / 4) + 2 * (q / 8) + q % 4 / 2 != o) q += 2;
    double expected = c.bias ? bias[size_t(o)] : 0.0;
    for (int64_t th = 0; th < c.taps_h; ++th) {
      for (int64_t tw = 0; tw < c.taps_w; ++tw) {
        for (int64_t j = 0; j < inputs; ++j) {
          expected += double(t.x[p * x_pixel_stride + th * x_tap_h + tw * x_tap_w + j]) *
                      w[size_t(th * w_tap_h + tw * w_tap_w + 16 * (j / 2) + q + j % 2)];
        }
      }
    }
    if (c.relu && expected < 0.0) expected = 0.0;
    return expected;
  };
  EXPECT_TRUE(outputs_match(y, c.pixels, y_pixel_stride, c.out_channels, expected_at)) << what;
}

// tile_pairs, where tile_xor exists: 3 and 5 taps, one to a dozen pairs, zero to three
// kernel rows walked backwards as in backward data, whole and partial blocks; every input
// lane at or past `channels` NaN (it must read as 0), y in a sentinel-filled buffer.
struct PairCase {
  int diagonals;
  int64_t pairs, taps_h, taps_w, channels;
};

void check_pairs(Isa isa, const GroupedConvKernels& k, const PairCase& c, uint32_t seed) {
  const std::string what = std::string(isa_name(isa)) + " diagonals=" + std::to_string(c.diagonals) +
                           " pairs=" + std::to_string(c.pairs) + " taps=" + std::to_string(c.taps_h) + "x" +
                           std::to_string(c.taps_w) + " channels=" + std::to_string(c.channels);
  const int64_t lanes = k.lanes, S = c.diagonals, window = (c.taps_w + 1) / 2;
  // Input columns 1 - window .. pairs - 1 of every kernel row, rows stepping backwards.
  const int64_t columns = c.pairs + window - 1, x_pixel_stride = lanes + 3;
  const int64_t x_tap_h = -(columns * x_pixel_stride + 5);
  const int64_t rows = std::max<int64_t>(c.taps_h, 1);
  std::vector<float> x = integer_tensor(rows * -x_tap_h, seed);
  const int64_t origin = (rows - 1) * -x_tap_h + (window - 1) * x_pixel_stride;
  for (int64_t th = 0; th < c.taps_h; ++th) {
    for (int64_t i = 1 - window; i < c.pairs; ++i) {
      for (int64_t l = c.channels; l < lanes; ++l) {
        x[size_t(origin + th * x_tap_h + i * x_pixel_stride + l)] = std::numeric_limits<float>::quiet_NaN();
      }
    }
  }
  const int64_t w_tap_w = S * lanes + 5, w_tap_h = c.taps_w * w_tap_w + 1;
  const std::vector<float> w = integer_tensor(rows * w_tap_h, seed + 1);
  const int64_t y_pixel_stride = lanes + 2;
  std::vector<float> y(size_t(2 * c.pairs * y_pixel_stride), kSentinel);

  PhasePairTile t{};
  t.x = x.data() + origin;
  t.w = w.data();
  t.y = y.data();
  t.pairs = c.pairs;
  t.taps_h = c.taps_h;
  t.taps_w = c.taps_w;
  t.x_pixel_stride = x_pixel_stride;
  t.y_pixel_stride = y_pixel_stride;
  t.x_tap_h = x_tap_h;
  t.w_tap_h = w_tap_h;
  t.w_tap_w = w_tap_w;
  t.channels = c.channels;
  k.tile_pairs[S - 1](t);

  const auto expected_at = [&](int64_t o, int64_t q) {
    const int64_t m = o / 2;
    double expected = 0.0;
    for (int64_t th = 0; th < c.taps_h; ++th) {
      for (int64_t kw = o % 2; kw < c.taps_w; kw += 2) {
        for (int64_t s = 0; s < S; ++s) {
          if ((q ^ s) >= c.channels) continue;
          expected += double(t.x[th * x_tap_h + (m - kw / 2) * x_pixel_stride + (q ^ s)]) *
                      w[size_t(th * w_tap_h + kw * w_tap_w + s * lanes + q)];
        }
      }
    }
    return expected;
  };
  EXPECT_TRUE(outputs_match(y, 2 * c.pairs, y_pixel_stride, c.channels, expected_at)) << what;
}

TEST(GroupedPairKernel, EveryShapeEveryIsa) {
  uint32_t seed = 500;
  for (Isa isa : isas_here()) {
    const GroupedConvKernels& k = kernels<GroupedConvKernels>(isa);
    const int64_t lanes = k.lanes;
    for (int diagonals = 2; diagonals <= kMaxGroupedDiagonals; ++diagonals) {
      const bool exists = k.tile_xor[diagonals - 1][0] != nullptr;
      ASSERT_EQ(k.tile_pairs[diagonals - 1] != nullptr, exists) << isa_name(isa) << " " << diagonals;
      if (!exists) continue;
      for (int64_t pairs : {1, 2, 3, 7, 12}) {
        for (int64_t taps_w : {3, 5}) {
          check_pairs(isa, k, {diagonals, pairs, 2, taps_w, lanes}, seed++);
          check_pairs(isa, k, {diagonals, pairs, 1, taps_w, lanes - diagonals}, seed++);
          check_pairs(isa, k, {diagonals, pairs, 3, taps_w, diagonals}, seed++);
          check_pairs(isa, k, {diagonals, pairs, 0, taps_w, lanes}, seed++);
        }
      }
    }
  }
}

TEST(GroupedPairedTile, EveryWidthEveryIsa) {
  uint32_t seed = 300;
  for (Isa isa : isas_here()) {
    const GroupedConvKernels& k = kernels<GroupedConvKernels>(isa);
    if (isa == Isa::sse2) {
      EXPECT_EQ(k.paired_max_pixels, 0) << "SSE2 has no paired tile";
      continue;
    }
    ASSERT_GE(k.paired_max_pixels, 1) << isa_name(isa);
    ASSERT_LE(k.paired_max_pixels, kMaxGroupedPixels) << isa_name(isa);
    for (int pixels = 1; pixels <= k.paired_max_pixels; ++pixels) {
      ASSERT_NE(k.tile_paired[pixels - 1], nullptr) << isa_name(isa) << " " << pixels;
      check_paired(isa, k, {pixels, 8, 3, 3, false, true}, seed++);
      check_paired(isa, k, {pixels, 8, 2, 1, true, true}, seed++);
      check_paired(isa, k, {pixels, 5, 1, 3, true, false}, seed++);
      check_paired(isa, k, {pixels, 8, 1, 1, false, false}, seed++);
      check_paired(isa, k, {pixels, 7, 0, 3, true, true}, seed++);
    }
  }
}

// Backward weights' first step: dy's diagonals from random lane tables over one to several
// vectors (the last partial, its lanes past out_channels NaN: they must read as 0).
TEST(GroupedSpread, EveryVectorCountEveryIsa) {
  uint32_t seed = 100;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (Isa isa : isas_here()) {
    const GroupedConvKernels& k = kernels<GroupedConvKernels>(isa);
    const int64_t lanes = k.lanes;
    for (int diagonals = 2; diagonals <= kMaxGroupedDiagonals; ++diagonals) {
      for (int64_t out_channels : {lanes, lanes - 1, 2 * lanes + 1, 3 * lanes}) {
        const std::string what = std::string(isa_name(isa)) + " diagonals=" + std::to_string(diagonals) +
                                 " out_channels=" + std::to_string(out_channels);
        const int64_t vectors = (out_channels + lanes - 1) / lanes, pixels = 5, stride = vectors * lanes + 2;
        std::vector<float> dy = integer_tensor((pixels - 1) * stride + vectors * lanes, seed++);
        for (int64_t p = 0; p < pixels; ++p) {
          for (int64_t q = out_channels; q < vectors * lanes; ++q) dy[size_t(p * stride + q)] = nan;
        }
        std::mt19937 rng(seed++);
        std::uniform_int_distribution<int32_t> lane(-1, int32_t(lanes) - 1);
        std::vector<int32_t> source(size_t(vectors * diagonals * lanes));
        for (int32_t& s : source) s = lane(rng);
        std::vector<float> out(size_t(pixels * diagonals * lanes), kSentinel);
        GroupedSpread g{};
        g.dy = dy.data();
        g.out = out.data();
        g.source = source.data();
        g.pixels = pixels;
        g.dy_pixel_stride = stride;
        g.out_channels = out_channels;
        k.spread[diagonals - 1](g);
        for (int64_t p = 0; p < pixels; ++p) {
          for (int64_t s = 0; s < diagonals; ++s) {
            for (int64_t l = 0; l < lanes; ++l) {
              double expected = 0.0;
              for (int64_t v = 0; v < vectors; ++v) {
                const int32_t from = source[size_t((v * diagonals + s) * lanes + l)];
                if (from >= 0 && v * lanes + from < out_channels) expected += dy[size_t(p * stride + v * lanes + from)];
              }
              ASSERT_EQ(out[size_t((p * diagonals + s) * lanes + l)], float(expected))
                  << what << ": pixel " << p << " diagonal " << s << " lane " << l;
            }
          }
        }
      }
    }
  }
}

// Backward weights' second step: every diagonal and tap count, taps at scattered offsets, a
// rectangle of pixels walked with distinct strides, sums accumulated onto what they held, and
// input lanes past in_lanes NaN.
TEST(GroupedWeightGrad, EveryShapeEveryIsa) {
  uint32_t seed = 200;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (Isa isa : isas_here()) {
    const GroupedConvKernels& k = kernels<GroupedConvKernels>(isa);
    const int64_t lanes = k.lanes;
    for (int diagonals = 2; diagonals <= kMaxGroupedDiagonals; ++diagonals) {
      ASSERT_GE(k.max_taps[diagonals - 1], 1);
      ASSERT_LE(k.max_taps[diagonals - 1], kMaxGroupedGradTaps);
      for (int taps = 1; taps <= k.max_taps[diagonals - 1]; ++taps) {
        ASSERT_NE(k.weight_grad[diagonals - 1][taps - 1], nullptr) << isa_name(isa) << " " << diagonals << "x" << taps;
        for (int64_t in_lanes : {lanes, lanes - 1}) {
          const std::string what = std::string(isa_name(isa)) + " diagonals=" + std::to_string(diagonals) +
                                   " taps=" + std::to_string(taps) + " in_lanes=" + std::to_string(in_lanes);
          const int64_t rows = 3, cols = 4;
          // Each pixel's taps lie in a slot of their own: tap t at t*(lanes+1), a pixel's slot
          // taps*(lanes+1)+3 wide, pixels along a row, rows after rows.
          const int64_t tap_step = lanes + 1, x_col_stride = taps * tap_step + 3, x_row_stride = cols * x_col_stride + 1;
          std::vector<float> x = integer_tensor(rows * x_row_stride, seed++);
          std::vector<int64_t> x_offset, sum_offset;
          for (int64_t t = 0; t < taps; ++t) {
            x_offset.push_back(t * tap_step);
            sum_offset.push_back((taps - 1 - t) * (diagonals * lanes + 2));  // reversed, with gaps
          }
          for (int64_t r = 0; r < rows; ++r) {
            for (int64_t c = 0; c < cols; ++c) {
              for (int64_t t = 0; t < taps; ++t) {
                for (int64_t l = in_lanes; l < lanes; ++l) x[size_t(r * x_row_stride + c * x_col_stride + x_offset[size_t(t)] + l)] = nan;
              }
            }
          }
          const int64_t dy_col_stride = diagonals * lanes + 1, dy_row_stride = cols * dy_col_stride + 2;
          const std::vector<float> dy = integer_tensor(rows * dy_row_stride, seed++);
          const std::vector<float> start = integer_tensor(taps * (diagonals * lanes + 2), seed++);
          std::vector<float> sums = start;
          GroupedWeightGradTile t{};
          t.x = x.data();
          t.dy = dy.data();
          t.sums = sums.data();
          t.x_offset = x_offset.data();
          t.sum_offset = sum_offset.data();
          t.rows = rows;
          t.cols = cols;
          t.x_row_stride = x_row_stride;
          t.x_col_stride = x_col_stride;
          t.dy_row_stride = dy_row_stride;
          t.dy_col_stride = dy_col_stride;
          t.in_lanes = in_lanes;
          k.weight_grad[diagonals - 1][taps - 1](t);
          for (int64_t tap = 0; tap < taps; ++tap) {
            for (int64_t s = 0; s < diagonals; ++s) {
              for (int64_t l = 0; l < lanes; ++l) {
                const int64_t at = sum_offset[size_t(tap)] + s * lanes + l;
                double expected = start[size_t(at)];
                for (int64_t r = 0; r < rows && l < in_lanes; ++r) {
                  for (int64_t c = 0; c < cols; ++c) {
                    expected += double(x[size_t(r * x_row_stride + c * x_col_stride + x_offset[size_t(tap)] + l)]) *
                                dy[size_t(r * dy_row_stride + c * dy_col_stride + s * lanes + l)];
                  }
                }
                ASSERT_EQ(sums[size_t(at)], float(expected)) << what << ": tap " << tap << " diagonal " << s << " lane " << l;
              }
            }
            // The gap after each tap's sums is left alone.
            const int64_t gap = sum_offset[size_t(tap)] + diagonals * lanes;
            ASSERT_EQ(sums[size_t(gap)], start[size_t(gap)]) << what;
            ASSERT_EQ(sums[size_t(gap + 1)], start[size_t(gap + 1)]) << what;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace convkit::detail
