#pragma once
// Keeps a loaded vector in a register. GCC 12 folds a load into every FMA that uses the value
// when a tile has few rows to share it (3 or fewer), a load per use instead of one: the
// direct tile 3x4 ran at 72% of the one-thread peak with its weights in L2 (84 GFLOP/s of
// 117), against 95-99% at 4 to 6 pixels, and at 99% (116) once kept in a register
// (convkit-kernel-bench). An empty asm that claims to change the register is all it takes.
#include <xsimd/xsimd.hpp>

namespace convkit::detail {
namespace {

template <class T, class A>
[[gnu::always_inline]] inline void keep_in_register(xsimd::batch<T, A>& v) {
  typename xsimd::batch<T, A>::register_type r = v;
  asm("" : "+v"(r));
  v = r;
}

}  // namespace
}  // namespace convkit::detail
