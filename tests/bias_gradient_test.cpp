// The shared bias gradient: its kernel (kernels/bias_gradient.hpp) under every instruction set
// this CPU has, its driver (src/conv/bias_gradient.hpp), and every backend but the reference
// through the public API. The kernel adds onto what db holds and touches nothing past its
// channels; the driver overwrites db (NaN prefills) from a workspace it must fill itself (NaN
// prefills too), and gives the same bits for any thread count, as do the backends.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "conv/bias_gradient.hpp"
#include "convkit/convkit.hpp"
#include "isa.hpp"
#include "kernels/bias_gradient.hpp"
#include "support/kernel_isas.hpp"
#include "support/tensors.hpp"

namespace convkit::detail {
namespace {

using test::integer_tensor;
using test::isas_here;
using test::kSentinel;
using test::nan_tensor;
using test::uniform_tensor;

constexpr int kThreadCounts[] = {1, 2, 3, 5};

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Small integers: every order of summation is exact, so the kernel must match a double sum.
TEST(BiasGradientKernel, EveryChannelAndPixelCountEveryIsa) {
  for (Isa isa : isas_here()) {
    const BiasGradientKernels& k = kernels<BiasGradientKernels>(isa);
    const int64_t L = k.lanes;
    for (int64_t channels : {int64_t(1), L - 1, L, L + 1, 2 * L, 2 * L + 1, 5 * L + 3, int64_t(67)}) {
      for (int64_t pixels : {0, 1, 3, 4, 5, 7, 9, 61}) {
        const int64_t stride = channels + 2;  // other channels between pixels, never read
        const std::vector<float> dy = integer_tensor(std::max<int64_t>(pixels, 1) * stride, uint32_t(44 + pixels));
        const std::vector<float> start = integer_tensor(channels, 45);
        std::vector<float> db(size_t(channels + 1), kSentinel);
        std::copy(start.begin(), start.end(), db.begin());
        k.sum_pixels(dy.data(), pixels, stride, channels, db.data());
        for (int64_t c = 0; c < channels; ++c) {
          double expected = start[size_t(c)];
          for (int64_t q = 0; q < pixels; ++q) expected += dy[size_t(q * stride + c)];
          ASSERT_EQ(db[size_t(c)], float(expected))
              << isa_name(isa) << " channels=" << channels << " pixels=" << pixels << " channel " << c;
        }
        ASSERT_EQ(db[size_t(channels)], kSentinel) << isa_name(isa) << " channels=" << channels << ": wrote past db";
      }
    }
  }
}

// One, a prime, a few segments' worth, and a MobileNet 112x112 image of pixels; odd channel
// counts. Random floats, against a double sum with the bound of a length-`pixels` sum.
TEST(BiasGradientDriver, SameBitsForAnyThreadCountEveryIsa) {
  for (Isa isa : isas_here()) {
    for (int64_t pixels : {1, 61, 4099, 112 * 112}) {
      for (int64_t channels : {1, 3, 17, 67}) {
        const std::string what = std::string(isa_name(isa)) + " pixels=" + std::to_string(pixels) +
                                 " channels=" + std::to_string(channels);
        const std::vector<float> dy = uniform_tensor(pixels * channels, uint32_t(pixels + channels));
        const BiasGradient gradient(pixels, channels, isa);
        std::vector<float> first;
        for (int threads : kThreadCounts) {
          std::vector<float> db = nan_tensor(channels), partial = nan_tensor(gradient.workspace_floats());
          gradient.run(dy.data(), db.data(), partial.data(), threads);
          if (first.empty()) {
            first = db;
            for (int64_t c = 0; c < channels; ++c) {
              double exact = 0.0, magnitude = 0.0;
              for (int64_t q = 0; q < pixels; ++q) {
                exact += dy[size_t(q * channels + c)];
                magnitude += std::fabs(dy[size_t(q * channels + c)]);
              }
              const double bound = 2.0 * double(pixels + 2) * std::ldexp(1.0, -24) * magnitude;
              ASSERT_LE(std::fabs(db[size_t(c)] - exact), bound) << what << " channel " << c;
            }
          } else {
            ASSERT_TRUE(same_bits(db, first)) << what << ": threads=" << threads << " differs from 1 thread";
          }
        }
      }
    }
  }
}

// One thread's channels whole (sum_channels, as a depthwise weight gradient's threads sum
// their own) give the bits of the two shared steps, for ranges that start and end off vectors.
TEST(BiasGradientDriver, ChannelRangesGiveTheSameBitsEveryIsa) {
  for (Isa isa : isas_here()) {
    for (int64_t pixels : {61, 4099}) {
      const int64_t channels = 67;
      const std::vector<float> dy = uniform_tensor(pixels * channels, uint32_t(pixels));
      const BiasGradient gradient(pixels, channels, isa);
      std::vector<float> expected = nan_tensor(channels), partial = nan_tensor(gradient.workspace_floats());
      gradient.run(dy.data(), expected.data(), partial.data(), 2);
      std::vector<float> db = nan_tensor(channels), sums = nan_tensor(channels);
      const int64_t cuts[] = {0, 5, 16, 40, 67};
      for (size_t i = 0; i + 1 < std::size(cuts); ++i) {
        gradient.sum_channels(dy.data(), db.data(), cuts[i], cuts[i + 1], sums.data());
      }
      ASSERT_TRUE(same_bits(db, expected)) << isa_name(isa) << " pixels=" << pixels;
    }
  }
}

// A dense layer, depthwise ones (row segments; channel blocks per thread, each summing its own
// channels' db), 2 channels per group, and a 1x1 (im2col's in-place GEMM):
// every backend but the reference gives the same db bits for 1, 2, 3 and 5 threads.
TEST(BiasGradientBackends, SameBitsForAnyThreadCount) {
  const char* problems[] = {
      "mb2_ic16ih20iw20_oc24_kh3kw3_ph1pw1",
      "mb2_ic32ih24iw24_oc32_kh3kw3_ph1pw1_g32",
      "mb1_ic64ih28iw28_oc64_kh3kw3_ph1pw1_g32",
      "mb1_ic256ih20iw20_oc256_kh3kw3_ph1pw1_g256",
      "mb2_ic64ih16iw16_oc64_kh1kw1",
  };
  int compared = 0;
  for (const std::string& backend : conv2d_backends()) {
    if (backend == "naive") continue;  // the reference keeps its own loop
    for (const char* problem : problems) {
      const Conv2dParams p = parse_conv2d(problem);
      if (!conv2d_decline_reason(backend, p).empty()) continue;
      const std::vector<float> x = uniform_tensor(p.input_elements(), 7), dy = uniform_tensor(p.output_elements(), 8);
      std::vector<float> first;
      for (int threads : kThreadCounts) {
        Options options;
        options.backend = backend;
        options.threads = threads;
        const Conv2d conv(p, options);
        std::vector<float> dw = nan_tensor(p.weight_elements()), db = nan_tensor(p.out_c);
        conv.backward_weights(x.data(), dy.data(), dw.data(), db.data());
        if (first.empty()) {
          first = db;
        } else {
          ASSERT_TRUE(same_bits(db, first)) << backend << " " << problem << ": threads=" << threads;
        }
      }
      ++compared;
    }
  }
  EXPECT_GE(compared, 8) << "too few backend and problem pairs ran";
}

}  // namespace
}  // namespace convkit::detail
