// Grouped convolutions with a few channels per group, vectorized across groups
// (kernels/grouped_conv.hpp says how the lanes are used).
//
// A block is the G = lanes / in_per_group neighbouring groups whose input channels one vector
// holds (a partial last block where the groups run out). Packed weights: per block, per tap
// [kh][kw], per diagonal s, a vector whose lane (g, j) holds the weight from the block's group
// g input channel j to its output channel (j + s) mod out_per_group, or j XOR s where the XOR
// tile runs (zero past the block's groups). Groups of 8 inputs and outputs run the paired tile instead where runs_paired says:
// a block is one group, its taps' weights in pairs of input channels (tile_paired's order).
// Backward data is the transposed problem (dy in, dx out, the taps walked through dy
// as tap_geometry.hpp describes), with the same tile and the weights packed transposed.
//
// Threading: one OpenMP region per call; packing, then a barrier, then contiguous shares of
// (image, output row, block) items. Each output element is written by one thread with a
// fixed summation order, so forward and backward data do not depend on the thread count
// (backward weights: see GroupedBackwardWeights).
#include "backends/direct/grouped_conv.hpp"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "threading.hpp"

#include "backends/direct/direct_problem.hpp"
#include "conv/bias_gradient.hpp"
#include "conv/tap_geometry.hpp"
#include "kernels/grouped_conv.hpp"

namespace convkit::detail {
namespace {

// Whether the grouped tile runs a problem with these channels per group: two or more groups
// fit a vector, and each input channel's products go to at most kMaxGroupedDiagonals outputs,
// one per diagonal (in_per_group <= out_per_group, else one diagonal would send two lanes to
// one output). One channel in and out is depthwise, which has its own kernels.
bool grouped_tile_fits(int64_t in_per_group, int64_t out_per_group, int64_t lanes) {
  return 2 * in_per_group <= lanes && in_per_group <= out_per_group && out_per_group <= kMaxGroupedDiagonals &&
         out_per_group > 1;
}
// Whether the paired tile runs it: the instruction set has one, and 8 inputs and outputs per
// group.
bool paired_tile_fits(int64_t in_per_group, int64_t out_per_group, const GroupedConvKernels& k) {
  return k.paired_max_pixels > 0 && in_per_group == 8 && out_per_group == 8;
}

// Whether a problem runs the paired tile: where it fits and the diagonals do not (AVX2); where
// both fit (AVX-512) the XOR diagonals ran faster, backward data of strided layers included
// (docs/results/decisions.md, "direct: 8-channel groups in input pairs" and "direct: XOR diagonals").
bool runs_paired(int64_t in_per_group, int64_t out_per_group, const GroupedConvKernels& k) {
  return paired_tile_fits(in_per_group, out_per_group, k) && !grouped_tile_fits(in_per_group, out_per_group, k.lanes);
}
// Whether the XOR tile runs a problem that neither the paired nor the per-input tile takes: as
// many inputs as outputs per group, a power of two, whose lanes it moves by fixed shuffles.
bool xor_tile_fits(int64_t in_per_group, int64_t out_per_group, const GroupedConvKernels& k) {
  return in_per_group == out_per_group && out_per_group <= kMaxGroupedDiagonals && out_per_group > 1 &&
         k.tile_xor[out_per_group - 1][0] != nullptr;
}
// Whether the per-input tile runs it: one output per group, fed by 2 to kMaxGroupedDiagonals
// inputs (the transpose of a channel multiplier).
bool per_input_tile_fits(int64_t in_per_group, int64_t out_per_group) {
  return out_per_group == 1 && in_per_group > 1 && in_per_group <= kMaxGroupedDiagonals;
}

// One direct convolution as the grouped tiles run it: the forward problem or backward data's
// transposed one. `per_input` (in_per_group > out_per_group == 1): a block is `lanes` groups,
// whose in_per_group input vectors each sum into an accumulator of their own (tile_per_input),
// vector s's lane l holding input (s*lanes + l) mod in_per_group of group (s*lanes + l) /
// in_per_group; `terms` = in_per_group lanes of an accumulator add into each output. `paired`
// (runs_paired): a block is one group, its taps' weights in tile_paired's order
// ([in_per_group / 2][16]), counted as diagonals of a vector each. `xor_lanes` (xor_tile_fits,
// not paired): diagonal s pairs input j with output j XOR s, and tile_xor runs it. gather()
// (xor_lanes, transposed, and the columns pair up: tap_geometry.hpp, pair_phases): the weights
// are packed for tile_gather, lane (g, o) of diagonal s holding input o XOR s's weight to
// output o, and the pairs run tile_pairs, which spreads each dy vector once for the three
// or five outputs it feeds instead of folding every output's diagonals.
struct GroupedProblem {
  int64_t batch = 0, in_h = 0, in_w = 0, in_c = 0, out_h = 0, out_w = 0, out_c = 0;
  int64_t kernel_h = 1, kernel_w = 1, groups = 1, in_per_group = 0, out_per_group = 0;
  int64_t lanes = 0, groups_per_block = 0, blocks = 0;
  bool transposed = false, per_input = false, paired = false, xor_lanes = false;
  std::vector<TapRange> row_taps;  // per output row
  std::vector<AxisRun> columns;  // the columns outside column_pairs
  PhasePairs column_pairs;
  // The tile's `source` table (grouped_conv.hpp): [out_vectors][diagonals][terms][lanes].
  std::vector<int32_t> source;
  // Packing: lane i of a tap's diagonals belongs to group pack_group[i] of its block (one past
  // the last where no group reads it) and holds HWIO's weight pack_offset[i] from the tap's and
  // block's first; blocks and taps step through HWIO by these.
  std::vector<int64_t> pack_group, pack_offset;
  int64_t hwio_tap_floats = 0, hwio_block_step = 0;

  bool gather() const { return column_pairs.pairs > 0; }
  int64_t diagonals() const { return paired ? in_per_group * 8 / lanes : per_input ? in_per_group : out_per_group; }
  int64_t terms() const { return per_input ? in_per_group : 1; }
  int64_t tap_floats() const { return diagonals() * lanes; }
  int64_t block_floats() const { return kernel_h * kernel_w * tap_floats(); }
  int64_t packed_floats() const { return blocks * block_floats(); }
  int64_t groups_in(int64_t block) const { return std::min(groups_per_block, groups - block * groups_per_block); }
};

// `paired`: lay out for tile_paired (runs_paired); `xor_lanes`: for tile_xor, or transposed,
// where the columns pair up, for tile_gather and the pair tile.
GroupedProblem grouped_problem(const Conv2dParams& p, int64_t lanes, bool transposed, bool paired, bool xor_lanes) {
  GroupedProblem d;
  d.batch = p.batch, d.kernel_h = p.kernel_h, d.kernel_w = p.kernel_w, d.groups = p.groups;
  d.transposed = transposed;
  const ConvAxis rows{p.in_h, p.out_h(), p.kernel_h, p.stride_h, p.pad_top, p.dilation_h};
  const ConvAxis cols{p.in_w, p.out_w(), p.kernel_w, p.stride_w, p.pad_left, p.dilation_w};
  if (transposed) {
    d.in_h = p.out_h(), d.in_w = p.out_w(), d.in_c = p.out_c, d.out_h = p.in_h, d.out_w = p.in_w, d.out_c = p.in_c;
  } else {
    d.in_h = p.in_h, d.in_w = p.in_w, d.in_c = p.in_c, d.out_h = p.out_h(), d.out_w = p.out_w(), d.out_c = p.out_c;
  }
  d.in_per_group = d.in_c / p.groups, d.out_per_group = d.out_c / p.groups;
  d.lanes = lanes;
  d.per_input = d.in_per_group > d.out_per_group;
  d.paired = paired;
  d.xor_lanes = xor_lanes && !paired;
  d.groups_per_block = d.paired ? 1 : d.per_input ? lanes : lanes / d.in_per_group;
  d.blocks = (p.groups + d.groups_per_block - 1) / d.groups_per_block;
  for (int64_t o = 0; o < d.out_h; ++o) d.row_taps.push_back(transposed ? transposed_taps(rows, o) : forward_taps(rows, o));
  d.columns = axis_runs(cols, transposed);
  if (d.xor_lanes && transposed) d.column_pairs = pair_phases(d.columns, cols);
  const int64_t S = d.diagonals(), block_outputs = d.groups_per_block * d.out_per_group;
  const int64_t out_vectors = (block_outputs + lanes - 1) / lanes;
  // HWIO holds, per tap, the forward [in_c / groups][out_c] matrix; transposed, the problem's
  // input channels are the forward output channels and its outputs the forward inputs.
  const int64_t forward_out_per_group = transposed ? d.in_per_group : d.out_per_group;
  const int64_t forward_out_c = transposed ? d.in_c : d.out_c;
  d.hwio_tap_floats = (transposed ? d.out_per_group : d.in_per_group) * forward_out_c;
  d.hwio_block_step = d.groups_per_block * forward_out_per_group;
  for (int64_t s = 0; s < S; ++s) {
    for (int64_t l = 0; l < lanes; ++l) {
      // Lane l of vector s: from input j of block group g to output o (paired: weight
      // q = (s*lanes + l) % 16 of input pair (s*lanes + l) / 16, as grouped_conv.hpp orders them).
      const int64_t input = d.per_input ? s * lanes + l : l;
      int64_t g = std::min(input / d.in_per_group, d.groups_per_block), j = input % d.in_per_group;
      int64_t o = d.per_input ? 0 : d.xor_lanes ? j ^ s : (j + s) % d.out_per_group;
      if (d.gather()) std::swap(j, o);  // lane (g, o) holds input o XOR s's weight
      const int64_t q = (s * lanes + l) % 16;
      if (d.paired) j = (s * lanes + l) / 16 * 2 + q % 2, o = 4 * (q % 8 / 4) + 2 * (q / 8) + q % 4 / 2, g = 0;
      const int64_t group_column = g * forward_out_per_group;
      d.pack_group.push_back(g);
      d.pack_offset.push_back(transposed ? o * forward_out_c + group_column + j : j * forward_out_c + group_column + o);
    }
  }
  if (d.paired || d.xor_lanes) return d;
  d.source.assign(static_cast<size_t>(out_vectors * S * d.terms() * lanes), -1);
  if (d.per_input) {
    // Output g (one vector) adds lane g*in_per_group + t - s*lanes of accumulator s, where in range.
    for (int64_t s = 0; s < S; ++s) {
      for (int64_t t = 0; t < d.terms(); ++t) {
        for (int64_t g = 0; g < lanes; ++g) {
          const int64_t lane = g * d.in_per_group + t - s * lanes;
          if (lane >= 0 && lane < lanes) d.source[static_cast<size_t>((s * d.terms() + t) * lanes + g)] = static_cast<int32_t>(lane);
        }
      }
    }
    return d;
  }
  // Output channel q of a block is output o = q mod out_per_group of its group g; diagonal s
  // carries it from input lane (g, j) with (j + s) mod out_per_group == o.
  for (int64_t v = 0; v < out_vectors; ++v) {
    for (int64_t s = 0; s < S; ++s) {
      for (int64_t l = 0; l < lanes; ++l) {
        const int64_t q = v * lanes + l, g = q / d.out_per_group, o = q % d.out_per_group;
        const int64_t j = (o - s + d.out_per_group) % d.out_per_group;
        if (q < block_outputs && j < d.in_per_group) {
          d.source[static_cast<size_t>((v * S + s) * lanes + l)] = static_cast<int32_t>(g * d.in_per_group + j);
        }
      }
    }
  }
  return d;
}

// Packs the (block, tap) items [begin, end) of HWIO weights w, through the tables
// grouped_problem made.
void pack_grouped(const GroupedProblem& d, const float* w, float* packed, int64_t begin, int64_t end) {
  const int64_t taps = d.kernel_h * d.kernel_w, lanes_per_tap = d.diagonals() * d.lanes;
  for (int64_t item = begin; item < end; ++item) {
    const int64_t b = item / taps, tap = item % taps, groups = d.groups_in(b);
    float* out = packed + b * d.block_floats() + tap * d.tap_floats();
    const float* block_w = w + tap * d.hwio_tap_floats + b * d.hwio_block_step;
    for (int64_t i = 0; i < lanes_per_tap; ++i) {
      const size_t at = static_cast<size_t>(i);
      out[i] = d.pack_group[at] < groups ? block_w[d.pack_offset[at]] : 0.0f;
    }
  }
}

int64_t pack_items(const GroupedProblem& d) { return d.blocks * d.kernel_h * d.kernel_w; }

// Output row oh of image n for one block.
void run_grouped_row(const GroupedProblem& d, const GroupedConvKernels& k, const float* x, const float* packed,
                     const float* bias, float* y, Activation activation, int64_t n, int64_t oh, int64_t b) {
  const TapRange& rows = d.row_taps[static_cast<size_t>(oh)];
  const int64_t S = d.diagonals(), groups = d.groups_in(b);
  const int64_t widest = d.paired ? k.paired_max_pixels : k.max_pixels[S - 1];
  const GroupedConvTileFn* tile_of_width =
      d.paired ? k.tile_paired
               : (d.per_input ? k.tile_per_input : d.gather() ? k.tile_gather : d.xor_lanes ? k.tile_xor : k.tile)[S - 1];
  GroupedConvTile t{};
  t.bias = bias != nullptr ? bias + b * d.groups_per_block * d.out_per_group : nullptr;
  t.source = d.source.data();
  t.terms = d.terms();
  t.steps = d.in_per_group / 2;
  t.activation = activation;
  t.in_lanes = groups * d.in_per_group;
  t.out_channels = groups * d.out_per_group;
  t.taps_h = rows.taps;
  t.x_tap_h = rows.input_step * d.in_w * d.in_c;
  t.w_tap_h = rows.tap_step * d.kernel_w * d.tap_floats();
  const float* x_row = x + ((n * d.in_h + rows.first_input) * d.in_w) * d.in_c + b * d.groups_per_block * d.in_per_group;
  float* y_row = y + (n * d.out_h + oh) * d.out_w * d.out_c + b * d.groups_per_block * d.out_per_group;
  for (const AxisRun& run : d.columns) {
    t.taps_w = run.taps.taps;
    t.x_tap_w = run.taps.input_step * d.in_c;
    t.w_tap_w = run.taps.tap_step * d.tap_floats();
    t.w = packed + b * d.block_floats() + (rows.first_tap * d.kernel_w + run.taps.first_tap) * d.tap_floats();
    t.x_pixel_stride = run.in_step * d.in_c;
    t.y_pixel_stride = run.out_step * d.out_c;
    const bool reads = t.taps_h > 0 && t.taps_w > 0;
    const direct::EvenTiles tiles(run.pixels, widest);
    for (int64_t i = 0; i < tiles.count; ++i) {
      const int64_t j = tiles.start(i);
      t.pixels = tiles.size(i);
      t.x = reads ? x_row + (run.in_begin + j * run.in_step) * d.in_c : x;
      t.y = y_row + (run.out_begin + j * run.out_step) * d.out_c;
      tile_of_width[t.pixels - 1](t);
    }
  }
  if (!d.gather()) return;
  PhasePairTile pt{};
  pt.taps_h = t.taps_h;
  pt.x_tap_h = t.x_tap_h;
  pt.w_tap_h = t.w_tap_h;
  pt.taps_w = d.kernel_w;
  pt.w_tap_w = d.tap_floats();
  pt.w = packed + b * d.block_floats() + rows.first_tap * d.kernel_w * d.tap_floats();
  pt.x_pixel_stride = d.in_c;
  pt.y_pixel_stride = d.out_c;
  pt.channels = t.out_channels;  // as many inputs as outputs per group
  pt.pairs = d.column_pairs.pairs;
  pt.x = pt.taps_h > 0 ? x_row + d.column_pairs.in_begin * d.in_c : x;
  pt.y = y_row + d.column_pairs.out_begin * d.out_c;
  k.tile_pairs[S - 1](pt);
}

// One region: when `unpacked` is not null, first pack it into `pack_target` (which `packed`
// then names), then run the (image, row, block) items.
void run_grouped(const GroupedProblem& d, const GroupedConvKernels& k, const float* x, const float* packed,
                 const float* bias, float* y, Activation activation, int threads, const float* unpacked = nullptr,
                 float* pack_target = nullptr) {
  const int64_t total = d.batch * d.out_h * d.blocks;
  run_team(threads, [&](int thread, int team) {
    if (unpacked != nullptr) {
      const Share packing = share_of(pack_items(d), thread, team);
      pack_grouped(d, unpacked, pack_target, packing.begin, packing.end);
      team_barrier(team);
    }
    const Share share = share_of(total, thread, team);
    for (int64_t item = share.begin; item < share.end; ++item) {
      const int64_t b = item % d.blocks, oh = (item / d.blocks) % d.out_h, n = item / (d.blocks * d.out_h);
      run_grouped_row(d, k, x, packed, bias, y, activation, n, oh, b);
    }
  });
}

// The forward problem, or backward data's transposed one, laid out for the tile that runs it.
GroupedProblem tile_problem(const Conv2dParams& p, const GroupedConvKernels& k, bool transposed) {
  const int64_t in_per_group = transposed ? p.out_c_per_group() : p.in_c_per_group();
  const int64_t out_per_group = transposed ? p.in_c_per_group() : p.out_c_per_group();
  return grouped_problem(p, k.lanes, transposed, runs_paired(in_per_group, out_per_group, k),
                         xor_tile_fits(in_per_group, out_per_group, k));
}

class GroupedForward final : public ConvForward {
 public:
  GroupedForward(const Conv2dParams& p, const PlanContext& ctx)
      : p_(p),
        activation_(ctx.activation),
        k_(kernels<GroupedConvKernels>(ctx.isa)),
        d_(tile_problem(p, k_, false)) {}

  size_t packed_weights_size() const override { return static_cast<size_t>(d_.packed_floats()); }
  void pack_weights(const float* w, float* packed) const override {
    pack_grouped(d_, w, packed, 0, pack_items(d_));
  }
  void forward_packed(const float* x, const float* packed_w, const float* b, float* y, int threads) const override {
    run_grouped(d_, k_, x, packed_w, b, y, activation_, direct::call_team(p_, Direction::forward, threads));
  }
  void forward(const float* x, const float* w, const float* b, float* y, int threads) const override {
    auto lease = scratch_.acquire(packed_weights_size());
    run_grouped(d_, k_, x, lease.data(), b, y, activation_, direct::call_team(p_, Direction::forward, threads), w,
                lease.data());
  }

 private:
  Conv2dParams p_;
  Activation activation_;
  const GroupedConvKernels& k_;
  GroupedProblem d_;
  mutable WorkspacePool scratch_;
};

class GroupedBackwardData final : public ConvBackwardData {
 public:
  GroupedBackwardData(const Conv2dParams& p, const PlanContext& ctx)
      : ConvBackwardData(p), p_(p), k_(kernels<GroupedConvKernels>(ctx.isa)), d_(tile_problem(p, k_, true)) {}

  void backward_data(const float* dy, const float* w, float* dx, int threads) const override {
    auto lease = scratch_.acquire(backward_data_packed_size());
    run_grouped(d_, k_, dy, lease.data(), nullptr, dx, Activation::none,
                direct::call_team(p_, Direction::backward_data, threads), w, lease.data());
  }
  size_t backward_data_packed_size() const override { return static_cast<size_t>(d_.packed_floats()); }
  void pack_backward_data_weights(const float* w, float* packed) const override {
    pack_grouped(d_, w, packed, 0, pack_items(d_));
  }
  void backward_data_packed(const float* dy, const float* packed_w, float* dx, int threads) const override {
    run_grouped(d_, k_, dy, packed_w, nullptr, dx, Activation::none,
                direct::call_team(p_, Direction::backward_data, threads));
  }

 private:
  Conv2dParams p_;
  const GroupedConvKernels& k_;
  GroupedProblem d_;
  mutable WorkspacePool scratch_;
};

// dw[kh,kw,j,g*Co+o] = sum_{n,oh,ow} x[n, ih, iw, g*Ci+j] * dy[n, oh, ow, g*Co+o], per block in
// two steps: dy's rows are spread into their diagonals (GroupedSpread: lane (g, j) of diagonal s
// holds output (g, (j + s) mod Co)), a band of rows at a time so that they stay in L2, and then
// each rectangle of output pixels with identical taps (forward's row runs crossed with its
// column runs) sums its taps' products, as many taps per call as the registers hold. Items are
// (segment of output rows, block); when the blocks do not split evenly over the threads, every
// block is also cut into `threads` segments of rows, whose partial sums are added in segment
// order at the end (so then, as for depthwise, the rounding follows Options.threads). db is the
// shared BiasGradient's, in the same region.
class GroupedBackwardWeights final : public ConvBackwardWeights {
 public:
  GroupedBackwardWeights(const Conv2dParams& p, const PlanContext& ctx)
      : p_(p),
        k_(kernels<GroupedConvKernels>(ctx.isa)),
        d_(grouped_problem(p, k_.lanes, false, false, false)),
        bias_(p.batch * p.out_h() * p.out_w(), p.out_c, ctx.isa) {
    const ConvAxis rows{p.in_h, p.out_h(), p.kernel_h, p.stride_h, p.pad_top, p.dilation_h};
    row_runs_ = axis_runs(rows, false);
    const int64_t S = d_.diagonals(), L = d_.lanes, Ci = d_.in_per_group, Co = d_.out_per_group;
    out_vectors_ = (d_.groups_per_block * Co + L - 1) / L;
    spread_source_.assign(static_cast<size_t>(S * out_vectors_ * L), -1);
    for (int64_t s = 0; s < S; ++s) {
      for (int64_t l = 0; l < d_.groups_per_block * Ci; ++l) {
        const int64_t q = (l / Ci) * Co + (l % Ci + s) % Co;
        spread_source_[static_cast<size_t>(((q / L) * S + s) * L + l)] = static_cast<int32_t>(q % L);
      }
    }
    // Lane (g, j) of diagonal s is the weight from input j to output (j + s) mod Co of group g.
    dw_offset_.assign(static_cast<size_t>(S * L), 0);
    for (int64_t s = 0; s < S; ++s) {
      for (int64_t l = 0; l < d_.groups_per_block * Ci; ++l) {
        const int64_t g = l / Ci, j = l % Ci;
        dw_offset_[static_cast<size_t>(s * L + l)] = j * p.out_c + g * Co + (j + s) % Co;
      }
    }
    constexpr int64_t kBandFloats = (256 * 1024) / sizeof(float);
    band_rows_ = std::max<int64_t>(1, kBandFloats / (d_.out_w * S * L));
  }

  void backward_weights(const float* x, const float* dy, float* dw, float* db, int threads) const override {
    const GroupedProblem& d = d_;
    const int team_size = direct::call_team(p_, Direction::backward_weights, threads);
    const int64_t S = d.diagonals(), L = d.lanes, taps = d.kernel_h * d.kernel_w;
    const int64_t sum_floats = taps * S * L;
    const int64_t segments = d.blocks % team_size == 0 ? 1 : team_size;
    const int64_t band_floats = std::min(band_rows_, d.out_h) * d.out_w * S * L;
    const int64_t partial_floats = segments * d.blocks * sum_floats;
    const int64_t bias_floats = db != nullptr ? bias_.workspace_floats() : 0;
    auto lease = scratch_.acquire(static_cast<size_t>(partial_floats + bias_floats + team_size * band_floats));
    float* partial = lease.data();  // [segment][block][taps][S][L]
    float* bias_partial = partial + partial_floats;
    const int64_t max_taps = k_.max_taps[S - 1];
    run_team(team_size, [&](int thread, int team) {
      float* band = bias_partial + bias_floats + thread * band_floats;
      std::vector<int64_t> x_offset, sum_offset;
      const Share share = share_of(segments * d.blocks, thread, team);
      for (int64_t item = share.begin; item < share.end; ++item) {
        const int64_t segment = item / d.blocks, b = item % d.blocks;
        float* sums = partial + item * sum_floats;
        std::fill_n(sums, sum_floats, 0.0f);
        const Share rows = share_of(d.batch * d.out_h, static_cast<int>(segment), static_cast<int>(segments));
        for (int64_t row = rows.begin; row < rows.end;) {
          const int64_t n = row / d.out_h, oh0 = row % d.out_h;
          const int64_t oh1 = std::min({d.out_h, oh0 + band_rows_, oh0 + (rows.end - row)});
          row += oh1 - oh0;
          GroupedSpread spread{};
          spread.dy = dy + (n * d.out_h + oh0) * d.out_w * d.out_c + b * d.groups_per_block * d.out_per_group;
          spread.out = band;
          spread.source = spread_source_.data();
          spread.pixels = (oh1 - oh0) * d.out_w;
          spread.dy_pixel_stride = d.out_c;
          spread.out_channels = d.groups_in(b) * d.out_per_group;
          k_.spread[S - 1](spread);
          GroupedWeightGradTile t{};
          t.dy_row_stride = d.out_w * S * L;
          t.dy_col_stride = S * L;
          t.in_lanes = d.groups_in(b) * d.in_per_group;
          for (const AxisRun& rr : row_runs_) {
            const int64_t first = std::max(oh0, rr.out_begin), last = std::min(oh1, rr.out_begin + rr.pixels);
            if (first >= last || rr.taps.taps == 0) continue;
            const int64_t ih = rr.in_begin + (first - rr.out_begin) * rr.in_step;
            t.rows = last - first;
            t.x_row_stride = rr.in_step * d.in_w * d.in_c;
            for (const AxisRun& cr : d.columns) {
              if (cr.taps.taps == 0) continue;
              t.cols = cr.pixels;
              t.x_col_stride = cr.in_step * d.in_c;
              t.x = x + ((n * d.in_h + ih) * d.in_w + cr.in_begin) * d.in_c + b * d.groups_per_block * d.in_per_group;
              t.dy = band + ((first - oh0) * d.out_w + cr.out_begin) * S * L;
              x_offset.clear();
              sum_offset.clear();
              for (int64_t th = 0; th < rr.taps.taps; ++th) {
                for (int64_t tw = 0; tw < cr.taps.taps; ++tw) {
                  x_offset.push_back((th * rr.taps.input_step * d.in_w + tw * cr.taps.input_step) * d.in_c);
                  sum_offset.push_back(((rr.taps.first_tap + th) * d.kernel_w + cr.taps.first_tap + tw) * S * L);
                }
              }
              t.sums = sums;
              const int64_t all = static_cast<int64_t>(x_offset.size());
              for (int64_t k0 = 0; k0 < all; k0 += max_taps) {
                const int64_t count = std::min(max_taps, all - k0);
                t.x_offset = x_offset.data() + k0;
                t.sum_offset = sum_offset.data() + k0;
                k_.weight_grad[S - 1][count - 1](t);
              }
            }
          }
        }
      }
      if (db != nullptr) bias_.sum_segments(dy, bias_partial, thread, team);
      team_barrier(team);
      if (db != nullptr) bias_.add_segments(bias_partial, db, thread, team);
      // Each (block, tap): its lanes' sums, added over the segments in order, to their HWIO places.
      const Share scatter = share_of(d.blocks * taps, thread, team);
      for (int64_t item = scatter.begin; item < scatter.end; ++item) {
        const int64_t b = item / taps, tap = item % taps, groups = d.groups_in(b);
        float* dw_block = dw + tap * d.in_per_group * d.out_c + b * d.groups_per_block * d.out_per_group;
        const float* sums = partial + b * sum_floats + tap * S * L;
        for (int64_t s = 0; s < S; ++s) {
          for (int64_t l = 0; l < groups * d.in_per_group; ++l) {
            float sum = sums[s * L + l];
            for (int64_t segment = 1; segment < segments; ++segment) sum += sums[segment * d.blocks * sum_floats + s * L + l];
            dw_block[dw_offset_[static_cast<size_t>(s * L + l)]] = sum;
          }
        }
      }
    });
  }

 private:
  Conv2dParams p_;
  const GroupedConvKernels& k_;
  GroupedProblem d_;
  BiasGradient bias_;
  std::vector<AxisRun> row_runs_;
  int64_t out_vectors_ = 0, band_rows_ = 1;
  std::vector<int32_t> spread_source_;  // GroupedSpread's `source`: [out_vectors][diagonals][lanes]
  // Where lane l of diagonal s lands in dw, from its tap's and block's first weight.
  std::vector<int64_t> dw_offset_;
  mutable WorkspacePool scratch_;
};

}  // namespace

void take_grouped_directions(const Conv2dParams& p, const PlanContext& ctx, ConvImpls& impls) {
  if (p.groups == 1) return;
  const GroupedConvKernels& k = kernels<GroupedConvKernels>(ctx.isa);
  const int64_t lanes = k.lanes;
  const int64_t in_per_group = p.in_c_per_group(), out_per_group = p.out_c_per_group();
  if (grouped_tile_fits(in_per_group, out_per_group, lanes) || paired_tile_fits(in_per_group, out_per_group, k)) {
    impls.forward = std::make_shared<const GroupedForward>(p, ctx);
  }
  if (grouped_tile_fits(in_per_group, out_per_group, lanes)) {
    impls.backward_weights = std::make_shared<const GroupedBackwardWeights>(p, ctx);
  }
  if (grouped_tile_fits(out_per_group, in_per_group, lanes) || per_input_tile_fits(out_per_group, in_per_group) ||
      paired_tile_fits(out_per_group, in_per_group, k)) {
    impls.backward_data = std::make_shared<const GroupedBackwardData>(p, ctx);
  }
}

}  // namespace convkit::detail
