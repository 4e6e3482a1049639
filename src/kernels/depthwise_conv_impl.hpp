#pragma once
// The depthwise tiles (depthwise_conv.hpp) on xsimd batches, compiled once per instruction
// set; internal linkage for the same reason as direct_conv_impl.hpp.
#include <xsimd/xsimd.hpp>

#include "kernels/depthwise_conv.hpp"
#include "kernels/depthwise_pair_impl.hpp"
#include "kernels/epilogue.hpp"
#include "kernels/fused_multiply_add.hpp"
#include "kernels/keep_in_register.hpp"
#include "kernels/partial_vector.hpp"

namespace convkit::detail {
namespace {

// Every pixel's accumulators for the `Vectors` channel vectors starting at c begin at the bias
// (or 0); the last vector has `count` valid lanes (all of them unless the tile's tail).
// Always inlined: GCC 12 keeps an array of batches in memory across a call it does not inline.
template <class Arch, int Pixels, int Vectors>
[[gnu::always_inline]] inline void start_from_bias(xsimd::batch<float, Arch> (&acc)[Pixels][Vectors], const float* bias,
                                                   int64_t c, int64_t count) {
  using Batch = xsimd::batch<float, Arch>;
  constexpr int64_t lanes = Batch::size;
#pragma GCC unroll 4
  for (int v = 0; v < Vectors; ++v) {
    const Batch start = bias_vector<Arch>(bias, c + v * lanes, v == Vectors - 1 ? count : lanes);
    // Unrolled for up to 16 accumulators: a loop left here keeps the whole array in memory.
#pragma GCC unroll 16
    for (int p = 0; p < Pixels; ++p) acc[p][v] = start;
  }
}

// Stores the sums of Rows rows of Pixels pixels (acc[r * Pixels + p]) at
// y + r*row_stride + p*pixel_stride + v*lanes, the last vector `count` lanes wide when Partial,
// after the activation.
template <class Arch, int Rows, int Pixels, int Vectors, bool Partial>
[[gnu::always_inline]] inline void store_sums(xsimd::batch<float, Arch> (&acc)[Rows * Pixels][Vectors], float* y,
                                              int64_t row_stride, int64_t pixel_stride, Activation activation,
                                              int64_t count) {
  using Batch = xsimd::batch<float, Arch>;
  constexpr int64_t lanes = Batch::size;
#pragma GCC unroll 16
  for (int i = 0; i < Rows * Pixels; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < Vectors; ++v) {
      const Batch sum = activate<Arch>(acc[i][v], activation);
      float* dst = y + (i / Pixels) * row_stride + (i % Pixels) * pixel_stride + v * lanes;
      if (v == Vectors - 1) {
        store_lanes<Arch, Partial>(dst, sum, count);
      } else {
        sum.store_unaligned(dst);
      }
    }
  }
}

template <class Arch, int Pixels, int Vectors, bool Partial>
inline void depthwise_vectors(const DepthwiseConvTile& tile, int64_t c, int64_t count) {
  // A local copy: an intrinsic's vector store may alias anything, `tile` included, and GCC 12
  // reloaded y, its pixel stride and the activation around every store of the epilogue. With the
  // copy, 8-pixel tiles of backward data's stride-2 phases (96 channels) took 45-65 ns against
  // 50-82, and of MobileNet's 32-channel 3x3 layer 47 against 55 (convkit-kernel-bench).
  const DepthwiseConvTile t = tile;
  using Batch = xsimd::batch<float, Arch>;
  constexpr int64_t lanes = Batch::size;
  Batch acc[Pixels][Vectors];
  start_from_bias<Arch, Pixels, Vectors>(acc, t.bias, c, count);
  for (int64_t th = 0; th < t.taps_h; ++th) {
    for (int64_t tw = 0; tw < t.taps_w; ++tw) {
      const float* x = t.x + th * t.x_tap_h + tw * t.x_tap_w + c;
      const float* w = t.w + th * t.w_tap_h + tw * t.w_tap_w + c;
      Batch wv[Vectors];
#pragma GCC unroll 4
      for (int v = 0; v < Vectors; ++v) wv[v] = Batch::load_unaligned(w + v * lanes);
#pragma GCC unroll 8
      for (int p = 0; p < Pixels; ++p) {
#pragma GCC unroll 4
        for (int v = 0; v < Vectors; ++v) {
          const float* src = x + p * t.x_pixel_stride + v * lanes;
          const Batch xv = v == Vectors - 1 ? load_lanes<Arch, Partial>(src, count) : Batch::load_unaligned(src);
          acc[p][v] = fused_multiply_add(xv, wv[v], acc[p][v]);
        }
      }
    }
  }
  store_sums<Arch, 1, Pixels, Vectors, Partial>(acc, t.y + c, 0, t.y_pixel_stride, t.activation, count);
}

// A row of TapsW taps whose input steps by 1/Stride of a pixel per tap (stride 1 or 2, no
// dilation): neighbouring pixels share inputs, so each input vector of a kernel row is
// loaded once and feeds every tap that reads it, instead of once per tap. On AVX-512 that
// cuts the loads per FMA from 1 to about 1/3 (stride 1), which matters because NHWC rows of
// a caller's buffer are rarely 64-byte aligned and a split 64-byte load costs two.
// It takes runs of Vectors vectors from c while they fit below c_end, and returns the first
// channel left: one call per tile rather than per run. Called per run, at stride 2 on AVX2
// (72 FMAs a run), 17% of the tile's time went to its setup and stores outside the FMA loop
// (docs/results/decisions.md, "depthwise kernel: the channel loop inside the row tile").
template <class Arch, int Pixels, int Vectors, int Stride, int TapsW>
inline int64_t depthwise_row_vectors(const DepthwiseConvTile& tile, int64_t c, int64_t c_end) {
  const DepthwiseConvTile t = tile;  // a local copy, as in depthwise_vectors
  using Batch = xsimd::batch<float, Arch>;
  constexpr int64_t lanes = Batch::size;
  constexpr int inputs = (Pixels - 1) * Stride + TapsW;
  for (; c + Vectors * lanes <= c_end; c += Vectors * lanes) {
    Batch acc[Pixels][Vectors];
    start_from_bias<Arch, Pixels, Vectors>(acc, t.bias, c, lanes);
    for (int64_t th = 0; th < t.taps_h; ++th) {
      const float* x = t.x + th * t.x_tap_h + c;
      const float* w = t.w + th * t.w_tap_h + c;
      Batch wv[TapsW][Vectors];
#pragma GCC unroll 8
      for (int tw = 0; tw < TapsW; ++tw) {
#pragma GCC unroll 4
        for (int v = 0; v < Vectors; ++v) wv[tw][v] = Batch::load_unaligned(w + tw * t.w_tap_w + v * lanes);
      }
      // One pointer stepped along the inputs: their offsets j * x_tap_w, up to 17, held in
      // registers, left GCC 12 reloading them from the stack around every load.
      const float* xj = x;
#pragma GCC unroll 32
      for (int j = 0; j < inputs; ++j, xj += t.x_tap_w) {
#pragma GCC unroll 4
        for (int v = 0; v < Vectors; ++v) {
          Batch xv = Batch::load_unaligned(xj + v * lanes);
          // Left to itself GCC folds the load into each FMA that uses it, reloading (a usually
          // line-splitting) vector up to three times.
          keep_in_register(xv);
#pragma GCC unroll 8
          for (int tw = 0; tw < TapsW; ++tw) {
            const int offset = j - tw;  // = p * Stride for the pixel p this tap serves
            if (offset >= 0 && offset % Stride == 0 && offset / Stride < Pixels) {
              acc[offset / Stride][v] = fused_multiply_add(xv, wv[tw][v], acc[offset / Stride][v]);
            }
          }
        }
      }
    }
    store_sums<Arch, 1, Pixels, Vectors, false>(acc, t.y + c, 0, t.y_pixel_stride, t.activation, lanes);
  }
  return c;
}

// Two output rows of a 3x3 kernel in one pass, at stride StrideH down and StrideW along, for
// one vector of channels: each input vector is loaded once for every tap of either row that
// reads it. At stride 2 the rows share one of their input rows, and the pass loads 5 input rows
// for 2 output rows rather than 6 (at stride 1, 4 rather than 6); the nine weight vectors stay
// in registers for the whole tile, next to 2*Pixels accumulators. The taps of each output are
// summed in the one-row order, so results do not depend on which path ran.
template <class Arch, int Pixels, int StrideH, int StrideW>
inline void depthwise_row_pair_vector(const DepthwiseConvTile& tile, int64_t c) {
  const DepthwiseConvTile t = tile;  // a local copy, as in depthwise_vectors
  using Batch = xsimd::batch<float, Arch>;
  constexpr int taps = 3, input_rows = StrideH + taps, inputs = (Pixels - 1) * StrideW + taps;
  Batch wv[taps][taps];
#pragma GCC unroll 3
  for (int th = 0; th < taps; ++th) {
#pragma GCC unroll 3
    for (int tw = 0; tw < taps; ++tw) wv[th][tw] = Batch::load_unaligned(t.w + th * t.w_tap_h + tw * t.w_tap_w + c);
  }
  Batch acc[2 * Pixels][1];  // row r, pixel p at acc[r * Pixels + p]
  start_from_bias<Arch, 2 * Pixels, 1>(acc, t.bias, c, Batch::size);
#pragma GCC unroll 5
  for (int i = 0; i < input_rows; ++i) {
    const float* x = t.x + i * t.x_tap_h + c;
#pragma GCC unroll 16
    for (int j = 0; j < inputs; ++j) {
      Batch xv = Batch::load_unaligned(x + j * t.x_tap_w);
      keep_in_register(xv);
#pragma GCC unroll 2
      for (int r = 0; r < 2; ++r) {
        const int th = i - r * StrideH;
        if (th < 0 || th >= taps) continue;
#pragma GCC unroll 3
        for (int tw = 0; tw < taps; ++tw) {
          const int offset = j - tw;  // = p * StrideW for the pixel p this tap serves
          if (offset >= 0 && offset % StrideW == 0 && offset / StrideW < Pixels) {
            Batch& sum = acc[r * Pixels + offset / StrideW][0];
            sum = fused_multiply_add(xv, wv[th][tw], sum);
          }
        }
      }
    }
  }
  store_sums<Arch, 2, Pixels, 1, false>(acc, t.y + c, t.y_row_stride, t.y_pixel_stride, t.activation, Batch::size);
}

template <class Arch, int Pixels, int StrideH, int StrideW>
inline int64_t depthwise_row_pair(const DepthwiseConvTile& t) {
  constexpr int64_t lanes = xsimd::batch<float, Arch>::size;
  int64_t c = 0;
  for (; c + lanes <= t.channels; c += lanes) depthwise_row_pair_vector<Arch, Pixels, StrideH, StrideW>(t, c);
  return c;
}

// The vectors of a wide tile (depthwise_wide_tiles): as many as the registers hold next to
// their three weight vectors each, four pixels of accumulators and the input; none on SSE2.
template <class Arch>
constexpr int depthwise_wide_vectors() {
  constexpr int lanes = static_cast<int>(xsimd::batch<float, Arch>::size);
  return lanes == 16 ? 4 : lanes == 8 ? 2 : 0;
}

// Whole vectors of channels through the row-reuse path: wide tiles first where they apply,
// then two at a time on AVX-512, then one at a time; returns the first channel left (the
// partial last vector, if any).
template <class Arch, int Pixels, int Stride, int TapsW>
inline int64_t depthwise_row(const DepthwiseConvTile& t) {
  constexpr int64_t lanes = xsimd::batch<float, Arch>::size;
  constexpr int pair = lanes == 16 ? 2 : 1, wide = depthwise_wide_vectors<Arch>();
  int64_t c = 0;
  if constexpr (wide > 0 && Pixels <= kMaxDepthwiseWidePixels && TapsW <= 3) {
    if (depthwise_wide_tiles(t.x_pixel_stride, lanes)) {
      c = depthwise_row_vectors<Arch, Pixels, wide, Stride, TapsW>(t, c, t.channels);
    }
  }
  if constexpr (pair > 1) c = depthwise_row_vectors<Arch, Pixels, pair, Stride, TapsW>(t, c, t.channels);
  return depthwise_row_vectors<Arch, Pixels, 1, Stride, TapsW>(t, c, t.channels);
}

// Whole vectors through the row-reuse path, then the partial last one. Over at least a vector
// of channels, that one runs as the whole vector ending at the last channel, through the same
// path: the lanes it shares with the vector before are summed again in the same order and
// stored with the same values, which costs less than the per-tap masked loads of the general
// path (58 channels on AVX2 ran at 0.7x the rate of 56; docs/results/decisions.md, "depthwise
// kernel: the last vector overlapped").
template <class Arch, int Pixels, int Stride, int TapsW>
void depthwise_row_channels(const DepthwiseConvTile& t) {
  constexpr int64_t lanes = xsimd::batch<float, Arch>::size;
  const int64_t c = depthwise_row<Arch, Pixels, Stride, TapsW>(t);
  if (c == t.channels) return;
  if (t.channels >= lanes) {
    depthwise_row_vectors<Arch, Pixels, 1, Stride, TapsW>(t, t.channels - lanes, t.channels);
  } else {
    depthwise_vectors<Arch, Pixels, 1, true>(t, c, t.channels - c);
  }
}

// One row. Two vectors at a time where the register file holds 2*Pixels accumulators
// (AVX-512), which halves the loop overhead per FMA; then single vectors, then the partial
// last one.
template <class Arch, int Pixels>
void depthwise_conv_row(const DepthwiseConvTile& t) {
  constexpr int64_t lanes = xsimd::batch<float, Arch>::size;
  // 3 taps (a 3-wide kernel's interior) and 2 (its border, or a phase of a stride-2 backward
  // pass), 5 and 4 (a 5-wide kernel's interior and border), at stride 1 or 2.
  const bool stride1 = t.x_pixel_stride == t.x_tap_w, stride2 = t.x_pixel_stride == 2 * t.x_tap_w;
  if (t.taps_w == 5 && (stride1 || stride2)) {
    stride1 ? depthwise_row_channels<Arch, Pixels, 1, 5>(t) : depthwise_row_channels<Arch, Pixels, 2, 5>(t);
  } else if (t.taps_w == 4 && (stride1 || stride2)) {
    stride1 ? depthwise_row_channels<Arch, Pixels, 1, 4>(t) : depthwise_row_channels<Arch, Pixels, 2, 4>(t);
  } else if (t.taps_w == 3 && (stride1 || stride2)) {
    stride1 ? depthwise_row_channels<Arch, Pixels, 1, 3>(t) : depthwise_row_channels<Arch, Pixels, 2, 3>(t);
  } else if (t.taps_w == 2 && (stride1 || stride2)) {
    stride1 ? depthwise_row_channels<Arch, Pixels, 1, 2>(t) : depthwise_row_channels<Arch, Pixels, 2, 2>(t);
  } else {
    int64_t c = 0;
    if constexpr (lanes == 16) {
      for (; c + 2 * lanes <= t.channels; c += 2 * lanes) depthwise_vectors<Arch, Pixels, 2, false>(t, c, lanes);
    }
    for (; c + lanes <= t.channels; c += lanes) depthwise_vectors<Arch, Pixels, 1, false>(t, c, lanes);
    if (c < t.channels) depthwise_vectors<Arch, Pixels, 1, true>(t, c, t.channels - c);
  }
}

// The widest two-row tile: 4 pixels measured fastest on MobileNetV2's 112x112 layers, near the
// one-thread peak in L1 (docs/results/decisions.md, "depthwise kernel: two-row tile width"). Only AVX-512 has the registers: 2*4
// accumulators, 9 weights and the input.
constexpr int kDepthwisePairPixels = 4;

template <class Arch>
constexpr int depthwise_pair_pixels() {
  return xsimd::batch<float, Arch>::size == 16 ? kDepthwisePairPixels : 0;
}

template <class Arch, int Pixels>
void depthwise_conv_tile(const DepthwiseConvTile& t) {
  if constexpr (Pixels <= depthwise_pair_pixels<Arch>()) {
    if (depthwise_pairs_rows(t)) {
      const bool stride1_h = t.x_row_stride == t.x_tap_h, stride1_w = t.x_pixel_stride == t.x_tap_w;
      const int64_t c = stride1_h ? (stride1_w ? depthwise_row_pair<Arch, Pixels, 1, 1>(t)
                                               : depthwise_row_pair<Arch, Pixels, 1, 2>(t))
                                  : (stride1_w ? depthwise_row_pair<Arch, Pixels, 2, 1>(t)
                                               : depthwise_row_pair<Arch, Pixels, 2, 2>(t));
      if (c == t.channels) return;
      DepthwiseConvTile row = t;
      for (int r = 0; r < 2; ++r, row.x += t.x_row_stride, row.y += t.y_row_stride) {
        depthwise_vectors<Arch, Pixels, 1, true>(row, c, t.channels - c);
      }
      return;
    }
  }
  // One row straight through: through a per-row copy of the tile, GCC 12 compiled the row
  // paths slower (the 8-pixel 3x3 tile at stride 1 took 61-67 ns against 47-50 in
  // convkit-kernel-bench).
  if (t.rows == 1) {
    depthwise_conv_row<Arch, Pixels>(t);
    return;
  }
  DepthwiseConvTile row = t;
  for (int64_t r = 0; r < t.rows; ++r, row.x += t.x_row_stride, row.y += t.y_row_stride) {
    depthwise_conv_row<Arch, Pixels>(row);
  }
}

// Taps [0, TapsH) x [0, Taps) of the tile for the runs of Vectors vectors of channels from
// c_begin below c_end, the last vector of a run `tail` lanes wide (lanes if full). One call
// covers all the runs, as in depthwise_row_vectors: a call per run cost most where the
// rectangles are small, the border of a 7x7 image (docs/results/decisions.md, "depthwise
// weight gradient: bands of rows").
template <class Arch, int Vectors, int TapsH, int Taps, bool Partial>
inline void depthwise_grad_taps(const DepthwiseWeightGradTile& t, const float* x0, float* dw0, int64_t c_begin,
                                int64_t c_end, int64_t tail) {
  using Batch = xsimd::batch<float, Arch>;
  constexpr int64_t lanes = Batch::size;
  const auto load = [&](const float* src, int v) {
    return Partial && v == Vectors - 1 ? load_lanes<Arch, true>(src + v * lanes, tail)
                                       : Batch::load_unaligned(src + v * lanes);
  };
  for (int64_t c = c_begin; c < c_end; c += Vectors * lanes) {
    Batch acc[TapsH][Taps][Vectors];
#pragma GCC unroll 4
    for (int th = 0; th < TapsH; ++th) {
#pragma GCC unroll 4
      for (int tw = 0; tw < Taps; ++tw) {
#pragma GCC unroll 4
        for (int v = 0; v < Vectors; ++v) {
          acc[th][tw][v] = t.accumulate ? load(dw0 + th * t.dw_tap_h + tw * t.dw_tap_stride + c, v) : Batch(0.0f);
        }
      }
    }
    // Stride 1 without dilation: column q of tap tw reads input q + tw, so a group of Group
    // columns needs Group + Taps - 1 input vectors per kernel row, each loaded once for every
    // tap that uses it; every dy vector is loaded once for all TapsH * Taps taps.
    constexpr int64_t kGroup = 4;
    const bool sliding = Taps > 1 && t.x_col_stride == t.x_tap_w;
    for (int64_t r = 0; r < t.rows; ++r) {
      const float* x = x0 + r * t.x_row_stride + c;
      const float* dy = t.dy + r * t.dy_row_stride + c;
      int64_t q = 0;
      for (; sliding && q + kGroup <= t.cols; q += kGroup) {
#pragma GCC unroll 4
        for (int v = 0; v < Vectors; ++v) {
          Batch d[kGroup];
#pragma GCC unroll 4
          for (int g = 0; g < kGroup; ++g) {
            d[g] = load(dy + g * t.dy_col_stride, v);
            keep_in_register(d[g]);
          }
#pragma GCC unroll 4
          for (int th = 0; th < TapsH; ++th) {
#pragma GCC unroll 8
            for (int j = 0; j < kGroup + Taps - 1; ++j) {
              Batch xv = load(x + th * t.x_tap_h + j * t.x_col_stride, v);
              keep_in_register(xv);
#pragma GCC unroll 4
              for (int tw = 0; tw < Taps; ++tw) {
                const int g = j - tw;
                if (g >= 0 && g < kGroup) acc[th][tw][v] = fused_multiply_add(xv, d[g], acc[th][tw][v]);
              }
            }
          }
        }
        x += kGroup * t.x_col_stride;
        dy += kGroup * t.dy_col_stride;
      }
      for (; q < t.cols; ++q, x += t.x_col_stride, dy += t.dy_col_stride) {
#pragma GCC unroll 4
        for (int v = 0; v < Vectors; ++v) {
          Batch d = load(dy, v);
          keep_in_register(d);  // one load for all the taps (see depthwise_row_vectors)
#pragma GCC unroll 4
          for (int th = 0; th < TapsH; ++th) {
#pragma GCC unroll 4
            for (int tw = 0; tw < Taps; ++tw) {
              acc[th][tw][v] = fused_multiply_add(load(x + th * t.x_tap_h + tw * t.x_tap_w, v), d, acc[th][tw][v]);
            }
          }
        }
      }
    }
#pragma GCC unroll 4
    for (int th = 0; th < TapsH; ++th) {
#pragma GCC unroll 4
      for (int tw = 0; tw < Taps; ++tw) {
#pragma GCC unroll 4
        for (int v = 0; v < Vectors; ++v) {
          float* dst = dw0 + th * t.dw_tap_h + tw * t.dw_tap_stride + c + v * lanes;
          if (Partial && v == Vectors - 1) {
            store_lanes<Arch, true>(dst, acc[th][tw][v], tail);
          } else {
            acc[th][tw][v].store_unaligned(dst);
          }
        }
      }
    }
  }
}

// Kernel rows [0, TapsH) of the tile, their taps three at a time.
template <class Arch, int Vectors, int TapsH, bool Partial>
inline void depthwise_grad_rows(const DepthwiseWeightGradTile& t, const float* x, float* dw, int64_t c_begin,
                                int64_t c_end, int64_t tail) {
  int64_t tw = 0;
  for (; tw + 3 <= t.taps_w; tw += 3) {
    depthwise_grad_taps<Arch, Vectors, TapsH, 3, Partial>(t, x + tw * t.x_tap_w, dw + tw * t.dw_tap_stride, c_begin,
                                                          c_end, tail);
  }
  if (t.taps_w - tw == 2) {
    depthwise_grad_taps<Arch, Vectors, TapsH, 2, Partial>(t, x + tw * t.x_tap_w, dw + tw * t.dw_tap_stride, c_begin,
                                                          c_end, tail);
  } else if (t.taps_w - tw == 1) {
    depthwise_grad_taps<Arch, Vectors, TapsH, 1, Partial>(t, x + tw * t.x_tap_w, dw + tw * t.dw_tap_stride, c_begin,
                                                          c_end, tail);
  }
}

// The runs of Vectors vectors of channels from c_begin below c_end for all taps, MaxTapsH
// kernel rows at a time; returns the first channel left.
template <class Arch, int Vectors, int MaxTapsH, bool Partial>
inline int64_t depthwise_grad_vectors(const DepthwiseWeightGradTile& t, int64_t c_begin, int64_t c_end, int64_t tail) {
  constexpr int64_t step = Vectors * xsimd::batch<float, Arch>::size;
  const int64_t end = Partial ? c_end : c_begin + (c_end - c_begin) / step * step;
  int64_t th = 0;
  for (; th + MaxTapsH <= t.taps_h; th += MaxTapsH) {
    depthwise_grad_rows<Arch, Vectors, MaxTapsH, Partial>(t, t.x + th * t.x_tap_h, t.dw + th * t.dw_tap_h, c_begin,
                                                          end, tail);
  }
  if constexpr (MaxTapsH == 3) {
    if (t.taps_h - th == 2) {
      depthwise_grad_rows<Arch, Vectors, 2, Partial>(t, t.x + th * t.x_tap_h, t.dw + th * t.dw_tap_h, c_begin, end,
                                                   tail);
    } else if (t.taps_h - th == 1) {
      depthwise_grad_rows<Arch, Vectors, 1, Partial>(t, t.x + th * t.x_tap_h, t.dw + th * t.dw_tap_h, c_begin, end,
                                                   tail);
    }
  }
  return end;
}

// AVX-512's 32 registers hold the sums of three kernel rows of three taps for two vectors,
// so every dy load feeds 18 FMAs. AVX2's 16 hold the sums of nine taps of one vector: three
// taps of two vectors (6 sums, 4 FMAs deep per group of columns) ran 10-40% slower on Zen 3
// (docs/results/decisions.md, "depthwise kernel: weight-gradient registers").
template <class Arch>
void depthwise_weight_grad(const DepthwiseWeightGradTile& t) {
  constexpr int64_t lanes = xsimd::batch<float, Arch>::size;
  int64_t c = 0;
  if constexpr (lanes == 16) {
    if (depthwise_grad_wide_tiles(t)) c = depthwise_grad_vectors<Arch, 4, 1, false>(t, c, t.channels, lanes);
  }
  // SSE2 (not measured since) keeps three taps of two vectors.
  constexpr int vectors = lanes == 8 ? 1 : 2, rows_at_once = lanes == 4 ? 1 : 3;
  c = depthwise_grad_vectors<Arch, vectors, rows_at_once, false>(t, c, t.channels, lanes);
  if constexpr (vectors > 1) c = depthwise_grad_vectors<Arch, 1, rows_at_once, false>(t, c, t.channels, lanes);
  if (c < t.channels) depthwise_grad_vectors<Arch, 1, rows_at_once, true>(t, c, t.channels, t.channels - c);
}

template <class Arch, int Pixels>
void fill_depthwise_tiles(DepthwiseConvKernels& k) {
  if constexpr (Pixels <= kMaxDepthwisePixels) {
    k.tile[Pixels - 1] = &depthwise_conv_tile<Arch, Pixels>;
    fill_depthwise_tiles<Arch, Pixels + 1>(k);
  }
}

template <class Arch>
DepthwiseConvKernels make_depthwise_conv_kernels() {
  DepthwiseConvKernels k{};
  k.lanes = static_cast<int>(xsimd::batch<float, Arch>::size);
  k.pair_pixels = depthwise_pair_pixels<Arch>();
  k.wide_pixels = depthwise_wide_vectors<Arch>() > 0 ? kMaxDepthwiseWidePixels : 0;
  fill_depthwise_tiles<Arch, 1>(k);
  k.weight_grad = &depthwise_weight_grad<Arch>;
  k.max_pairs = depthwise_max_pairs<Arch>();
  fill_depthwise_pair_tiles<Arch, 1>(k);
  return k;
}

}  // namespace
}  // namespace convkit::detail
