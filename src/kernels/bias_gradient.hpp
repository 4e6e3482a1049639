#pragma once
// The bias-gradient micro-kernel: sums of a run of dy's pixels per channel. Nothing here knows
// layers or threads; src/conv/bias_gradient.hpp cuts a layer's pixels into fixed segments and
// adds their sums in a fixed order. Portable: no SIMD types here.
#include <cstdint>

#include "isa.hpp"

namespace convkit::detail {

struct BiasGradientKernels {
  int lanes;
  // db[c] += sum_{p < pixels} dy[p*pixel_stride + c] for 0 <= c < channels (dy and db read and
  // written at those channels only), the pixels summed in four interleaved chains (p mod 4, each
  // in pixel order) that are then added as (chain 0 + chain 1) + (chain 2 + chain 3): one chain
  // would wait on the add latency at every pixel.
  void (*sum_pixels)(const float* dy, int64_t pixels, int64_t pixel_stride, int64_t channels, float* db);
};

}  // namespace convkit::detail
