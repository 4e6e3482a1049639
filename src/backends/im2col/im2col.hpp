#pragma once
// The im2col backend: convolution lowered to convkit's packed GEMM (src/gemm/gemm.hpp).
#include <memory>

#include "backend.hpp"

namespace convkit::detail {
ConvImpls make_im2col_conv(const Conv2dParams&, const PlanContext&);
}  // namespace convkit::detail
