#pragma once
// The outer-product kernel (outer_product.hpp) on xsimd batches, compiled once per instruction
// set; internal linkage for the same reason as direct_conv_impl.hpp.
#include <xsimd/xsimd.hpp>

#include <cstdint>

#include "kernels/fused_multiply_add.hpp"
#include "kernels/outer_product.hpp"
#include "kernels/partial_vector.hpp"

namespace convkit::detail {
namespace {

// Rows [r, r + Rows) by the Vectors vectors of channels from c, the last `count` lanes wide
// when Partial: every pixel's dy vectors are loaded once for all Rows rows.
template <class Arch, int Rows, int Vectors, bool Partial>
[[gnu::always_inline]] inline void outer_product_block(const OuterProductRows& t, int64_t r, int64_t c,
                                                       int64_t count) {
  using Batch = xsimd::batch<float, Arch>;
  constexpr int64_t lanes = Batch::size;
  // Only the last vector can be partial.
  const auto load = [&](const float* src, int v) {
    return v == Vectors - 1 ? load_lanes<Arch, Partial>(src, count) : Batch::load_unaligned(src);
  };
  Batch acc[Rows][Vectors];
#pragma GCC unroll 4
  for (int i = 0; i < Rows; ++i) {
    const float* y = t.y + (r + i) * t.y_row_stride + c;
#pragma GCC unroll 4
    for (int v = 0; v < Vectors; ++v) acc[i][v] = t.accumulate ? load(y + v * lanes, v) : Batch(0.0f);
  }
  for (int64_t p = 0; p < t.pixels; ++p) {
    const float* x = t.x + p * t.x_pixel_stride + r;
    const float* dy = t.dy + p * t.dy_pixel_stride + c;
    Batch d[Vectors];
#pragma GCC unroll 4
    for (int v = 0; v < Vectors; ++v) d[v] = load(dy + v * lanes, v);
#pragma GCC unroll 4
    for (int i = 0; i < Rows; ++i) {
      const Batch xi(x[i]);
#pragma GCC unroll 4
      for (int v = 0; v < Vectors; ++v) acc[i][v] = fused_multiply_add(xi, d[v], acc[i][v]);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < Rows; ++i) {
    float* y = t.y + (r + i) * t.y_row_stride + c;
#pragma GCC unroll 4
    for (int v = 0; v < Vectors; ++v) {
      if (v == Vectors - 1) {
        store_lanes<Arch, Partial>(y + v * lanes, acc[i][v], count);
      } else {
        acc[i][v].store_unaligned(y + v * lanes);
      }
    }
  }
}

// Rows [r, r + Rows) along all their channels, two vectors at a time. Over at least a vector
// of channels, and where the sums overwrite y, a partial last vector runs as the whole vector
// ending at the last channel: the lanes it shares with the vector before get the same sums
// again, and a full store costs less than a tail's pieces (a 28-channel row has one in every
// four). Adding onto y, those lanes would be added twice.
template <class Arch, int Rows>
[[gnu::always_inline]] inline void outer_product_row_run(const OuterProductRows& t, int64_t r) {
  constexpr int64_t lanes = xsimd::batch<float, Arch>::size;
  int64_t c = 0;
  for (; c + 2 * lanes <= t.channels; c += 2 * lanes) outer_product_block<Arch, Rows, 2, false>(t, r, c, lanes);
  if (c + lanes <= t.channels) {
    outer_product_block<Arch, Rows, 1, false>(t, r, c, lanes);
    c += lanes;
  }
  if (c == t.channels) return;
  if (t.channels >= lanes && !t.accumulate) {
    outer_product_block<Arch, Rows, 1, false>(t, r, t.channels - lanes, lanes);
  } else {
    outer_product_block<Arch, Rows, 1, true>(t, r, c, t.channels - c);
  }
}

template <class Arch>
void outer_product_rows(const OuterProductRows& tile) {
  // A local copy: an intrinsic's vector store may alias anything, `tile` included, and GCC 12
  // reloads every field after each store otherwise (as in depthwise_conv_impl.hpp).
  const OuterProductRows t = tile;
  int64_t r = 0;
  for (; r + 4 <= t.rows; r += 4) outer_product_row_run<Arch, 4>(t, r);
  for (; r < t.rows; ++r) outer_product_row_run<Arch, 1>(t, r);
}

template <class Arch>
OuterProductKernels make_outer_product_kernels() {
  OuterProductKernels k{};
  k.lanes = static_cast<int>(xsimd::batch<float, Arch>::size);
  k.rows = &outer_product_rows<Arch>;
  return k;
}

}  // namespace
}  // namespace convkit::detail
