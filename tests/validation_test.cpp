// Bad input gets a convkit::Error naming the field and its value, never a crash.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <vector>
#include <algorithm>

#include "convkit/convkit.hpp"
#include "support/scoped_env.hpp"

namespace convkit {
namespace {

using test::ScopedEnv;

constexpr int64_t kHuge = std::numeric_limits<int64_t>::max();

// Runs `action`, expecting a convkit::Error whose message contains each of `fragments`.
void expect_error(const std::function<void()>& action, const std::vector<std::string>& fragments) {
  try {
    action();
    ADD_FAILURE() << "no convkit::Error thrown; expected one mentioning " << fragments.front();
  } catch (const Error& e) {
    for (const std::string& f : fragments) EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
  }
}

Conv2dParams valid_conv() { return parse_conv2d("mb2_ic8ih10iw10_oc16_kh3kw3_ph1pw1_g2"); }
Pool2dParams valid_pool() { return parse_pool2d("mb2_c8ih10iw10_max_kh3kw3_sh2sw2_ph1pw1"); }

// One validation rule: how to break a valid problem, and what the Error must then mention.
template <class Params>
struct Rule {
  const char* name;
  std::function<void(Params&)> make_bad;
  std::vector<std::string> fragments;
};
using ConvRule = Rule<Conv2dParams>;
using PoolRule = Rule<Pool2dParams>;

template <class Params>
void PrintTo(const Rule<Params>& rule, std::ostream* os) {
  *os << rule.name;
}

// Both validate() and the plan's constructor (Conv2d or Pool2d) must reject the broken problem.
template <class Plan, class Params>
void expect_rule_enforced(Params p, const Rule<Params>& rule) {
  ASSERT_NO_THROW(p.validate());
  rule.make_bad(p);
  expect_error([&] { p.validate(); }, rule.fragments);
  expect_error([&] { Plan plan(p); }, rule.fragments);
}

class ConvValidation : public ::testing::TestWithParam<ConvRule> {};

TEST_P(ConvValidation, ThrowsNamingTheField) { expect_rule_enforced<Conv2d>(valid_conv(), GetParam()); }

INSTANTIATE_TEST_SUITE_P(
    Rules, ConvValidation,
    ::testing::Values(
        ConvRule{"batch_zero", [](auto& p) { p.batch = 0; }, {"Conv2dParams.batch = 0"}},
        ConvRule{"in_h_zero", [](auto& p) { p.in_h = 0; }, {"Conv2dParams.in_h = 0"}},
        ConvRule{"in_w_negative", [](auto& p) { p.in_w = -3; }, {"Conv2dParams.in_w = -3"}},
        ConvRule{"in_c_zero", [](auto& p) { p.in_c = 0; }, {"Conv2dParams.in_c = 0"}},
        ConvRule{"out_c_zero", [](auto& p) { p.out_c = 0; }, {"Conv2dParams.out_c = 0"}},
        ConvRule{"kernel_h_zero", [](auto& p) { p.kernel_h = 0; }, {"Conv2dParams.kernel_h = 0"}},
        ConvRule{"kernel_w_negative", [](auto& p) { p.kernel_w = -1; }, {"Conv2dParams.kernel_w = -1"}},
        ConvRule{"stride_h_zero", [](auto& p) { p.stride_h = 0; }, {"Conv2dParams.stride_h = 0"}},
        ConvRule{"stride_w_zero", [](auto& p) { p.stride_w = 0; }, {"Conv2dParams.stride_w = 0"}},
        ConvRule{"dilation_h_zero", [](auto& p) { p.dilation_h = 0; }, {"Conv2dParams.dilation_h = 0"}},
        ConvRule{"dilation_w_zero", [](auto& p) { p.dilation_w = 0; }, {"Conv2dParams.dilation_w = 0"}},
        ConvRule{"groups_zero", [](auto& p) { p.groups = 0; }, {"Conv2dParams.groups = 0"}},
        ConvRule{"pad_top_negative", [](auto& p) { p.pad_top = -1; }, {"Conv2dParams.pad_top = -1"}},
        ConvRule{"pad_bottom_negative", [](auto& p) { p.pad_bottom = -2; }, {"Conv2dParams.pad_bottom = -2"}},
        ConvRule{"pad_left_negative", [](auto& p) { p.pad_left = -1; }, {"Conv2dParams.pad_left = -1"}},
        ConvRule{"pad_right_negative", [](auto& p) { p.pad_right = -1; }, {"Conv2dParams.pad_right = -1"}},
        ConvRule{"groups_not_dividing_in_c", [](auto& p) { p.groups = 3, p.in_c = 8, p.out_c = 9; },
                 {"Conv2dParams.groups = 3", "in_c = 8"}},
        ConvRule{"groups_not_dividing_out_c", [](auto& p) { p.groups = 4, p.out_c = 10; },
                 {"Conv2dParams.groups = 4", "out_c = 10"}},
        ConvRule{"kernel_taller_than_padded_input", [](auto& p) { p.kernel_h = 13; }, {"Conv2dParams.kernel_h = 13", "out_h"}},
        ConvRule{"dilated_kernel_wider_than_padded_input", [](auto& p) { p.dilation_w = 6; },
                 {"Conv2dParams.kernel_w = 3", "dilation_w = 6", "out_w"}},
        ConvRule{"input_bytes_overflow", [](auto& p) { p.batch = kHuge / 64; }, {"Conv2dParams.batch", "overflow"}},
        ConvRule{"weight_bytes_overflow", [](auto& p) { p.out_c = kHuge / 2, p.groups = 1; },
                 {"Conv2dParams.out_c", "overflow"}},
        ConvRule{"huge_padding", [](auto& p) { p.pad_bottom = kHuge / 2, p.pad_right = 4; },
                 {"Conv2dParams.pad_bottom", "overflow"}},
        ConvRule{"huge_kernel_and_dilation", [](auto& p) { p.kernel_h = kHuge, p.dilation_h = kHuge; },
                 {"Conv2dParams.kernel_h"}}),
    [](const auto& info) { return std::string(info.param.name); });

class PoolValidation : public ::testing::TestWithParam<PoolRule> {};

TEST_P(PoolValidation, ThrowsNamingTheField) { expect_rule_enforced<Pool2d>(valid_pool(), GetParam()); }

INSTANTIATE_TEST_SUITE_P(
    Rules, PoolValidation,
    ::testing::Values(
        PoolRule{"batch_zero", [](auto& p) { p.batch = 0; }, {"Pool2dParams.batch = 0"}},
        PoolRule{"in_h_zero", [](auto& p) { p.in_h = 0; }, {"Pool2dParams.in_h = 0"}},
        PoolRule{"in_w_negative", [](auto& p) { p.in_w = -1; }, {"Pool2dParams.in_w = -1"}},
        PoolRule{"channels_zero", [](auto& p) { p.channels = 0; }, {"Pool2dParams.channels = 0"}},
        PoolRule{"window_h_zero", [](auto& p) { p.window_h = 0; }, {"Pool2dParams.window_h = 0"}},
        PoolRule{"window_w_zero", [](auto& p) { p.window_w = 0; }, {"Pool2dParams.window_w = 0"}},
        PoolRule{"stride_h_zero", [](auto& p) { p.stride_h = 0; }, {"Pool2dParams.stride_h = 0"}},
        PoolRule{"stride_w_negative", [](auto& p) { p.stride_w = -2; }, {"Pool2dParams.stride_w = -2"}},
        PoolRule{"pad_top_negative", [](auto& p) { p.pad_top = -1; }, {"Pool2dParams.pad_top = -1"}},
        PoolRule{"pad_bottom_over_half_window", [](auto& p) { p.pad_bottom = 2; }, {"Pool2dParams.pad_bottom = 2", "window_h = 3"}},
        PoolRule{"pad_left_over_half_window", [](auto& p) { p.pad_left = 2; }, {"Pool2dParams.pad_left = 2", "window_w = 3"}},
        PoolRule{"pad_right_negative", [](auto& p) { p.pad_right = -1; }, {"Pool2dParams.pad_right = -1"}},
        PoolRule{"window_taller_than_input", [](auto& p) { p.window_h = 13, p.pad_top = p.pad_bottom = 0; },
                 {"Pool2dParams.window_h = 13", "out_h"}},
        PoolRule{"window_wider_than_input", [](auto& p) { p.in_w = 2, p.window_w = 4, p.pad_left = p.pad_right = 0; },
                 {"Pool2dParams.window_w = 4", "out_w"}},
        PoolRule{"input_bytes_overflow", [](auto& p) { p.channels = kHuge / 16; }, {"Pool2dParams.channels", "overflow"}}),
    [](const auto& info) { return std::string(info.param.name); });

// Every size, stride, dilation, padding and group field at the extremes of int64, one at a
// time and in pairs: validation must either accept the problem or throw an Error naming a
// field, and compute nothing that overflows (UBSan runs this test in CI). Problems that stay
// valid (a huge stride gives one output row) must also run on every backend.
template <class Params>
struct NamedField {
  const char* name;
  int64_t Params::*member;
};

const std::vector<NamedField<Conv2dParams>> kConvFields = {
    {"batch", &Conv2dParams::batch},           {"in_h", &Conv2dParams::in_h},
    {"in_w", &Conv2dParams::in_w},             {"in_c", &Conv2dParams::in_c},
    {"out_c", &Conv2dParams::out_c},           {"kernel_h", &Conv2dParams::kernel_h},
    {"kernel_w", &Conv2dParams::kernel_w},     {"stride_h", &Conv2dParams::stride_h},
    {"stride_w", &Conv2dParams::stride_w},     {"pad_top", &Conv2dParams::pad_top},
    {"pad_bottom", &Conv2dParams::pad_bottom}, {"pad_left", &Conv2dParams::pad_left},
    {"pad_right", &Conv2dParams::pad_right},   {"dilation_h", &Conv2dParams::dilation_h},
    {"dilation_w", &Conv2dParams::dilation_w}, {"groups", &Conv2dParams::groups}};

const std::vector<NamedField<Pool2dParams>> kPoolFields = {
    {"batch", &Pool2dParams::batch},         {"in_h", &Pool2dParams::in_h},
    {"in_w", &Pool2dParams::in_w},           {"channels", &Pool2dParams::channels},
    {"window_h", &Pool2dParams::window_h},   {"window_w", &Pool2dParams::window_w},
    {"stride_h", &Pool2dParams::stride_h},   {"stride_w", &Pool2dParams::stride_w},
    {"pad_top", &Pool2dParams::pad_top},     {"pad_bottom", &Pool2dParams::pad_bottom},
    {"pad_left", &Pool2dParams::pad_left},   {"pad_right", &Pool2dParams::pad_right}};

// Validates p; returns whether it is valid. An Error must name one of `fields` as "Type.field = ".
template <class Params>
bool accepted_or_named(const Params& p, const char* type, const std::vector<NamedField<Params>>& fields) {
  try {
    p.validate();
    return true;
  } catch (const Error& e) {
    const std::string message = e.what();
    bool named = false;
    for (const auto& f : fields) named |= message.find(std::string(type) + "." + f.name + " = ") != std::string::npos;
    EXPECT_TRUE(named) << message;
    return false;
  }
}

void run_every_conv_backend(const Conv2dParams& p) {
  std::vector<float> x(p.input_elements(), 1.0f), w(p.weight_elements(), 1.0f), y(p.output_elements());
  std::vector<float> dw(p.weight_elements()), db(p.out_c);
  for (const std::string& name : conv2d_backends()) {
    if (!conv2d_decline_reason(name, p).empty()) continue;
    const Conv2d conv(p, Options{name, 1, Activation::none});
    conv.forward(x.data(), w.data(), nullptr, y.data());
    conv.backward_data(y.data(), w.data(), x.data());
    conv.backward_weights(x.data(), y.data(), dw.data(), db.data());
  }
}

void run_every_pool_backend(const Pool2dParams& p) {
  std::vector<float> x(p.input_elements(), 1.0f), y(p.output_elements(), 1.0f), dx(p.input_elements());
  for (const std::string& name : pool2d_backends()) {
    if (!pool2d_decline_reason(name, p).empty()) continue;
    const Pool2d pool(p, Options{name, 1, Activation::none});
    pool.forward(x.data(), y.data());
    pool.backward(x.data(), y.data(), dx.data());
  }
}

constexpr int64_t kExtremes[] = {kHuge, std::numeric_limits<int64_t>::min(), kHuge / 2 + 1};

TEST(ExtremeFields, ConvValidationNeverOverflows) {
  int valid = 0;
  for (size_t i = 0; i < kConvFields.size(); ++i) {
    for (size_t j = i; j < kConvFields.size(); ++j) {
      for (int64_t value : kExtremes) {
        Conv2dParams p = valid_conv();
        p.*kConvFields[i].member = value;
        p.*kConvFields[j].member = value;
        SCOPED_TRACE(std::string(kConvFields[i].name) + " and " + kConvFields[j].name + " = " + std::to_string(value));
        (void)p.out_h(), (void)p.out_w(), (void)p.flops();
        if (accepted_or_named(p, "Conv2dParams", kConvFields)) {
          ++valid;
          run_every_conv_backend(p);
        } else {
          EXPECT_THROW(Conv2d plan(p), Error);
        }
      }
    }
  }
  EXPECT_GT(valid, 0);  // huge strides, and huge dilations of 1-tap kernels, stay valid
}

TEST(ExtremeFields, PoolValidationNeverOverflows) {
  int valid = 0;
  for (size_t i = 0; i < kPoolFields.size(); ++i) {
    for (size_t j = i; j < kPoolFields.size(); ++j) {
      for (int64_t value : kExtremes) {
        for (const bool ceil_mode : {false, true}) {
          Pool2dParams p = valid_pool();
          p.ceil_mode = ceil_mode;
          p.*kPoolFields[i].member = value;
          p.*kPoolFields[j].member = value;
          SCOPED_TRACE(std::string(kPoolFields[i].name) + " and " + kPoolFields[j].name + " = " +
                       std::to_string(value) + (ceil_mode ? ", ceil_mode" : ""));
          (void)p.out_h(), (void)p.out_w();
          if (accepted_or_named(p, "Pool2dParams", kPoolFields)) {
            ++valid;
            run_every_pool_backend(p);
          } else {
            EXPECT_THROW(Pool2d plan(p), Error);
          }
        }
      }
    }
  }
  EXPECT_GT(valid, 0);
  // Pads of half an int64 window: the padded extent itself passes int64.
  Pool2dParams p = valid_pool();
  p.ceil_mode = true;
  p.window_h = p.stride_h = kHuge;
  p.pad_top = p.pad_bottom = kHuge / 2;
  ASSERT_NO_THROW(p.validate());
  EXPECT_EQ(p.out_h(), 1);
  run_every_pool_backend(p);
}

TEST(PlanValidation, NegativeThreads) {
  expect_error([] { Conv2d conv(valid_conv(), Options{"naive", -1, Activation::none}); }, {"Options.threads = -1"});
  expect_error([] { Pool2d pool(valid_pool(), Options{"naive", -2, Activation::none}); }, {"Options.threads = -2"});
}

TEST(PlanValidation, UnknownBackendListsTheKnownOnes) {
  expect_error([] { Conv2d conv(valid_conv(), Options{"fastest", 0, Activation::none}); },
               {"Options.backend = \"fastest\"", "naive", "auto"});
  expect_error([] { Pool2d pool(valid_pool(), Options{"fastest", 0, Activation::none}); },
               {"Options.backend = \"fastest\"", "naive"});
  expect_error([] { conv2d_decline_reason("fastest", valid_conv()); }, {"fastest"});
}

TEST(PlanValidation, EnvironmentOverridesAuto) {
  {
    ScopedEnv env("CONVKIT_BACKEND", "naive");
    EXPECT_EQ(Conv2d(valid_conv()).backend(), "naive");
    EXPECT_EQ(Pool2d(valid_pool()).backend(), "naive");
  }
  ScopedEnv env("CONVKIT_BACKEND", "nonesuch");
  expect_error([] { Conv2d conv(valid_conv()); }, {"CONVKIT_BACKEND = \"nonesuch\""});
  // A backend named in Options wins over the environment.
  EXPECT_EQ(Conv2d(valid_conv(), Options{"naive", 0, Activation::none}).backend(), "naive");
}

TEST(PlanValidation, UnknownInstructionSet) {
  ScopedEnv env("CONVKIT_ARCH", "avx1024");
  expect_error([] { Conv2d conv(valid_conv()); }, {"CONVKIT_ARCH = \"avx1024\""});
  expect_error([] { simd_arch(); }, {"CONVKIT_ARCH"});
}

TEST(PlanValidation, AutoPicksAnAcceptingBackend) {
  const Conv2d conv(valid_conv());
  EXPECT_EQ(conv2d_decline_reason(conv.backend(), valid_conv()), "");
  const Pool2d pool(valid_pool());
  EXPECT_EQ(pool2d_decline_reason(pool.backend(), valid_pool()), "");
}

TEST(PlanValidation, RegistryListsNaiveFirst) {
  ASSERT_FALSE(conv2d_backends().empty());
  EXPECT_EQ(conv2d_backends().front(), "naive");
  EXPECT_EQ(pool2d_backends().front(), "naive");
}

TEST(CallValidation, NullPointers) {
  const Conv2d conv(valid_conv(), Options{"naive", 1, Activation::none});
  const Conv2dParams& p = conv.params();
  std::vector<float> x(p.input_elements()), w(p.weight_elements()), y(p.output_elements());
  float *X = x.data(), *W = w.data(), *Y = y.data();
  expect_error([&] { conv.forward(nullptr, W, nullptr, Y); }, {"Conv2d::forward", "x is null"});
  expect_error([&] { conv.forward(X, static_cast<const float*>(nullptr), nullptr, Y); }, {"w is null"});
  expect_error([&] { conv.forward(X, W, nullptr, nullptr); }, {"y is null"});
  expect_error([&] { conv.pack_weights(nullptr); }, {"Conv2d::pack_weights", "w is null"});
  expect_error([&] { conv.backward_data(nullptr, W, X); }, {"Conv2d::backward_data", "dy is null"});
  expect_error([&] { conv.backward_data(Y, nullptr, X); }, {"w is null"});
  expect_error([&] { conv.backward_data(Y, W, nullptr); }, {"dx is null"});
  expect_error([&] { conv.backward_weights(nullptr, Y, W, nullptr); }, {"Conv2d::backward_weights", "x is null"});
  expect_error([&] { conv.backward_weights(X, nullptr, W, nullptr); }, {"dy is null"});
  expect_error([&] { conv.backward_weights(X, Y, nullptr, nullptr); }, {"dw is null"});
  const Pool2d pool(valid_pool());
  expect_error([&] { pool.forward(nullptr, Y); }, {"Pool2d::forward", "x is null"});
  expect_error([&] { pool.forward(X, nullptr); }, {"y is null"});
  expect_error([&] { pool.backward(nullptr, Y, X); }, {"Pool2d::backward", "x is null"});
  expect_error([&] { pool.backward(X, nullptr, X); }, {"dy is null"});
  expect_error([&] { pool.backward(X, Y, nullptr); }, {"dx is null"});
}

TEST(CallValidation, PackedWeightsFromAnotherProblem) {
  const Conv2d conv(valid_conv());
  Conv2dParams other_params = valid_conv();
  other_params.out_c = 32;
  const Conv2d other(other_params, Options{std::string(conv.backend()), 0, Activation::none});
  std::vector<float> x(conv.params().input_elements()), y(conv.params().output_elements());
  std::vector<float> w_other(other_params.weight_elements());
  const PackedWeights foreign = other.pack_weights(w_other.data());
  expect_error([&] { conv.forward(x.data(), foreign, nullptr, y.data()); }, {"packed for another problem"});
  PackedWeights moved = conv.pack_weights(std::vector<float>(conv.params().weight_elements()).data());
  PackedWeights taken = std::move(moved);
  expect_error([&] { conv.forward(x.data(), moved, nullptr, y.data()); }, {"empty"});  // NOLINT(bugprone-use-after-move)
  EXPECT_NO_THROW(conv.forward(x.data(), taken, nullptr, y.data()));
  // Packed weights serve a plan of the same problem at another batch size.
  Conv2dParams bigger = valid_conv();
  bigger.batch = 3;
  const Conv2d batch3(bigger, Options{std::string(conv.backend()), 0, Activation::none});
  std::vector<float> x3(bigger.input_elements()), y3(bigger.output_elements());
  EXPECT_NO_THROW(batch3.forward(x3.data(), taken, nullptr, y3.data()));
}

// Weights packed for one plan are refused by a plan that lays them out differently: another
// backend, another instruction set, or another geometry whose weights have the same size.
TEST(CallValidation, PackedWeightsFromAnotherBackendIsaOrGeometry) {
  const Conv2dParams p = valid_conv();
  // Room for every plan below, so a check that let the weights through would still stay in bounds.
  std::vector<float> x(4 * p.input_elements()), w(p.weight_elements()), y(4 * p.output_elements());
  const std::vector<std::string> backends = conv2d_backends();
  ASSERT_GE(backends.size(), 2u);
  for (Direction d : {Direction::forward, Direction::backward_data}) {
    const auto use = [&](const Conv2d& conv, const PackedWeights& packed) {
      if (d == Direction::forward) {
        conv.forward(x.data(), packed, nullptr, y.data());
      } else {
        conv.backward_data(y.data(), packed, x.data());
      }
    };
    // Another backend.
    const Conv2d first(p, Options{backends[0], 1, Activation::none}), second(p, Options{backends[1], 1, Activation::none});
    const PackedWeights packed_first = first.pack_weights(w.data(), d);
    EXPECT_NO_THROW(use(first, packed_first));
    expect_error([&] { use(second, packed_first); }, {"packed for another problem, backend or instruction set"});
    // Same weight size, other geometry: stride, padding, input size.
    for (const char* other : {"mb2_ic8ih10iw10_oc16_kh3kw3_sh2sw2_ph1pw1_g2", "mb2_ic8ih10iw10_oc16_kh3kw3_g2",
                              "mb2_ic8ih12iw9_oc16_kh3kw3_ph1pw1_g2"}) {
      const Conv2d same_size(parse_conv2d(other), Options{backends[0], 1, Activation::none});
      ASSERT_EQ(same_size.params().weight_elements(), p.weight_elements());
      expect_error([&] { use(same_size, packed_first); }, {"another problem"});
    }
    // Another instruction set, where the CPU has two.
    if (simd_arch() == "sse2") continue;
    const PackedWeights packed_here = second.pack_weights(w.data(), d);
    ScopedEnv cap("CONVKIT_ARCH", "sse2");
    const Conv2d capped(p, Options{backends[1], 1, Activation::none});
    expect_error([&] { use(capped, packed_here); }, {"instruction set"});
  }
}

TEST(CallValidation, PackedWeightsForAnotherDirection) {
  const Conv2d conv(valid_conv());
  const Conv2dParams& p = conv.params();
  std::vector<float> x(p.input_elements()), w(p.weight_elements()), y(p.output_elements());
  const PackedWeights for_forward = conv.pack_weights(w.data());
  const PackedWeights for_data = conv.pack_weights(w.data(), Direction::backward_data);
  expect_error([&] { conv.backward_data(y.data(), for_forward, x.data()); },
               {"Conv2d::backward_data", "packed for Direction::forward, not Direction::backward_data"});
  expect_error([&] { conv.forward(x.data(), for_data, nullptr, y.data()); },
               {"Conv2d::forward", "packed for Direction::backward_data, not Direction::forward"});
  expect_error([&] { conv.pack_weights(w.data(), Direction::backward_weights); },
               {"Conv2d::pack_weights", "Direction::backward_weights", "takes no weights"});
  expect_error([&] { conv.backward_data(y.data(), PackedWeights(), x.data()); }, {"Conv2d::backward_data", "empty"});
  expect_error([&] { conv.backward_data(nullptr, for_data, x.data()); }, {"dy is null"});
  expect_error([&] { conv.backward_data(y.data(), for_data, nullptr); }, {"dx is null"});
  EXPECT_NO_THROW(conv.backward_data(y.data(), for_data, x.data()));
  // Another problem's backward-data weights.
  Conv2dParams other_params = valid_conv();
  other_params.in_c = 16;
  const Conv2d other(other_params, Options{std::string(conv.backend(Direction::backward_data)), 0, Activation::none});
  std::vector<float> w_other(other_params.weight_elements());
  const PackedWeights foreign = other.pack_weights(w_other.data(), Direction::backward_data);
  expect_error([&] { conv.backward_data(y.data(), foreign, x.data()); }, {"packed for another problem"});
}

TEST(ProblemString, RoundTripsAndAcceptsShorthand) {
  const Conv2dParams p = valid_conv();
  EXPECT_EQ(to_string(p), "mb2_ic8ih10iw10_oc16_kh3kw3_sh1sw1_pt1pb1pl1pr1_dh1dw1_g2");
  EXPECT_EQ(parse_conv2d(to_string(p)), p);
  // benchdnn-style: no separators, defaults and widths left out.
  const Conv2dParams short_form = parse_conv2d("ic64ih56oc64kh3ph1pw1");
  EXPECT_EQ(to_string(short_form), "mb1_ic64ih56iw56_oc64_kh3kw3_sh1sw1_pt1pb1pl1pr1_dh1dw1_g1");
  Pool2dParams q = valid_pool();
  q.mode = PoolMode::average, q.count_include_pad = true, q.ceil_mode = true;
  EXPECT_EQ(to_string(q), "mb2_c8ih10iw10_avg_kh3kw3_sh2sw2_pt1pb1pl1pr1_incl_ceil");
  EXPECT_EQ(parse_pool2d(to_string(q)), q);
  EXPECT_EQ(parse_pool2d(to_string(valid_pool())), valid_pool());
}

TEST(ProblemString, RejectsMalformedText) {
  expect_error([] { parse_conv2d(""); }, {"empty"});
  expect_error([] { parse_conv2d("ic64ih56"); }, {"lacks the field \"oc\""});
  expect_error([] { parse_conv2d("ic64ih56oc64_zz3"); }, {"unknown field \"zz\""});
  expect_error([] { parse_conv2d("ic64ih56oc64_kh"); }, {"\"kh\" needs a number"});
  expect_error([] { parse_conv2d("ic64ih56oc64_kh3_kh3"); }, {"given twice"});
  expect_error([] { parse_conv2d("ic64ih56oc64_ph1_pt1"); }, {"given twice"});
  expect_error([] { parse_conv2d("ic99999999999999999999ih5oc5"); }, {"overflows"});
  expect_error([] { parse_conv2d("ic64ih56oc64*"); }, {"unexpected character '*'"});
  expect_error([] { parse_conv2d("IC64ih56oc64"); }, {"unexpected character 'I'"});
  expect_error([] { parse_pool2d("c8ih10_max_avg"); }, {"mode is given twice"});
  expect_error([] { parse_pool2d("c8ih10_min"); }, {"unknown word \"min\""});
  expect_error([] { parse_pool2d("ih10_max"); }, {"lacks the field \"c\""});
}

// Random bytes and random mutations of valid strings: every outcome is a parse or an Error, and
// what parses prints back to text that parses to the same problem.
TEST(ProblemString, FuzzNeverCrashesAndRoundTrips) {
  std::mt19937 rng(7);
  const std::string alphabet = "mbicohwkspltrdgaxvnce_0123456789*- \x01\xff";
  const std::string seeds[] = {to_string(valid_conv()), to_string(valid_pool())};
  int conv_parsed = 0, pool_parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s = seeds[i % 2];
    const int edits = 1 + int(rng() % 4);
    for (int e = 0; e < edits && !s.empty(); ++e) s[rng() % s.size()] = alphabet[rng() % alphabet.size()];
    if (i % 5 == 0) s = std::string(rng() % 24, '\0'), std::generate(s.begin(), s.end(), [&] { return char(rng()); });
    try {
      const Conv2dParams p = parse_conv2d(s);
      EXPECT_EQ(parse_conv2d(to_string(p)), p) << s << " -> " << to_string(p);
      ++conv_parsed;
    } catch (const Error&) {
    }
    try {
      const Pool2dParams p = parse_pool2d(s);
      EXPECT_EQ(parse_pool2d(to_string(p)), p) << s << " -> " << to_string(p);
      ++pool_parsed;
    } catch (const Error&) {
    }
  }
  // Enough mutations parse for the round trip to have been exercised.
  EXPECT_GT(conv_parsed, 100);
  EXPECT_GT(pool_parsed, 100);
}

}  // namespace
}  // namespace convkit
