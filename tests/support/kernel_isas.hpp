#pragma once
// What the micro-kernel tests share: the instruction sets to try, and the value a kernel must
// leave alone around its outputs.
#include <vector>

#include "isa.hpp"

namespace convkit::test {

// Every instruction set this CPU runs.
inline std::vector<detail::Isa> isas_here() {
  std::vector<detail::Isa> isas;
  for (detail::Isa isa : detail::kAllIsas) {
    if (isa <= detail::cpu_isa()) isas.push_back(isa);
  }
  return isas;
}

inline constexpr float kSentinel = -12345.0f;

}  // namespace convkit::test
