#pragma once
#include <omp.h>

namespace convkit::detail {

// The thread count of one call: Options.threads when set, else OpenMP's default at call time.
inline int resolve_threads(int requested) {
  return requested > 0 ? requested : omp_get_max_threads();
}

}  // namespace convkit::detail
