// The grouped micro-kernels (kernels/grouped_conv.hpp) on their own: every diagonal count and
// pixel count the register budget allows, under every instruction set this CPU has, checked
// against the header's formula with random lane tables (lanes with no term included), input
// lanes past in_lanes holding NaN (they must read as 0), and outputs in sentinel-filled
// buffers (a write past out_channels or between pixels is caught). Small integers make every
// summation order exact.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "isa.hpp"
#include "kernels/grouped_conv.hpp"
#include "support/tensors.hpp"

namespace convkit::detail {
namespace {

using test::integer_tensor;

constexpr float kSentinel = -12345.0f;

std::vector<Isa> isas_here() {
  std::vector<Isa> isas;
  for (Isa isa : kAllIsas) {
    if (isa <= cpu_isa()) isas.push_back(isa);
  }
  return isas;
}

struct GroupedCase {
  int diagonals, pixels;
  int64_t in_lanes, out_channels, taps_h, taps_w;
  bool relu, bias;
};

std::string describe(Isa isa, const GroupedCase& c) {
  return std::string(isa_name(isa)) + " diagonals=" + std::to_string(c.diagonals) +
         " pixels=" + std::to_string(c.pixels) + " in_lanes=" + std::to_string(c.in_lanes) +
         " out_channels=" + std::to_string(c.out_channels) + " taps=" + std::to_string(c.taps_h) + "x" +
         std::to_string(c.taps_w) + (c.relu ? " relu" : "") + (c.bias ? " bias" : "");
}

// x has pixels, and taps (walked backwards down the rows, as backward data does) at distinct
// strides, with NaN in every lane at or past in_lanes; the last vector read ends at x's end.
void check_grouped(Isa isa, const GroupedConvKernels& k, const GroupedCase& c, uint32_t seed) {
  const int64_t lanes = k.lanes, S = c.diagonals;
  const int64_t out_vectors = (c.out_channels + lanes - 1) / lanes;
  // A pixel's kernel rows lie below its first (x_tap_h < 0) and pixels follow one another, no
  // two vectors overlapping, so marking one vector's unread lanes touches no other's.
  const int64_t x_tap_w = lanes + 3, x_tap_h = -(c.taps_w * x_tap_w + 5);
  const int64_t x_pixel_stride = std::max<int64_t>(c.taps_h, 1) * -x_tap_h + 2;
  const int64_t x_origin = c.taps_h > 0 ? (c.taps_h - 1) * -x_tap_h : 0;
  const int64_t x_size = x_origin + (c.pixels - 1) * x_pixel_stride + (c.taps_w > 0 ? (c.taps_w - 1) * x_tap_w : 0) + lanes;
  std::vector<float> x = integer_tensor(x_size, seed);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // Mark the lanes no tap may read: each (pixel, th, tw) vector's lanes >= in_lanes.
  for (int64_t p = 0; p < c.pixels; ++p) {
    for (int64_t th = 0; th < c.taps_h; ++th) {
      for (int64_t tw = 0; tw < c.taps_w; ++tw) {
        const int64_t at = x_origin + p * x_pixel_stride + th * x_tap_h + tw * x_tap_w;
        for (int64_t l = c.in_lanes; l < lanes; ++l) x[size_t(at + l)] = nan;
      }
    }
  }
  const int64_t w_tap_w = S * lanes + lanes, w_tap_h = c.taps_w * w_tap_w + 1;
  const std::vector<float> w = integer_tensor(c.taps_h * w_tap_h + w_tap_w, seed + 1);
  const std::vector<float> bias = integer_tensor(c.out_channels, seed + 2);
  std::mt19937 rng(seed + 3);
  std::uniform_int_distribution<int32_t> lane(-1, int32_t(lanes) - 1);
  std::vector<int32_t> source(size_t(out_vectors * S * lanes));
  for (int32_t& s : source) s = lane(rng);
  const int64_t y_pixel_stride = out_vectors * lanes + 3;
  std::vector<float> y(size_t(c.pixels * y_pixel_stride), kSentinel);

  GroupedConvTile t{};
  t.x = x.data() + x_origin;
  t.w = w.data();
  t.bias = c.bias ? bias.data() : nullptr;
  t.y = y.data();
  t.source = source.data();
  t.pixels = c.pixels;
  t.x_pixel_stride = x_pixel_stride;
  t.y_pixel_stride = y_pixel_stride;
  t.taps_h = c.taps_h;
  t.taps_w = c.taps_w;
  t.x_tap_h = x_tap_h;
  t.x_tap_w = x_tap_w;
  t.w_tap_h = w_tap_h;
  t.w_tap_w = w_tap_w;
  t.in_lanes = c.in_lanes;
  t.out_channels = c.out_channels;
  t.relu = c.relu;
  k.tile[S - 1][c.pixels - 1](t);

  // acc[p][s][l] from the header's formula, in double.
  const auto acc = [&](int64_t p, int64_t s, int64_t l) {
    if (l >= c.in_lanes) return 0.0;
    double sum = 0.0;
    for (int64_t th = 0; th < c.taps_h; ++th) {
      for (int64_t tw = 0; tw < c.taps_w; ++tw) {
        sum += double(t.x[p * x_pixel_stride + th * x_tap_h + tw * x_tap_w + l]) *
               w[size_t(th * w_tap_h + tw * w_tap_w + s * lanes + l)];
      }
    }
    return sum;
  };
  for (int64_t p = 0; p < c.pixels; ++p) {
    for (int64_t q = 0; q < y_pixel_stride; ++q) {
      const float got = y[size_t(p * y_pixel_stride + q)];
      if (q >= c.out_channels) {
        ASSERT_EQ(got, kSentinel) << describe(isa, c) << ": wrote pixel " << p << " channel " << q;
        continue;
      }
      double expected = c.bias ? bias[size_t(q)] : 0.0;
      const int64_t v = q / lanes, l = q % lanes;
      for (int64_t s = 0; s < S; ++s) {
        const int32_t from = source[size_t((v * S + s) * lanes + l)];
        if (from >= 0) expected += acc(p, s, from);
      }
      if (c.relu && expected < 0.0) expected = 0.0;
      ASSERT_EQ(got, float(expected)) << describe(isa, c) << ": pixel " << p << " channel " << q;
    }
  }
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

}  // namespace
}  // namespace convkit::detail
