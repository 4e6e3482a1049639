#pragma once
// The contract's accuracy classes as test bounds (docs/design.md, "Accuracy classes"): a strict
// row's output within the rounding error of an fp32 sum of its terms, a fast row's within that
// plus 2^-13 times the sum of the terms' magnitudes. Which class applies comes from
// conv2d_backend_info(), never from a backend's name.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "convkit/convkit.hpp"
#include "support/tensors.hpp"

namespace convkit::test {

// The registry row's accuracy class; a name that is not registered fails the test.
inline Math conv_backend_math(const std::string& backend) {
  for (const BackendInfo& row : conv2d_backend_info()) {
    if (row.name == backend) return row.math;
  }
  ADD_FAILURE() << backend << " is not in conv2d_backend_info()";
  return Math::strict;
}

// |actual - exact| allowed for one output of `terms` products whose magnitudes sum to
// `magnitude` (bias included): (terms + 2) * 2^-24 * magnitude, plus 2^-13 * magnitude for a
// fast row.
inline double accuracy_bound(Math math, double terms, double magnitude) {
  const double strict = (terms + 2.0) * std::ldexp(1.0, -24) * magnitude;
  return math == Math::fast ? strict + std::ldexp(1.0, -13) * magnitude : strict;
}

// A fast row's transforms mix the outputs of one tile (Winograd's: up to 6x6 pixels of one
// channel), so its rounding error at an output scales with the terms of the whole tile, and an
// output whose own terms are all zero may still carry a neighbour's rounding. Its M is the
// largest sum of |terms| among the outputs of the same image and channel within
// kTileReach rows and columns (docs/design.md, "Accuracy classes").
inline constexpr int64_t kTileReach = 5;
inline std::vector<double> tile_magnitudes(const std::vector<double>& m, int64_t batch, int64_t h, int64_t w,
                                           int64_t c) {
  std::vector<double> spread(m.size(), 0.0);
  const auto at = [&](int64_t n, int64_t r, int64_t q, int64_t k) { return static_cast<size_t>(((n * h + r) * w + q) * c + k); };
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t r = 0; r < h; ++r) {
      for (int64_t q = 0; q < w; ++q) {
        for (int64_t k = 0; k < c; ++k) {
          double largest = 0.0;
          for (int64_t rr = std::max<int64_t>(0, r - kTileReach); rr <= std::min(h - 1, r + kTileReach); ++rr) {
            for (int64_t qq = std::max<int64_t>(0, q - kTileReach); qq <= std::min(w - 1, q + kTileReach); ++qq) {
              largest = std::max(largest, m[at(n, rr, qq, k)]);
            }
          }
          spread[at(n, r, q, k)] = largest;
        }
      }
    }
  }
  return spread;
}

// Every element within accuracy_bound; the first few outside it are reported.
inline ::testing::AssertionResult within_bound(const Tensor& actual, const std::vector<double>& exact,
                                               const std::vector<double>& magnitude, double terms, Math math) {
  if (actual.size() != exact.size() || magnitude.size() != exact.size()) {
    return ::testing::AssertionFailure() << "sizes differ: " << actual.size() << " vs " << exact.size();
  }
  ::testing::AssertionResult result = ::testing::AssertionSuccess();
  int reported = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double bound = accuracy_bound(math, terms, magnitude[i]) + 1e-30;
    const double error = std::fabs(double(actual[i]) - exact[i]);
    if (error <= bound) continue;
    if (reported == 0) result = ::testing::AssertionFailure();
    if (reported++ < 5) {
      result << "[" << i << "] = " << actual[i] << ", exact " << exact[i] << ", error " << error << " > bound "
             << bound << "; ";
    }
  }
  return result;
}

// On small-integer data every partial sum is exact: a strict row reproduces the exact result
// bit for bit, while a fast row (whose transforms use fractions no float holds) is held to its
// bound. `magnitude` is read only for a fast row.
inline ::testing::AssertionResult matches_on_integers(const Tensor& actual, const std::vector<double>& exact,
                                                      const std::vector<double>& magnitude, double terms, Math math) {
  if (math == Math::fast) return within_bound(actual, exact, magnitude, terms, math);
  const std::vector<float> expected(exact.begin(), exact.end());
  if (bitwise_equal(actual, expected)) return ::testing::AssertionSuccess();
  for (size_t i = 0; i < actual.size() && i < expected.size(); ++i) {
    if (std::memcmp(&actual[i], &expected[i], sizeof(float)) != 0) {
      return ::testing::AssertionFailure() << "not bitwise equal: first at [" << i << "] = " << actual[i]
                                           << ", exact " << expected[i];
    }
  }
  return ::testing::AssertionFailure() << "sizes differ: " << actual.size() << " vs " << expected.size();
}

}  // namespace convkit::test
