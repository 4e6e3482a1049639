#pragma once
// The vectorized pooling backend: PoolKernels over channels, one pass per output row.
#include <memory>

#include "backend.hpp"

namespace convkit::detail {
std::unique_ptr<PoolImpl> make_direct_pool(const Pool2dParams&, const PlanContext&);
}  // namespace convkit::detail
