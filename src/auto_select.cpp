// `auto`: the backend for each direction of a problem when the caller does not name one.
//
// The rule is read off measurements on an AMD EPYC (Zen 4 class, AVX-512), 2 cores, 2 threads,
// 2026-11-26: `convkit-bench --backend direct,im2col,auto,onednn --dir all --threads 2` over
// the layer set (bench/layers.hpp) and bench/auto_sweep.txt, twice; the table is in
// docs/auto_table.md.
// The rule names roles (backend.hpp's ConvRole), the registry the rows that play them:
// `direct` is the direct-summation row, `im2col` the lowered-GEMM row.
// - `direct` by default: it is the faster backend on almost every shape, and its depthwise and
//   grouped kernels run 4-100x faster than im2col's one small GEMM per group.
// - forward: `direct` everywhere. Widening 1x1 layers went to `im2col` (res2c, 64->256, 1.15x)
//   until direct ran them with pixel segments outermost (commit bbf63b3); then, in three
//   convkit-bench runs, res2c ran 220 GFLOP/s on direct against 219 on im2col, 128->512 at 28x28
//   227-229 against 218-226, 16->64 at 112x112 201-203 against 178 (at batch 8, res2c's
//   190-191 on im2col against 180-182 on direct is the one row the other way).
// - backward data: `im2col` for 1x1, stride-1, unpadded layers whose GEMM is at least 4x wider
//   than it is deep with the depth at most 64 (256->64: 1.17x, but 1024->256's 0.92x), where
//   NHWC already is the GEMM's matrix; on 1x1 layers with 2048 or more input channels
//   (1.04-1.11x); and on strided 1x1 layers of fewer than 512 input channels: res3a (256->512)
//   ran 0.97-1.08x with im2col in six runs (1.04x the median), while 512->1024 ran 0.90-0.92x
//   once direct's weight transpose got faster (commit 75a18c1).
// - backward weights: `im2col` for 1x1 layers with 2048 or more input channels (1.11x); direct's
//   weight gradient is faster elsewhere (1.02-1.18x where im2col used to win), measured after
//   its row bands were resized (commit 4a3bd1d), so its rows in the table are a later run.
// - under Math::fast, forward and backward data: `winograd` (the minimal-filtering row) on the
//   3x3 stride-1 layers it takes (16+ channels per group) wherever the layer has enough 4x4
//   tiles of the direction's result per call to repay its transformed weights (36 floats per
//   weight pair, 4x the weights); the measurements are docs/auto_table.md's last table.
//   Forward reads them packed once: winograd unless the layer has fewer than 16 tiles and its
//   transformed weights outgrow half the L3 (ResNet-50's res5b, 7x7x512 at batch 1, ties).
//   Backward data transforms them on every call: winograd from 16 tiles up, or from 48 when
//   the transformed weights outgrow half the L3 and their transform runs at memory speed.
#include <cstdint>
#include <fstream>

#include "backend.hpp"

namespace convkit::detail {
namespace {

bool is_pointwise(const Conv2dParams& p) {
  return p.kernel_h == 1 && p.kernel_w == 1 && p.pad_top == 0 && p.pad_bottom == 0 && p.pad_left == 0 &&
         p.pad_right == 0;
}

// The first row after the reference that may run `d` (the reference when none may).
const ConvBackend& first_candidate(const std::vector<ConvBackend>& table, const Conv2dParams& p, Direction d,
                                   Math math) {
  for (size_t i = 1; i < table.size(); ++i) {
    if (conv_candidate(table[i], p, d, math)) return table[i];
  }
  return table.front();
}

// This CPU's L3 as Linux's sysfs reports it (glibc's sysconf can report a whole socket's under
// a virtual machine: 320 MB on the 32 MB machine the rule was measured on), else those 32 MB.
int64_t l3_bytes() {
  static const int64_t bytes = [] {
    std::ifstream file("/sys/devices/system/cpu/cpu0/cache/index3/size");
    int64_t kilobytes = 0;
    if (file >> kilobytes && kilobytes > 0 && file.get() == 'K') return kilobytes << 10;
    return int64_t{32} << 20;
  }();
  return bytes;
}

// Whether minimal filtering repays its transforms for direction d (see the rule above).
bool minimal_filtering_pays(const Conv2dParams& p, Direction d) {
  const bool forward = d == Direction::forward;
  const int64_t rows = forward ? p.out_h() : p.in_h, cols = forward ? p.out_w() : p.in_w;
  const int64_t tiles = p.batch * ((rows + 3) / 4) * ((cols + 3) / 4);
  const bool weights_outgrow_l3 = 36 * p.in_c_per_group() * p.out_c * int64_t{sizeof(float)} > l3_bytes() / 2;
  if (forward) return tiles >= 16 || !weights_outgrow_l3;
  return tiles >= (weights_outgrow_l3 ? 48 : 16);
}

}  // namespace

ConvChoice auto_conv_choice(const std::vector<ConvBackend>& table, const Conv2dParams& p, Math math) {
  const bool ungrouped = p.groups == 1, pointwise = ungrouped && is_pointwise(p);
  const bool strided = p.stride_h > 1 || p.stride_w > 1;
  ConvRole roles[] = {ConvRole::direct_summation, ConvRole::direct_summation, ConvRole::direct_summation};
  std::string why = "direct summation by default";
  const bool narrowing = !strided && p.in_c >= 4 * p.out_c && p.out_c <= 64;
  if (pointwise && (p.in_c >= 2048 || narrowing || (strided && p.in_c < 512))) {
    roles[static_cast<size_t>(Direction::backward_data)] = ConvRole::lowered_gemm;
    why += "; backward data lowered GEMM: 1x1 with >= 2048 input channels, narrowing 4x to <= 64, or strided "
           "below 512";
  }
  if (pointwise && p.in_c >= 2048) {
    roles[static_cast<size_t>(Direction::backward_weights)] = ConvRole::lowered_gemm;
    why += "; backward weights lowered GEMM: 1x1 with >= 2048 input channels";
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
