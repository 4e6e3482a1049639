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

  // Runs `check` on each problem of `sweep` the backend accepts (parsed by `parse`, asked of
  // `decline_reason`); declined problems are listed, and all declined is a skip, not a pass.
  template <class Parse, class DeclineReason, class Check>
  void for_each_accepted(const std::vector<std::string>& sweep, Parse parse, DeclineReason decline_reason,
                         Check check) {
    std::vector<std::string> declined;
    int ran = 0;
    for (const std::string& text : sweep) {
      const auto p = parse(text);
      const std::string reason = decline_reason(backend(), p);
      if (!reason.empty()) {
        declined.push_back(text + ": " + reason);
        continue;
      }
      SCOPED_TRACE(text);
      ++ran;
      check(p);
      if (HasFatalFailure()) return;
    }
    for (const auto& d : declined) std::printf("  %s declined %s\n", backend().c_str(), d.c_str());
    if (ran == 0) GTEST_SKIP() << backend() << " declined every problem";
  }

 private:
  std::unique_ptr<ScopedEnv> isa_cap_;
};

}  // namespace convkit::test
