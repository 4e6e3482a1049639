// The shared bias + activation epilogue (src/kernels/epilogue.hpp) on its own, under every
// instruction set this CPU has: channel tails of every length from 1 to a whole vector, a bias
// buffer that ends exactly at the last channel read, a null bias, and ReLU as the reference
// writes it (NaN passes, -0 stays -0). Outputs sit in sentinel-filled buffers, so a store past
// the tail is caught.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "isa.hpp"
#include "support/epilogue_probe.hpp"
#include "support/kernel_isas.hpp"
#include "support/tensors.hpp"

namespace convkit::detail {
namespace {

using test::integer_tensor;
using test::isas_here;
using test::kSentinel;

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

// The reference's ReLU on one value.
float reference_activation(float v, Activation activation) {
  return activation == Activation::relu && v < 0.0f ? 0.0f : v;
}

TEST(Epilogue, EveryTailBiasAndActivationEveryIsa) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  uint32_t seed = 1;
  for (Isa isa : isas_here()) {
    const EpilogueProbe& probe = kernels<EpilogueProbe>(isa);
    const int64_t lanes = probe.lanes;
    for (int64_t count = 1; count <= lanes + 1; ++count) {  // lanes + 1: a whole vector
      const int64_t stored = std::min(count, lanes);
      for (bool with_bias : {false, true}) {
        for (Activation activation : {Activation::none, Activation::relu}) {
          const std::string what = std::string(isa_name(isa)) + " count=" + std::to_string(count) +
                                   (with_bias ? " bias" : " no bias") +
                                   (activation == Activation::relu ? " relu" : "");
          // Sums with NaN, -0 and negatives among them; the bias from channel `first` of a buffer
          // that ends at the last channel the tail may read.
          std::vector<float> sums = integer_tensor(lanes, seed++);
          sums[0] = nan;
          if (lanes > 1) sums[1] = -0.0f;
          if (lanes > 2) sums[2] = -3.0f;
          const int64_t first = 3;
          const std::vector<float> bias = integer_tensor(first + stored, seed++);
          const float* b = with_bias ? bias.data() : nullptr;
          std::vector<float> y(size_t(lanes + 1), kSentinel);
          probe.add_bias_and_activate(sums.data(), b, first, count, activation, y.data());
          for (int64_t j = 0; j < stored; ++j) {
            // Without a bias nothing is added: -0 + 0 would make +0.
            const float expected =
                reference_activation(with_bias ? sums[size_t(j)] + bias[size_t(first + j)] : sums[size_t(j)], activation);
            ASSERT_TRUE(same_bits(y[size_t(j)], expected) || (std::isnan(expected) && std::isnan(y[size_t(j)])))
                << what << ": channel " << j << " got " << y[size_t(j)] << " expected " << expected;
          }
          ASSERT_TRUE(std::isnan(y[0])) << what << ": NaN must pass the activation";
          if (stored > 1 && !with_bias) {
            ASSERT_TRUE(std::signbit(y[1])) << what << ": -0 must stay -0";
          }
          for (int64_t j = stored; j <= lanes; ++j) ASSERT_EQ(y[size_t(j)], kSentinel) << what << ": wrote channel " << j;
        }
      }
    }
  }
}

TEST(Epilogue, BiasVectorIsZeroPastItsChannelsAndWithoutBiasEveryIsa) {
  for (Isa isa : isas_here()) {
    const EpilogueProbe& probe = kernels<EpilogueProbe>(isa);
    const int64_t lanes = probe.lanes;
    for (int64_t count = -1; count <= lanes + 1; ++count) {
      const int64_t read = std::max<int64_t>(0, std::min(count, lanes));
      const std::vector<float> bias = integer_tensor(2 + read, uint32_t(50 + count));
      std::vector<float> out(size_t(lanes), kSentinel);
      probe.bias_vector(bias.data(), 2, count, out.data());
      for (int64_t j = 0; j < lanes; ++j) {
        ASSERT_EQ(out[size_t(j)], j < read ? bias[size_t(2 + j)] : 0.0f)
            << isa_name(isa) << " count=" << count << " lane " << j;
      }
      std::fill(out.begin(), out.end(), kSentinel);
      probe.bias_vector(nullptr, 2, count, out.data());
      for (int64_t j = 0; j < lanes; ++j) ASSERT_EQ(out[size_t(j)], 0.0f) << isa_name(isa) << " null bias lane " << j;
    }
  }
}

}  // namespace
}  // namespace convkit::detail
