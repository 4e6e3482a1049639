#pragma once
#include <xsimd/xsimd.hpp>

#include "fma_peak.hpp"
#include "kernels/fused_multiply_add.hpp"

namespace convkit::bench {
namespace {

// Twelve accumulators: more than the FMA latency (4 cycles) times the FMA ports (2), so the
// loop is bound by throughput alone.
template <class Arch>
double fma_peak_run(int64_t iterations) {
  using V = xsimd::batch<float, Arch>;
  constexpr int kChains = 12;
  V acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = V(float(i) * 1e-3f);
  const V a(0.999999f), b(1e-7f);
  for (int64_t it = 0; it < iterations; ++it) {
    for (int i = 0; i < kChains; ++i) acc[i] = detail::fused_multiply_add(acc[i], a, b);
  }
  V sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum += acc[i];
  // Keep the result observable so the loop is not removed.
  volatile float sink = xsimd::hadd(sum);
  (void)sink;
  return 2.0 * double(iterations) * kChains * double(V::size);
}

template <class Arch>
FmaPeakKernels make_fma_peak_kernels() {
  return {&fma_peak_run<Arch>};
}

}  // namespace
}  // namespace convkit::bench
