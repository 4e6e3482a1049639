// `auto` over the shape sweep and the benchmarked layer set: it never picks a backend that
// declines the problem, its choice is stable, and CONVKIT_VERBOSE=1 says what it chose and why.
#include <gtest/gtest.h>

#include <algorithm>

#include "convkit/convkit.hpp"
#include "layers.hpp"
#include "support/problems.hpp"
#include "support/scoped_env.hpp"

namespace convkit {
namespace {

std::vector<std::string> all_conv_problems() {
  std::vector<std::string> problems = test::conv_sweep();
  for (const auto& layer : bench::conv_layers()) problems.push_back(layer.problem);
  return problems;
}

TEST(Auto, PicksOnlyAcceptingBackendsAndIsStable) {
  for (const char* isa : {"avx512", "avx2", "sse2"}) {
    test::ScopedEnv cap("CONVKIT_ARCH", isa);
    for (const std::string& text : all_conv_problems()) {
      SCOPED_TRACE(text + " under " + isa);
      const Conv2dParams p = parse_conv2d(text);
      const Conv2d first(p), second(p);
      EXPECT_EQ(conv2d_decline_reason(first.backend(), p), "");
      EXPECT_EQ(first.backend(), second.backend());
    }
    for (const auto& layer : bench::pool_layers()) {
      const Pool2dParams p = parse_pool2d(layer.problem);
      EXPECT_EQ(pool2d_decline_reason(Pool2d(p).backend(), p), "") << layer.problem;
    }
  }
}

TEST(Auto, VerboseLogsTheChoiceWithTheProblemString) {
  test::ScopedEnv verbose("CONVKIT_VERBOSE", "1");
  const Conv2dParams p = parse_conv2d("mb1_ic64ih56iw56_oc64_kh3kw3_ph1pw1");
  ::testing::internal::CaptureStderr();
  const Conv2d conv(p);
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find(to_string(p)), std::string::npos) << log;
  EXPECT_NE(log.find("-> " + std::string(conv.backend())), std::string::npos) << log;
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
}

}  // namespace
}  // namespace convkit
