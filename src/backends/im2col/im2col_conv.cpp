// The im2col backend: convolution as convkit's packed GEMM. Per group g, with
// pixels = batch*out_h*out_w (all images as one matrix) and taps = kernel_h*kernel_w*in_c/groups:
//   forward           y_g  [pixels x OCG]  = col_g   [pixels x taps] * W_g   [taps x OCG] (+ bias, ReLU)
//   backward_data     dcol [pixels x taps] = dy_g    [pixels x OCG]  * W_g^T [OCG x taps], then col2im
//   backward_weights  dW_g [taps x OCG]    = col_g^T [taps x pixels] * dy_g  [pixels x OCG]
// W_g is HWIO as it is: row (kh, kw, ci) of a [taps x out_c] matrix, columns g*OCG onwards.
// Backward data of a stride-1 convolution (padding at most (k-1)*dilation per side, at least a
// tile's width of input channels per group, more than 128 input pixels) instead runs as the
// forward of its flipped problem,
//   dx_g [in pixels x ICG] = col(dy)_g [in pixels x kh*kw*OCG] * W'_g [kh*kw*OCG x ICG],
// W' the kernel flipped in space with in and out channels swapped, read from HWIO as packed:
// a GEMM of depth kh*kw*OCG instead of OCG, and no dcol or col2im pass. 1x1, stride-1,
// unpadded layers read NHWC as the matrix in every direction (backward weights reading x and dy
// in place, without packing, when pixels outnumber channels).
//
// The column matrix col_g is lowered in the smallest tiles there are: the GEMM asks for one
// packed micro-panel at a time (mr output pixels x up to KC taps for forward, mr taps x KC pixels
// for backward_weights) and the lowering writes that panel straight from the NHWC input, with
// zeros for padding. Lowering and packing are one pass, and the whole lowering workspace is one
// panel per thread (mr*KC floats: 14 KB with AVX-512) whatever the layer. A 1x1, stride-1,
// unpadded forward reads NHWC input as the matrix it already is.
//
// Workspace per call (threads = T):
//   forward (packed weights)  T * 16 KB
//   forward (HWIO pointer)    T * (16 KB + 512 KB of packed W block)
//   backward_data (flipped)   as forward from HWIO
//   backward_data (col2im)    one chunk of dcol: at most max(1 MB, mr * kernel_h*kernel_w*in_c
//                             * 4 bytes), plus either T * (16 KB + 512 KB of packed W^T block)
//                             or, when several chunks reuse it, T * 16 KB + the packed W^T
//   backward_weights          T * (16 KB + 512 KB of packed dy block)
//
// Threading: one parallel region per call. gemm_share splits each GEMM into disjoint pieces of
// its output over groups x pixel (or tap) blocks x channel blocks, so batch 1 uses every thread.
// Each output element is summed by one thread in an order fixed by the shape alone (the depth
// blocks, the dcol chunks, the kernel positions), so results are bitwise the same run to run and
// for any thread count.
#include <omp.h>

#include <memory>

#include "backends/im2col/im2col.hpp"
#include "gemm/gemm.hpp"
#include "kernels/gemm.hpp"

namespace convkit::detail {
namespace {

int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
// Rounded division for a numerator of either sign and a positive divisor.
int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -(-a / b); }
// Floats rounded up to whole 64-byte lines.
size_t cache_lines(int64_t floats) { return static_cast<size_t>((floats + 15) / 16 * 16); }

// The floats of dcol backward_data keeps at once (shared by all threads); a chunk is never
// smaller than one mr block of pixels, whatever this budget says.
constexpr int64_t kColumnChunkFloats = int64_t{1} << 18;

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
void copy_run(const GemmKernels& kern, const float* source, int64_t count, float* out) {
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

// The transposed problem of a stride-1 convolution: the forward convolution dx = dy (*) W'
// with W' the kernel flipped in space and its input and output channels swapped, and padding
// (k-1)*d - pad on each side; or nothing when a side's padding exceeds (k-1)*d (the transposed
// problem would need negative padding) or the stride is not 1.
bool has_flipped_form(const Conv2dParams& p) {
  const int64_t reach_h = (p.kernel_h - 1) * p.dilation_h, reach_w = (p.kernel_w - 1) * p.dilation_w;
  return p.stride_h == 1 && p.stride_w == 1 && p.pad_top <= reach_h && p.pad_bottom <= reach_h &&
         p.pad_left <= reach_w && p.pad_right <= reach_w;
}

Conv2dParams flipped_problem(const Conv2dParams& p) {
  Conv2dParams t = p;
  t.in_h = p.out_h(), t.in_w = p.out_w(), t.in_c = p.out_c, t.out_c = p.in_c;
  t.pad_top = (p.kernel_h - 1) * p.dilation_h - p.pad_top;
  t.pad_bottom = (p.kernel_h - 1) * p.dilation_h - p.pad_bottom;
  t.pad_left = (p.kernel_w - 1) * p.dilation_w - p.pad_left;
  t.pad_right = (p.kernel_w - 1) * p.dilation_w - p.pad_right;
  return t;
}

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

class Im2colConv final : public ConvForward, public ConvBackwardData, public ConvBackwardWeights {
 public:
  // With flipped_weights, forward's HWIO w is that of the problem this one is the flipped form
  // of (backward data of a stride-1 convolution), read through FlippedWeightsB.
  Im2colConv(const Conv2dParams& p, const PlanContext& context, bool flipped_weights = false)
      : ConvBackwardData(p),
        geo_(p),
        flipped_weights_(flipped_weights),
        kern_(kernels<GemmKernels>(context.isa)),
        relu_(context.activation == Activation::relu),
        pointwise_(p.kernel_h == 1 && p.kernel_w == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_top == 0 &&
                   p.pad_bottom == 0 && p.pad_left == 0 && p.pad_right == 0),
        weights_per_group_(packed_b_floats(kern_, geo_.taps, geo_.ocg)),
        transposed_per_group_(packed_b_floats(kern_, geo_.ocg, geo_.taps)),
        chunk_pixels_(chunk_pixels()),
        in_place_depth_(in_place_depth()) {
    // Backward data of a stride-1 convolution as the forward GEMM of its flipped form, depth
    // kh*kw*out_c, straight into dx; dcol's depth is only out_c per group, and its col2im pass
    // and barriers cost res2b 3x3 over a quarter of the call (154 -> 211 GFLOP/s). 1x1 layers
    // write dcol = dx already. The flipped GEMM is in_c/groups wide, so it needs at least a
    // tile's width of input channels: with 3 (an RGB layer) it ran 5x slower than dcol. And it
    // packs the flipped weights with transposing reads every call, which on images of 128
    // pixels or fewer costs more than col2im saves (res5b 3x3 at 7x7: 135-147 GFLOP/s flipped,
    // 152-169 with dcol).
    const bool enough_pixels = p.batch * p.in_h * p.in_w > 128;
    if (!flipped_weights && !pointwise_ && has_flipped_form(p) && geo_.icg >= kern_.nr && enough_pixels) {
      flipped_ = std::make_unique<Im2colConv>(flipped_problem(p), PlanContext{Activation::none, context.isa}, true);
    }
  }

  size_t packed_weights_size() const override { return static_cast<size_t>(geo_.p.groups * weights_per_group_); }

  void pack_weights(const float* w, float* packed) const override {
    const int64_t panels = packed_b_panels(kern_, geo_.taps, geo_.ocg);
    for (int64_t g = 0; g < geo_.p.groups; ++g) {
      const MatrixSourceB weights(MatrixView{w + g * geo_.ocg, geo_.p.out_c, false});
      pack_b(kern_, weights, geo_.taps, geo_.ocg, packed + g * weights_per_group_, 0, panels);
    }
  }

  void forward_packed(const float* x, const float* packed_w, const float* b, float* y, int threads) const override {
    const size_t per_thread = gemm_workspace_floats(kern_, true);
    auto workspace = scratch_.acquire(per_thread * static_cast<size_t>(threads));
#pragma omp parallel num_threads(threads)
    forward_share(x, packed_w, nullptr, b, y, workspace.data() + per_thread * static_cast<size_t>(omp_get_thread_num()));
  }

  // From HWIO weights, each thread packs the blocks of W it needs as it goes, while they are
  // hot in its cache: cheaper than writing a whole packed copy out and reading it back.
  void forward(const float* x, const float* w, const float* b, float* y, int threads) const override {
    const size_t per_thread = gemm_workspace_floats(kern_, false);
    auto workspace = scratch_.acquire(per_thread * static_cast<size_t>(threads));
#pragma omp parallel num_threads(threads)
    forward_share(x, nullptr, w, b, y, workspace.data() + per_thread * static_cast<size_t>(omp_get_thread_num()));
  }

  void backward_data(const float* dy, const float* w, float* dx, int threads) const override {
    if (flipped_ != nullptr) {
      flipped_->forward(dy, w, nullptr, dx, threads);
      return;
    }
    const Conv2dParams& p = geo_.p;
    const int64_t chunks = pointwise_ ? 1 : (geo_.pixels + chunk_pixels_ - 1) / chunk_pixels_;
    // W^T is packed once up front only when several chunks reuse it; otherwise each thread
    // packs the blocks it needs as it goes, while they are hot in its cache, instead of
    // writing the whole packed copy out and reading it back (it can be larger than the work).
    const bool prepack = chunks > 1;
    const size_t per_thread = gemm_workspace_floats(kern_, prepack);
    // Whole cache lines each, so every thread's GEMM workspace after them starts on one.
    const size_t transposed_size = prepack ? cache_lines(p.groups * transposed_per_group_) : 0;
    const size_t column_size = pointwise_ ? 0 : cache_lines(p.groups * chunk_pixels_ * geo_.taps);
    auto workspace = scratch_.acquire(transposed_size + column_size + per_thread * static_cast<size_t>(threads));
    float* transposed = workspace.data();
    float* columns = transposed + transposed_size;
    const int64_t panels_per_group = packed_b_panels(kern_, geo_.ocg, geo_.taps);
#pragma omp parallel num_threads(threads)
    {
      const int thread = omp_get_thread_num(), team = omp_get_num_threads();
      float* mine = columns + column_size + per_thread * static_cast<size_t>(thread);
      if (prepack) {
#pragma omp for schedule(static) nowait
        for (int64_t panel = 0; panel < p.groups * panels_per_group; ++panel) {
          const int64_t g = panel / panels_per_group, first = panel % panels_per_group;
          pack_b(kern_, transposed_weights(w, g), geo_.ocg, geo_.taps, transposed + g * transposed_per_group_, first,
                 first + 1);
        }
      }
      if (pointwise_) {  // dcol is dx itself
        multiply_by_transposed_weights(dy, w, prepack ? transposed : nullptr, 0, geo_.pixels, dx, p.in_c, geo_.icg,
                                       team, thread, mine);
      } else {
#pragma omp for schedule(static)
        for (int64_t i = 0; i < p.input_elements(); ++i) dx[i] = 0.0f;
        for (int64_t first = 0; first < geo_.pixels; first += chunk_pixels_) {
          const int64_t end = min64(first + chunk_pixels_, geo_.pixels);
          multiply_by_transposed_weights(dy, w, prepack ? transposed : nullptr, first, end, columns, geo_.taps,
                                         chunk_pixels_ * geo_.taps, team, thread, mine);
#pragma omp barrier
          add_columns_to_input(columns, first, end, dx, team, thread);
#pragma omp barrier
        }
      }
    }
  }

  void backward_weights(const float* x, const float* dy, float* dw, float* db, int threads) const override {
    const Conv2dParams& p = geo_.p;
    const size_t per_thread = gemm_workspace_floats(kern_, false);
    auto workspace = scratch_.acquire(in_place_depth_ > 0 ? 0 : per_thread * static_cast<size_t>(threads));
#pragma omp parallel num_threads(threads)
    {
      const int thread = omp_get_thread_num(), team = omp_get_num_threads();
      if (in_place_depth_ > 0) {
        pointwise_weight_grad(x, dy, dw, thread, team);
      } else {
        float* mine = workspace.data() + per_thread * static_cast<size_t>(thread);
        gemm_share(kern_, p.groups, geo_.taps, geo_.ocg, team, thread, [&](int64_t g, GemmRange rows, GemmRange cols) {
          const LoweredTapsA columns_t(geo_, x, g);
          const MatrixSourceB gradient(MatrixView{dy + g * geo_.ocg, p.out_c, false});
          gemm_block(kern_, geo_.pixels, columns_t, gradient, rows, cols, dw + g * geo_.ocg, p.out_c, GemmEpilogue{},
                     mine);
        });
      }
      if (db != nullptr) bias_gradient(dy, db);
    }
  }

 private:
  // Backward weights of a 1x1, stride-1, unpadded convolution whose groups hold whole nr blocks
  // of output channels. x is col_g already ([pixels x in_c], group g from column g*ICG) and dy_g
  // is [pixels x out_c] from column g*OCG: both depth-major, so the tile reads them where they
  // lie, with nothing lowered or packed (packing x^T and dy cost res2a's 1x1 as much as its
  // multiplies). Depth runs in blocks of in_place_depth_ pixels whose x and dy rows stay in L2
  // while the thread's tiles sweep them, tiles of one A block adjacent; each tile of dW adds
  // its blocks in order, so the result does not depend on the thread count.
  void pointwise_weight_grad(const float* x, const float* dy, float* dw, int thread, int team) const {
    const Conv2dParams& p = geo_.p;
    const int64_t m_blocks = ceil_div(geo_.icg, kern_.mr), n_blocks = geo_.ocg / kern_.nr;
    const int64_t tiles = p.groups * m_blocks * n_blocks;
    const int64_t first = tiles * thread / team, end = tiles * (thread + 1) / team;
    GemmTileEpilogue epilogue;
    for (int64_t p0 = 0; p0 < geo_.pixels; p0 += in_place_depth_) {
      const int64_t depth = min64(in_place_depth_, geo_.pixels - p0);
      epilogue.accumulate = p0 > 0;
      for (int64_t tile = first; tile < end; ++tile) {
        const int64_t nb = tile % n_blocks, mb = tile / n_blocks % m_blocks, g = tile / (n_blocks * m_blocks);
        const int64_t ci = g * geo_.icg + mb * kern_.mr, oc = g * geo_.ocg + nb * kern_.nr;
        kern_.tile_in_place(depth, x + p0 * p.in_c + ci, p.in_c, dy + p0 * p.out_c + oc, p.out_c,
                            dw + (ci - g * geo_.icg) * p.out_c + oc, p.out_c, min64(kern_.mr, geo_.icg - mb * kern_.mr),
                            epilogue);
      }
    }
  }

  // The depth block of pointwise_weight_grad (x and dy rows of a block within 256 KB), or 0
  // where packing pays: when channels outnumber pixels (ResNet-50's 14x14 and 7x7 1x1 layers of
  // 1024 and more channels ran 5-10% faster packed), each packed element feeds many more
  // multiplies than it costs, and the in-place tile's strided rows cost more than the packing.
  int64_t in_place_depth() const {
    if (!pointwise_ || geo_.ocg % kern_.nr != 0 || geo_.pixels < max64(geo_.icg, geo_.ocg)) return 0;
    const int64_t row_bytes = (geo_.p.in_c + geo_.p.out_c) * int64_t{sizeof(float)};
    return max64(kern_.mr, min64(1024, (256 * 1024) / row_bytes));
  }

  // Pixels of dcol per backward_data chunk: a whole number of mr blocks within the budget.
  int64_t chunk_pixels() const {
    const int64_t row_floats = geo_.p.groups * geo_.taps;
    const int64_t budget_rows = max64(kColumnChunkFloats / row_floats / kern_.mr, 1) * kern_.mr;
    return min64(budget_rows, (geo_.pixels + kern_.mr - 1) / kern_.mr * kern_.mr);
  }

  // This thread's pieces of y = col * W (+ bias, ReLU), called inside the parallel region, with
  // W packed (packed_w) or as HWIO (w) when packed_w is null.
  void forward_share(const float* x, const float* packed_w, const float* w, const float* b, float* y,
                     float* workspace) const {
    const Conv2dParams& p = geo_.p;
    GemmEpilogue epilogue;
    epilogue.relu = relu_;
    gemm_share(kern_, p.groups, geo_.pixels, geo_.ocg, omp_get_num_threads(), omp_get_thread_num(),
               [&](int64_t g, GemmRange rows, GemmRange cols) {
                 epilogue.bias = b != nullptr ? b + g * geo_.ocg : nullptr;
                 float* y_g = y + g * geo_.ocg;
                 const auto multiply = [&](const auto& weights) {
                   if (pointwise_) {
                     const MatrixSourceA input(MatrixView{x + g * geo_.icg, p.in_c, false});
                     gemm_block(kern_, geo_.taps, input, weights, rows, cols, y_g, p.out_c, epilogue, workspace);
                   } else {
                     const LoweredPixelsA columns(geo_, x, g);
                     gemm_block(kern_, geo_.taps, columns, weights, rows, cols, y_g, p.out_c, epilogue, workspace);
                   }
                 };
                 if (packed_w != nullptr) {
                   multiply(PackedB{packed_w + g * weights_per_group_, geo_.taps, geo_.ocg});
                 } else if (flipped_weights_) {
                   multiply(FlippedWeightsB(geo_, w, g));
                 } else {
                   multiply(MatrixSourceB(MatrixView{w + g * geo_.ocg, p.out_c, false}));
                 }
               });
  }

  // W_g^T [OCG x taps] as the GEMM's B: element (oc, tap) = w[tap*out_c + g*OCG + oc].
  MatrixSourceB transposed_weights(const float* w, int64_t g) const {
    return MatrixSourceB(MatrixView{w + g * geo_.ocg, geo_.p.out_c, true});
  }

  // This thread's pieces of dcol = dy * W^T for output pixels [first, end): group g's rows go
  // to out + g*group_stride, row stride ldc. W^T comes from `transposed` (packed) when not null.
  void multiply_by_transposed_weights(const float* dy, const float* w, const float* transposed, int64_t first,
                                      int64_t end, float* out, int64_t ldc, int64_t group_stride, int team, int thread,
                                      float* workspace) const {
    const Conv2dParams& p = geo_.p;
    gemm_share(kern_, p.groups, end - first, geo_.taps, team, thread, [&](int64_t g, GemmRange rows, GemmRange cols) {
      const MatrixSourceA gradient(MatrixView{dy + first * p.out_c + g * geo_.ocg, p.out_c, false});
      float* out_g = out + g * group_stride;
      if (transposed != nullptr) {
        const PackedB weights_t{transposed + g * transposed_per_group_, geo_.ocg, geo_.taps};
        gemm_block(kern_, geo_.ocg, gradient, weights_t, rows, cols, out_g, ldc, GemmEpilogue{}, workspace);
      } else {
        gemm_block(kern_, geo_.ocg, gradient, transposed_weights(w, g), rows, cols, out_g, ldc, GemmEpilogue{},
                   workspace);
      }
    });
  }

  // col2im: each thread owns whole input rows (over the batch) and adds into them, kernel
  // position by kernel position, the dcol entries of output pixels [first, end) that read them.
  // No two threads write one row, and every element receives its additions in (kh, kw) order
  // whatever the thread count. Divisions happen per row and kernel position, not per element.
  void add_columns_to_input(const float* columns, int64_t first, int64_t end, float* dx, int team, int thread) const {
    const Conv2dParams& p = geo_.p;
    const int64_t plane = geo_.out_h * geo_.out_w;
    const int64_t n_first = first / plane, oh_first = first % plane / geo_.out_w;
    const int64_t n_last = (end - 1) / plane, oh_last = (end - 1) % plane / geo_.out_w;
    // The input rows (over the batch) the chunk's output rows read.
    const int64_t top = oh_first * p.stride_h - p.pad_top;
    const int64_t bottom = oh_last * p.stride_h - p.pad_top + (p.kernel_h - 1) * p.dilation_h + 1;
    const int64_t row_begin = n_first * p.in_h + min64(p.in_h, max64(0, top));
    const int64_t row_end = n_last * p.in_h + min64(p.in_h, max64(0, bottom));
    if (row_end <= row_begin) return;
    const int64_t rows = row_end - row_begin;
    const int64_t mine_begin = row_begin + rows * thread / team, mine_end = row_begin + rows * (thread + 1) / team;
    const int64_t group_stride = chunk_pixels_ * geo_.taps;
    for (int64_t r = mine_begin; r < mine_end; ++r) {
      const int64_t n = r / p.in_h, ih = r % p.in_h;
      float* dx_row = dx + r * p.in_w * p.in_c;
      for (int64_t kh = 0; kh < p.kernel_h; ++kh) {
        const int64_t th = ih + p.pad_top - kh * p.dilation_h;  // = oh * stride_h
        if (th < 0 || th % p.stride_h != 0 || th / p.stride_h >= geo_.out_h) continue;
        const int64_t row_start = (n * geo_.out_h + th / p.stride_h) * geo_.out_w;  // pixel of (oh, 0)
        // The output columns of that row inside the chunk.
        const int64_t chunk_lo = max64(0, first - row_start), chunk_hi = min64(geo_.out_w, end - row_start);
        for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
          const int64_t offset = kw * p.dilation_w - p.pad_left;  // iw = ow * stride_w + offset
          const int64_t ow_lo = max64(chunk_lo, ceil_div(-offset, p.stride_w));
          const int64_t ow_hi = min64(chunk_hi, floor_div(p.in_w - 1 - offset, p.stride_w) + 1);
          const float* source = columns + (kh * p.kernel_w + kw) * geo_.icg;
          for (int64_t ow = ow_lo; ow < ow_hi; ++ow) {
            const float* s = source + (row_start + ow - first) * geo_.taps;
            float* d = dx_row + (ow * p.stride_w + offset) * p.in_c;
            for (int64_t g = 0; g < p.groups; ++g) {
              const float* sg = s + g * group_stride;
              float* dg = d + g * geo_.icg;
              for (int64_t ci = 0; ci < geo_.icg; ++ci) dg[ci] += sg[ci];
            }
          }
        }
      }
    }
  }

  // db[oc] = sum over every output pixel of dy, in pixel order, in double; each thread owns
  // whole blocks of channels (a block's row of dy is a few cache lines, its sums fit in registers).
  void bias_gradient(const float* dy, float* db) const {
    constexpr int64_t kBlock = 32;
    const int64_t out_c = geo_.p.out_c, blocks = (out_c + kBlock - 1) / kBlock;
#pragma omp for schedule(static) nowait
    for (int64_t block = 0; block < blocks; ++block) {
      const int64_t oc0 = block * kBlock, count = min64(kBlock, out_c - oc0);
      double sum[kBlock] = {};
      if (count == kBlock) {
        for (int64_t q = 0; q < geo_.pixels; ++q) {
          const float* row = dy + q * out_c + oc0;
          for (int64_t j = 0; j < kBlock; ++j) sum[j] += row[j];
        }
      } else {
        for (int64_t q = 0; q < geo_.pixels; ++q) {
          const float* row = dy + q * out_c + oc0;
          for (int64_t j = 0; j < count; ++j) sum[j] += row[j];
        }
      }
      for (int64_t j = 0; j < count; ++j) db[oc0 + j] = static_cast<float>(sum[j]);
    }
  }

  Geometry geo_;
  bool flipped_weights_;
  const GemmKernels& kern_;
  bool relu_, pointwise_;
  int64_t weights_per_group_, transposed_per_group_, chunk_pixels_, in_place_depth_;
  std::unique_ptr<Im2colConv> flipped_;  // the flipped form backward data runs, when there is one
  mutable WorkspacePool scratch_;        // per-call buffers, reused across calls
};

}  // namespace

ConvImpls make_im2col_conv(const Conv2dParams& p, const PlanContext& context) {
  return conv_impls(std::make_shared<const Im2colConv>(p, context));
}

}  // namespace convkit::detail
