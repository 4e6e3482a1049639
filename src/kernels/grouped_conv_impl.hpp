#pragma once
// The grouped tiles (grouped_conv.hpp) on xsimd batches, compiled once per instruction set;
// internal linkage for the same reason as direct_conv_impl.hpp.
//
// Register budget: Pixels x Diagonals accumulators plus the operands of one tap. Either the
// tap's Diagonals weight vectors stay in registers while each pixel's input vector is loaded
// once (Pixels*Diagonals + Diagonals + 1 registers), or the Pixels input vectors stay while
// each weight vector is loaded once (Pixels*Diagonals + Pixels + 1); a tile takes whichever
// order allows more pixels, since every pixel shares the tap's weight loads and every diagonal
// its input loads. The epilogue's permutes run once per pixel, not per tap.
#include <immintrin.h>
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels/epilogue.hpp"
#include "kernels/fused_multiply_add.hpp"
#include "kernels/grouped_conv.hpp"
#include "kernels/keep_in_register.hpp"
#include "kernels/partial_vector.hpp"

namespace convkit::detail {
namespace {

template <class Arch>
constexpr int grouped_vector_registers() {
  return std::is_same_v<Arch, xsimd::avx512f> ? 32 : 16;
}

// Whether a tile of Diagonals keeps the tap's weights in registers (else its input vectors),
// and how many pixels it then holds: see the opening comment.
template <class Arch>
constexpr bool grouped_holds_weights(int diagonals) {
  const int free = grouped_vector_registers<Arch>() - 1;
  return (free - diagonals) / diagonals >= free / (diagonals + 1);
}
template <class Arch>
constexpr int grouped_max_pixels(int diagonals) {
  const int free = grouped_vector_registers<Arch>() - 1;
  const int pixels = grouped_holds_weights<Arch>(diagonals) ? (free - diagonals) / diagonals : free / (diagonals + 1);
  return std::clamp(pixels, 1, kMaxGroupedPixels);
}

// Moves lanes: pick(a) has lane l = a[source[l]], or 0 where source[l] < 0. The table is read
// once, when made, and serves every pixel of a tile.
template <class Arch>
class LanePicker {
  using Batch = xsimd::batch<float, Arch>;
  static constexpr bool kAvx512 = std::is_same_v<Arch, xsimd::avx512f>;
  static constexpr bool kAvx2 = std::is_base_of_v<xsimd::avx2, Arch>;

 public:
  [[gnu::always_inline]] explicit LanePicker(const int32_t* source) : source_(source) {
    if constexpr (kAvx512) {
      index_ = _mm512_loadu_si512(source);
      keep_ = _mm512_cmpge_epi32_mask(index_, _mm512_setzero_si512());
    } else if constexpr (kAvx2) {
      index_ = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(source));
      keep_ = _mm256_castsi256_ps(_mm256_cmpgt_epi32(index_, _mm256_set1_epi32(-1)));
    }
  }
  [[gnu::always_inline]] Batch operator()(const Batch& a) const {
    if constexpr (kAvx512) {
      return Batch(_mm512_maskz_permutexvar_ps(keep_, index_, a));
    } else if constexpr (kAvx2) {
      return Batch(_mm256_and_ps(_mm256_permutevar8x32_ps(a, index_), keep_));
    } else {
      // SSE2 has no variable permute: through memory.
      constexpr int lanes = static_cast<int>(Batch::size);
      alignas(64) float in[lanes];
      alignas(64) float out[lanes];
      a.store_aligned(in);
      for (int l = 0; l < lanes; ++l) out[l] = source_[l] >= 0 ? in[source_[l]] : 0.0f;
      return Batch::load_aligned(out);
    }
  }

 private:
  const int32_t* source_;
  typename xsimd::batch<int32_t, Arch>::register_type index_{};
  typename xsimd::batch_bool<float, Arch>::register_type keep_{};
};

// acc[r][s] += in[r] * diagonals[s*lanes ...] for every r < Rows and s < Diagonals, the inputs
// kept in registers and each diagonal vector loaded once for all of them.
template <class Arch, int Rows, int Diagonals>
[[gnu::always_inline]] inline void multiply_by_diagonals(xsimd::batch<float, Arch> (&acc)[Rows][Diagonals],
                                                         xsimd::batch<float, Arch> (&in)[Rows], const float* diagonals) {
  using Batch = xsimd::batch<float, Arch>;
#pragma GCC unroll 16
  for (int r = 0; r < Rows; ++r) keep_in_register(in[r]);
#pragma GCC unroll 8
  for (int s = 0; s < Diagonals; ++s) {
    Batch d = Batch::load_unaligned(diagonals + s * int64_t(Batch::size));
    // Left to itself GCC folds this load into each row's FMA, a load per FMA.
    keep_in_register(d);
#pragma GCC unroll 16
    for (int r = 0; r < Rows; ++r) acc[r][s] = fused_multiply_add(in[r], d, acc[r][s]);
  }
}

// The diagonals' weight vectors of one tap, loaded once and kept in registers for every pixel.
template <class Arch, int Diagonals>
void hold_diagonals(xsimd::batch<float, Arch> (&wv)[Diagonals], const float* w) {
#pragma GCC unroll 8
  for (int s = 0; s < Diagonals; ++s) {
    wv[s] = xsimd::batch<float, Arch>::load_unaligned(w + s * int64_t(xsimd::batch<float, Arch>::size));
    keep_in_register(wv[s]);
  }
}

// Lane l of the result is a's lane l XOR Bit (Bit 1, 2 or 4): within 128 bits an immediate
// shuffle, across them a swap of 128-bit halves, both cheaper than LanePicker's variable permute.
template <class Arch, int Bit>
[[gnu::always_inline]] inline xsimd::batch<float, Arch> xor_lanes(const xsimd::batch<float, Arch>& a) {
  using Batch = xsimd::batch<float, Arch>;
  static_assert(Bit == 1 || Bit == 2 || Bit == 4, "lanes move by XOR with 1, 2 or 4");
  constexpr int within = Bit == 1 ? 0xB1 : 0x4E;  // (1, 0, 3, 2) or (2, 3, 0, 1)
  if constexpr (std::is_same_v<Arch, xsimd::avx512f>) {
    // The zero-masked forms with every lane kept: GCC 12 warns of the plain ones' undefined source.
    constexpr __mmask16 all = 0xFFFF;
    return Batch(Bit == 4 ? _mm512_maskz_shuffle_f32x4(all, a, a, 0xB1) : _mm512_maskz_permute_ps(all, a, within));
  } else if constexpr (std::is_base_of_v<xsimd::avx, Arch>) {
    return Batch(Bit == 4 ? _mm256_permute2f128_ps(a, a, 0x01) : _mm256_permute_ps(a, within));
  } else {
    static_assert(Bit < 4, "4-lane vectors hold no group of 8");
    return Batch(_mm_shuffle_ps(a, a, within));
  }
}

// acc[p][0] += sum over s of xor_lanes<s>(acc[p][s]), a bit of s at a time (lowest first):
// after bit b, acc[p][s] for s a multiple of 2b holds the sum over s' < 2b of acc[p][s + s']
// moved by s', since moving by s XOR s' is moving by s and then by s'.
template <class Arch, int Diagonals, int Pixels, int Bit = 1>
[[gnu::always_inline]] inline void fold_xor_diagonals(xsimd::batch<float, Arch> (&acc)[Pixels][Diagonals]) {
  if constexpr (Bit < Diagonals) {
#pragma GCC unroll 8
    for (int s = 0; s < Diagonals; s += 2 * Bit) {
#pragma GCC unroll 16
      for (int p = 0; p < Pixels; ++p) acc[p][s] += xor_lanes<Arch, Bit>(acc[p][s + Bit]);
    }
    fold_xor_diagonals<Arch, Diagonals, Pixels, 2 * Bit>(acc);
  }
}

// in[s] = xor_lanes<s>(in[0]) for 0 < s < Diagonals, a bit of s at a time: Diagonals - 1
// shuffles, each moving a vector made before it.
template <class Arch, int Diagonals, int Bit = 1>
[[gnu::always_inline]] inline void spread_xor_lanes(xsimd::batch<float, Arch> (&in)[Diagonals]) {
  if constexpr (Bit < Diagonals) {
#pragma GCC unroll 8
    for (int s = 0; s < Bit; ++s) in[s + Bit] = xor_lanes<Arch, Bit>(in[s]);
    spread_xor_lanes<Arch, Diagonals, 2 * Bit>(in);
  }
}

// Which of GroupedConvKernels' tiles: `tile`, `tile_per_input`, `tile_xor` or `tile_gather`.
enum class GroupedTileKind { shared, per_input, xor_lanes, gather };

template <class Arch, int Diagonals, int Pixels, bool Partial, GroupedTileKind Kind>
void grouped_conv_tile(const GroupedConvTile& tile) {
  constexpr bool PerInput = Kind == GroupedTileKind::per_input;
  // A local copy: an intrinsic's vector store may alias anything, `tile` included (see
  // depthwise_conv_impl.hpp).
  const GroupedConvTile t = tile;
  using Batch = xsimd::batch<float, Arch>;
  constexpr int64_t lanes = Batch::size;
  // The input lanes vector s may read: all of them, or (PerInput) those of input vector s.
  int64_t in_lanes[PerInput ? Diagonals : 1];
#pragma GCC unroll 8
  for (int s = 0; s < (PerInput ? Diagonals : 1); ++s) in_lanes[s] = std::clamp<int64_t>(t.in_lanes - s * lanes, 0, lanes);
  Batch acc[Pixels][Diagonals];
#pragma GCC unroll 16
  for (int p = 0; p < Pixels; ++p) {
#pragma GCC unroll 8
    for (int s = 0; s < Diagonals; ++s) acc[p][s] = Batch(0.0f);
  }
  for (int64_t th = 0; th < t.taps_h; ++th) {
    for (int64_t tw = 0; tw < t.taps_w; ++tw) {
      const float* x = t.x + th * t.x_tap_h + tw * t.x_tap_w;
      const float* w = t.w + th * t.w_tap_h + tw * t.w_tap_w;
      if constexpr (Kind == GroupedTileKind::gather) {
#pragma GCC unroll 16
        for (int p = 0; p < Pixels; ++p) {
          Batch in[Diagonals];
          in[0] = load_lanes<Arch, Partial>(x + p * t.x_pixel_stride, in_lanes[0]);
          spread_xor_lanes<Arch, Diagonals>(in);
#pragma GCC unroll 8
          for (int s = 0; s < Diagonals; ++s) {
            acc[p][0] = fused_multiply_add(in[s], Batch::load_unaligned(w + s * lanes), acc[p][0]);
          }
        }
      } else if constexpr (PerInput) {
        // Each input load feeds one FMA; the weights stay for every pixel.
        Batch wv[Diagonals];
        hold_diagonals<Arch>(wv, w);
#pragma GCC unroll 16
        for (int p = 0; p < Pixels; ++p) {
#pragma GCC unroll 8
          for (int s = 0; s < Diagonals; ++s) {
            const Batch xv = load_lanes<Arch, Partial>(x + p * t.x_pixel_stride + s * lanes, in_lanes[s]);
            acc[p][s] = fused_multiply_add(xv, wv[s], acc[p][s]);
          }
        }
      } else if constexpr (grouped_holds_weights<Arch>(Diagonals)) {
        Batch wv[Diagonals];
        hold_diagonals<Arch>(wv, w);
#pragma GCC unroll 16
        for (int p = 0; p < Pixels; ++p) {
          Batch xv = load_lanes<Arch, Partial>(x + p * t.x_pixel_stride, in_lanes[0]);
          keep_in_register(xv);
#pragma GCC unroll 8
          for (int s = 0; s < Diagonals; ++s) acc[p][s] = fused_multiply_add(xv, wv[s], acc[p][s]);
        }
      } else {
        Batch xv[Pixels];
#pragma GCC unroll 16
        for (int p = 0; p < Pixels; ++p) xv[p] = load_lanes<Arch, Partial>(x + p * t.x_pixel_stride, in_lanes[0]);
        multiply_by_diagonals<Arch>(acc, xv, w);
      }
    }
  }
  if constexpr (Kind == GroupedTileKind::xor_lanes || Kind == GroupedTileKind::gather) {
    if constexpr (Kind == GroupedTileKind::xor_lanes) fold_xor_diagonals<Arch, Diagonals, Pixels>(acc);
    const Batch start = bias_vector<Arch>(t.bias, 0, t.out_channels);
#pragma GCC unroll 16
    for (int p = 0; p < Pixels; ++p) {
      store_channels<Arch>(t.y + p * t.y_pixel_stride, activate<Arch>(start + acc[p][0], t.activation), t.out_channels);
    }
    return;
  }
  for (int64_t v = 0; v * lanes < t.out_channels; ++v) {
    const int64_t count = std::min(lanes, t.out_channels - v * lanes);
    const Batch start = bias_vector<Arch>(t.bias, v * lanes, count);
    Batch out[Pixels];
#pragma GCC unroll 16
    for (int p = 0; p < Pixels; ++p) out[p] = start;
    // One term per accumulator unless PerInput: a constant the compiler folds, where a loop
    // bound read from the tile slowed the shared-input epilogue.
    const int64_t terms = PerInput ? t.terms : 1;
#pragma GCC unroll 8
    for (int s = 0; s < Diagonals; ++s) {
      for (int64_t term = 0; term < terms; ++term) {
        const LanePicker<Arch> pick(t.source + ((v * Diagonals + s) * terms + term) * lanes);
#pragma GCC unroll 16
        for (int p = 0; p < Pixels; ++p) out[p] += pick(acc[p][s]);
      }
    }
#pragma GCC unroll 16
    for (int p = 0; p < Pixels; ++p) {
      store_channels<Arch>(t.y + p * t.y_pixel_stride + v * lanes, activate<Arch>(out[p], t.activation), count);
    }
  }
}

template <class Arch, int Diagonals, int Pixels, GroupedTileKind Kind>
void grouped_conv_tile_any_lanes(const GroupedConvTile& t) {
  const int64_t inputs = Kind == GroupedTileKind::per_input ? Diagonals : 1;
  if (t.in_lanes < inputs * int64_t(xsimd::batch<float, Arch>::size)) {
    grouped_conv_tile<Arch, Diagonals, Pixels, true, Kind>(t);
  } else {
    grouped_conv_tile<Arch, Diagonals, Pixels, false, Kind>(t);
  }
}

// tile_pairs (grouped_conv.hpp) for one block of TapsW = 3 or 5 taps. Input column i feeds
// tap k of pair i + k/2 (the even output for even k, the odd one for odd k), so the tile walks
// the input columns once, spreading each input of each kernel row once for all its taps. Pair
// i is complete after column i, so only the pairs still open hold accumulators (TapsW + 1 of
// them) and the weights feed the FMAs from L1: a tile of whole pairs in registers, its weights
// hoisted by the compiler, spilled its accumulators and ran slower.
template <class Arch, int Diagonals, int TapsW, bool Partial>
void grouped_pair_tile(const PhasePairTile& tile) {
  const PhasePairTile t = tile;  // a local copy, as in grouped_conv_tile
  using Batch = xsimd::batch<float, Arch>;
  constexpr int64_t lanes = Batch::size;
  constexpr int window = (TapsW + 1) / 2;  // the input columns an even output reads
  // open[j]: pair i + j's (even, odd) sums while column i runs.
  Batch open[window][2];
#pragma GCC unroll 4
  for (int j = 0; j < window; ++j) open[j][0] = open[j][1] = Batch(0.0f);
  for (int64_t i = 1 - window; i < t.pairs; ++i) {
    for (int64_t th = 0; th < t.taps_h; ++th) {
      const float* w = t.w + th * t.w_tap_h;
      Batch in[Diagonals];
      in[0] = load_lanes<Arch, Partial>(t.x + th * t.x_tap_h + i * t.x_pixel_stride, t.channels);
      spread_xor_lanes<Arch, Diagonals>(in);
#pragma GCC unroll 8
      for (int s = 0; s < Diagonals; ++s) {
#pragma GCC unroll 5
        for (int k = TapsW - 1; k >= 0; --k) {
          Batch& acc = open[k / 2][k % 2];
          acc = fused_multiply_add(in[s], Batch::load_unaligned(w + k * t.w_tap_w + s * lanes), acc);
        }
      }
    }
    if (i >= 0) {
      store_lanes<Arch, Partial>(t.y + 2 * i * t.y_pixel_stride, open[0][0], t.channels);
      store_lanes<Arch, Partial>(t.y + (2 * i + 1) * t.y_pixel_stride, open[0][1], t.channels);
    }
#pragma GCC unroll 4
    for (int j = 0; j + 1 < window; ++j) open[j][0] = open[j + 1][0], open[j][1] = open[j + 1][1];
    open[window - 1][0] = open[window - 1][1] = Batch(0.0f);
  }
}

template <class Arch, int Diagonals>
void grouped_pair_tile_any(const PhasePairTile& t) {
  const bool partial = t.channels < int64_t(xsimd::batch<float, Arch>::size);
  if (t.taps_w == 5) {
    (partial ? grouped_pair_tile<Arch, Diagonals, 5, true> : grouped_pair_tile<Arch, Diagonals, 5, false>)(t);
  } else {
    (partial ? grouped_pair_tile<Arch, Diagonals, 3, true> : grouped_pair_tile<Arch, Diagonals, 3, false>)(t);
  }
}

#ifdef __AVX2__
// tile_paired (grouped_conv.hpp) in 256-bit vectors, AVX2 and FMA encoding (16 registers):
// Pixels x 2 accumulators, the step's 2 weight vectors and the broadcast pair, as the dense
// AVX2 tile's 6x2. One 64-bit broadcast feeds two FMAs of 8 useful lanes each; a broadcast per
// FMA (8 outputs per vector, or a 512-bit pair broadcast) ran at about 60% of the FMA rate
// (docs/results/decisions.md, "direct: 8-channel groups in input pairs").
inline constexpr int kPairedTilePixels = 6;
inline constexpr int kPairedTileSteps = 4;  // 8 input channels per group

// Below 4 pixels each pixel sums into Chains accumulator pairs, input pair i into chain i mod
// Chains (t.steps is kPairedTileSteps), added in chain order at the end: a lone pair of accumulators would wait on the FMA's
// latency at every step (border columns run one-pixel tiles).
template <int Pixels>
void grouped_paired_tile(const GroupedConvTile& tile) {
  const GroupedConvTile t = tile;  // a local copy, as in grouped_conv_tile
  constexpr int Chains = Pixels >= 4 ? 1 : (4 + Pixels - 1) / Pixels;
  __m256 acc[Chains][Pixels][2];
#pragma GCC unroll 4
  for (int c = 0; c < Chains; ++c) {
#pragma GCC unroll 8
    for (int p = 0; p < Pixels; ++p) acc[c][p][0] = acc[c][p][1] = _mm256_setzero_ps();
  }
  const auto step = [&](int c, const float* x, const float* w) {
    const __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + 8);
#pragma GCC unroll 8
    for (int p = 0; p < Pixels; ++p) {
      // The intrinsic reads memory through its own builtin, not through a double lvalue.
      const __m256 xv = _mm256_castpd_ps(_mm256_broadcast_sd(reinterpret_cast<const double*>(x + p * t.x_pixel_stride)));
      acc[c][p][0] = _mm256_fmadd_ps(xv, w0, acc[c][p][0]);
      acc[c][p][1] = _mm256_fmadd_ps(xv, w1, acc[c][p][1]);
    }
  };
  for (int64_t th = 0; th < t.taps_h; ++th) {
    for (int64_t tw = 0; tw < t.taps_w; ++tw) {
      const float* x = t.x + th * t.x_tap_h + tw * t.x_tap_w;
      const float* w = t.w + th * t.w_tap_h + tw * t.w_tap_w;
      // A tap's 4 steps unrolled: with a loop over them the tap loop's overhead cost a fifth.
#pragma GCC unroll 4
      for (int i = 0; i < kPairedTileSteps; ++i) step(i % Chains, x + 2 * i, w + 16 * i);
    }
  }
  using Eight = xsimd::batch<float, xsimd::avx2>;
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i channels = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(t.out_channels)), lane);
  const __m256 start = bias_vector<xsimd::avx2>(t.bias, 0, t.out_channels);
#pragma GCC unroll 8
  for (int p = 0; p < Pixels; ++p) {
#pragma GCC unroll 4
    for (int c = 1; c < Chains; ++c) {
      acc[0][p][0] = _mm256_add_ps(acc[0][p][0], acc[c][p][0]);
      acc[0][p][1] = _mm256_add_ps(acc[0][p][1], acc[c][p][1]);
    }
    // The weights' order (grouped_conv.hpp) puts the pair sums in output order.
    const __m256 out = _mm256_add_ps(start, _mm256_hadd_ps(acc[0][p][0], acc[0][p][1]));
    const __m256 y = activate<xsimd::avx2>(Eight(out), t.activation);
    // A masked store is slow on AMD processors, and groups of 8 never need one.
    if (t.out_channels == 8) {
      _mm256_storeu_ps(t.y + p * t.y_pixel_stride, y);
    } else {
      _mm256_maskstore_ps(t.y + p * t.y_pixel_stride, channels, y);
    }
  }
}

template <int Pixels>
void fill_grouped_paired_tiles(GroupedConvKernels& k) {
  if constexpr (Pixels <= kPairedTilePixels) {
    k.tile_paired[Pixels - 1] = &grouped_paired_tile<Pixels>;
    fill_grouped_paired_tiles<Pixels + 1>(k);
  }
}
#endif

// One vector of outputs (Ci == Co, and multipliers within a vector) moves its lanes by
// tables read once per call; more run the general loop, a table read per pixel and vector.
template <class Arch, int Diagonals>
void grouped_spread(const GroupedSpread& spread) {
  const GroupedSpread g = spread;  // a local copy, as in grouped_conv_tile
  using Batch = xsimd::batch<float, Arch>;
  constexpr int64_t lanes = Batch::size;
  const int64_t out_vectors = (g.out_channels + lanes - 1) / lanes, tail = g.out_channels - (out_vectors - 1) * lanes;
  const auto load = [&](const float* src, int64_t v) {
    return v == out_vectors - 1 && tail < lanes ? load_partial<Arch>(src, tail) : Batch::load_unaligned(src);
  };
  if (out_vectors == 1) {
    for (int64_t p = 0; p < g.pixels; ++p) {
      const Batch dy = load(g.dy + p * g.dy_pixel_stride, 0);
      float* out = g.out + p * Diagonals * lanes;
#pragma GCC unroll 8
      for (int s = 0; s < Diagonals; ++s) LanePicker<Arch>(g.source + s * lanes)(dy).store_unaligned(out + s * lanes);
    }
    return;
  }
  Batch dy[kMaxGroupedDiagonals];
  for (int64_t p = 0; p < g.pixels; ++p) {
    const float* in = g.dy + p * g.dy_pixel_stride;
    float* out = g.out + p * Diagonals * lanes;
    for (int64_t v = 0; v < out_vectors; ++v) dy[v] = load(in + v * lanes, v);
    for (int s = 0; s < Diagonals; ++s) {
      Batch sum(0.0f);
      for (int64_t v = 0; v < out_vectors; ++v) sum += LanePicker<Arch>(g.source + (v * Diagonals + s) * lanes)(dy[v]);
      sum.store_unaligned(out + s * lanes);
    }
  }
}

// Register budget as the forward tile's: Taps x Diagonals accumulators, the pixel's Taps
// input vectors, and one diagonal of dy at a time.
template <class Arch>
constexpr int grouped_max_taps(int diagonals) {
  const int taps = (grouped_vector_registers<Arch>() - 1) / (diagonals + 1);
  return std::clamp(taps, 1, kMaxGroupedGradTaps);
}

template <class Arch, int Diagonals, int Taps, bool Partial>
void grouped_weight_grad(const GroupedWeightGradTile& tile) {
  const GroupedWeightGradTile t = tile;  // a local copy, as in grouped_conv_tile
  using Batch = xsimd::batch<float, Arch>;
  constexpr int64_t lanes = Batch::size;
  int64_t x_offset[Taps];
  Batch acc[Taps][Diagonals];
#pragma GCC unroll 16
  for (int k = 0; k < Taps; ++k) {
    x_offset[k] = t.x_offset[k];
#pragma GCC unroll 8
    for (int s = 0; s < Diagonals; ++s) acc[k][s] = Batch::load_unaligned(t.sums + t.sum_offset[k] + s * lanes);
  }
  for (int64_t r = 0; r < t.rows; ++r) {
    for (int64_t c = 0; c < t.cols; ++c) {
      const float* x = t.x + r * t.x_row_stride + c * t.x_col_stride;
      const float* dy = t.dy + r * t.dy_row_stride + c * t.dy_col_stride;
      Batch xv[Taps];
#pragma GCC unroll 16
      for (int k = 0; k < Taps; ++k) xv[k] = load_lanes<Arch, Partial>(x + x_offset[k], t.in_lanes);
      multiply_by_diagonals<Arch>(acc, xv, dy);
    }
  }
#pragma GCC unroll 16
  for (int k = 0; k < Taps; ++k) {
#pragma GCC unroll 8
    for (int s = 0; s < Diagonals; ++s) acc[k][s].store_unaligned(t.sums + t.sum_offset[k] + s * lanes);
  }
}

template <class Arch, int Diagonals, int Taps>
void grouped_weight_grad_any_lanes(const GroupedWeightGradTile& t) {
  if (t.in_lanes < int64_t(xsimd::batch<float, Arch>::size)) {
    grouped_weight_grad<Arch, Diagonals, Taps, true>(t);
  } else {
    grouped_weight_grad<Arch, Diagonals, Taps, false>(t);
  }
}

template <class Arch, int Diagonals, int Taps>
void fill_grouped_weight_grads(GroupedConvKernels& k) {
  if constexpr (Taps <= grouped_max_taps<Arch>(Diagonals)) {
    k.weight_grad[Diagonals - 1][Taps - 1] = &grouped_weight_grad_any_lanes<Arch, Diagonals, Taps>;
    fill_grouped_weight_grads<Arch, Diagonals, Taps + 1>(k);
  }
}

// Whether the XOR tiles (tile_xor, tile_gather, tile_pairs) exist for Diagonals: a power of two,
// at least two groups per vector.
template <class Arch>
constexpr bool grouped_xor_fits(int diagonals) {
  return (diagonals & (diagonals - 1)) == 0 && 2 * diagonals <= int(xsimd::batch<float, Arch>::size);
}

template <class Arch, int Diagonals, int Pixels>
void fill_grouped_tiles(GroupedConvKernels& k) {
  if constexpr (Pixels <= grouped_max_pixels<Arch>(Diagonals)) {
    k.tile[Diagonals - 1][Pixels - 1] = &grouped_conv_tile_any_lanes<Arch, Diagonals, Pixels, GroupedTileKind::shared>;
    k.tile_per_input[Diagonals - 1][Pixels - 1] =
        &grouped_conv_tile_any_lanes<Arch, Diagonals, Pixels, GroupedTileKind::per_input>;
    if constexpr (grouped_xor_fits<Arch>(Diagonals)) {
      k.tile_xor[Diagonals - 1][Pixels - 1] =
          &grouped_conv_tile_any_lanes<Arch, Diagonals, Pixels, GroupedTileKind::xor_lanes>;
      k.tile_gather[Diagonals - 1][Pixels - 1] =
          &grouped_conv_tile_any_lanes<Arch, Diagonals, Pixels, GroupedTileKind::gather>;
    }
    fill_grouped_tiles<Arch, Diagonals, Pixels + 1>(k);
  }
}

template <class Arch, int Diagonals>
void fill_grouped_diagonals(GroupedConvKernels& k) {
  if constexpr (Diagonals <= kMaxGroupedDiagonals) {
    k.max_pixels[Diagonals - 1] = grouped_max_pixels<Arch>(Diagonals);
    fill_grouped_tiles<Arch, Diagonals, 1>(k);
    if constexpr (grouped_xor_fits<Arch>(Diagonals)) k.tile_pairs[Diagonals - 1] = &grouped_pair_tile_any<Arch, Diagonals>;
    k.max_taps[Diagonals - 1] = grouped_max_taps<Arch>(Diagonals);
    k.spread[Diagonals - 1] = &grouped_spread<Arch, Diagonals>;
    fill_grouped_weight_grads<Arch, Diagonals, 1>(k);
    fill_grouped_diagonals<Arch, Diagonals + 1>(k);
  }
}

template <class Arch>
GroupedConvKernels make_grouped_conv_kernels() {
  GroupedConvKernels k{};
  k.lanes = static_cast<int>(xsimd::batch<float, Arch>::size);
  fill_grouped_diagonals<Arch, 2>(k);
#ifdef __AVX2__
  k.paired_max_pixels = kPairedTilePixels;
  fill_grouped_paired_tiles<1>(k);
#endif
  return k;
}

}  // namespace
}  // namespace convkit::detail
