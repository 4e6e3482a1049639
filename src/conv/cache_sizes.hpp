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

}  // namespace convkit::detail
