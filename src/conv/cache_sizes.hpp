#pragma once
// The cache sizes blocking decisions read, each read once per process (docs/design.md, "Shared
// layer"). Budgets tuned for one loop (a fraction of a cache, measured) stay beside that loop.
#include <unistd.h>

#include <cstdint>

namespace convkit::detail {

// glibc's sysconf names for the cache sizes; other C libraries report none.
#ifdef _SC_LEVEL1_DCACHE_SIZE
inline constexpr int kL1CacheName = _SC_LEVEL1_DCACHE_SIZE, kL2CacheName = _SC_LEVEL2_CACHE_SIZE;
#else
inline constexpr int kL1CacheName = -1, kL2CacheName = -1;
#endif

// The size sysconf reports for cache `name`, else `fallback`.
inline int64_t reported_cache_bytes(int name, int64_t fallback) {
  const long reported = name >= 0 ? sysconf(name) : -1;
  return reported > 0 ? static_cast<int64_t>(reported) : fallback;
}

// This CPU's L2 per core, else the 1 MB of the Zen 4 convkit was tuned on.
inline int64_t l2_bytes() {
  static const int64_t bytes = reported_cache_bytes(kL2CacheName, int64_t(1) << 20);
  return bytes;
}

// This CPU's L1 data cache per core, else 32 KB.
inline int64_t l1_bytes() {
  static const int64_t bytes = reported_cache_bytes(kL1CacheName, int64_t(32) << 10);
  return bytes;
}

// Whether addresses `floats` floats apart lie a multiple of `bytes` apart. The L1s the kernels
// were tuned on (32 KB 8-way, 48 KB 12-way) give each 4 KB way 64 sets, so lines 2 KB apart
// share two sets and lines 4 KB apart one: tiles that read many such lines take shapes that
// spread them (docs/results/decisions.md, the sections on 2 KB and 4 KB strides).
inline constexpr bool lie_multiple_of(int64_t floats, int64_t bytes) {
  return floats * int64_t(sizeof(float)) % bytes == 0;
}

// Floats in a 64-byte cache line.
inline constexpr int64_t kLineFloats = 16;

// The least row stride of at least `floats` floats that is an odd number of whole lines: rows
// of a buffer laid out at it fall in every L1 set in turn, where rows a multiple of 4 KB apart
// (1024 channels) would all share one.
inline constexpr int64_t odd_line_stride(int64_t floats) {
  return ((floats + kLineFloats - 1) / kLineFloats | 1) * kLineFloats;
}

}  // namespace convkit::detail
