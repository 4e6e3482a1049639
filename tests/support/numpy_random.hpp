#pragma once
// numpy's legacy generator (np.random.seed / np.random.randn), reproduced bit for bit so the
// seed notebook's printed numbers can be checked without numpy. Recipe: shared/seed/EXPECTED.md.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace convkit::test {

class NumpyRandom {
 public:
  explicit NumpyRandom(uint32_t seed) : engine_(seed) {}

  // numpy's random_sample: 53 random bits from two 32-bit draws.
  double uniform() {
    const uint64_t a = engine_() >> 5, b = engine_() >> 6;
    return (double(a) * 67108864.0 + double(b)) / 9007199254740992.0;
  }

  // numpy's legacy gauss: polar Box-Muller, the second value of each pair cached.
  double normal() {
    if (has_cached_) {
      has_cached_ = false;
      return cached_;
    }
    double x1, x2, r2;
    do {
      x1 = 2.0 * uniform() - 1.0;
      x2 = 2.0 * uniform() - 1.0;
      r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1.0 || r2 == 0.0);
    const double f = std::sqrt(-2.0 * std::log(r2) / r2);
    cached_ = f * x1;
    has_cached_ = true;
    return f * x2;
  }

  // randn(count) in C order.
  std::vector<double> randn(size_t count) {
    std::vector<double> v(count);
    for (double& e : v) e = normal();
    return v;
  }

 private:
  std::mt19937 engine_;
  double cached_ = 0.0;
  bool has_cached_ = false;
};

}  // namespace convkit::test
