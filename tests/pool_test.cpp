// Pooling semantics on cases small enough to compute by hand (docs/design.md, "Pooling
// semantics"), run on every pooling backend.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "convkit/convkit.hpp"

namespace convkit {
namespace {

class PoolSemantics : public ::testing::TestWithParam<std::string> {
 protected:
  std::vector<float> forward(const Pool2dParams& p, const std::vector<float>& x) const {
    std::vector<float> y(static_cast<size_t>(p.output_elements()), NAN);
    Pool2d(p, Options{GetParam(), 0, Activation::none}).forward(x.data(), y.data());
    return y;
  }
  std::vector<float> backward(const Pool2dParams& p, const std::vector<float>& x, const std::vector<float>& dy) const {
    std::vector<float> dx(x.size(), NAN);
    Pool2d(p, Options{GetParam(), 0, Activation::none}).backward(x.data(), dy.data(), dx.data());
    return dx;
  }
};

Pool2dParams plane(int64_t h, int64_t w, int64_t window, int64_t stride, PoolMode mode) {
  Pool2dParams p;
  p.in_h = h, p.in_w = w, p.channels = 1, p.window_h = p.window_w = window, p.stride_h = p.stride_w = stride;
  p.mode = mode;
  return p;
}

// The seed notebook's 4x4 example.
const std::vector<float> kSeedPlane = {2, 3, 1, 9, 4, 7, 3, 5, 8, 2, 2, 2, 1, 3, 4, 5};

TEST_P(PoolSemantics, SeedMax) {
  EXPECT_EQ(forward(plane(4, 4, 2, 2, PoolMode::max), kSeedPlane), (std::vector<float>{7, 9, 8, 5}));
}

// The notebook's figure (and issue 2, quoting it) prints 3.25 for the bottom-left window, a
// slip: (8 + 2 + 1 + 3) / 4 = 3.5.
TEST_P(PoolSemantics, SeedAverage) {
  EXPECT_EQ(forward(plane(4, 4, 2, 2, PoolMode::average), kSeedPlane), (std::vector<float>{4, 4.5, 3.5, 3.25}));
}

TEST_P(PoolSemantics, FirstMaximumTakesTheGradient) {
  const auto p = plane(2, 2, 2, 2, PoolMode::max);
  EXPECT_EQ(backward(p, {1, 5, 5, 5}, {3}), (std::vector<float>{0, 3, 0, 0}));
}

TEST_P(PoolSemantics, OverlappingWindowsAddTheirGradients) {
  const auto p = plane(1, 3, 2, 1, PoolMode::max);
  Pool2dParams q = p;
  q.window_h = 1;
  EXPECT_EQ(backward(q, {1, 9, 2}, {10, 20}), (std::vector<float>{0, 30, 0}));
}

TEST_P(PoolSemantics, PaddingNeverWinsAMax) {
  auto p = plane(2, 2, 3, 1, PoolMode::max);
  p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 1;
  const std::vector<float> x = {-4, -3, -2, -1};
  // Output (0,0) sees only x itself in-bounds: its max is -1, never the padding's 0.
  EXPECT_EQ(forward(p, x), (std::vector<float>{-1, -1, -1, -1}));
  EXPECT_EQ(backward(p, x, {1, 1, 1, 1}), (std::vector<float>{0, 0, 0, 4}));
}

TEST_P(PoolSemantics, NaNMakesTheMaxNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const auto p = plane(2, 2, 2, 2, PoolMode::max);
  EXPECT_TRUE(std::isnan(forward(p, {1, nan, 7, 2})[0]));
  EXPECT_TRUE(std::isnan(forward(p, {nan, 1, 7, 2})[0]));
  EXPECT_TRUE(std::isnan(forward(p, {1, 2, 7, nan})[0]));
  EXPECT_EQ(backward(p, {1, nan, 7, nan}, {5}), (std::vector<float>{0, 5, 0, 0}));
}

TEST_P(PoolSemantics, CeilModeDropsAWindowStartingInEndPadding) {
  // in 4, window 2, stride 3, pad 1: windows start at -1 and 2; a third would start at 5,
  // inside the end padding, so ceil_mode keeps two.
  auto p = plane(4, 1, 2, 3, PoolMode::max);
  p.window_w = 1, p.stride_w = 1, p.pad_top = p.pad_bottom = 1, p.ceil_mode = true;
  EXPECT_EQ(p.out_h(), 2);
  // The backend runs the two windows (-1, 0) and (2, 3), and no third.
  EXPECT_EQ(forward(p, {1, 2, 3, 4}), (std::vector<float>{1, 4}));
  EXPECT_EQ(backward(p, {1, 2, 3, 4}, {10, 20}), (std::vector<float>{10, 0, 0, 20}));
  auto q = plane(5, 1, 2, 2, PoolMode::max);
  q.window_w = 1, q.stride_w = 1;
  EXPECT_EQ(q.out_h(), 2);
  q.ceil_mode = true;
  EXPECT_EQ(q.out_h(), 3);
  EXPECT_EQ(forward(q, {1, 2, 3, 4, 5}), (std::vector<float>{2, 4, 5}));
}

TEST_P(PoolSemantics, AverageDivisors) {
  // in 6, window 3, stride 2, pad 1, ceil_mode: windows start at -1, 1, 3, 5; the last runs
  // past the end padding (rows 5..7 of a padded extent ending at 7).
  auto p = plane(6, 1, 3, 2, PoolMode::average);
  p.window_w = 1, p.stride_w = 1, p.pad_top = p.pad_bottom = 1, p.ceil_mode = true;
  ASSERT_EQ(p.out_h(), 4);
  const std::vector<float> x = {6, 12, 18, 24, 30, 36};
  // In-bounds part only.
  EXPECT_EQ(forward(p, x), (std::vector<float>{9, 18, 30, 36}));
  // The window clipped to the padded input: 3, 3, 3, then 2 (row 5 and the pad row 6).
  p.count_include_pad = true;
  EXPECT_EQ(forward(p, x), (std::vector<float>{6, 18, 30, 18}));
  EXPECT_EQ(backward(p, x, {3, 3, 3, 2}), (std::vector<float>{1, 2, 1, 2, 1, 2}));
}

TEST_P(PoolSemantics, WindowLargerThanTheInputWithCeilMode) {
  auto p = plane(2, 2, 3, 2, PoolMode::average);
  p.ceil_mode = true;
  ASSERT_EQ(p.out_h(), 1);
  EXPECT_EQ(forward(p, {1, 2, 3, 6}), (std::vector<float>{3}));
}

INSTANTIATE_TEST_SUITE_P(Registry, PoolSemantics, ::testing::ValuesIn(pool2d_backends()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace convkit
