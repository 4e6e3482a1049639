#pragma once
// The winograd backend: Winograd F(4x4, 3x3) and F(6x6, 3x3) for 3x3, stride-1, undilated
// convolutions (Math::fast: its transforms round differently from a plain sum of products).
#include <string>

#include "backend.hpp"

namespace convkit::detail {
// Empty when the backend takes the problem; otherwise why it declines.
std::string winograd_decline_reason(const Conv2dParams&);
ConvImpls make_winograd_conv(const Conv2dParams&, const PlanContext&);
}  // namespace convkit::detail
