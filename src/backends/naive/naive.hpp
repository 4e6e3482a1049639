#pragma once
// The reference backend: the seed notebook's loop nests, every feature, double accumulation.
#include <memory>

#include "backend.hpp"

namespace convkit::detail {
ConvImpls make_naive_conv(const Conv2dParams&, const PlanContext&);
std::unique_ptr<PoolImpl> make_naive_pool(const Pool2dParams&, const PlanContext&);
}  // namespace convkit::detail
