#pragma once
// Keeps a loaded vector in a register. GCC 12 folds a load into every FMA that uses the value
// when a tile has few rows to share it (3 or fewer), a load per use instead of one, which
// costs such tiles a quarter of their rate (docs/results/decisions.md, "keep_in_register"). An empty asm that
// claims to change the register is all it takes.
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
