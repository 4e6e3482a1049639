#pragma once
// x * y + z rounded once, wherever the instruction set has the instruction. Kernels call this
// instead of xsimd::fma: xsimd 8.1 gives fma3<avx2> a fused instruction but avx512f only its
// generic multiply-then-add, fused or not as the compiler's contraction decides (the sanitizer
// builds, for one, do not fuse it), which would make AVX-512 results depend on the build.
#include <immintrin.h>
#include <xsimd/xsimd.hpp>

#include <type_traits>

namespace convkit::detail {
namespace {

template <class T, class A>
[[gnu::always_inline]] inline xsimd::batch<T, A> fused_multiply_add(const xsimd::batch<T, A>& x,
                                                                     const xsimd::batch<T, A>& y,
                                                                     const xsimd::batch<T, A>& z) {
  if constexpr (std::is_same_v<A, xsimd::avx512f> && std::is_same_v<T, float>) {
    return _mm512_fmadd_ps(x, y, z);
  } else if constexpr (std::is_same_v<A, xsimd::avx512f> && std::is_same_v<T, double>) {
    return _mm512_fmadd_pd(x, y, z);
  } else {
    return xsimd::fma(x, y, z);
  }
}

}  // namespace
}  // namespace convkit::detail
