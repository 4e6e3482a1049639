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
      for (Direction d : {Direction::forward, Direction::backward_data, Direction::backward_weights}) {
        EXPECT_EQ(conv2d_decline_reason(first.backend(d), p), "");
        EXPECT_EQ(first.backend(d), second.backend(d));
      }
    }
    for (const auto& layer : bench::pool_layers()) {
      const Pool2dParams p = parse_pool2d(layer.problem);
      EXPECT_EQ(pool2d_decline_reason(Pool2d(p).backend(), p), "") << layer.problem;
    }
  }
}

// The rule's choices on layers whose measurements decided them (src/auto_select.cpp,
// docs/auto_table.md): every 1x1 boundary from both sides, and a depthwise layer.
TEST(Auto, ChoosesPerDirectionAsMeasured) {
  struct Expected {
    const char* problem;
    const char* forward;
    const char* backward_data;
    const char* backward_weights;
  };
  const Expected table[] = {
      {"mb1_ic64ih56iw56_oc256_kh1kw1", "direct", "direct", "direct"},          // res2c: widening 4x, all direct
      {"mb1_ic256ih56iw56_oc64_kh1kw1", "direct", "direct", "direct"},          // narrowing 4x to 64, < 512
      {"mb1_ic512ih28iw28_oc64_kh1kw1", "direct", "im2col", "direct"},          // narrowing 8x to 64, 512
      {"mb1_ic512ih28iw28_oc128_kh1kw1", "direct", "direct", "direct"},         // narrowing 4x to 128
      {"mb1_ic1024ih14iw14_oc256_kh1kw1", "direct", "direct", "direct"},        // res4: narrowing to 256
      {"mb1_ic2048ih7iw7_oc512_kh1kw1", "direct", "im2col", "im2col"},          // 2048 input channels
      {"mb1_ic256ih56iw56_oc512_kh1kw1_sh2sw2", "direct", "im2col", "direct"},  // res3a: strided, < 512
      {"mb1_ic512ih28iw28_oc1024_kh1kw1_sh2sw2", "direct", "direct", "direct"}, // strided, 512
      {"mb1_ic1024ih14iw14_oc2048_kh1kw1_sh2sw2", "direct", "direct", "im2col"}, // res5a: strided, 1024
      {"mb1_ic32ih112iw112_oc32_kh3kw3_ph1pw1_g32", "direct", "direct", "direct"},
  };
  for (const Expected& e : table) {
    SCOPED_TRACE(e.problem);
    const Conv2d conv(parse_conv2d(e.problem));
    EXPECT_EQ(conv.backend(Direction::forward), e.forward);
    EXPECT_EQ(conv.backend(Direction::backward_data), e.backward_data);
    EXPECT_EQ(conv.backend(Direction::backward_weights), e.backward_weights);
  }
}

TEST(Auto, VerboseLogsTheChoiceWithTheProblemString) {
  test::ScopedEnv verbose("CONVKIT_VERBOSE", "1");
  const Conv2dParams p = parse_conv2d("mb1_ic64ih56iw56_oc64_kh3kw3_ph1pw1");
  ::testing::internal::CaptureStderr();
  const Conv2d conv(p);
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find(to_string(p)), std::string::npos) << log;
  EXPECT_NE(log.find(std::string(conv.backend())), std::string::npos) << log;
  EXPECT_NE(log.find("(auto: "), std::string::npos) << log;
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
}

}  // namespace
}  // namespace convkit
