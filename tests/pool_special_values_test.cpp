// Max pooling on inputs holding a few NaNs (two payloads), infinities and signed zeros: every
// registered pool backend must match the reference bit for bit, forward and backward, under
// every instruction set this CPU has, and with 1 and 2 threads. The NaNs are sparse, so that a
// backend skipping NaN checks over input it has already seen clean gets both kinds of rows.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "convkit/convkit.hpp"
#include "support/scoped_env.hpp"
#include "support/tensors.hpp"

namespace convkit {
namespace {

using test::Tensor;

const char* const kProblems[] = {
    "mb1_c64ih17iw15_max_kh3kw3_sh2sw2_pt1pb1pl1pr1",  // overlapping windows
    "mb2_c17ih12iw12_max_kh2kw2_sh2sw2",               // disjoint windows
    "mb1_c33ih11iw9_max_kh3kw3_sh1sw1_ceil",           // stride 1
    "mb1_c5ih13iw13_max_kh3kw2_sh3sw1_pt1pb1pl1pr1",   // disjoint rows, overlapping columns
};

// Uniform floats with a NaN whose place moves with the seed (rows seen clean before it, and
// after it), for odd seeds a NaN of another payload further down, and infinities of both
// signs and a -0 elsewhere.
Tensor special_input(int64_t count, uint32_t seed) {
  Tensor x = test::uniform_tensor(count, seed);
  float other_nan = std::numeric_limits<float>::quiet_NaN();
  uint32_t payload;
  std::memcpy(&payload, &other_nan, sizeof payload);
  payload |= 0x2a5u;
  std::memcpy(&other_nan, &payload, sizeof payload);
  const auto at = [&](uint32_t ninths) -> float& { return x[(size_t(count) * ninths / 9 + seed) % size_t(count)]; };
  at(seed) = std::numeric_limits<float>::quiet_NaN();
  if (seed % 2 == 1) at(seed + 3) = other_nan;
  at(seed + 1) = std::numeric_limits<float>::infinity();
  at(seed + 2) = -std::numeric_limits<float>::infinity();
  at(seed + 5) = -0.0f;
  return x;
}

void expect_bitwise(const Tensor& actual, const Tensor& expected, const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    if (std::memcmp(&actual[i], &expected[i], sizeof(float)) != 0) {
      ADD_FAILURE() << what << " [" << i << "]: " << actual[i] << ", expected " << expected[i];
      return;
    }
  }
}

TEST(PoolSpecialValues, EveryBackendMatchesTheReference) {
  for (const std::string isa : {"sse2", "avx2", "avx512"}) {
    const test::ScopedEnv cap("CONVKIT_ARCH", isa.c_str());
    if (simd_arch() != isa) continue;  // this CPU lacks it
    for (const char* problem : kProblems) {
      const Pool2dParams p = parse_pool2d(problem);
      const int64_t in = p.batch * p.in_h * p.in_w * p.channels, out = p.batch * p.out_h() * p.out_w() * p.channels;
      for (uint32_t seed = 0; seed < 9; ++seed) {
        // Small integer gradients: sums of them are exact, so backward compares bit for bit too.
        const Tensor x = special_input(in, seed), dy = test::integer_tensor(out, seed + 100);
        Tensor y_ref = test::nan_tensor(out), dx_ref = test::nan_tensor(in);
        const Pool2d reference(p, Options{"naive", 1, Activation::none});
        reference.forward(x.data(), y_ref.data());
        reference.backward(x.data(), dy.data(), dx_ref.data());
        for (const std::string& backend : pool2d_backends()) {
          for (int threads : {1, 2}) {
            const Pool2d pool(p, Options{backend, threads, Activation::none});
            Tensor y = test::nan_tensor(out), dx = test::nan_tensor(in);
            pool.forward(x.data(), y.data());
            pool.backward(x.data(), dy.data(), dx.data());
            const std::string what = backend + " " + problem + " " + isa + " seed " + std::to_string(seed) +
                                     " threads " + std::to_string(threads);
            expect_bitwise(y, y_ref, what + " forward");
            expect_bitwise(dx, dx_ref, what + " backward");
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace convkit
