#pragma once
// The im2col backend's GEMM operands read straight from the tensors (docs/design.md, "Shared
// layer" for the geometry they use): the column matrix of forward (LoweredPixelsA) and of the
// weight gradient (LoweredTapsA), lowered one packed micro-panel at a time, and the flipped
// problem's weights read from HWIO (FlippedWeightsB). Included by im2col_conv.cpp alone, so
// the GEMM's templates see these final classes whole.
#include <cstdint>

#include "convkit/params.hpp"
#include "gemm/gemm.hpp"
#include "kernels/gemm.hpp"

namespace convkit::detail::im2col {

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// The shape facts every part of the backend uses.
struct Geometry {
  explicit Geometry(const Conv2dParams& p)
      : p(p),
        out_h(p.out_h()),
        out_w(p.out_w()),
        icg(p.in_c_per_group()),
        ocg(p.out_c_per_group()),
        taps(p.kernel_h * p.kernel_w * p.in_c_per_group()),
        pixels(p.batch * p.out_h() * p.out_w()) {}

  // The NHWC input element of `pixel` (over the batch) at kernel position (kh, kw), channel
  // `channel` of the whole input; null where the window lies in padding.
  const float* input_at(const float* x, int64_t n, int64_t oh, int64_t ow, int64_t kh, int64_t kw,
                        int64_t channel) const {
    const int64_t ih = oh * p.stride_h - p.pad_top + kh * p.dilation_h;
    const int64_t iw = ow * p.stride_w - p.pad_left + kw * p.dilation_w;
    if (ih < 0 || ih >= p.in_h || iw < 0 || iw >= p.in_w) return nullptr;
    return x + ((n * p.in_h + ih) * p.in_w + iw) * p.in_c + channel;
  }

  Conv2dParams p;
  int64_t out_h, out_w, icg, ocg, taps, pixels;

};

// `count` floats from `source`, or zeros where it is null (padding): short runs (a few
// channels, as in a network's first layer) inline, long ones through the per-ISA vector copy.
inline void copy_run(const GemmKernels& kern, const float* source, int64_t count, float* out) {
  if (count >= 32) {
    kern.pack_vectors(&source, count, 1, count, out);
  } else if (source == nullptr) {
    for (int64_t j = 0; j < count; ++j) out[j] = 0.0f;
  } else {
    for (int64_t j = 0; j < count; ++j) out[j] = source[j];
  }
}

// Output pixels in order over the batch, without a division per step.
struct PixelWalk {
  PixelWalk(const Geometry& geo, int64_t q)
      : geo(geo), n(q / (geo.out_h * geo.out_w)), oh(q / geo.out_w % geo.out_h), ow(q % geo.out_w) {}
  void next() {
    if (++ow < geo.out_w) return;
    ow = 0;
    if (++oh == geo.out_h) oh = 0, ++n;
  }
  const Geometry& geo;
  int64_t n, oh, ow;
};

// How a range of taps [first, end) of every window splits into runs the input holds
// contiguously, worked out once per panel so that copying a pixel's window divides nothing.
// Runs within one kernel column always are; where a window lies inside the input, has no
// dilation and spans all channels (one group), whole kernel rows are too.
class WindowRuns {
 public:
  WindowRuns(const Geometry& geo, int64_t group, int64_t first, int64_t end) : geo_(geo), group_(group) {
    const Conv2dParams& p = geo.p;
    const int64_t kernel_row = p.kernel_w * geo.icg;
    rows_contiguous_ = p.dilation_w == 1 && geo.icg == p.in_c;
    for (int64_t t = first; t < end;) {
      const int64_t kh = t / kernel_row, within = t - kh * kernel_row, kw = within / geo.icg;
      const int64_t len = min64(end, t + geo.icg - (within - kw * geo.icg)) - t;
      const bool new_row = row_count_ == 0 || row_runs_[row_count_ - 1].kh != kh;
      if (new_row) row_runs_[row_count_++] = Run{t, 0, kh, 0, within};
      row_runs_[row_count_ - 1].len += len;
      column_runs_[column_count_++] = Run{t, len, kh, kw * p.dilation_w, within - kw * geo.icg};
      t += len;
    }
  }

  // Copies the window of `pixel` to out[first, end), zeros where it lies in padding.
  void copy(const GemmKernels& kern, const float* x, const PixelWalk& pixel, float* out) const {
    const Conv2dParams& p = geo_.p;
    const int64_t ih0 = pixel.oh * p.stride_h - p.pad_top, iw0 = pixel.ow * p.stride_w - p.pad_left;
    const float* image = x + pixel.n * p.in_h * p.in_w * p.in_c + group_ * geo_.icg;
    if (rows_contiguous_ && iw0 >= 0 && iw0 + p.kernel_w <= p.in_w) {
      for (int64_t r = 0; r < row_count_; ++r) {
        const Run& run = row_runs_[r];
        const int64_t ih = ih0 + run.kh * p.dilation_h;
        const bool inside = ih >= 0 && ih < p.in_h;
        copy_run(kern, inside ? image + (ih * p.in_w + iw0) * p.in_c + run.channel : nullptr, run.len, out + run.t);
      }
      return;
    }
    for (int64_t r = 0; r < column_count_; ++r) {
      const Run& run = column_runs_[r];
      const int64_t ih = ih0 + run.kh * p.dilation_h, iw = iw0 + run.column_offset;
      const bool inside = ih >= 0 && ih < p.in_h && iw >= 0 && iw < p.in_w;
      copy_run(kern, inside ? image + (ih * p.in_w + iw) * p.in_c + run.channel : nullptr, run.len, out + run.t);
    }
  }

 private:
  struct Run {
    int64_t t, len, kh, column_offset;  // column_offset = kw * dilation_w (column runs)
    int64_t channel;                    // first float of the run within the pixel's group (row runs: within the row)
  };
  const Geometry& geo_;
  int64_t group_;
  bool rows_contiguous_ = false;
  Run row_runs_[kGemmMaxKC], column_runs_[kGemmMaxKC];
  int64_t row_count_ = 0, column_count_ = 0;
};

// col_g as the GEMM's A for forward: A(pixel, tap) with tap = (kh, kw, ci), ci fastest, packed by
// rows: each row is one pixel's window, copied in contiguous runs.
class LoweredPixelsA final : public GemmSourceA {
 public:
  LoweredPixelsA(const Geometry& geo, const float* x, int64_t group) : geo_(geo), x_(x), group_(group) {}
  APanelLayout layout() const override { return APanelLayout::rows; }

  void pack(const GemmKernels& kern, int64_t row, int64_t rows, int64_t k0, int64_t kc, float* panel) const override {
    const WindowRuns runs(geo_, group_, k0, k0 + kc);
    PixelWalk pixel(geo_, row);
    for (int64_t i = 0; i < rows; ++i, pixel.next()) runs.copy(kern, x_, pixel, panel + i * kGemmPanelDepth - k0);
  }

 private:
  const Geometry& geo_;
  const float* x_;
  int64_t group_;
};

// col_g^T as the GEMM's A for backward_weights: A(tap, pixel), packed interleaved: each depth
// step is one pixel's run of mr taps. With few channels per group a run crosses kernel positions
// and is copied pixel by pixel like forward's rows. Otherwise the GEMM asks for panels depth
// block by depth block, tap rows in order, so the pixels' input addresses for one kernel
// position are worked out once and reused by every panel of that position's channels. One
// object serves one thread.
class LoweredTapsA final : public GemmSourceA {
 public:
  LoweredTapsA(const Geometry& geo, const float* x, int64_t group) : geo_(geo), x_(x), group_(group) {}
  APanelLayout layout() const override { return APanelLayout::interleaved; }

  void pack(const GemmKernels& kern, int64_t row, int64_t rows, int64_t k0, int64_t kc, float* panel) const override {
    if (geo_.icg < kern.mr) {  // a panel's taps cross kernel positions: copy pixel by pixel
      const WindowRuns runs(geo_, group_, row, row + rows);
      PixelWalk pixel(geo_, k0);
      for (int64_t p = 0; p < kc; ++p, pixel.next()) runs.copy(kern, x_, pixel, panel + p * kern.mr - row);
      return;
    }
    const float* starts[kGemmMaxKC];
    // One run of contiguous input channels per kernel position the tap rows cross.
    for (int64_t t = row; t < row + rows;) {
      const int64_t tap = t / geo_.icg, ci = t % geo_.icg, len = min64(geo_.icg - ci, row + rows - t);
      const float* const* pixels = pixel_starts(k0, kc, tap);
      for (int64_t p = 0; p < kc; ++p) starts[p] = pixels[p] != nullptr ? pixels[p] + ci : nullptr;
      kern.pack_vectors(starts, len, kc, kern.mr, panel + (t - row));
      t += len;
    }
  }

 private:
  // The group's first input channel at kernel position `tap` of pixels [k0, k0 + kc), null in padding.
  const float* const* pixel_starts(int64_t k0, int64_t kc, int64_t tap) const {
    if (k0 == cached_k0_ && kc == cached_kc_ && tap == cached_tap_) return cached_;
    const int64_t plane = geo_.out_h * geo_.out_w;
    const int64_t kh = tap / geo_.p.kernel_w, kw = tap % geo_.p.kernel_w;
    int64_t n = k0 / plane, oh = k0 % plane / geo_.out_w, ow = k0 % geo_.out_w;
    for (int64_t p = 0; p < kc; ++p) {
      cached_[p] = geo_.input_at(x_, n, oh, ow, kh, kw, group_ * geo_.icg);
      if (++ow == geo_.out_w) {
        ow = 0;
        if (++oh == geo_.out_h) oh = 0, ++n;
      }
    }
    cached_k0_ = k0, cached_kc_ = kc, cached_tap_ = tap;
    return cached_;
  }

  const Geometry& geo_;
  const float* x_;
  int64_t group_;
  mutable const float* cached_[kGemmMaxKC];
  mutable int64_t cached_k0_ = -1, cached_kc_ = -1, cached_tap_ = -1;
};

// W'_g of the flipped problem (geometry `geo`) as the GEMM's B, read from the original HWIO w:
// row (tap', c) and column j of W'_g is w[kh*kw - 1 - tap'][j][g*geo.icg + c] (kernel position,
// input channel within the group, output channel), so per kernel position W'_g is a transposed
// block of w whose columns are contiguous runs.
class FlippedWeightsB final : public GemmSourceB {
 public:
  FlippedWeightsB(const Geometry& geo, const float* w, int64_t group) : geo_(geo), w_(w), group_(group) {}

  void pack(const GemmKernels& kern, int64_t k0, int64_t kc, int64_t col, int64_t cols, float* panel) const override {
    const int64_t positions = geo_.p.kernel_h * geo_.p.kernel_w, ld = geo_.p.in_c;
    for (int64_t k = k0; k < k0 + kc;) {
      const int64_t tap = k / geo_.icg, c = k % geo_.icg, len = min64(geo_.icg - c, k0 + kc - k);
      const float* block = w_ + (positions - 1 - tap) * geo_.ocg * ld + group_ * geo_.icg;
      MatrixSourceB(MatrixView{block, ld, true}).pack(kern, c, len, col, cols, panel + (k - k0) * kern.nr);
      k += len;
    }
  }

 private:
  const Geometry& geo_;
  const float* w_;
  int64_t group_;
};

}  // namespace convkit::detail::im2col
