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
// Threading: one run_team region per call (none for a team of one). gemm_share splits each GEMM into disjoint pieces of
// its output over groups x pixel (or tap) blocks x channel blocks, so batch 1 uses every thread.
// Each output element is summed by one thread in an order fixed by the shape alone (the depth
// blocks, the dcol chunks, the kernel positions), so results are bitwise the same run to run and
// for any thread count.
#include <algorithm>
#include <memory>

#include "backends/im2col/im2col.hpp"
#include "backends/im2col/lowering.hpp"
#include "conv/bias_gradient.hpp"
#include "conv/integer.hpp"
#include "conv/tap_geometry.hpp"
#include "gemm/gemm.hpp"
#include "kernels/gemm.hpp"
#include "threading.hpp"

namespace convkit::detail {
namespace im2col {
namespace {

int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
// Floats rounded up to whole 64-byte lines.
size_t cache_lines(int64_t floats) { return static_cast<size_t>((floats + 15) / 16 * 16); }

// The floats of dcol backward_data keeps at once (shared by all threads); a chunk is never
// smaller than one mr block of pixels, whatever this budget says.
constexpr int64_t kColumnChunkFloats = int64_t{1} << 18;

class Im2colConv final : public ConvForward, public ConvBackwardData, public ConvBackwardWeights {
 public:
  // With flipped_weights, forward's HWIO w is that of the problem this one is the flipped form
  // of (backward data of a stride-1 convolution), read through FlippedWeightsB.
  Im2colConv(const Conv2dParams& p, const PlanContext& context, bool flipped_weights = false)
      : ConvBackwardData(p),
        geo_(p),
        flipped_weights_(flipped_weights),
        kern_(kernels<GemmKernels>(context.isa)),
        activation_(context.activation),
        pointwise_(is_pointwise(p)),
        weights_per_group_(packed_b_floats(kern_, geo_.taps, geo_.ocg)),
        transposed_per_group_(packed_b_floats(kern_, geo_.ocg, geo_.taps)),
        chunk_pixels_(chunk_pixels()),
        in_place_depth_(in_place_depth()),
        bias_(p.batch * p.out_h() * p.out_w(), p.out_c, context.isa) {
    // Backward data of a stride-1 convolution as the forward GEMM of its flipped form, depth
    // kh*kw*out_c, straight into dx; dcol's depth is only out_c per group, and its col2im pass
    // and barriers cost a quarter of a 3x3 layer's call. 1x1 layers write dcol = dx already.
    // The flipped GEMM is in_c/groups wide, so it needs at least a tile's width of input
    // channels. And it packs the flipped weights with transposing reads every call, which on
    // images of 128 pixels or fewer costs more than col2im saves (docs/results/decisions.md, "im2col: backward data as the flipped forward").
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
    run_team(threads, [&](int thread, int team) {
      forward_share(x, packed_w, nullptr, b, y, workspace.data() + per_thread * static_cast<size_t>(thread), thread, team);
    });
  }

  // From HWIO weights, each thread packs the blocks of W it needs as it goes, while they are
  // hot in its cache: cheaper than writing a whole packed copy out and reading it back.
  void forward(const float* x, const float* w, const float* b, float* y, int threads) const override {
    const size_t per_thread = gemm_workspace_floats(kern_, false);
    auto workspace = scratch_.acquire(per_thread * static_cast<size_t>(threads));
    run_team(threads, [&](int thread, int team) {
      forward_share(x, nullptr, w, b, y, workspace.data() + per_thread * static_cast<size_t>(thread), thread, team);
    });
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
    run_team(threads, [&](int thread, int team) {
      float* mine = columns + column_size + per_thread * static_cast<size_t>(thread);
      if (prepack) {
        const Share panels = share_of(p.groups * panels_per_group, thread, team);
        for (int64_t panel = panels.begin; panel < panels.end; ++panel) {
          const int64_t g = panel / panels_per_group, first = panel % panels_per_group;
          pack_b(kern_, transposed_weights(w, g), geo_.ocg, geo_.taps, transposed + g * transposed_per_group_, first,
                 first + 1);
        }
      }
      if (pointwise_) {  // dcol is dx itself
        multiply_by_transposed_weights(dy, w, prepack ? transposed : nullptr, 0, geo_.pixels, dx, p.in_c, geo_.icg,
                                       team, thread, mine);
      } else {
        const Share zeroed = share_of(p.input_elements(), thread, team);
        std::fill(dx + zeroed.begin, dx + zeroed.end, 0.0f);
        team_barrier(team);  // dx zeroed and W^T packed
        for (int64_t first = 0; first < geo_.pixels; first += chunk_pixels_) {
          const int64_t end = min64(first + chunk_pixels_, geo_.pixels);
          multiply_by_transposed_weights(dy, w, prepack ? transposed : nullptr, first, end, columns, geo_.taps,
                                         chunk_pixels_ * geo_.taps, team, thread, mine);
          team_barrier(team);
          add_columns_to_input(columns, first, end, dx, team, thread);
          team_barrier(team);
        }
      }
    });
  }

  void backward_weights(const float* x, const float* dy, float* dw, float* db, int threads) const override {
    const Conv2dParams& p = geo_.p;
    const size_t per_thread = gemm_workspace_floats(kern_, false);
    const size_t gemm_floats = in_place_depth_ > 0 ? 0 : per_thread * static_cast<size_t>(threads);
    auto workspace = scratch_.acquire(gemm_floats + (db != nullptr ? static_cast<size_t>(bias_.workspace_floats()) : 0));
    float* bias_partial = workspace.data() + gemm_floats;
    run_team(threads, [&](int thread, int team) {
      if (db != nullptr) bias_.sum_segments(dy, bias_partial, thread, team);
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
      if (db == nullptr) return;
      team_barrier(team);
      bias_.add_segments(bias_partial, db, thread, team);
    });
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
    const Share mine = share_of(tiles, thread, team);
    GemmTileEpilogue epilogue;
    for (int64_t p0 = 0; p0 < geo_.pixels; p0 += in_place_depth_) {
      const int64_t depth = min64(in_place_depth_, geo_.pixels - p0);
      epilogue.accumulate = p0 > 0;
      for (int64_t tile = mine.begin; tile < mine.end; ++tile) {
        const int64_t nb = tile % n_blocks, mb = tile / n_blocks % m_blocks, g = tile / (n_blocks * m_blocks);
        const int64_t ci = g * geo_.icg + mb * kern_.mr, oc = g * geo_.ocg + nb * kern_.nr;
        kern_.tile_in_place(depth, x + p0 * p.in_c + ci, p.in_c, dy + p0 * p.out_c + oc, p.out_c,
                            dw + (ci - g * geo_.icg) * p.out_c + oc, p.out_c, min64(kern_.mr, geo_.icg - mb * kern_.mr),
                            epilogue);
      }
    }
  }

  // The depth block of pointwise_weight_grad (x and dy rows of a block within 256 KB), or 0
  // where packing pays: when channels outnumber pixels, each packed element feeds many more
  // multiplies than it costs, and the in-place tile's strided rows cost more than the packing
  // (docs/results/decisions.md, "im2col: weight gradient in place or packed").
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

  // Thread `thread` of `team`'s pieces of y = col * W (+ bias, ReLU), with W packed (packed_w)
  // or as HWIO (w) when packed_w is null.
  void forward_share(const float* x, const float* packed_w, const float* w, const float* b, float* y,
                     float* workspace, int thread, int team) const {
    const Conv2dParams& p = geo_.p;
    GemmEpilogue epilogue;
    epilogue.activation = activation_;
    gemm_share(kern_, p.groups, geo_.pixels, geo_.ocg, team, thread,
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
    const Share mine = share_of(rows, thread, team);
    const int64_t group_stride = chunk_pixels_ * geo_.taps;
    const ConvAxis width_axis = column_axis(p);
    for (int64_t r = row_begin + mine.begin; r < row_begin + mine.end; ++r) {
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
          const OutputRange reading = outputs_reading_tap(width_axis, kw);
          const int64_t ow_lo = max64(chunk_lo, reading.lo), ow_hi = min64(chunk_hi, reading.hi);
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

  Geometry geo_;
  bool flipped_weights_;
  const GemmKernels& kern_;
  Activation activation_;
  bool pointwise_;
  int64_t weights_per_group_, transposed_per_group_, chunk_pixels_, in_place_depth_;
  BiasGradient bias_;
  std::unique_ptr<Im2colConv> flipped_;  // the flipped form backward data runs, when there is one
  mutable WorkspacePool scratch_;        // per-call buffers, reused across calls
};

}  // namespace
}  // namespace im2col

ConvImpls make_im2col_conv(const Conv2dParams& p, const PlanContext& context) {
  return conv_impls(std::make_shared<const im2col::Im2colConv>(p, context));
}

}  // namespace convkit::detail
