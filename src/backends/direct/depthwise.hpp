#pragma once
// The direct backend's depthwise convolution (groups == in_c == out_c): vectors along the
// channels, forward and backward data on the tiles of kernels/depthwise_conv.hpp, and the
// weight and bias gradients (docs/design.md, "The direct backend").
#include <cstdint>

#include "aligned_buffer.hpp"
#include "backends/direct/direct_problem.hpp"
#include "conv/bias_gradient.hpp"
#include "kernels/depthwise_conv.hpp"
#include "threading.hpp"

namespace convkit::detail::direct {

// Channels one weight-gradient item covers (depthwise.cpp).
int64_t depthwise_block(int64_t channels, int64_t lanes);

// Packs channels [c_begin, c_end) of depthwise HWIO weights ([kh][kw][1][C]) to [kh][kw][padded
// C]; a range that ends at C zeroes the padding past it too.
void pack_depthwise(const DirectProblem& d, int64_t lanes, const float* w, float* packed, int64_t c_begin,
                    int64_t c_end);
// The floats of one packed copy.
inline int64_t depthwise_packed_floats(const DirectProblem& d, int64_t lanes) {
  return d.kernel_h * d.kernel_w * ceil_div(d.in_c, lanes) * lanes;
}

// One region running the (image, channel block, row) items of forward (or of the transposed
// problem, backward data) on `packed`, or, when `unpacked` is not null, on copies each thread
// first packs of the channels its items read, into `pack_target` (depthwise_packed_floats per
// thread), with no barrier: in one copy packed a share per thread, every call moved the lines
// each core packed to the other core and waited at a barrier for the slower packer, and two
// threads ran small layers slower than one (docs/results/decisions.md, "direct: depthwise
// weights packed per thread").
void run_depthwise(const DirectProblem& d, const DepthwiseConvKernels& k, const float* x, const float* packed,
                   const float* bias, float* y, Activation activation, int threads, const float* unpacked = nullptr,
                   float* pack_target = nullptr);

// Depthwise dw[kh,kw,c] = sum_{n,oh,ow} x[n, ih, iw, c] * dy[n, oh, ow, c], vectorized over c.
// The output rows are cut into `threads` segments (a fixed partition for a given thread
// count); each (segment, channel block) item walks its rows once, adding every tap's
// products for a row while that row's inputs are in cache, into partial sums of its own. The
// segments' partial sums are then added in segment order. db is the shared BiasGradient's, in
// the same region.
class DepthwiseWeightGradient {
 public:
  // `forward` is the plan's forward problem, whose row and column runs the gradient walks; it
  // must outlive this object.
  DepthwiseWeightGradient(const Conv2dParams& p, const DirectProblem& forward, const DepthwiseConvKernels& dk, Isa isa)
      : p_(p), fwd_(forward), dk_(dk), bias_(p.batch * p.out_h() * p.out_w(), p.out_c, isa), band_(staged_band()) {}
  // `threads` segments of the rows, summed by a region of `team_size` threads.
  void run(const float* x, const float* dy, float* dw, float* db, int threads, int team_size,
           WorkspacePool& scratch) const;

 private:
  // Where pixels lie a multiple of 2 KB apart, the tiles of forward's rectangles fall back to
  // four vectors a kernel row at a time (depthwise_grad_wide_tiles), and where 40% or more of
  // the outputs border the image, its many small rectangles each load and store their sums.
  // On AVX2, whose tile reads half a line of each pixel, the copy pays wherever pixels lie a
  // multiple of 1 KB apart (docs/results/decisions.md, "depthwise weight gradient: bands of
  // rows"). There threads that own whole channel blocks (one segment) copy x a band of output
  // rows at a time, kStagedVectors vectors of channels wide, into consecutive pixels with the
  // padding written as zeros, and one tile sums every tap over the band from the copy.
  // Elsewhere the copy cost more than it saved (docs/results/decisions.md, "direct: depthwise
  // weight gradient from staged bands").
  static constexpr int64_t kStagedVectors = 2;
  static constexpr int64_t kStagedL2Share = 4;  // a band's copy fills at most this share of L2
  static constexpr double kStagedBorderShare = 0.4;  // of the outputs, at least
  struct StagedBand {
    int64_t channels = 0;  // 0: not staged
    int64_t width = 0, rows = 0, floats = 0;
    static int64_t input_rows(const Conv2dParams& p, int64_t rows);
  };
  // The band where the layer qualifies, else none; used only where threads own whole channel
  // blocks, which depends on the call's thread count.
  StagedBand staged_band() const;
  void run_rectangles(const float* x, const float* dy, float* sums, Share seg, int64_t c0, int64_t channels) const;
  void run_band(const float* x, const float* dy, float* sums, int64_t n, const AxisRun& rows_run, RunSlice rows,
                int64_t c0, DepthwiseWeightGradTile& t) const;
  void run_staged(const float* x, const float* dy, float* dw, int64_t c0, int64_t width, const StagedBand& band,
                  float* stage) const;
  Conv2dParams p_;
  const DirectProblem& fwd_;
  const DepthwiseConvKernels& dk_;
  BiasGradient bias_;
  StagedBand band_;
};

}  // namespace convkit::detail::direct
