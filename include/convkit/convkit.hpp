#pragma once
// convkit: fp32 2-D convolution and pooling on NHWC tensors, forward and backward.
#include <string>

#include "convkit/conv2d.hpp"
#include "convkit/params.hpp"
#include "convkit/pool2d.hpp"

namespace convkit {
// The instruction set the kernels run with: "avx512", "avx2" or "sse2" (capped by CONVKIT_ARCH).
std::string simd_arch();
}  // namespace convkit
