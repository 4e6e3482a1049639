#pragma once
// The shared epilogue (src/kernels/epilogue.hpp) is inline, arch-templated code with no entry of
// its own in the library: this family wraps it for tests/epilogue_test.cpp, compiled once per
// instruction set with that set's flags (tests/CMakeLists.txt) as the library's kernels are.
#include <cstdint>

#include "convkit/conv2d.hpp"
#include "isa.hpp"

namespace convkit::detail {

struct EpilogueProbe {
  int lanes;
  // y[0:count) = activation(sums[0:lanes) + bias[first:first+count)) through
  // add_bias_and_activate and store_channels (count may exceed lanes: a whole vector).
  void (*add_bias_and_activate)(const float* sums, const float* bias, int64_t first, int64_t count,
                                Activation activation, float* y);
  // out[0:lanes) = bias_vector(bias, first, count), every lane stored.
  void (*bias_vector)(const float* bias, int64_t first, int64_t count, float* out);
};

}  // namespace convkit::detail
