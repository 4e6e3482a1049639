#pragma once
// The GEMM micro-kernels and packing routines, written once on xsimd::batch<float, Arch> and
// compiled once per instruction set (see cmake/ConvkitKernels.cmake). Everything is in an
// anonymous namespace so no instruction-set-specific function can be merged across units.
//
// Register tiles (accumulators + B vectors + one broadcast A value must fit the register file):
//   avx512: 14 x 32 -> 28 accumulators + 2 B vectors + 1 broadcast of 32 zmm registers
//   avx2:    6 x 16 -> 12 accumulators + 2 B vectors + 1 broadcast of 16 ymm registers
//   sse2:    4 x 8  ->  8 accumulators + 2 B vectors + 1 broadcast + 1 product (no FMA) of 16
#include <immintrin.h>
#include <xsimd/xsimd.hpp>

#include <cstdint>
#include <type_traits>
#include <utility>

#include "isa.hpp"
#include "kernels/epilogue.hpp"
#include "kernels/fused_multiply_add.hpp"
#include "kernels/gemm.hpp"
#include "kernels/keep_in_register.hpp"
#include "kernels/partial_vector.hpp"

namespace convkit::detail {
namespace {

template <class Arch>
struct GemmTileShape;
template <>
struct GemmTileShape<xsimd::avx512f> {
  static constexpr int rows = 14, vectors = 2;
};
template <>
struct GemmTileShape<xsimd::fma3<xsimd::avx2>> {
  static constexpr int rows = 6, vectors = 2;
};
template <>
struct GemmTileShape<xsimd::sse2> {
  static constexpr int rows = 4, vectors = 2;
};

// One vector of a row of C, the tile's columns [first, first + cols), whole or its first `cols`
// lanes (cols may be <= 0: nothing): the sums, plus C when accumulating, then the bias and
// activation.
template <class Arch>
[[gnu::always_inline]] inline void store_vector(xsimd::batch<float, Arch> value, float* c, int64_t first, int64_t cols,
                                                const GemmTileEpilogue& e) {
  using V = xsimd::batch<float, Arch>;
  if (cols <= 0) return;
  if (e.accumulate) value += cols >= int64_t(V::size) ? V::load_unaligned(c) : load_partial<Arch>(c, cols);
  store_channels<Arch>(c, add_bias_and_activate<Arch>(value, e.bias, first, cols, e.activation), cols);
}

// Rows x (NV vectors) of C; element (i, p) of A is a[i*row_step + p*a_step] and row p of B
// starts at b + p*b_step, so packed panels of either layout and matrices read in place run the
// same code (a step in a register costs what an immediate does). FixedRowStep > 0 makes the
// row step a constant folded into the broadcasts' addresses; 0 takes `row_step` at run time,
// read through one pointer per three rows so that every address is a base plus the step times
// 0, 4 or 8 bytes and no row needs a register of its own. Rows < mr serves the last rows of a
// matrix, so an edge tile does no wasted multiplies. Every loop over rows and vectors is
// unrolled so the accumulators live in registers from start to store.
template <class Arch, int Rows, int FixedRowStep, int NV>
void gemm_tile_rows(int64_t k, const float* a, int64_t row_step, int64_t a_step, const float* b, int64_t b_step,
                    float* c, int64_t ldc, int64_t n, const GemmTileEpilogue& e) {
  using V = xsimd::batch<float, Arch>;
  constexpr int64_t W = V::size, NR = W * NV;
  constexpr int Triples = (Rows + 2) / 3;
  const int64_t step = FixedRowStep > 0 ? FixedRowStep : row_step;
  // C is touched only after the whole depth loop: ask for its lines now so that the misses
  // (C rarely stays cached between depth blocks of a large GEMM) overlap with the FMAs.
#pragma GCC unroll 16
  for (int i = 0; i < Rows; ++i) {
    __builtin_prefetch(c + i * ldc, 1, 3);
    __builtin_prefetch(c + i * ldc + n - 1, 1, 3);
  }
  V acc[Rows][NV];
#pragma GCC unroll 16
  for (int i = 0; i < Rows; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = V(0.0f);
  }
  const float* triple[Triples];
#pragma GCC unroll 6
  for (int t = 0; t < Triples; ++t) triple[t] = a + 3 * t * step;
  for (int64_t p = 0; p < k; ++p) {
    V bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      bv[v] = V::load_unaligned(b + v * W);
      if constexpr (Rows > 1) keep_in_register(bv[v]);
    }
#pragma GCC unroll 16
    for (int i = 0; i < Rows; ++i) {
      const V ai(FixedRowStep > 0 ? a[i * FixedRowStep] : triple[i / 3][(i % 3) * step]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = fused_multiply_add(ai, bv[v], acc[i][v]);
    }
    a += a_step;
#pragma GCC unroll 6
    for (int t = 0; t < Triples; ++t) triple[t] += a_step;
    b += b_step;
  }

  // Whole tiles apart, so that their stores take no tail test. Plain loops, not a lambda: a
  // closure capturing the accumulators kept them in memory (a twentieth of a depth-64 GEMM).
  if (n == NR) {
#pragma GCC unroll 16
    for (int i = 0; i < Rows; ++i) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) store_vector<Arch>(acc[i][v], c + i * ldc + v * W, v * W, W, e);
    }
  } else {
#pragma GCC unroll 16
    for (int i = 0; i < Rows; ++i) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) store_vector<Arch>(acc[i][v], c + i * ldc + v * W, v * W, n - v * W, e);
    }
  }
}

// gemm_tile_rows for 1..MR rows, indexed by rows - 1.
template <class Arch, int MR, int FixedRowStep, int NV>
struct GemmTilesByRows {
  using Tile = void (*)(int64_t, const float*, int64_t, int64_t, const float*, int64_t, float*, int64_t, int64_t,
                        const GemmTileEpilogue&);
  template <int... R>
  static constexpr GemmTilesByRows make(std::integer_sequence<int, R...>) {
    return GemmTilesByRows{{gemm_tile_rows<Arch, R + 1, FixedRowStep, NV>...}};
  }
  Tile of_rows[MR];
};

template <class Arch, int MR, int FixedRowStep, int NV>
constexpr GemmTilesByRows<Arch, MR, FixedRowStep, NV> gemm_tiles_by_rows =
    GemmTilesByRows<Arch, MR, FixedRowStep, NV>::make(std::make_integer_sequence<int, MR>{});

// A tile over an interleaved A panel (MR floats per depth step) and a B panel of NR floats a row.
template <class Arch, int MR, int NV>
void gemm_tile(int64_t k, const float* a, const float* b, float* c, int64_t ldc, int64_t m, int64_t n,
               const GemmTileEpilogue& e) {
  constexpr int64_t NR = NV * static_cast<int64_t>(xsimd::batch<float, Arch>::size);
  gemm_tiles_by_rows<Arch, MR, 1, NV>.of_rows[m - 1](k, a, 1, MR, b, NR, c, ldc, n, e);
}

// A tile over A by rows, `row_distance` floats apart, and a B panel of NR floats a row.
template <class Arch, int MR, int NV>
void gemm_tile_on_rows(int64_t k, const float* a, int64_t row_distance, const float* b, float* c, int64_t ldc,
                       int64_t m, int64_t n, const GemmTileEpilogue& e) {
  constexpr int64_t NR = NV * static_cast<int64_t>(xsimd::batch<float, Arch>::size);
  gemm_tiles_by_rows<Arch, MR, 0, NV>.of_rows[m - 1](k, a, row_distance, 1, b, NR, c, ldc, n, e);
}

template <class Arch, int MR, int NV>
void gemm_tile_in_place(int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc,
                        int64_t m, const GemmTileEpilogue& e) {
  constexpr int64_t NR = NV * static_cast<int64_t>(xsimd::batch<float, Arch>::size);
  gemm_tiles_by_rows<Arch, MR, 1, NV>.of_rows[m - 1](k, a, 1, lda, b, ldb, c, ldc, NR, e);
}

// 128-bit loads of a source row, or zeros where the row lies in padding (null).
inline __m128 load4_or_zero(const float* row, int64_t p) { return row != nullptr ? _mm_loadu_ps(row + p) : _mm_setzero_ps(); }
inline float load1_or_zero(const float* row, int64_t p) { return row != nullptr ? row[p] : 0.0f; }

// Transposing copy: each source row becomes one lane of every group. Rows go four (then two)
// at a time through 4x4 SSE transposes, which every instruction set has (an AVX build encodes
// them with VEX); a few scalar moves finish the tails. The width of a panel (mr = 14, 6, 4 or
// nr) is too irregular for wider transposes to pay.
template <class Arch>
void pack_rows(const float* const* rows, int64_t count, int64_t k, int64_t width, float* panel) {
  const int64_t k4 = k / 4 * 4;
  int64_t i = 0;
  for (; i + 4 <= count; i += 4) {
    // Rows are short separate streams (at most KC floats) that the hardware prefetcher does not
    // pick up in time: ask for the next four rows' lines while these four are transposed.
    for (int64_t r = i + 4; r < i + 8 && r < count; ++r) {
      if (rows[r] == nullptr) continue;
      for (int64_t p = 0; p < k; p += 16) __builtin_prefetch(rows[r] + p, 0, 3);
    }
    const float *r0 = rows[i], *r1 = rows[i + 1], *r2 = rows[i + 2], *r3 = rows[i + 3];
    float* out = panel + i;
    for (int64_t p = 0; p < k4; p += 4) {
      __m128 a = load4_or_zero(r0, p), b = load4_or_zero(r1, p), c = load4_or_zero(r2, p), d = load4_or_zero(r3, p);
      _MM_TRANSPOSE4_PS(a, b, c, d);
      _mm_storeu_ps(out + p * width, a);
      _mm_storeu_ps(out + (p + 1) * width, b);
      _mm_storeu_ps(out + (p + 2) * width, c);
      _mm_storeu_ps(out + (p + 3) * width, d);
    }
    for (int64_t p = k4; p < k; ++p) {
      out[p * width] = load1_or_zero(r0, p);
      out[p * width + 1] = load1_or_zero(r1, p);
      out[p * width + 2] = load1_or_zero(r2, p);
      out[p * width + 3] = load1_or_zero(r3, p);
    }
  }
  if (i + 2 <= count) {
    const float *r0 = rows[i], *r1 = rows[i + 1];
    float* out = panel + i;
    for (int64_t p = 0; p < k4; p += 4) {
      const __m128 a = load4_or_zero(r0, p), b = load4_or_zero(r1, p);
      const __m128 low = _mm_unpacklo_ps(a, b), high = _mm_unpackhi_ps(a, b);  // a0 b0 a1 b1, a2 b2 a3 b3
      _mm_storel_pi(reinterpret_cast<__m64*>(out + p * width), low);
      _mm_storeh_pi(reinterpret_cast<__m64*>(out + (p + 1) * width), low);
      _mm_storel_pi(reinterpret_cast<__m64*>(out + (p + 2) * width), high);
      _mm_storeh_pi(reinterpret_cast<__m64*>(out + (p + 3) * width), high);
    }
    for (int64_t p = k4; p < k; ++p) {
      out[p * width] = load1_or_zero(r0, p);
      out[p * width + 1] = load1_or_zero(r1, p);
    }
    i += 2;
  }
  for (; i < count; ++i) {
    for (int64_t p = 0; p < k; ++p) panel[p * width + i] = load1_or_zero(rows[i], p);
  }
}

// Straight copy: each source vector becomes one group.
template <class Arch>
void pack_vectors(const float* const* vectors, int64_t count, int64_t k, int64_t width, float* panel) {
  using V = xsimd::batch<float, Arch>;
  constexpr int64_t W = V::size;
  const int64_t whole = count / W * W;
  for (int64_t p = 0; p < k; ++p) {
    const float* src = vectors[p];
    float* out = panel + p * width;
    for (int64_t i = 0; i < whole; i += W) {
      (src != nullptr ? V::load_unaligned(src + i) : V(0.0f)).store_unaligned(out + i);
    }
    if (whole < count) {
      store_partial<Arch>(out + whole, src != nullptr ? load_partial<Arch>(src + whole, count - whole) : V(0.0f),
                          count - whole);
    }
  }
}

template <class Arch>
GemmKernels make_gemm_kernels() {
  using Shape = GemmTileShape<Arch>;
  GemmKernels k;
  k.mr = Shape::rows;
  k.nr = Shape::vectors * static_cast<int64_t>(xsimd::batch<float, Arch>::size);
  k.tile = gemm_tile<Arch, Shape::rows, Shape::vectors>;
  k.tile_on_rows = gemm_tile_on_rows<Arch, Shape::rows, Shape::vectors>;
  k.tile_in_place = gemm_tile_in_place<Arch, Shape::rows, Shape::vectors>;
  k.pack_rows = pack_rows<Arch>;
  k.pack_vectors = pack_vectors<Arch>;
  return k;
}

}  // namespace
}  // namespace convkit::detail
