#pragma once
// The problem a plan hands its backends: the caller's, with the fields that cannot change the
// result brought into range. A stride larger than its padded input extent leaves one output on
// that axis whatever its value, and a one-tap kernel reads the same input whatever its dilation;
// int64-sized values of such fields (valid, see tests/validation_test.cpp) would otherwise
// overflow the pointer steps that kernels form from them.
#include "convkit/params.hpp"

namespace convkit::detail {

Conv2dParams bounded_geometry(Conv2dParams p);
Pool2dParams bounded_geometry(Pool2dParams p);

}  // namespace convkit::detail
