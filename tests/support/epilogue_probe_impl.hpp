#pragma once
// EpilogueProbe (epilogue_probe.hpp) for one instruction set.
#include <xsimd/xsimd.hpp>

#include "kernels/epilogue.hpp"
#include "support/epilogue_probe.hpp"

namespace convkit::detail {
namespace {

template <class Arch>
void probe_add_bias_and_activate(const float* sums, const float* bias, int64_t first, int64_t count,
                                 Activation activation, float* y) {
  const auto v = xsimd::batch<float, Arch>::load_unaligned(sums);
  store_channels<Arch>(y, add_bias_and_activate<Arch>(v, bias, first, count, activation), count);
}

template <class Arch>
void probe_bias_vector(const float* bias, int64_t first, int64_t count, float* out) {
  bias_vector<Arch>(bias, first, count).store_unaligned(out);
}

template <class Arch>
EpilogueProbe make_epilogue_probe() {
  EpilogueProbe probe{};
  probe.lanes = static_cast<int>(xsimd::batch<float, Arch>::size);
  probe.add_bias_and_activate = &probe_add_bias_and_activate<Arch>;
  probe.bias_vector = &probe_bias_vector<Arch>;
  return probe;
}

}  // namespace
}  // namespace convkit::detail
