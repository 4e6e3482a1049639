#pragma once
// The machine's fp32 FMA peak, measured: independent fused multiply-adds on registers only,
// per instruction set and thread count, for reporting benchmark results as a fraction of it.
#include <cstdint>

#include "isa.hpp"

namespace convkit::bench {

struct FmaPeakKernels {
  // Runs `iterations` rounds of independent vector FMAs; returns the flops done (2 per lane per FMA).
  double (*run)(int64_t iterations);
};

// GFLOP/s of `threads` threads each running the kernel of `isa` (measured once, then cached).
double fma_peak_gflops(detail::Isa isa, int threads);

}  // namespace convkit::bench
