#pragma once
// The direct backend's dense weight and bias gradients (every grouping but depthwise's) on the
// packed tile of kernels/direct_conv.hpp (docs/design.md, "The direct backend").
#include <vector>

#include "aligned_buffer.hpp"
#include "backends/direct/direct_problem.hpp"
#include "kernels/depthwise_conv.hpp"

namespace convkit::detail::direct {

// dw[kh,kw,ci,oc] = sum_{n,oh,ow} x[n, oh*sh-pt+kh*dh, ow*sw-pl+kw*dw, g*ICG+ci] * dy[n,oh,ow,g*OCG+oc]:
// for each tap, a tile of input channels (the tile's "pixels") by output-channel vectors, the
// reduction running over the output pixels that tap reads in bounds. The tile reads dy where
// it lies, as it reads packed weights (weight_gradient.cpp says how a partial last vector stays
// inside the tensor). The output rows go in bands whose x rows and one block's dy rows (what
// a thread rereads from one item to the next) fit in the L2 (l2_bytes), every item summing its
// band into dw (the first band overwrites); a thread owns the same items in every band, so
// bands need no barrier and each sum runs in image and row order. Every band rereads and
// rewrites the thread's whole share of dw, so a band is only cut where the cache needs it
// (docs/results/decisions.md, "direct: weight-gradient row bands").
// db is summed by `threads` segments of the output pixels (a fixed partition for a given
// thread count) into partial sums, added in segment order at the end: split by channels, a
// layer of 64 or fewer output channels left one thread summing every pixel alone.
class DenseWeightGradient {
 public:
  DenseWeightGradient(const Conv2dParams& p, const ChannelBlocking& blocking, const DirectConvKernels& k,
                      const DepthwiseConvKernels& dk);
  void run(const float* x, const float* dy, float* dw, float* db, int threads, WorkspacePool& scratch) const;

 private:
  // This thread's segments of the bias-gradient partial sums: partial[segment][oc] = the sum
  // of dy over that segment's output pixels, taken in chunks whose dy stays in L1 across the
  // kernel's passes over the channel vectors (each chunk added to the partial sums in order).
  void bias_grad_segments(const float* dy, float* partial, int64_t segments, int thread, int team) const;

  Conv2dParams p_;
  ChannelBlocking blocking_;  // forward's output-channel blocks, the tile's lanes
  const DirectConvKernels& k_;
  const DepthwiseConvKernels& dk_;  // its bias-gradient kernel sums dy rows
  // For each kh (kw), the output rows (columns) that read inside the input.
  std::vector<OutputRange> rows_of_kh_, cols_of_kw_;
};

}  // namespace convkit::detail::direct
