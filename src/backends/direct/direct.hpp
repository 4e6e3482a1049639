#pragma once
// The direct backend: vectorized direct convolution on prepacked weights, register-blocked
// over output pixels and output-channel vectors, with a depthwise kernel of its own.
#include <memory>

#include "backend.hpp"

namespace convkit::detail {
ConvImpls make_direct_conv(const Conv2dParams&, const PlanContext&);
}  // namespace convkit::detail
