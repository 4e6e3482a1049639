#pragma once
// The direct backend's path for groups of a few channels (kernels/grouped_conv.hpp): vectors
// across neighbouring groups instead of a mostly idle vector per group.
#include "backend.hpp"

namespace convkit::detail {

// Replaces in `impls` (the direct backend's objects for p) the directions the grouped path
// runs for p under ctx.isa: forward where 1 < in_c/groups... see grouped_conv.cpp.
void take_grouped_directions(const Conv2dParams& p, const PlanContext& ctx, ConvImpls& impls);

}  // namespace convkit::detail
