#pragma once
// What every convolution kernel does to its sums between the reduction and the store: the bias,
// then the activation, on the accumulators in registers (never a second pass over the output).
// Channel tails read the bias through a masked load, so no caller pads it to whole vectors.
// Tiles whose outputs may be summed over several calls (the direct tile's reduction chunks and
// strip lines) start their accumulators from bias_vector and apply `activate` at the last call,
// as do the depthwise and grouped tiles, which start from zero anyway; the GEMM tile adds both
// at its final store (add_bias_and_activate), Winograd's output transform after the transform.
// Either way bias + sum, then the activation, as Options.activation states it. A new Activation
// is written here (vectors) and in src/conv/activation.hpp (one value, for code outside the
// kernels).
#include <xsimd/xsimd.hpp>

#include <cstdint>

#include "convkit/conv2d.hpp"
#include "kernels/partial_vector.hpp"

namespace convkit::detail {
namespace {

// The bias of channels [first, first + count) (a whole vector when count >= lanes), zero in the
// lanes past them and everywhere when bias is null or count <= 0. Only those channels are read.
template <class Arch>
[[gnu::always_inline]] inline xsimd::batch<float, Arch> bias_vector(const float* bias, int64_t first, int64_t count) {
  using Batch = xsimd::batch<float, Arch>;
  if (bias == nullptr || count <= 0) return Batch(0.0f);
  return count >= int64_t(Batch::size) ? Batch::load_unaligned(bias + first) : load_partial<Arch>(bias + first, count);
}

// The activation as the reference (src/backends/naive/naive_conv.cpp) writes it: ReLU is
// v < 0 ? 0 : v, which keeps NaN and -0.
template <class Arch>
[[gnu::always_inline]] inline xsimd::batch<float, Arch> activate(const xsimd::batch<float, Arch>& v,
                                                                 Activation activation) {
  using Batch = xsimd::batch<float, Arch>;
  switch (activation) {
    case Activation::relu: return xsimd::select(v < Batch(0.0f), Batch(0.0f), v);
    case Activation::none: break;
  }
  return v;
}

// sum + the bias of channels [first, first + count) (as bias_vector reads it), then the activation.
template <class Arch>
[[gnu::always_inline]] inline xsimd::batch<float, Arch> add_bias_and_activate(const xsimd::batch<float, Arch>& sum,
                                                                              const float* bias, int64_t first,
                                                                              int64_t count, Activation activation) {
  return activate<Arch>(bias == nullptr ? sum : sum + bias_vector<Arch>(bias, first, count), activation);
}

// Stores the first `count` lanes of v (all of them when count >= lanes; nothing when count <= 0).
template <class Arch>
[[gnu::always_inline]] inline void store_channels(float* dst, const xsimd::batch<float, Arch>& v, int64_t count) {
  if (count >= int64_t(xsimd::batch<float, Arch>::size)) {
    v.store_unaligned(dst);
  } else if (count > 0) {
    store_partial<Arch>(dst, v, count);
  }
}

}  // namespace
}  // namespace convkit::detail
