#include "isa.hpp"

#include <xsimd/xsimd.hpp>

#include <cstdlib>
#include <cstring>

#include "convkit/convkit.hpp"

namespace convkit::detail {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    case Isa::sse2: break;
  }
  return "sse2";
}

Isa cpu_isa() {
  // xsimd checks both the CPUID bits and that the OS saves the wider registers (XGETBV).
  const auto cpu = xsimd::available_architectures();
  if (cpu.avx512f && cpu.avx512dq) return Isa::avx512;
  if (cpu.fma3_avx2) return Isa::avx2;
  return Isa::sse2;
}

Isa active_isa() {
  const Isa best = cpu_isa();
  const char* cap = std::getenv("CONVKIT_ARCH");
  if (cap == nullptr || *cap == '\0') return best;
  for (Isa isa : kAllIsas) {
    if (std::strcmp(cap, isa_name(isa)) == 0) return isa < best ? isa : best;
  }
  throw Error(std::string("CONVKIT_ARCH = \"") + cap + "\" is not one of avx512, avx2, sse2");
}

}  // namespace convkit::detail

namespace convkit {
std::string simd_arch() { return detail::isa_name(detail::active_isa()); }
}  // namespace convkit
