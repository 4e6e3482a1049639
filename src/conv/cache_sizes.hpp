#pragma once
// The cache sizes blocking decisions read, each read once per process (docs/design.md, "Shared
// layer"). Budgets tuned for one loop (a fraction of a cache, measured) stay beside that loop.
#include <unistd.h>

#include <cstdint>

namespace convkit::detail {

// This CPU's L2 per core, as the C library reports it, else the 1 MB of the Zen 4 convkit was
// tuned on.
inline int64_t l2_bytes() {
  static const int64_t bytes = [] {
#ifdef _SC_LEVEL2_CACHE_SIZE
    const long reported = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (reported > 0) return static_cast<int64_t>(reported);
#endif
    return int64_t(1) << 20;
  }();
  return bytes;
}

// This CPU's L1 data cache per core, as the C library reports it, else 32 KB.
inline int64_t l1_bytes() {
  static const int64_t bytes = [] {
#ifdef _SC_LEVEL1_DCACHE_SIZE
    const long reported = sysconf(_SC_LEVEL1_DCACHE_SIZE);
    if (reported > 0) return static_cast<int64_t>(reported);
#endif
    return int64_t(32) << 10;
  }();
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
