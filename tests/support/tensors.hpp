#pragma once
// Test data: exact small integers, uniform floats, NaN prefills, and comparisons.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

namespace convkit::test {

using Tensor = std::vector<float>;

// Integers in [-4, 4], about a third of them zero: every partial sum of a test-sized problem
// is an exactly representable float, so all backends must agree bit for bit.
inline Tensor integer_tensor(int64_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> value(-4, 4), zero(0, 2);
  Tensor t(static_cast<size_t>(count));
  for (float& v : t) v = zero(rng) == 0 ? 0.0f : float(value(rng));
  return t;
}

inline Tensor uniform_tensor(int64_t count, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> value(lo, hi);
  Tensor t(static_cast<size_t>(count));
  for (float& v : t) v = value(rng);
  return t;
}

// An output buffer every element of which a backend must write.
inline Tensor nan_tensor(int64_t count) {
  return Tensor(static_cast<size_t>(count), std::numeric_limits<float>::quiet_NaN());
}

inline Tensor absolute(Tensor t) {
  for (float& v : t) v = std::fabs(v);
  return t;
}

inline bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

inline double dot(const Tensor& a, const Tensor& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * double(b[i]);
  return s;
}

inline double dot_abs(const Tensor& a, const Tensor& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += std::fabs(double(a[i]) * double(b[i]));
  return s;
}

inline double fraction_nonzero(const Tensor& t) {
  size_t n = 0;
  for (float v : t) n += v != 0.0f;
  return t.empty() ? 0.0 : double(n) / double(t.size());
}

}  // namespace convkit::test
