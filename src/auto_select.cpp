// `auto`: the backend for each direction of a problem when the caller does not name one.
//
// The rule is read off measurements on an AMD EPYC (Zen 4 class, AVX-512), 2 cores, 2 threads,
// 2026-11-26: `convkit-bench --backend direct,im2col,auto,onednn --dir all --threads 2` over
// the layer set (bench/layers.hpp) and bench/auto_sweep.txt, twice; the table is in
// docs/auto_table.md.
// The rule names roles (backend.hpp's ConvRole), the registry the rows that play them:
// `direct` is the direct-summation row, `im2col` the lowered-GEMM row.
// - `direct` by default: it is the faster backend on almost every shape, by far on depthwise and
//   grouped layers (im2col runs one small GEMM per group).
// - forward: `direct` everywhere, since it runs widening 1x1 layers with pixel segments
//   outermost.
// - backward data: `im2col` for 1x1, stride-1, unpadded layers of 512 or more input channels
//   whose GEMM is at least 4x wider than it is deep with the depth at most 64, where NHWC
//   already is the GEMM's matrix (narrower ones ran faster on direct once its tiles at 2 KB
//   strides and its dot-form rule changed); on 1x1 layers with 2048 or more input channels; and
//   on strided 1x1 layers of fewer than 512 input channels.
// - backward weights: `im2col` for 1x1 layers with 2048 or more input channels, and for strided
//   1x1 layers with 1024 or more, whose strided input pixels lie 8 KB apart: direct's tiles
//   reread them from one L1 set, im2col gathers them first.
// - under Math::fast, forward and backward data: `winograd` (the minimal-filtering row) on the
//   ungrouped 3x3 stride-1 layers it takes. Forward reads transformed weights packed once and
//   wins on such layers at two threads from 7x7 outputs up (7x7x512 within noise); on outputs
//   of 5x5 and less, whose 4x4 tiles are mostly padding, it lost up to 25x (SSD's 1x1 to 5x5
//   heads in convkit-network-bench --fast), so it needs 7 or more outputs along each axis. Below
//   64 output pixels it also needs its transformed weights (4x HWIO) to fit in 1.5 L2: a network
//   reads each layer's weights once per pass, and ResNet-50's 7x7x512 layer streamed its 38 MB
//   from memory at 0.72x direct's rate in convkit-network-bench --fast.
//   Backward data transforms the weights on every call (4x their size), which the GEMMs repay
//   over 9 or more 4x4 tiles of dx, and, once the transformed weights outgrow the caches, only
//   with at least one tile per 1.5 L2 of them (14x14 images win at 256 channels, lose at 512).
//   Grouped layers (16-32 channels per group) lost in both directions.
// The figures behind each line: docs/results/decisions.md, "auto: the measurements behind the
// rule".
#include <cstdint>

#include "backend.hpp"
#include "conv/cache_sizes.hpp"
#include "conv/tap_geometry.hpp"

namespace convkit::detail {
namespace {

// The first row after the reference that may run `d` (the reference when none may).
const ConvBackend& first_candidate(const std::vector<ConvBackend>& table, const Conv2dParams& p, Direction d,
                                   Math math) {
  for (size_t i = 1; i < table.size(); ++i) {
    if (conv_candidate(table[i], p, d, math)) return table[i];
  }
  return table.front();
}

// Whether minimal filtering repays its transforms for direction d (see the rule above).
bool minimal_filtering_pays(const Conv2dParams& p, Direction d) {
  if (p.groups != 1) return false;
  const int64_t transformed_bytes = 36 * p.in_c * p.out_c * int64_t{sizeof(float)};
  if (d == Direction::forward) {
    const int64_t pixels = p.batch * p.out_h() * p.out_w();
    return p.out_h() >= 7 && p.out_w() >= 7 && (pixels >= 64 || transformed_bytes <= 3 * l2_bytes() / 2);
  }
  const int64_t dx_tiles = p.batch * ((p.in_h + 3) / 4) * ((p.in_w + 3) / 4);
  return dx_tiles >= 9 && dx_tiles * (3 * l2_bytes() / 2) >= transformed_bytes;
}

}  // namespace

ConvChoice auto_conv_choice(const std::vector<ConvBackend>& table, const Conv2dParams& p, Math math) {
  const bool ungrouped = p.groups == 1, pointwise = ungrouped && is_unpadded_1x1(p);
  const bool strided = p.stride_h > 1 || p.stride_w > 1;
  ConvRole roles[] = {ConvRole::direct_summation, ConvRole::direct_summation, ConvRole::direct_summation};
  std::string why = "direct summation by default";
  const bool narrowing = !strided && p.in_c >= 512 && p.in_c >= 4 * p.out_c && p.out_c <= 64;
  if (pointwise && (p.in_c >= 2048 || narrowing || (strided && p.in_c < 512))) {
    roles[static_cast<size_t>(Direction::backward_data)] = ConvRole::lowered_gemm;
    why += "; backward data lowered GEMM: 1x1 with >= 2048 input channels, narrowing 4x from >= 512 to <= 64, "
           "or strided below 512";
  }
  if (pointwise && (p.in_c >= 2048 || (strided && p.in_c >= 1024))) {
    roles[static_cast<size_t>(Direction::backward_weights)] = ConvRole::lowered_gemm;
    why += "; backward weights lowered GEMM: 1x1 with >= 2048 input channels, or strided with >= 1024";
  }
  if (math == Math::fast) {
    for (Direction d : {Direction::forward, Direction::backward_data}) {
      if (conv_row_for_role(table, ConvRole::minimal_filtering, p, d, math) == nullptr) continue;
      if (!minimal_filtering_pays(p, d)) continue;
      roles[static_cast<size_t>(d)] = ConvRole::minimal_filtering;
      why += std::string("; ") + direction_name(d) + " minimal filtering (fast math)";
    }
  }
  ConvChoice choice;
  for (Direction d : kDirections) {
    const ConvBackend* row = conv_row_for_role(table, roles[static_cast<size_t>(d)], p, d, math);
    // No row of that role may run it (missing, declining, or fast under strict): the first that may.
    choice.by_direction[static_cast<size_t>(d)] = row != nullptr ? row : &first_candidate(table, p, d, math);
  }
  choice.why = "auto: " + why;
  return choice;
}

const PoolBackend& auto_pool_backend(const Pool2dParams& p) {
  const auto& table = pool_backend_table();
  for (size_t i = 1; i < table.size(); ++i) {
    if (table[i].decline_reason(p).empty()) return table[i];
  }
  return table.front();
}

}  // namespace convkit::detail
