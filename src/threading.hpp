#pragma once
#include <omp.h>

#include <cstdint>

namespace convkit::detail {

// The thread count of one call: Options.threads when set, else OpenMP's default at call time.
inline int resolve_threads(int requested) {
  return requested > 0 ? requested : omp_get_max_threads();
}

// Runs body(thread, team) on each thread of one OpenMP region of `threads` threads (`team`
// may come out smaller). A team of one runs on the calling thread with no region: libgomp's
// region of one thread still makes a futex system call, a tenth of a tiny layer's call. So
// bodies synchronize with team_barrier and split work with share_of, never with orphaned
// OpenMP constructs: without a region of its own, an orphaned `omp for` or `omp barrier` would
// bind to a caller's enclosing parallel region (a plan of one thread called from inside one).
template <class Body>
void run_team(int threads, Body&& body) {
  if (threads <= 1) {
    body(0, 1);
    return;
  }
#pragma omp parallel num_threads(threads)
  body(omp_get_thread_num(), omp_get_num_threads());
}

// A barrier among the threads of run_team's region; nothing for a team of one.
inline void team_barrier(int team) {
  if (team > 1) {
#pragma omp barrier
  }
}

// The contiguous share [begin, end) of `total` items that thread `thread` of `threads` runs.
struct Share {
  int64_t begin, end;
};
inline Share share_of(int64_t total, int thread, int threads) {
  return {total * thread / threads, total * (thread + 1) / threads};
}

// Runs body(item, thread) for items [0, items), contiguous shares of them on the threads of one
// run_team region (a team of one runs them all on the calling thread, with no region).
template <class Body>
void for_each_item(int threads, int64_t items, Body&& body) {
  run_team(threads, [&](int thread, int team) {
    const Share share = share_of(items, thread, team);
    for (int64_t item = share.begin; item < share.end; ++item) body(item, thread);
  });
}

}  // namespace convkit::detail
