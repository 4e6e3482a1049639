#pragma once
// Backward data in the dot form: HWIO read as it is, vectors along the reduction (the forward
// output channels), for problems where packing the transposed weights costs more than it saves
// (docs/design.md, "The direct backend").
#include <cstdint>

#include "backends/direct/direct_problem.hpp"

namespace convkit::detail::direct {

// Output channels (forward input channels) one work item covers (dot_backward_data.cpp).
int64_t dot_channel_block(const DirectProblem& d, const DirectConvKernels& k);
// dx = backward data of the transposed problem d from the forward problem's HWIO weights w.
void run_dot(const DirectProblem& d, const DirectConvKernels& k, const float* dy, const float* w, float* dx,
             int threads);

}  // namespace convkit::detail::direct
