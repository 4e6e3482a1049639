// The direct backend's plan object: which algorithm runs each direction, and the workspaces.
// Portable driver code (packing, tap geometry, cache blocking, threading) is in the files it
// includes, one per algorithm; the arithmetic is in the per-ISA micro-kernels
// (kernels/direct_conv*, kernels/depthwise_conv*), chosen once per plan.
//
// Packed weights (forward): per group, output channels in blocks of `vectors` SIMD vectors
// (the last block may be narrower), each block laid out [kh][kw][in_c/groups][block lanes] and
// zero-padded to whole vectors, so the tile runs full width and only its store has a tail.
// Depthwise (groups == in_c == out_c) packs to [kh][kw][channels padded to a vector].
//
// Threading: one OpenMP region per call over a static, contiguous partition of work items
// (batch x group x channel block x output row, in that nesting, so one image still feeds both
// threads; layers with little weight put segments of pixels or rows outermost). No output
// element is summed by more than one thread and every sum runs in a fixed order, so results
// are bitwise identical for any thread count; the one exception is the depthwise weight
// gradient, whose fixed partition of the rows follows Options.threads.
#include "backends/direct/direct.hpp"

#include <memory>

#include "backends/direct/dense.hpp"
#include "backends/direct/depthwise.hpp"
#include "backends/direct/direct_problem.hpp"
#include "backends/direct/grouped_conv.hpp"
#include "backends/direct/dot_conv.hpp"
#include "backends/direct/weight_gradient.hpp"
#include "conv/gather_runs.hpp"

namespace convkit::detail {
namespace direct {
namespace {

class DirectConv final : public ConvForward, public ConvBackwardData, public ConvBackwardWeights {
 public:
  DirectConv(const Conv2dParams& p, const PlanContext& ctx)
      : ConvBackwardData(p),
        p_(p),
        activation_(ctx.activation),
        k_(kernels<DirectConvKernels>(ctx.isa)),
        dk_(kernels<DepthwiseConvKernels>(ctx.isa)),
        depthwise_(p.groups == p.in_c && p.out_c == p.in_c && p.groups > 1),
        gathers_(gathers_strided_pointwise(p)),
        fwd_(forward_problem(gathers_ ? gathered_params(p) : p, k_)),
        bwd_(backward_data_problem(p, k_)),
        dense_gradient_(p, k_, ctx.isa),
        depthwise_gradient_(p, fwd_, dk_, ctx.isa) {
    choose_blocking(fwd_, k_);
    choose_blocking(bwd_, k_);
    // A strip's tiles sum rc channels per tap, where a whole row of taps otherwise merges into
    // one reduction when rc is all of the channels. Below a vector of them that matters more than
    // the lone border pixels (docs/results/decisions.md, "direct: tap strips for border lines").
    for (DirectProblem* d : {&fwd_, &bwd_}) {
      if (depthwise_ || d->columns.size() == 1 || d->reduce_chunk < k_.lanes) continue;
      d->column_strips = tap_strips(column_axis(p), d->transposed);
      if (!d->column_strips.empty() && !d->transposed) d->column_strips.push_back({0, 1, d->out_w, 0, 0, TapRange{}});
    }
    // Packing the transposed weights costs about one pass over them per call; the dot form
    // instead pays a horizontal sum per output and runs its FMAs a little slower, a cost that
    // grows with the pixels. So the dot form wins where each output's reduction is long against
    // the pixels (dot_repays_packing), and also where few input channels would fill under half
    // the packed tile's lanes (an RGB stem). A reduction shorter than a vector would run on tails.
    // Weights packed once ahead of the calls (backward_data_packed) leave only the tile rates to
    // compare, where the packed tile is faster: there only thin lanes choose the dot form
    // (docs/results/decisions.md, "direct: backward data in the dot form").
    const int64_t lanes = k_.lanes, icg = p.in_c_per_group();
    const bool thin_lanes = 2 * icg < ceil_div(icg, lanes) * lanes;
    const bool dot_possible = !depthwise_ && p.out_c_per_group() >= lanes;
    bwd_.dot = dot_possible && (dot_repays_packing(p) || thin_lanes);
    bwd_prepacked_dot_ = dot_possible && thin_lanes;
    bwd_.dot_block = dot_channel_block(bwd_, k_);
    // Forward, where a few output channels per group (a segmentation head's classes) would
    // leave most of the packed tile's lanes idle (dot_fills_idle_lanes).
    fwd_.dot = !depthwise_ && !gathers_ && icg >= lanes && dot_fills_idle_lanes(p, lanes);
    if (fwd_.dot) {
      fwd_.pointwise = false;  // the dot form walks rectangles of rows
      fwd_.dot_block = dot_channel_block(fwd_, k_);
    }
    if (depthwise_) {
      fwd_.pointwise = bwd_.pointwise = false;
      bwd_.paired = pair_phases(bwd_.columns, column_axis(p));
    } else {
      slice_groups(fwd_);
      slice_groups(bwd_);
    }
    cache_tile_geometry();
  }

  size_t packed_weights_size() const override {
    if (depthwise_) return static_cast<size_t>(depthwise_packed_floats(fwd_, dk_.lanes));
    if (fwd_.dot) return static_cast<size_t>(p_.weight_elements());
    return static_cast<size_t>(fwd_.packed_floats());
  }

  void pack_weights(const float* w, float* packed) const override {
    if (depthwise_) {
      pack_depthwise(fwd_, dk_.lanes, w, packed, 0, p_.in_c);
    } else if (fwd_.dot) {
      pack_dot_forward(p_, k_, w, packed);
    } else {
      pack_hwio(fwd_, k_, w, packed, 0, pack_items(fwd_));
    }
  }

  void forward_packed(const float* x, const float* packed_w, const float* b, float* y, int threads) const override {
    if (depthwise_) {
      run_depthwise(fwd_, dk_, x, packed_w, b, y, activation_, team(Direction::forward, threads));
      return;
    }
    if (fwd_.dot) {
      run_dot(fwd_, k_, x, packed_w, b, y, activation_, team(Direction::forward, threads));
      return;
    }
    if (!gathers_) {
      run_prepacked(fwd_, x, packed_w, b, y, activation_, team(Direction::forward, threads));
      return;
    }
    auto lease = scratch_.acquire(gathered_input_size());
    run_direct(fwd_, k_, gather_strided_pixels(x, lease.data()), packed_w, b, y, activation_,
               team(Direction::forward, threads));
  }

  // Packs inside the call's one parallel region, then runs.
  void forward(const float* x, const float* w, const float* b, float* y, int threads) const override {
    const int call_team = team(Direction::forward, threads);
    if (depthwise_) {
      auto lease = scratch_.acquire(packed_weights_size() * static_cast<size_t>(call_team));
      run_depthwise(fwd_, dk_, x, nullptr, b, y, activation_, call_team, w, lease.data());
      return;
    }
    if (fwd_.dot) {
      auto lease = scratch_.acquire(packed_weights_size());
      pack_dot_forward(p_, k_, w, lease.data());  // few weights: packed on one thread, ahead of the region
      run_dot(fwd_, k_, x, lease.data(), b, y, activation_, call_team);
      return;
    }
    const auto packing_size =
        static_cast<size_t>(packing_floats(fwd_, call_team) + slicing_floats(fwd_, call_team, true));
    auto lease = scratch_.acquire(packing_size + gathered_input_size());
    if (gathers_) x = gather_strided_pixels(x, lease.data() + packing_size);
    run_direct_packing(fwd_, k_, x, w, lease.data(), b, y, activation_, call_team);
  }

  void backward_data(const float* dy, const float* w, float* dx, int threads) const override {
    if (depthwise_) {
      const int call_team = team(Direction::backward_data, threads);
      auto lease = scratch_.acquire(packed_weights_size() * static_cast<size_t>(call_team));
      run_depthwise(bwd_, dk_, dy, nullptr, nullptr, dx, Activation::none, call_team, w, lease.data());
      return;
    }
    if (bwd_.dot) {
      run_dot(bwd_, k_, dy, w, nullptr, dx, Activation::none, team(Direction::backward_data, threads));
      return;
    }
    const int call_team = team(Direction::backward_data, threads);
    auto lease = scratch_.acquire(
        static_cast<size_t>(packing_floats(bwd_, call_team) + slicing_floats(bwd_, call_team, true)));
    run_direct_packing(bwd_, k_, dy, w, lease.data(), nullptr, dx, Activation::none, call_team);
  }

  // Packed once: depthwise, forward's layout (the taps are walked backwards instead); the dot
  // form, HWIO as it is (ConvBackwardData's default); otherwise the transposed blocks.
  size_t backward_data_packed_size() const override {
    if (depthwise_) return packed_weights_size();
    if (bwd_prepacked_dot_) return ConvBackwardData::backward_data_packed_size();
    return static_cast<size_t>(bwd_.packed_floats());  // transposed into blocks of forward input channels
  }

  void pack_backward_data_weights(const float* w, float* packed) const override {
    if (depthwise_) {
      pack_weights(w, packed);
    } else if (bwd_prepacked_dot_) {
      ConvBackwardData::pack_backward_data_weights(w, packed);
    } else {
      pack_hwio(bwd_, k_, w, packed, 0, pack_items(bwd_));
    }
  }

  void backward_data_packed(const float* dy, const float* packed_w, float* dx, int threads) const override {
    if (depthwise_) {
      run_depthwise(bwd_, dk_, dy, packed_w, nullptr, dx, Activation::none, team(Direction::backward_data, threads));
    } else if (bwd_prepacked_dot_) {
      run_dot(bwd_, k_, dy, packed_w, nullptr, dx, Activation::none, team(Direction::backward_data, threads));
    } else {
      run_prepacked(bwd_, dy, packed_w, nullptr, dx, Activation::none, team(Direction::backward_data, threads));
    }
  }

  void backward_weights(const float* x, const float* dy, float* dw, float* db, int threads) const override {
    if (depthwise_) {
      depthwise_gradient_.run(x, dy, dw, db, threads, team(Direction::backward_weights, threads), scratch_);
    } else {
      dense_gradient_.run(x, dy, dw, db, team(Direction::backward_weights, threads), scratch_);
    }
  }

 private:
  // The whole-image rectangles of every tile width the directions will ask for.
  void cache_tile_geometry() {
    if (depthwise_) {
      cache_image_rectangles(fwd_, Tiling{kMaxDepthwisePixels, false});
      cache_image_rectangles(bwd_, Tiling{kMaxDepthwisePixels, false});
      return;
    }
    if (bwd_.dot) cache_image_rectangles(bwd_, Tiling{k_.dot_max_pixels, false});
    if (fwd_.dot) cache_image_rectangles(fwd_, Tiling{k_.dot_max_pixels, false});
    for (DirectProblem* d : {&fwd_, &bwd_}) {
      if ((d == &bwd_ && bwd_prepacked_dot_) || (d == &fwd_ && fwd_.dot)) continue;  // no packed tiles
      const ChannelBlocking& cb = d->blocking;
      cache_image_rectangles(*d, Tiling{k_.max_pixels[cb.block_vectors - 1], true});
      cache_image_rectangles(*d, Tiling{k_.max_pixels[cb.vectors_of(cb.blocks - 1) - 1], true});
    }
  }

  int team(Direction d, int threads) const { return call_team(p_, d, threads); }

  // run_direct on weights packed ahead of the call, with the threads' copies of x's groups where
  // d has a slice (no workspace taken where it has none).
  void run_prepacked(const DirectProblem& d, const float* x, const float* packed, const float* b, float* y,
                     Activation activation, int call_team) const {
    const int64_t slicing = slicing_floats(d, call_team, false);
    if (slicing == 0) {
      run_direct(d, k_, x, packed, b, y, activation, call_team);
      return;
    }
    auto lease = scratch_.acquire(static_cast<size_t>(slicing));
    run_direct(d, k_, x, packed, b, y, activation, call_team, lease.data());
  }

  // A 1x1 layer at a stride above 1 without padding reads every stride-th pixel. Where those
  // lie a multiple of 4 KB apart (512 channels at stride 2, 1024 at 2 or 4), every line a tile
  // reads falls in one L1 set: forward then copies the pixels together first (a stride^2-th of
  // the input, on one thread) and runs the pointwise layer of the output's size. At 2 KB (256
  // channels) it measured no better (docs/results/decisions.md, "direct: strided 1x1 layers on
  // gathered pixels").
  static bool gathers_strided_pointwise(const Conv2dParams& p) {
    const bool unpadded = p.pad_top == 0 && p.pad_bottom == 0 && p.pad_left == 0 && p.pad_right == 0;
    return p.groups == 1 && p.kernel_h == 1 && p.kernel_w == 1 && unpadded && p.stride_w > 1 &&
           lie_multiple_of(p.stride_w * p.in_c, 4096);
  }
  static Conv2dParams gathered_params(Conv2dParams p) {
    p.in_h = p.out_h();
    p.in_w = p.out_w();
    p.stride_h = p.stride_w = 1;
    return p;
  }
  size_t gathered_input_size() const {
    return gathers_ ? static_cast<size_t>(p_.batch * p_.out_h() * p_.out_w() * p_.in_c) : 0;
  }
  const float* gather_strided_pixels(const float* x, float* gathered) const {
    const Conv2dParams& p = p_;
    const int64_t OH = p.out_h(), OW = p.out_w(), C = p.in_c;
    for (int64_t row = 0; row < p.batch * OH; ++row) {
      const int64_t n = row / OH, ih = (row % OH) * p.stride_h;
      gather_runs(x + (n * p.in_h + ih) * p.in_w * C, p.stride_w * C, OW, C, C, gathered + row * OW * C);
    }
    return gathered;
  }

  // Whether the dot form on HWIO beats packing the transposed weights first. Per weight, packing
  // costs about a cycle; per output, the dot form costs about kDotSumCycles more, and its tile's
  // lower rate costs about 1/kDotBreakEvenPixels of a cycle per weight and pixel, so it wins while
  //   reduction * (kDotBreakEvenPixels - pixels) > kDotSumCycles * kDotBreakEvenPixels * pixels,
  // the reduction being the taps times channels one dx pixel sums (a stride-s axis reads 1/s of
  // its taps). The constants fit one-thread and two-thread runs on Zen 4 over 1x1 and 3x3 layers of
  // 1 to 100 pixels (docs/results/decisions.md, "direct: backward data in the dot form").
  static bool dot_repays_packing(const Conv2dParams& p) {
    const int64_t pixels = p.batch * p.in_h * p.in_w;
    const int64_t reduction = p.kernel_h * p.kernel_w * p.out_c_per_group() / (p.stride_h * p.stride_w);
    return pixels < kDotBreakEvenPixels &&
           reduction * (kDotBreakEvenPixels - pixels) > kDotSumCycles * kDotBreakEvenPixels * pixels;
  }
  static constexpr int64_t kDotBreakEvenPixels = 128, kDotSumCycles = 40;

  // Whether forward in the dot form beats the packed tile on a group of fewer output channels
  // than a vector. Per output, the packed tile issues lanes / ocg times the vectors of its
  // reduction (ocg of its lanes useful); the dot form issues the reduction's vectors once and
  // about kDotForwardSumVectors more for the horizontal sum. Fitted on Zen 3 (AVX2) over 1x1
  // and 3x3 layers of 1-6 output channels (docs/results/decisions.md, "direct: forward in the
  // dot form").
  static bool dot_fills_idle_lanes(const Conv2dParams& p, int64_t lanes) {
    const int64_t ocg = p.out_c_per_group();
    const int64_t reduction_vectors = p.kernel_h * p.kernel_w * ceil_div(p.in_c_per_group(), lanes);
    return ocg < lanes && reduction_vectors * (lanes - ocg) > kDotForwardSumVectors * ocg;
  }
  static constexpr int64_t kDotForwardSumVectors = 6;

  Conv2dParams p_;
  Activation activation_;
  const DirectConvKernels& k_;
  const DepthwiseConvKernels& dk_;
  bool depthwise_;
  bool gathers_;  // forward runs on the gathered pixels (gathers_strided_pointwise)
  DirectProblem fwd_, bwd_;
  // Backward data from weights packed ahead of the call runs the dot form (on HWIO) too.
  bool bwd_prepacked_dot_ = false;
  DenseWeightGradient dense_gradient_;
  DepthwiseWeightGradient depthwise_gradient_;  // reads fwd_
  mutable WorkspacePool scratch_;  // per-call buffers, reused across calls
};

}  // namespace
}  // namespace direct

ConvImpls make_direct_conv(const Conv2dParams& p, const PlanContext& ctx) {
  ConvImpls impls = conv_impls(std::make_shared<const direct::DirectConv>(p, ctx));
  take_grouped_directions(p, ctx, impls);
  return impls;
}

}  // namespace convkit::detail
