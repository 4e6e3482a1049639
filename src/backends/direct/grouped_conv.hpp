#pragma once
// The direct backend's path for groups of a few channels (kernels/grouped_conv.hpp): vectors
// across neighbouring groups instead of a mostly idle vector per group.
#include "backend.hpp"

namespace convkit::detail {

// Replaces in `impls` (the direct backend's objects for p) the directions the grouped path
// runs for p under ctx.isa: forward and backward weights where at least two groups' input
// channels fit a vector and in_c/groups <= out_c/groups <= kMaxGroupedDiagonals (depthwise
// aside), backward data where the same holds with in and out swapped (so in_c == out_c) or
// for channel multipliers of 2 to kMaxGroupedDiagonals (the per-input tile); forward and backward data also for groups of 8
// inputs and outputs where ctx.isa has the paired tile (AVX2 and up).
void take_grouped_directions(const Conv2dParams& p, const PlanContext& ctx, ConvImpls& impls);

}  // namespace convkit::detail
