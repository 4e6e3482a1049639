#pragma once
// The direct backend's dense weight and bias gradients (every grouping but depthwise's) on the
// packed tile of kernels/direct_conv.hpp (docs/design.md, "The direct backend").
#include <vector>

#include "aligned_buffer.hpp"
#include "backends/direct/direct_problem.hpp"
#include "conv/bias_gradient.hpp"
#include "kernels/outer_product.hpp"

namespace convkit::detail::direct {

// dw[kh,kw,ci,oc] = sum_{n,oh,ow} x[n, oh*sh-pt+kh*dh, ow*sw-pl+kw*dw, g*ICG+ci] * dy[n,oh,ow,g*OCG+oc]:
// for each tap, a tile of input channels (the tile's "pixels") by output-channel vectors, the
// reduction running over the output pixels that tap reads in bounds. The tile reads dy where
// it lies, as it reads packed weights, or from a panel of one block's rows that a thread
// gathers (weight_gradient.cpp says where). The output rows go in even bands whose x rows and
// one block's dy rows (what a thread rereads from one item to the next) fit in the L2
// (l2_bytes), or, on images whose rows overfill the L1 (kL1BandsFromRatio), whose
// rows of one block's dy and of the x lines one tile reads fit in the L1 (l1_bytes); every item
// sums its band into dw (the first band overwrites); a thread owns the same items in every
// band, so bands need no barrier and each sum runs in image and row order. Every band rereads
// and rewrites the thread's whole share of dw, so a band is only cut where the cache needs it
// (docs/results/decisions.md, "direct: weight-gradient row bands", "direct: weight-gradient
// bands in the L1"). Some grouped layers read x from per-thread slices instead (x_slices_ below).
// Layers of at most kOuterProductMaxPixels output pixels an image (squeeze-excitation layers,
// classifiers, the last stages' 2x2-4x4 maps) take the outer-product kernel instead
// (kernels/outer_product.hpp), each thread writing its share of dw's rows once per chunk of
// pixels over the whole batch (run_outer_products). On so few pixels the tile's reductions are
// too short to pay for its stores, and the loop above passes over all of dw once per image:
// 2-5x slower than oneDNN at batch 4-32 on 1x1 images (docs/results/decisions.md, "direct:
// weight gradient as outer products on small images").
// db is the shared BiasGradient's, its segments summed in the same region before the barrier.
class DenseWeightGradient {
 public:
  // Blocks of output channels for the tile: the kernels' preferred width, or one vector wider
  // where the preferred width would end on a lone vector and the wider one would not (AVX2: 24
  // channels as one block of three vectors, 40 as three and two). Every block is one more pass
  // over the input, and a lone vector's runs on a tile that loads a value for every FMA. Blocks
  // of one width, none folded: every block's tiles are sized for block_vectors, which a folded
  // wider last block has no tile for.
  static ChannelBlocking blocking_for(int64_t channels_per_group, const DirectConvKernels& k);

  DenseWeightGradient(const Conv2dParams& p, const DirectConvKernels& k, Isa isa);
  void run(const float* x, const float* dy, float* dw, float* db, int threads, WorkspacePool& scratch) const;

 private:
  void run_outer_products(const float* x, const float* dy, float* dw, float* db, int threads,
                          WorkspacePool& scratch) const;

  // Whether the tile sums dw transposed, [tap][output channel][input channel], its lanes on
  // input channels and its broadcast rows on output channels, then transposes the sums into dw:
  // for an ungrouped layer whose input channels are whole vectors and whose output channels
  // leave at least one lane in kIdleLanesShare idle (a partial last vector, which also has dy
  // gathered into panels), or are a single vector over at least twice as many input channels
  // (whose 6x1 tile loads a value for every FMA). Output channels in whole vectors ran faster
  // on them, and so did 1024 -> 126, one lane in 64 idle (docs/results/decisions.md, "direct:
  // weight gradient summed transposed").
  static bool sums_transposed(const Conv2dParams& p, const DirectConvKernels& k);
  static constexpr int64_t kIdleLanesShare = 32;

  Conv2dParams p_;
  bool transposed_;
  // The tile's lanes in blocks: output channels, or input channels where transposed_.
  ChannelBlocking blocking_;
  const DirectConvKernels& k_;
  const OuterProductKernels& outer_;
  BiasGradient bias_;
  // For each kh (kw), the output rows (columns) that read inside the input.
  std::vector<OutputRange> rows_of_kh_, cols_of_kw_;
  EvenTiles bands_;  // the output rows' bands (the class comment says how they are sized)
  // Whether a thread first copies the band's input rows of each group it works on into a slice
  // of its own, [input row][iw][in_c / groups], which the tiles then read: for a grouped kernel
  // of several taps with one output vector per group, whose pixels lie a KB or more apart (at
  // most four to a 4 KB page). There the taps and channel tiles reread x in place, pass after
  // pass, from lines the L1 cannot keep (too few of its sets, too many pages), and a tile of
  // one vector does too few FMAs per line to hide it; closer pixels, wider groups and 1x1
  // kernels ran slower with the copy (docs/results/decisions.md, "direct: weight-gradient
  // input slices per group").
  bool x_slices_;
  static constexpr int64_t kSliceMinPixelBytes = 1024;
  // dy's pixel stride from which every block is read from a panel gathered per band
  // (weight_gradient.cpp): in place, the input-channel tiles that follow one another over the
  // same pixels each read a line per pixel, from pixels at least half a page apart, and ran at
  // 0.78-0.89x oneDNN on 1x1 layers of 512 and more output channels (docs/results/decisions.md,
  // "direct: weight-gradient dy panels").
  static constexpr int64_t kGatherDyPixelBytes = 2048;
  // How many times over an image's rows must fill the L1 (one block's dy, the x lines of a
  // tile) for the bands to be the L1's: each input-channel tile that follows another over the
  // band then finds its operands in the L1, where from the L2 they could not feed 512-bit FMA
  // units. On images that fill the L1 only a few times over, the extra passes over dw cost about
  // as much as they save (docs/results/decisions.md, "direct: weight-gradient bands in the L1").
  static constexpr int64_t kL1BandsFromRatio = 2;
  // The least evenness (items over the items the busiest thread runs, times threads) at which
  // threads split each (group, block)'s rows of dw rather than whole (group, block)s.
  static constexpr double kMinRowBalance = 0.8;
  // At 49 pixels (7x7) the outer products ran 1x1 layers of 512-2048 channels slower than the
  // tile (1.1-1.3x the time): each group of rows rereads the chunk's dy for every channel.
  static constexpr int64_t kOuterProductMaxPixels = 16;
  // Chunks bound the panels: 64 pixels of x and of dy, 0.5 MB at 1024 channels each. Not
  // tuned; a batch of 32 1x1 images (one chunk) ran at 2.3-3.7x oneDNN.
  static constexpr int64_t kOuterProductChunk = 64;
};

}  // namespace convkit::detail::direct
