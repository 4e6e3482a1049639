#pragma once
// Parameters of the registry-parameterized suites: every registered backend under every
// instruction set, so a backend added to the registry is tested with no new test code.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "convkit/convkit.hpp"
#include "support/scoped_env.hpp"

namespace convkit::test {

inline const std::vector<std::string>& all_isas() {
  static const std::vector<std::string> isas = {"avx512", "avx2", "sse2"};
  return isas;
}

using BackendIsa = std::tuple<std::string, std::string>;

inline std::string backend_isa_name(const ::testing::TestParamInfo<BackendIsa>& info) {
  return std::get<0>(info.param) + "_" + std::get<1>(info.param);
}

// Caps the instruction set for the test's plans; skips (visibly) one this CPU lacks.
class BackendIsaTest : public ::testing::TestWithParam<BackendIsa> {
 protected:
  const std::string& backend() const { return std::get<0>(GetParam()); }
  const std::string& isa() const { return std::get<1>(GetParam()); }

  void SetUp() override {
    isa_cap_ = std::make_unique<ScopedEnv>("CONVKIT_ARCH", isa().c_str());
    if (simd_arch() != isa()) GTEST_SKIP() << "this CPU has no " << isa();
  }
  void TearDown() override { isa_cap_.reset(); }

  Options options(int threads, Activation activation = Activation::none) const {
    Options o;
    o.backend = backend();
    o.threads = threads;
    o.activation = activation;
    return o;
  }

  // Problems the backend declined, reported at the end; all declined is a skip, not a pass.
  std::vector<std::string> declined_;
  int ran_ = 0;
  void report_declines() {
    for (const auto& d : declined_) std::printf("  %s declined %s\n", backend().c_str(), d.c_str());
    if (ran_ == 0) GTEST_SKIP() << backend() << " declined every problem";
  }

 private:
  std::unique_ptr<ScopedEnv> isa_cap_;
};

}  // namespace convkit::test
