#pragma once
#include <cstdint>
#include <cstdlib>
#include <new>
#include <random>
#include <vector>

namespace convkit::bench {

// Benchmark buffers start on a cache line, as an engine's tensors do, so that no backend (or
// oneDNN) pays for vector loads split across lines that a std::vector's 16-byte alignment causes.
template <class T>
struct CacheLineAllocator {
  using value_type = T;
  CacheLineAllocator() = default;
  template <class U>
  CacheLineAllocator(const CacheLineAllocator<U>&) {}
  T* allocate(size_t n) {
    void* p = std::aligned_alloc(64, (n * sizeof(T) + 63) / 64 * 64);
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) { std::free(p); }
  template <class U>
  bool operator==(const CacheLineAllocator<U>&) const { return true; }
  template <class U>
  bool operator!=(const CacheLineAllocator<U>&) const { return false; }
};

using Buffer = std::vector<float, CacheLineAllocator<float>>;

// Inputs uniform in [-1, 1], no denormals, reproducible per seed.
inline Buffer random_floats(int64_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  Buffer v(static_cast<size_t>(count));
  for (float& e : v) e = value(rng);
  return v;
}

}  // namespace convkit::bench
