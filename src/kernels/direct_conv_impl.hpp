#pragma once
// The direct-convolution tiles (direct_conv.hpp), written once on xsimd batches and compiled
// once per instruction set. Everything is in an anonymous namespace: each per-ISA translation
// unit keeps its own copies, so no wide-vector code can be merged into another unit.
#include <xsimd/xsimd.hpp>

#include <cstdint>
#include <type_traits>

#include "conv/activation.hpp"
#include "kernels/direct_conv.hpp"
#include "kernels/epilogue.hpp"
#include "kernels/fused_multiply_add.hpp"
#include "kernels/keep_in_register.hpp"
#include "kernels/partial_vector.hpp"

namespace convkit::detail {
namespace {

// Register budgets. The tile holds pixels*vectors accumulators, `vectors` weight registers
// and one broadcast input value:
//   AVX-512, 32 zmm: 6x4 (24+4+1), 8x3 (24+3+1), 14x2 (28+2+1), 14x1. 6x4 needs the fewest
//     loads per FMA (10 per 24), so 4-vector (64-channel) blocks are preferred.
//   AVX2, 16 ymm: 12x1, 6x2 (12+2+1), 4x3 (12+3+1), 2x4 (8+4+1). 6x2 (8 loads per 12 FMAs) is
//     preferred; wider blocks leave too few pixels to amortise the weight loads. 4x3 runs a
//     lone vector folded into the last block (ChannelBlocking).
//   SSE2, 16 xmm and no FMA (the product needs a temporary): 8x1, 5x2 (10+2+1+1), 3x3, 2x4.
template <class Arch>
constexpr int direct_tile_max_pixels(int vectors) {
  constexpr int lanes = static_cast<int>(xsimd::batch<float, Arch>::size);
  if (lanes == 16) {
    constexpr int widest[] = {14, 14, 8, 6};
    return widest[vectors - 1];
  }
  if (lanes == 8) {
    constexpr int widest[] = {12, 6, 4, 2};
    return widest[vectors - 1];
  }
  constexpr int widest[] = {8, 5, 3, 2};
  return widest[vectors - 1];
}

// One tile of the call: t's sums for the pixels at tile_x and tile_y, starting from `start`
// (the bias) unless t accumulates. Plain calls (contiguous reduction, whole vectors, activation
// PlainActivation) know their loads, stores and epilogue at compile time; every other call reads
// them from t.
template <class Arch, int Pixels, int Vectors, bool Plain, Activation PlainActivation>
[[gnu::always_inline]] inline void direct_conv_tile_at(const DirectConvTile& t,
                                                       const xsimd::batch<float, Arch> (&start)[Vectors],
                                                       const float* const tile_x, float* const tile_y) {
  using Batch = xsimd::batch<float, Arch>;
  constexpr int64_t lanes = Batch::size;
  Batch acc[Pixels][Vectors];

  if (t.accumulate) {
#pragma GCC unroll 16
    for (int p = 0; p < Pixels; ++p) {
      const float* yp = tile_y + p * t.y_pixel_stride;
#pragma GCC unroll 4
      for (int v = 0; v < Vectors; ++v) {
        const int64_t left = Plain ? lanes : t.out_channels - v * lanes;
        acc[p][v] = left >= lanes ? Batch::load_unaligned(yp + v * lanes)
                                  : load_partial<Arch>(yp + v * lanes, left > 0 ? left : 0);
      }
    }
  } else {
#pragma GCC unroll 4
    for (int v = 0; v < Vectors; ++v) {
#pragma GCC unroll 16
      for (int p = 0; p < Pixels; ++p) acc[p][v] = start[v];
    }
  }

  constexpr int kNearPixels = Pixels >= 8 ? (Pixels + 1) / 2 : Pixels;
  const auto sum_taps = [&](auto x_reduce_stride, auto w_reduce_stride) {
    for (int64_t th = 0; th < t.taps_h; ++th) {
      for (int64_t tw = 0; tw < t.taps_w; ++tw) {
        const float* x = tile_x + th * t.x_tap_h + tw * t.x_tap_w;
        const float* w = t.w + th * t.w_tap_h + tw * t.w_tap_w;
        // The far half of the pixels from a pointer of its own, which the compiler cannot see
        // is x's: both halves then share offsets, where one offset register per pixel ran out
        // of general registers from 8 pixels up (fewer pixels run faster without the split).
        const float* x_far = x + kNearPixels * t.x_pixel_stride;
        for (int64_t k = 0; k < t.reduce; ++k) {
          if constexpr (kNearPixels < Pixels) asm("" : "+r"(x_far));
          Batch wv[Vectors];
#pragma GCC unroll 4
          for (int v = 0; v < Vectors; ++v) {
            wv[v] = Batch::load_unaligned(w + v * lanes);
            if constexpr (Pixels > 1) keep_in_register(wv[v]);
          }
#pragma GCC unroll 16
          for (int p = 0; p < Pixels; ++p) {
            const Batch xb(p < kNearPixels ? x[p * t.x_pixel_stride] : x_far[(p - kNearPixels) * t.x_pixel_stride]);
#pragma GCC unroll 4
            for (int v = 0; v < Vectors; ++v) acc[p][v] = fused_multiply_add(xb, wv[v], acc[p][v]);
          }
          x += x_reduce_stride;
          x_far += x_reduce_stride;
          w += w_reduce_stride;
        }
      }
    }
  };
  // Forward and backward data step through contiguous channels and packed weights: with those
  // steps constant, a tile of one vector and many pixels keeps every pixel's offset in a
  // register instead of reloading some from the stack at every step.
  using ContiguousChannels = std::integral_constant<int64_t, 1>;
  using PackedBlock = std::integral_constant<int64_t, Vectors * lanes>;
  if (Plain || (t.x_reduce_stride == 1 && t.w_reduce_stride == Vectors * lanes)) {
    sum_taps(ContiguousChannels{}, PackedBlock{});
  } else {
    sum_taps(t.x_reduce_stride, t.w_reduce_stride);
  }

  // Read once, here: an intrinsic's vector store may alias anything, `t` included, and GCC 12
  // reloaded these fields around every store; read into locals with nothing to stop it, it
  // loaded them before the sums instead, where they took registers the loop needed (2-4%
  // slower on large layers). The barrier keeps the loads after the loop.
  asm volatile("" ::: "memory");
  float* const y = tile_y;
  const int64_t y_pixel_stride = t.y_pixel_stride, out_channels = t.out_channels;
  const Activation activation = Plain ? PlainActivation : t.activation;
#pragma GCC unroll 16
  for (int p = 0; p < Pixels; ++p) {
    float* yp = y + p * y_pixel_stride;
#pragma GCC unroll 4
    for (int v = 0; v < Vectors; ++v) {
      const Batch out = activate<Arch>(acc[p][v], activation);
      if constexpr (Plain) {
        out.store_unaligned(yp + v * lanes);
      } else {
        store_channels<Arch>(yp + v * lanes, out, out_channels - v * lanes);
      }
    }
  }
}

// Every tile of the call, from bias vectors read once for all of them.
template <class Arch, int Pixels, int Vectors, bool Plain, Activation PlainActivation>
void direct_conv_tiles(const DirectConvTile& t) {
  using Batch = xsimd::batch<float, Arch>;
  constexpr int64_t lanes = Batch::size;
  Batch start[Vectors];
#pragma GCC unroll 4
  for (int v = 0; v < Vectors; ++v) start[v] = bias_vector<Arch>(t.bias, v * lanes, t.out_channels - v * lanes);
  const float* x = t.x;
  float* y = t.y;
  for (int64_t i = 0;; ++i) {
    direct_conv_tile_at<Arch, Pixels, Vectors, Plain, PlainActivation>(t, start, x, y);
    if (i == t.more_tiles) return;
    x += Pixels * t.x_pixel_stride;
    y += Pixels * t.y_pixel_stride;
  }
}

// Calls over contiguous channels into whole vectors (every block of a layer but a narrower
// last one) run with a straight-line epilogue: on reductions of 16-64 channels (1x1 layers of
// few channels) the per-store checks of channel tails and activation cost a fifth of a tile
// (docs/results/decisions.md, "direct kernel: plain tiles").
template <class Arch, int Pixels, int Vectors>
void direct_conv_tile(const DirectConvTile& t) {
  constexpr int64_t width = Vectors * xsimd::batch<float, Arch>::size;
  const bool plain = t.x_reduce_stride == 1 && t.w_reduce_stride == width && t.out_channels >= width;
  if (plain && t.activation == Activation::none) return direct_conv_tiles<Arch, Pixels, Vectors, true, Activation::none>(t);
  if (plain && t.activation == Activation::relu) return direct_conv_tiles<Arch, Pixels, Vectors, true, Activation::relu>(t);
  direct_conv_tiles<Arch, Pixels, Vectors, false, Activation::none>(t);
}

// Dot tiles hold pixels*channels accumulators plus `channels` weight vectors and one input
// vector: 5x4 (20+4+1) on AVX-512, 3x3 (9+3+1) on AVX2, 3x2 (6+2+1, and the SSE2 product's
// temporary) on SSE2.
template <class Arch>
constexpr int dot_max_pixels() {
  return xsimd::batch<float, Arch>::size == 16 ? 5 : 3;
}
template <class Arch>
constexpr int dot_max_channels() {
  constexpr int lanes = static_cast<int>(xsimd::batch<float, Arch>::size);
  return lanes == 16 ? 4 : lanes == 8 ? 3 : 2;
}

template <class Arch, int Pixels, int Channels, bool Partial>
inline void dot_step(const DirectDotTile& t, const float* x, const float* w, int64_t k, int64_t count,
                     xsimd::batch<float, Arch> (&acc)[Pixels][Channels]) {
  using Batch = xsimd::batch<float, Arch>;
  Batch wv[Channels];
#pragma GCC unroll 4
  for (int c = 0; c < Channels; ++c) {
    const float* src = w + c * t.w_channel_stride + k;
    wv[c] = Partial ? load_partial<Arch>(src, count) : Batch::load_unaligned(src);
  }
#pragma GCC unroll 8
  for (int p = 0; p < Pixels; ++p) {
    const float* src = x + p * t.x_pixel_stride + k;
    const Batch xv = Partial ? load_partial<Arch>(src, count) : Batch::load_unaligned(src);
#pragma GCC unroll 4
    for (int c = 0; c < Channels; ++c) acc[p][c] = fused_multiply_add(xv, wv[c], acc[p][c]);
  }
}

template <class Arch, int Pixels, int Channels>
void direct_dot_tile(const DirectDotTile& t) {
  using Batch = xsimd::batch<float, Arch>;
  constexpr int64_t lanes = Batch::size;
  Batch acc[Pixels][Channels];
#pragma GCC unroll 8
  for (int p = 0; p < Pixels; ++p) {
#pragma GCC unroll 4
    for (int c = 0; c < Channels; ++c) acc[p][c] = Batch(0.0f);
  }
  const int64_t whole = t.reduce - t.reduce % lanes;
  for (int64_t th = 0; th < t.taps_h; ++th) {
    for (int64_t tw = 0; tw < t.taps_w; ++tw) {
      const float* x = t.x + th * t.x_tap_h + tw * t.x_tap_w;
      const float* w = t.w + th * t.w_tap_h + tw * t.w_tap_w;
      for (int64_t k = 0; k < whole; k += lanes) dot_step<Arch, Pixels, Channels, false>(t, x, w, k, lanes, acc);
      if (whole < t.reduce) dot_step<Arch, Pixels, Channels, true>(t, x, w, whole, t.reduce - whole, acc);
    }
  }
#pragma GCC unroll 8
  for (int p = 0; p < Pixels; ++p) {
    float* y = t.y + p * t.y_pixel_stride;
#pragma GCC unroll 4
    for (int c = 0; c < Channels; ++c) {
      const float sum = xsimd::hadd(acc[p][c]);
      y[c] = detail::activate(t.bias != nullptr ? sum + t.bias[c] : sum, t.activation);
    }
  }
}

template <class Arch, int Pixels, int Channels>
void fill_dot_tiles(DirectConvKernels& k) {
  if constexpr (Channels <= dot_max_channels<Arch>()) {
    k.dot_tile[Pixels - 1][Channels - 1] = &direct_dot_tile<Arch, Pixels, Channels>;
    fill_dot_tiles<Arch, Pixels, Channels + 1>(k);
  } else if constexpr (Pixels < dot_max_pixels<Arch>()) {
    fill_dot_tiles<Arch, Pixels + 1, 1>(k);
  }
}

#ifdef __AVX__
// One 8x8 block through AVX registers: 24 shuffles per 64 floats against 32 for the same floats
// in 4x4 SSE blocks, and half the loads and stores (docs/results/decisions.md, "direct kernel:
// 8x8 transpose blocks").
inline void transpose_8x8(const float* s, int64_t src_stride, float* out, int64_t dst_stride) {
  __m256 a[8], b[8];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) a[i] = _mm256_loadu_ps(s + i * src_stride);
  // Pairs of rows interleaved, then quads, within each 128-bit half; then the halves swapped.
#pragma GCC unroll 4
  for (int i = 0; i < 8; i += 2) {
    b[i] = _mm256_unpacklo_ps(a[i], a[i + 1]);
    b[i + 1] = _mm256_unpackhi_ps(a[i], a[i + 1]);
  }
#pragma GCC unroll 2
  for (int i = 0; i < 8; i += 4) {
    a[i] = _mm256_shuffle_ps(b[i], b[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    a[i + 1] = _mm256_shuffle_ps(b[i], b[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    a[i + 2] = _mm256_shuffle_ps(b[i + 1], b[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    a[i + 3] = _mm256_shuffle_ps(b[i + 1], b[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    _mm256_storeu_ps(out + i * dst_stride, _mm256_permute2f128_ps(a[i], a[i + 4], 0x20));
    _mm256_storeu_ps(out + (i + 4) * dst_stride, _mm256_permute2f128_ps(a[i], a[i + 4], 0x31));
  }
}
#endif

#ifdef __AVX512F__
// One 16x16 block through AVX-512 registers: 64 shuffles per 256 floats against 128 in 8x8
// blocks, whose shuffles bound the transpose, and every store a whole line.
inline void transpose_16x16(const float* s, int64_t src_stride, float* out, int64_t dst_stride) {
  __m512 a[16], t[16];
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) a[i] = _mm512_loadu_ps(s + i * src_stride);
  // Within each 128-bit lane L: pairs of rows interleaved, then quads, so that a[4m + c] holds
  // rows 4m..4m+3 of column 4L+c; then the lanes gathered across a[c], a[4 + c], a[8 + c], a[12 + c].
#pragma GCC unroll 8
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(a[i], a[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(a[i], a[i + 1]);
  }
#pragma GCC unroll 4
  for (int m = 0; m < 16; m += 4) {
    const __m512d lo = _mm512_castps_pd(t[m]), hi = _mm512_castps_pd(t[m + 1]);
    const __m512d lo2 = _mm512_castps_pd(t[m + 2]), hi2 = _mm512_castps_pd(t[m + 3]);
    a[m] = _mm512_castpd_ps(_mm512_unpacklo_pd(lo, lo2));
    a[m + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(lo, lo2));
    a[m + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(hi, hi2));
    a[m + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(hi, hi2));
  }
#pragma GCC unroll 4
  for (int c = 0; c < 4; ++c) {
    const __m512 even_low = _mm512_shuffle_f32x4(a[c], a[4 + c], 0x88);
    const __m512 odd_low = _mm512_shuffle_f32x4(a[c], a[4 + c], 0xdd);
    const __m512 even_high = _mm512_shuffle_f32x4(a[8 + c], a[12 + c], 0x88);
    const __m512 odd_high = _mm512_shuffle_f32x4(a[8 + c], a[12 + c], 0xdd);
    _mm512_storeu_ps(out + c * dst_stride, _mm512_shuffle_f32x4(even_low, even_high, 0x88));
    _mm512_storeu_ps(out + (4 + c) * dst_stride, _mm512_shuffle_f32x4(odd_low, odd_high, 0x88));
    _mm512_storeu_ps(out + (8 + c) * dst_stride, _mm512_shuffle_f32x4(even_low, even_high, 0xdd));
    _mm512_storeu_ps(out + (12 + c) * dst_stride, _mm512_shuffle_f32x4(odd_low, odd_high, 0xdd));
  }
}
#endif

#ifdef __AVX__
// Columns [0, cols - cols % 8) in 16x16 blocks where AVX-512 has them, else (and for a last 8
// columns) 8x8 blocks; returns the first column left to do. Blocks of rows are outermost, so
// each destination line is written whole while it is in L1, not a part on each of several
// passes over every row (docs/results/decisions.md, "direct kernel: transposes row blocks
// outermost").
inline int64_t transpose_wide_blocks(const float* src, int64_t src_stride, int64_t rows, int64_t cols, float* dst,
                                     int64_t dst_stride) {
  const int64_t cols8 = cols - cols % 8;
#ifdef __AVX512F__
  const int64_t cols16 = cols - cols % 16;
  constexpr int64_t kRowBlock = 16;
#else
  const int64_t cols16 = 0;
  constexpr int64_t kRowBlock = 8;
#endif
  int64_t r = 0;
  for (; r + kRowBlock <= rows; r += kRowBlock) {
#ifdef __AVX512F__
    for (int64_t j = 0; j < cols16; j += 16) {
      transpose_16x16(src + j * src_stride + r, src_stride, dst + r * dst_stride + j, dst_stride);
    }
#endif
    for (int64_t j = cols16; j < cols8; j += 8) {
      for (int64_t half = 0; half < kRowBlock; half += 8) {
        transpose_8x8(src + j * src_stride + r + half, src_stride, dst + (r + half) * dst_stride + j, dst_stride);
      }
    }
  }
  for (; r + 8 <= rows; r += 8) {
    for (int64_t j = 0; j < cols8; j += 8) {
      transpose_8x8(src + j * src_stride + r, src_stride, dst + r * dst_stride + j, dst_stride);
    }
  }
  for (; r < rows; ++r) {
    for (int64_t j = 0; j < cols8; ++j) dst[r * dst_stride + j] = src[j * src_stride + r];
  }
  return cols8;
}
#endif

// The rest in 4x4 blocks through SSE registers (the x86-64 baseline; a scalar transpose costs
// about four times as much, which backward data pays on every call).
template <class Arch>
void transpose_floats(const float* src, int64_t src_stride, int64_t rows, int64_t cols, float* dst,
                      int64_t dst_stride) {
  using Quad = xsimd::batch<float, xsimd::sse2>;
  using Pair = xsimd::batch<double, xsimd::sse2>;
  int64_t j = 0;
#ifdef __AVX__
  j = transpose_wide_blocks(src, src_stride, rows, cols, dst, dst_stride);
#endif
  for (; j + 4 <= cols; j += 4) {
    const float* s0 = src + j * src_stride;
    const float* s1 = s0 + src_stride;
    const float* s2 = s1 + src_stride;
    const float* s3 = s2 + src_stride;
    int64_t r = 0;
    for (; r + 4 <= rows; r += 4) {
      // Rows a, b, c, d of src; zip to a0 b0 a1 b1 / a2 b2 a3 b3 (and c, d), then pairs.
      const Quad a = Quad::load_unaligned(s0 + r), b = Quad::load_unaligned(s1 + r);
      const Quad c = Quad::load_unaligned(s2 + r), d = Quad::load_unaligned(s3 + r);
      const Pair ab_lo = xsimd::bitwise_cast<Pair>(xsimd::zip_lo(a, b));
      const Pair ab_hi = xsimd::bitwise_cast<Pair>(xsimd::zip_hi(a, b));
      const Pair cd_lo = xsimd::bitwise_cast<Pair>(xsimd::zip_lo(c, d));
      const Pair cd_hi = xsimd::bitwise_cast<Pair>(xsimd::zip_hi(c, d));
      float* out = dst + r * dst_stride + j;
      xsimd::bitwise_cast<Quad>(xsimd::zip_lo(ab_lo, cd_lo)).store_unaligned(out);
      xsimd::bitwise_cast<Quad>(xsimd::zip_hi(ab_lo, cd_lo)).store_unaligned(out + dst_stride);
      xsimd::bitwise_cast<Quad>(xsimd::zip_lo(ab_hi, cd_hi)).store_unaligned(out + 2 * dst_stride);
      xsimd::bitwise_cast<Quad>(xsimd::zip_hi(ab_hi, cd_hi)).store_unaligned(out + 3 * dst_stride);
    }
    for (; r < rows; ++r) {
      float* out = dst + r * dst_stride + j;
      out[0] = s0[r], out[1] = s1[r], out[2] = s2[r], out[3] = s3[r];
    }
  }
  for (; j < cols; ++j) {
    for (int64_t r = 0; r < rows; ++r) dst[r * dst_stride + j] = src[j * src_stride + r];
  }
}

// Fills tile[Vectors-1][Pixels-1 ...] for every pixel count the register budget allows.
template <class Arch, int Vectors, int Pixels>
void fill_direct_tiles(DirectConvKernels& k) {
  if constexpr (Pixels <= direct_tile_max_pixels<Arch>(Vectors)) {
    k.tile[Vectors - 1][Pixels - 1] = &direct_conv_tile<Arch, Pixels, Vectors>;
    fill_direct_tiles<Arch, Vectors, Pixels + 1>(k);
  }
}

template <class Arch>
DirectConvKernels make_direct_conv_kernels() {
  DirectConvKernels k{};
  k.lanes = static_cast<int>(xsimd::batch<float, Arch>::size);
  for (int v = 1; v <= kMaxTileVectors; ++v) k.max_pixels[v - 1] = direct_tile_max_pixels<Arch>(v);
  k.preferred_vectors = k.lanes == 16 ? 4 : 2;
  fill_direct_tiles<Arch, 1, 1>(k);
  fill_direct_tiles<Arch, 2, 1>(k);
  fill_direct_tiles<Arch, 3, 1>(k);
  fill_direct_tiles<Arch, 4, 1>(k);
  k.dot_max_pixels = dot_max_pixels<Arch>();
  k.dot_max_channels = dot_max_channels<Arch>();
  fill_dot_tiles<Arch, 1, 1>(k);
  k.transpose = &transpose_floats<Arch>;
  return k;
}

}  // namespace
}  // namespace convkit::detail
