#pragma once
// The outer-product micro-kernel: a weight gradient summed over so few pixels that writing dw
// costs more than the sums. The reduction tile of kernels/direct_conv.hpp stores a 6x2-vector
// block of dw after each reduction, its six rows a whole dw row apart; here each dw row is
// written as one stream along its channels, the pixels' sums done on the way. Nothing here
// knows layers or threads (src/backends/direct/weight_gradient.cpp drives it). Portable: no
// SIMD types here.
#include <cstdint>

#include "isa.hpp"

namespace convkit::detail {

// y[r*y_row_stride + c] = (accumulate ? y[...] : 0)
//                        + sum_{p < pixels} x[p*x_pixel_stride + r] * dy[p*dy_pixel_stride + c]
// for r < rows and 0 <= c < channels, summed in pixel order. y is read and written at those
// channels only.
struct OuterProductRows {
  const float* x;
  const float* dy;
  float* y;
  int64_t pixels, rows, channels;
  int64_t x_pixel_stride, dy_pixel_stride, y_row_stride;
  bool accumulate;
};

struct OuterProductKernels {
  int lanes;
  void (*rows)(const OuterProductRows&);
};

}  // namespace convkit::detail
