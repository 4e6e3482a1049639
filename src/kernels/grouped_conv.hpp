#pragma once
// The grouped-convolution micro-kernel family, for groups of a few channels (in_per_group <=
// out_per_group <= kMaxGroupedDiagonals, at least two groups per vector; tile_per_input takes
// the transpose of a channel multiplier, one output per group; tile_paired, below, groups of 8;
// tile_gather and tile_pairs, below, backward data at column stride 2): one vector holds the input
// channels of several neighbouring groups as NHWC keeps them, and every FMA uses all its lanes. The products lane (g, j) of an input vector owes to output channels (g, o) are split
// into "diagonals": diagonal s pairs input lane (g, j) with output (g, (j + s) mod out_per_group),
// so each diagonal is a full-width multiply of the unpermuted input by a packed weight vector
// and sums into an accumulator of its own; the lanes move to their output channels only once
// per pixel, in the epilogue, by one permute per diagonal and output vector (tile_xor, below,
// pairs them so that fixed shuffles move the lanes instead). A dense tile on
// each group (DirectConvKernels) fills out_per_group of its lanes; a block-diagonal dense tile
// fills the same fraction. Portable: no SIMD types here.
#include <cstdint>

#include "convkit/conv2d.hpp"
#include "isa.hpp"
#include "kernels/phase_pair_tile.hpp"

namespace convkit::detail {

inline constexpr int kMaxGroupedDiagonals = 8;
inline constexpr int kMaxGroupedPixels = 14;

// One call's work over `pixels` output pixels of one block of groups. Accumulators
//   acc[p][s][l] = sum_{th < taps_h, tw < taps_w} x[p*x_pixel_stride + th*x_tap_h + tw*x_tap_w + e*lanes + l]
//                                               * w[th*w_tap_h + tw*w_tap_w + s*lanes + l]
// for l < lanes, summed in (th, tw) order, where e = 0 for `tile` (every diagonal multiplies the
// same input vector) and e = s for `tile_per_input` (accumulator s multiplies input vector s:
// the transpose of a channel multiplier, whose group's several inputs sum into one output); x is
// read only at e*lanes + l < in_lanes, the others taken as 0. Then output channel q of the
// block (q < out_channels, out_vectors = ceil(out_channels / lanes) vectors) gets
//   y[p*y_pixel_stride + q] = (bias[q] or 0) + sum_{s < diagonals, t < terms, source[v][s][t][l] >= 0} acc[p][s][source[v][s][t][l]]
// with v = q / lanes, l = q % lanes, added in (s, t) order, then the activation (kernels/epilogue.hpp).
// `source` is [out_vectors][diagonals][terms][lanes] lane indices (-1: no term). x need not be
// dereferenceable when a tap count is 0; bias (when not null) is read at its first
// out_channels floats only.
//
// tile_paired (AVX2 and up) runs one group of out_channels <= 8 outputs fed by 2*steps = 8 input
// channels, in two 256-bit vectors whose lanes pair up: lanes q and q + 1 (q even) sum output
// o(q) = 4*((q%8)/4) + 2*(q/8) + (q%4)/2's products with the inputs of parity 0 and 1. Each
// pair of inputs is broadcast (one load) against the step's 16 packed weights, and the
// epilogue adds each pair of lanes (a horizontal add, which that order leaves in output order):
//   acc[p][q] = sum_{th < taps_h, tw < taps_w, i < steps} x[p*x_pixel_stride + th*x_tap_h + tw*x_tap_w + 2i + q%2]
//                                                       * w[th*w_tap_h + tw*w_tap_w + 16i + q]   (q < 16)
//   y[p*y_pixel_stride + o(q)] = (bias[o(q)] or 0) + (acc[p][q] + acc[p][q + 1]), then ReLU when relu;
// source, terms and in_lanes unused.
//
// tile_xor (groups of in_per_group = out_per_group = diagonals, a power of two, at least two
// per vector, one output vector) pairs diagonal s's lane l with output lane l XOR s (input j of
// a group with its output j XOR s), so that lanes move by fixed shuffles, not by `source`:
// acc as for `tile`, then, for b = 1, 2, 4 while b < diagonals and each s a multiple of 2b,
//   acc[p][s][l] += acc[p][s + b][l XOR b]    (the lanes l < lanes, s in increasing order)
//   y[p*y_pixel_stride + q] = (bias[q] or 0) + acc[p][0][q] for q < out_channels, then the activation;
// source and terms unused.
//
// tile_gather (groups as tile_xor's, with weights packed for it) moves the lanes on the input
// instead: each tap's input vector is spread into its diagonals' arrangements (lane q of
// arrangement s holds input lane q XOR s), each multiplied by its weight vector into the pixel's
// one accumulator, so no epilogue moves lanes:
//   y[p*y_pixel_stride + q] = (bias[q] or 0) + sum_{th, tw, s < diagonals} x[p*x_pixel_stride + th*x_tap_h + tw*x_tap_w + (q XOR s)]
//                                                                      * w[th*w_tap_h + tw*w_tap_w + s*lanes + q]
// summed in (th, tw, s) order, then the activation; x read only at lanes below in_lanes (the
// others taken as 0). It pays where an input vector feeds more outputs than an output sums
// taps (tile_pairs); it runs the outputs such a problem leaves outside its pairs.
struct GroupedConvTile {
  const float* x;
  const float* w;
  const float* bias;
  float* y;
  const int32_t* source;
  int64_t terms;
  int64_t steps;  // tile_paired only
  int64_t pixels;
  int64_t x_pixel_stride, y_pixel_stride;
  int64_t taps_h, taps_w;
  int64_t x_tap_h, x_tap_w, w_tap_h, w_tap_w;
  int64_t in_lanes, out_channels;
  Activation activation;
};

using GroupedConvTileFn = void (*)(const GroupedConvTile&);

// tile_pairs (a PhasePairTile, phase_pair_tile.hpp), groups as tile_gather's: backward data of a
// stride-2 column axis, both phases of `pairs` (even, odd) output pairs from one window of
// inputs, each input vector spread into its diagonals' arrangements once for every tap and
// output that reads it:
//   y[2m*y_pixel_stride + q] = sum_{th < taps_h, even k < taps_w, s < diagonals}
//       x[th*x_tap_h + (m - k/2)*x_pixel_stride + (q XOR s)] * w[th*w_tap_h + k*w_tap_w + s*lanes + q]
//   y[(2m+1)*y_pixel_stride + q] = the same over odd k, reading x at (m - (k-1)/2)
// for m < pairs and q < channels, summed by input column, then kernel row, then diagonal; x
// read only at lanes below `channels` (the others taken as 0); 0 when taps_h is 0 (x then
// unread). Backward data has no bias or activation.

// Backward weights, step one, for each of `pixels` pixels: dy's lane arrangements, one per diagonal
//   out[p*diagonals*lanes + s*lanes + l] = sum_{v < out_vectors, source[v][s][l] >= 0} dy[p*dy_pixel_stride + v*lanes + source[v][s][l]]
// (`source` is [vectors][diagonals][lanes], out_vectors = ceil(out_channels / lanes) of them
// read), dy read only at its first out_channels floats.
struct GroupedSpread {
  const float* dy;
  float* out;
  const int32_t* source;
  int64_t pixels, dy_pixel_stride, out_channels;
};

inline constexpr int kMaxGroupedGradTaps = 9;

// Backward weights, step two: the products of a rectangle of pixels for `taps` taps at once,
// each input load feeding every diagonal of its tap and each diagonal load every tap:
//   sums[sum_offset[t] + s*lanes + l] += sum_{r < rows, c < cols}
//       x[r*x_row_stride + c*x_col_stride + x_offset[t] + l] * dy[r*dy_row_stride + c*dy_col_stride + s*lanes + l]
// for t < taps, s < Diagonals and l < lanes, x read only at l < in_lanes (the others taken as
// 0), summed in (r, c) order.
struct GroupedWeightGradTile {
  const float* x;
  const float* dy;
  float* sums;
  const int64_t* x_offset;
  const int64_t* sum_offset;
  int64_t rows, cols;
  int64_t x_row_stride, x_col_stride, dy_row_stride, dy_col_stride;
  int64_t in_lanes;
};

using GroupedWeightGradFn = void (*)(const GroupedWeightGradTile&);

struct GroupedConvKernels {
  int lanes;
  // The widest tile of s+1 diagonals whose accumulators and operands stay in the register
  // file; tile[s][p-1] exists for 1 <= p <= max_pixels[s] (diagonals >= 2).
  int max_pixels[kMaxGroupedDiagonals];
  GroupedConvTileFn tile[kMaxGroupedDiagonals][kMaxGroupedPixels];
  GroupedConvTileFn tile_per_input[kMaxGroupedDiagonals][kMaxGroupedPixels];
  // tile_xor[s][p-1] as tile[s][p-1] where s+1 is a power of two and 2(s+1) <= lanes, else null.
  GroupedConvTileFn tile_xor[kMaxGroupedDiagonals][kMaxGroupedPixels];
  // tile_gather[s][p-1] and tile_pairs[s] (any number of pairs) where tile_xor[s] exists, else null.
  GroupedConvTileFn tile_gather[kMaxGroupedDiagonals][kMaxGroupedPixels];
  void (*tile_pairs[kMaxGroupedDiagonals])(const PhasePairTile&);
  // tile_paired[p-1] for 1 <= p <= paired_max_pixels (0 where the instruction set has none).
  int paired_max_pixels;
  GroupedConvTileFn tile_paired[kMaxGroupedPixels];
  void (*spread[kMaxGroupedDiagonals])(const GroupedSpread&);  // spread[s] for s+1 diagonals (>= 2)
  // The most taps of s+1 diagonals one weight-gradient call sums in registers;
  // weight_grad[s][t-1] exists for 1 <= t <= max_taps[s] (diagonals >= 2).
  int max_taps[kMaxGroupedDiagonals];
  GroupedWeightGradFn weight_grad[kMaxGroupedDiagonals][kMaxGroupedGradTaps];
};

}  // namespace convkit::detail
