#pragma once
#include <cstdint>
#include <random>
#include <vector>

namespace convkit::bench {

// Benchmark inputs: uniform in [-1, 1], no denormals, reproducible per seed.
inline std::vector<float> random_floats(int64_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(count));
  for (float& e : v) e = value(rng);
  return v;
}

}  // namespace convkit::bench
