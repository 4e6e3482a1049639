// The seed notebook's printed numbers (shared/seed/EXPECTED.md), reproduced by the reference
// backend from the same numpy random streams.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "convkit/convkit.hpp"
#include "support/numpy_random.hpp"

namespace convkit {
namespace {

using test::NumpyRandom;

std::vector<float> to_float(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }

double mean(const std::vector<float>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0, [](double s, float e) { return s + e; }) / double(v.size());
}

// 1e-5 relative, as a float32 library should reach on these float64 figures.
void expect_close(double actual, double expected) { EXPECT_NEAR(actual, expected, 1e-5 * std::fabs(expected) + 1e-7); }

const Options kReference{"naive", 0, Activation::none};

TEST(Seed, RandnMatchesNumpy) {
  NumpyRandom rng(1);
  const auto x = rng.randn(4 * 3 * 3 * 2);
  // x[1,1] of randn(4,3,3,2): three pixels of two channels, exactly numpy's float64 values.
  const double expected[] = {0.9008559492644118, -0.6837278591743331, -0.12289022551864817,
                             -0.9357694342590688, -0.2678880796260159, 0.530355466738186};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(x[(1 * 3 + 1) * 3 * 2 + i], expected[i]) << i;
}

TEST(Seed, ZeroPadIsAConvolutionWithTheIdentity) {
  NumpyRandom rng(1);
  const auto x = to_float(rng.randn(4 * 3 * 3 * 2));
  Conv2dParams p;
  p.batch = 4, p.in_h = 3, p.in_w = 3, p.in_c = 2, p.out_c = 2;
  p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 2;
  const std::vector<float> identity = {1, 0, 0, 1};
  std::vector<float> y(static_cast<size_t>(p.output_elements()), NAN);
  Conv2d(p, kReference).forward(x.data(), identity.data(), nullptr, y.data());
  ASSERT_EQ(p.out_h(), 7);
  ASSERT_EQ(p.out_w(), 7);
  for (int i = 0; i < 7 * 2; ++i) EXPECT_EQ(y[(1 * 7 + 1) * 7 * 2 + i], 0.0f);  // x_pad[1,1] is padding
  for (int64_t n = 0; n < 4; ++n) {
    for (int64_t h = 0; h < 3; ++h) {
      for (int64_t w = 0; w < 3; ++w) {
        for (int64_t c = 0; c < 2; ++c) {
          EXPECT_EQ(y[((n * 7 + h + 2) * 7 + w + 2) * 2 + c], x[((n * 3 + h) * 3 + w) * 2 + c]);
        }
      }
    }
  }
}

TEST(Seed, SingleWindowIsOneOutput) {
  NumpyRandom rng(1);
  const auto a = to_float(rng.randn(4 * 4 * 3));
  const auto w = to_float(rng.randn(4 * 4 * 3));
  const auto b = to_float(rng.randn(1));
  Conv2dParams p;
  p.in_h = 4, p.in_w = 4, p.in_c = 3, p.out_c = 1, p.kernel_h = 4, p.kernel_w = 4;
  float y = NAN;
  Conv2d(p, kReference).forward(a.data(), w.data(), b.data(), &y);
  expect_close(y, -6.999089450680221);
}

// Cases 3 and 4: A_prev (10,4,4,3), W (2,2,3,8), b (8), pad 2, stride 2.
struct SeedConv {
  Conv2dParams p;
  std::vector<float> x, w, b, y;
  SeedConv() {
    p.batch = 10, p.in_h = 4, p.in_w = 4, p.in_c = 3, p.out_c = 8, p.kernel_h = 2, p.kernel_w = 2;
    p.stride_h = p.stride_w = 2;
    p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 2;
    NumpyRandom rng(1);
    x = to_float(rng.randn(10 * 4 * 4 * 3));
    w = to_float(rng.randn(2 * 2 * 3 * 8));
    b = to_float(rng.randn(8));
    y.assign(static_cast<size_t>(p.output_elements()), NAN);
    Conv2d(p, kReference).forward(x.data(), w.data(), b.data(), y.data());
  }
};

TEST(Seed, ConvForward) {
  SeedConv s;
  ASSERT_EQ(s.p.out_h(), 4);
  ASSERT_EQ(s.p.out_w(), 4);
  expect_close(mean(s.y), 0.048995203528855794);
  const double z321[] = {-0.6149074114497312, -6.743923604750415, -2.5515389700232336, 1.7569837711381528,
                         3.5620890156996277,  0.5303643704176972, 5.1853179849585525,  8.758984418742205};
  for (int c = 0; c < 8; ++c) expect_close(s.y[((3 * 4 + 2) * 4 + 1) * 8 + c], z321[c]);
  const double a123[] = {-0.20075807, 0.18656139, 0.41005165};
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(s.x[((1 * 4 + 2) * 4 + 3) * 3 + c], a123[c], 1e-7);  // printed to 8 digits, held in float
}

TEST(Seed, ConvBackward) {
  SeedConv s;
  const Conv2d conv(s.p, kReference);
  std::vector<float> dx(s.x.size(), NAN), dw(s.w.size(), NAN), db(8, NAN);
  conv.backward_data(s.y.data(), s.w.data(), dx.data());
  conv.backward_weights(s.x.data(), s.y.data(), dw.data(), db.data());
  expect_close(mean(dx), 1.4524377775388075);
  expect_close(mean(dw), 1.7269914583139097);
  expect_close(mean(db), 7.839232564616838);
}

TEST(Seed, PoolForward) {
  NumpyRandom rng(1);
  const auto x = to_float(rng.randn(2 * 4 * 4 * 3));
  Pool2dParams p;
  p.batch = 2, p.in_h = 4, p.in_w = 4, p.channels = 3, p.window_h = p.window_w = 3, p.stride_h = p.stride_w = 2;
  ASSERT_EQ(p.out_h(), 1);
  const double max_expected[] = {1.74481176421648,  0.8654076293246785, 1.1337694423354374,
                                 1.131629387451427, 1.5198168164221988, 2.1855754065331614};
  const double avg_expected[] = {0.02105772715462664,  -0.20328805548665058, -0.40389855164283966,
                                 -0.22154621411626646, 0.5171652566511487,   0.48155844139845133};
  for (PoolMode mode : {PoolMode::max, PoolMode::average}) {
    p.mode = mode;
    std::vector<float> y(6, NAN);
    Pool2d(p, kReference).forward(x.data(), y.data());
    for (int i = 0; i < 6; ++i) expect_close(y[i], mode == PoolMode::max ? max_expected[i] : avg_expected[i]);
  }
}

TEST(Seed, PoolBackward) {
  NumpyRandom rng(1);
  const auto x = to_float(rng.randn(5 * 5 * 3 * 2));
  const auto dy = to_float(rng.randn(5 * 4 * 2 * 2));
  expect_close(mean(dy), 0.14571390272918056);
  Pool2dParams p;
  p.batch = 5, p.in_h = 5, p.in_w = 3, p.channels = 2, p.window_h = p.window_w = 2;
  ASSERT_EQ(p.out_h(), 4);
  ASSERT_EQ(p.out_w(), 2);
  const double max_expected[] = {0, 0, 5.058443935342465, -1.6828270215556507, 0, 0};
  const double avg_expected[] = {0.08485462489158352, 0.2787551982460382, 1.2646109838356163,
                                 -0.2574937269055999, 1.179756358944033,  -0.5362489251516381};
  for (PoolMode mode : {PoolMode::max, PoolMode::average}) {
    p.mode = mode;
    std::vector<float> dx(x.size(), NAN);
    Pool2d(p, kReference).backward(x.data(), dy.data(), dx.data());
    for (int i = 0; i < 6; ++i) {
      expect_close(dx[(1 * 5 + 1) * 3 * 2 + i], mode == PoolMode::max ? max_expected[i] : avg_expected[i]);
    }
  }
}

}  // namespace
}  // namespace convkit
