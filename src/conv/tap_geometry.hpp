#pragma once
// Convolution geometry shared by the backends (docs/design.md, "Shared layer"): which taps each
// output pixel sums, one spatial axis at a time, and the shape classes backends branch on.
//
// Forward, output o reads input o*stride - pad + k*dilation for the taps k that land inside
// the input: a contiguous range of k. Backward data is the transposed problem: input i (now
// the output) gathers from output o = (i + pad - k*dilation) / stride for the taps k where the
// division is exact and o is in range. Those k form an arithmetic progression (step
// stride/gcd(stride, dilation)), and o walks backwards along it: a convolution of dy with the
// spatially flipped kernel, done by walking the taps with negative input strides instead of
// copying a flipped kernel, which for stride > 1 splits into one sub-convolution per phase
// i mod stride.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "conv/integer.hpp"
#include "convkit/params.hpp"

namespace convkit::detail {

// The taps one output index sums: first_tap + t*tap_step for t < taps, reading input index
// first_input + t*input_step.
struct TapRange {
  int64_t first_tap = 0, taps = 0, tap_step = 1;
  int64_t first_input = 0, input_step = 0;

  bool same_taps(const TapRange& o) const {
    return first_tap == o.first_tap && taps == o.taps && tap_step == o.tap_step && input_step == o.input_step;
  }
};

// The transposed problem of a stride-1 convolution: the forward convolution dx = dy (*) W'
// with W' the kernel flipped in space and its input and output channels swapped, and padding
// (k-1)*d - pad on each side; or nothing when a side's padding exceeds (k-1)*d (the transposed
// problem would need negative padding) or the stride is not 1.
inline bool has_flipped_form(const Conv2dParams& p) {
  const int64_t reach_h = (p.kernel_h - 1) * p.dilation_h, reach_w = (p.kernel_w - 1) * p.dilation_w;
  return p.stride_h == 1 && p.stride_w == 1 && p.pad_top <= reach_h && p.pad_bottom <= reach_h &&
         p.pad_left <= reach_w && p.pad_right <= reach_w;
}

inline Conv2dParams flipped_problem(const Conv2dParams& p) {
  Conv2dParams t = p;
  t.in_h = p.out_h(), t.in_w = p.out_w(), t.in_c = p.out_c, t.out_c = p.in_c;
  t.pad_top = (p.kernel_h - 1) * p.dilation_h - p.pad_top;
  t.pad_bottom = (p.kernel_h - 1) * p.dilation_h - p.pad_bottom;
  t.pad_left = (p.kernel_w - 1) * p.dilation_w - p.pad_left;
  t.pad_right = (p.kernel_w - 1) * p.dilation_w - p.pad_right;
  return t;
}

// One spatial axis of a convolution as the forward pass sees it.
struct ConvAxis {
  int64_t in_size, out_size, kernel, stride, pad, dilation;
};
inline ConvAxis row_axis(const Conv2dParams& p) {
  return {p.in_h, p.out_h(), p.kernel_h, p.stride_h, p.pad_top, p.dilation_h};
}
inline ConvAxis column_axis(const Conv2dParams& p) {
  return {p.in_w, p.out_w(), p.kernel_w, p.stride_w, p.pad_left, p.dilation_w};
}

// A 1x1 kernel with no padding: every output pixel reads one input pixel (any stride).
inline bool is_unpadded_1x1(const Conv2dParams& p) {
  return p.kernel_h == 1 && p.kernel_w == 1 && p.pad_top == 0 && p.pad_bottom == 0 && p.pad_left == 0 &&
         p.pad_right == 0;
}
// ...at stride 1 too: NHWC input already is the [pixels x in_c] matrix, in every direction.
inline bool is_pointwise(const Conv2dParams& p) { return is_unpadded_1x1(p) && p.stride_h == 1 && p.stride_w == 1; }

// The taps of forward output o.
inline TapRange forward_taps(const ConvAxis& a, int64_t o) {
  const int64_t start = o * a.stride - a.pad;
  int64_t lo = start >= 0 ? 0 : (-start + a.dilation - 1) / a.dilation;
  int64_t hi = floor_div(a.in_size - 1 - start, a.dilation) + 1;
  if (hi > a.kernel) hi = a.kernel;
  if (lo >= hi) return {};
  return {lo, hi - lo, 1, start + lo * a.dilation, a.dilation};
}

// The taps of backward-data input i (the transposed problem's output), reading dy along the axis.
inline TapRange transposed_taps(const ConvAxis& a, int64_t i) {
  int64_t first = -1, step = 1, count = 0;
  for (int64_t k = 0; k < a.kernel; ++k) {
    const int64_t t = i + a.pad - k * a.dilation;
    if (t < 0) break;  // t only falls as k grows
    if (t % a.stride != 0 || t / a.stride >= a.out_size) continue;
    if (count == 0) first = k;
    if (count == 1) step = k - first;
    ++count;
  }
  if (count == 0) return {};
  return {first, count, step, (i + a.pad - first * a.dilation) / a.stride, -(step * a.dilation) / a.stride};
}

// The outputs [lo, hi) along one axis whose input o*stride - pad + k*dilation is in bounds for
// tap k (forward).
struct OutputRange {
  int64_t lo, hi;
  int64_t count() const { return hi > lo ? hi - lo : 0; }
};
inline OutputRange outputs_reading_tap(const ConvAxis& a, int64_t tap) {
  const int64_t offset = tap * a.dilation - a.pad;  // input = o*stride + offset
  const int64_t lo = offset >= 0 ? 0 : (-offset + a.stride - 1) / a.stride;
  const int64_t hi = std::min(a.out_size, floor_div(a.in_size - 1 - offset, a.stride) + 1);
  return {lo, hi};
}

// A run of output indices along one axis that share their taps and advance through the input
// at a constant stride: index j of the run is output out_begin + j*out_step and its first tap
// reads input in_begin + j*in_step. The interior of an axis is one run (the fast path: whole
// register tiles, no bounds checks); each border index whose taps are clipped forms a run of
// its own. A row run crossed with a column run is a rectangle of pixels with identical taps.
struct AxisRun {
  int64_t out_begin, out_step, pixels, in_begin, in_step;
  TapRange taps;
};

// The runs covering every output index of the axis once: in order for the forward problem, and
// phase by phase (out_step = stride, so a run's pixels share the phase's taps) when transposed.
inline std::vector<AxisRun> axis_runs(const ConvAxis& a, bool transposed) {
  const int64_t outputs = transposed ? a.in_size : a.out_size;
  const int64_t phases = transposed ? a.stride : 1;
  const int64_t in_step = transposed ? 1 : a.stride;
  std::vector<AxisRun> runs;
  for (int64_t phase = 0; phase < phases && phase < outputs; ++phase) {
    for (int64_t o = phase; o < outputs; o += phases) {
      const TapRange taps = transposed ? transposed_taps(a, o) : forward_taps(a, o);
      if (!runs.empty() && runs.back().out_begin % phases == phase) {
        AxisRun& run = runs.back();
        const bool continues = run.taps.same_taps(taps) &&
                               (taps.taps == 0 || taps.first_input == run.in_begin + run.pixels * in_step);
        if (continues) {
          ++run.pixels;
          continue;
        }
      }
      runs.push_back({o, phases, 1, taps.taps == 0 ? 0 : taps.first_input, in_step, taps});
    }
  }
  return runs;
}

// Backward data along a stride-2 axis of 3 or 5 taps without dilation has two phases: outputs
// that read the even taps (dy columns m, m - 1, ...) and, after each of them, one that reads the
// odd taps (dy columns m, ...). Such an (even, odd) pair shares its dy window, so a pair tile
// loads each dy vector once for both phases (kernels/phase_pair_tile.hpp).
struct PhasePairs {
  int64_t out_begin = 0, pairs = 0, in_begin = 0;  // the first pair's even output and its tap-0 input
};

// Moves the pairs whose phases both have all their taps out of `columns` (the transposed
// problem's axis_runs(a, true)), when there are at least two; otherwise returns no pairs and
// leaves `columns` as it is.
inline PhasePairs pair_phases(std::vector<AxisRun>& columns, const ConvAxis& a) {
  const int64_t K = a.kernel;
  if (a.stride != 2 || (K != 3 && K != 5) || a.dilation != 1) return {};
  const auto is_even = [&](const AxisRun& r) {
    return r.taps.taps == (K + 1) / 2 && r.taps.first_tap == 0 && r.taps.tap_step == 2;
  };
  const auto is_odd = [&](const AxisRun& r) {
    return r.taps.taps == (K - 1) / 2 && r.taps.first_tap == 1 && (r.taps.taps == 1 || r.taps.tap_step == 2);
  };
  const auto even = std::find_if(columns.begin(), columns.end(), is_even);
  const auto odd = std::find_if(columns.begin(), columns.end(), is_odd);
  if (even == columns.end() || odd == columns.end()) return {};
  const AxisRun e = *even, o = *odd;
  const int64_t first = std::max(e.out_begin, o.out_begin - 1);
  const int64_t last = std::min(e.out_begin + 2 * (e.pixels - 1), o.out_begin - 1 + 2 * (o.pixels - 1));
  if (last < first + 2) return {};  // fewer than two pairs
  const int64_t pairs = (last - first) / 2 + 1, skip_e = (first - e.out_begin) / 2, skip_o = (first + 1 - o.out_begin) / 2;
  if (e.in_begin + skip_e * e.in_step != o.in_begin + skip_o * o.in_step) return {};
  // Each run keeps its pixels before and after the pairs.
  const auto pieces = [&](const AxisRun& r, int64_t skip_from) {
    std::vector<AxisRun> kept;
    if (skip_from > 0) kept.push_back({r.out_begin, r.out_step, skip_from, r.in_begin, r.in_step, r.taps});
    const int64_t after = skip_from + pairs;
    if (after < r.pixels) {
      kept.push_back({r.out_begin + after * r.out_step, r.out_step, r.pixels - after, r.in_begin + after * r.in_step,
                      r.in_step, r.taps});
    }
    return kept;
  };
  std::vector<AxisRun> kept;
  for (const AxisRun& r : columns) {
    if (r.out_begin == e.out_begin) {
      for (const AxisRun& piece : pieces(e, skip_e)) kept.push_back(piece);
    } else if (r.out_begin == o.out_begin) {
      for (const AxisRun& piece : pieces(o, skip_o)) kept.push_back(piece);
    } else {
      kept.push_back(r);
    }
  }
  columns = std::move(kept);
  return {first, pairs, e.in_begin + skip_e * e.in_step};
}

// The axis cut by tap instead of by output: one single-tap run per tap, over the outputs that
// read it, a run covering every output first (so that it can start the sums the others add
// to). Forward, or transposed at stride 1, where output i reads input i + pad - k*dilation;
// empty otherwise, or when no tap is read by every output.
inline std::vector<AxisRun> tap_strips(const ConvAxis& a, bool transposed) {
  if (transposed && a.stride != 1) return {};
  const int64_t outputs = transposed ? a.in_size : a.out_size;
  std::vector<AxisRun> strips;
  for (int64_t k = 0; k < a.kernel; ++k) {
    // Transposed at stride 1, output i (a forward input) reads dy at i + pad - k*dilation.
    const int64_t shift = k * a.dilation - a.pad;
    const OutputRange range = transposed ? OutputRange{std::max<int64_t>(0, shift), std::min(a.in_size, a.out_size + shift)}
                                         : outputs_reading_tap(a, k);
    if (range.count() == 0) continue;
    const int64_t in_begin = transposed ? range.lo - shift : range.lo * a.stride + shift;
    const int64_t in_step = transposed ? 1 : a.stride, input_step = transposed ? -a.dilation : a.dilation;
    const AxisRun strip{range.lo, 1, range.count(), in_begin, in_step, {k, 1, 1, in_begin, input_step}};
    const bool covers_all = range.count() == outputs;
    if (covers_all && (strips.empty() || strips.front().pixels != outputs)) {
      strips.insert(strips.begin(), strip);
    } else {
      strips.push_back(strip);
    }
  }
  if (!strips.empty() && strips.front().pixels != outputs) strips.clear();
  return strips;
}

}  // namespace convkit::detail
