#pragma once
// PoolKernels for one instruction set, written once on the xsimd arch tag A and instantiated
// by the per-arch translation units cmake/kernel_arch.cpp.in generates. Everything lives in
// an anonymous namespace so that no function built with one unit's flags can be merged into
// another's.
//
// Channels are walked in chunks: blocks of eight or four full vectors, single vectors, then on wider
// instruction sets 4-lane SSE vectors, then single floats, so a chunk never reads or writes a
// channel outside [c_begin, c_end). One template per operation serves every chunk type
// through the Lanes traits (pool_chunks_impl.hpp).
//
// The row kernels are in pool_max_impl.hpp and pool_average_impl.hpp, what they share in
// pool_chunks_impl.hpp.
#include "kernels/pool_average_impl.hpp"
#include "kernels/pool_max_impl.hpp"

namespace convkit::detail {
namespace {

template <class A>
PoolKernels make_pool_kernels() {
  return PoolKernels{int64_t(xsimd::batch<float, A>::size),
                     max_forward_row<A>,
                     avg_forward_row<A>,
                     max_backward_row<A>,
                     avg_backward_store_row<A>,
                     avg_quotients_row<A>,
                     avg_backward_gather_row<A>};
}

}  // namespace
}  // namespace convkit::detail
