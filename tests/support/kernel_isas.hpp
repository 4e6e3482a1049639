#pragma once
// What the micro-kernel tests share: the instruction sets to try, and the value a kernel must
// leave alone around its outputs.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "isa.hpp"

namespace convkit::test {

// Every instruction set this CPU runs.
inline std::vector<detail::Isa> isas_here() {
  std::vector<detail::Isa> isas;
  for (detail::Isa isa : detail::kAllIsas) {
    if (isa <= detail::cpu_isa()) isas.push_back(isa);
  }
  return isas;
}

inline constexpr float kSentinel = -12345.0f;

// y as `outputs` runs of `stride` floats: each run's first `valid` lanes exactly
// expected(run, lane) (a double, rounded to float), the lanes past them still kSentinel.
template <class Expected>
::testing::AssertionResult outputs_match(const std::vector<float>& y, int64_t outputs, int64_t stride, int64_t valid,
                                         Expected expected) {
  for (int64_t o = 0; o < outputs; ++o) {
    for (int64_t lane = 0; lane < stride; ++lane) {
      const float got = y[size_t(o * stride + lane)];
      if (lane >= valid) {
        if (got != kSentinel) return ::testing::AssertionFailure() << "wrote output " << o << " lane " << lane;
        continue;
      }
      const float want = float(expected(o, lane));
      if (got != want) {
        return ::testing::AssertionFailure() << "output " << o << " lane " << lane << ": " << got << ", expected "
                                             << want;
      }
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace convkit::test
