#pragma once
// The dot form: vectors along the reduction, each output a horizontal sum. Backward data reads
// HWIO as it is, where packing the transposed weights costs more than it saves; forward layers
// of a few output channels per group read weights transposed to [tap][out_c / groups][in_c],
// where the packed tile would leave most of its lanes idle (docs/design.md, "The direct backend").
#include <cstdint>

#include "backends/direct/direct_problem.hpp"

namespace convkit::detail::direct {

// Output channels (per group) one work item covers (dot_conv.cpp).
int64_t dot_channel_block(const DirectProblem& d, const DirectConvKernels& k);

// y = the problem d over x, from weights laid out [tap][d.out_per_group][d.in_c], group g's
// reduction at columns [g * d.reduce_per_group, (g + 1) * d.reduce_per_group): HWIO itself for
// backward data's transposed problem, pack_dot_forward's layout for forward. The bias (when not
// null) and the activation as Options state them.
void run_dot(const DirectProblem& d, const DirectConvKernels& k, const float* x, const float* w, const float* bias,
             float* y, Activation activation, int threads);

// Forward weights HWIO -> [tap][out_c / groups][in_c] (run_dot's layout for the forward problem).
void pack_dot_forward(const Conv2dParams& p, const DirectConvKernels& k, const float* w, float* packed);

}  // namespace convkit::detail::direct
