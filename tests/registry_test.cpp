// The registry's rows (directions, accuracy class, role), and how `auto`, `tune` and a request
// by name choose among them: a fast row only under Math::fast, a row only for the directions it
// implements. Rows made up here (one fast, one forward-only) stand where the registry has none
// yet, so the filters are tested with teeth: each made-up row would win if let through.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backend.hpp"
#include "convkit/convkit.hpp"
#include "isa.hpp"
#include "plan.hpp"
#include "support/problems.hpp"
#include "support/scoped_env.hpp"
#include "tuning.hpp"

namespace convkit {
namespace {

using detail::ConvBackend;
using detail::ConvImpls;
using detail::ConvRole;
using test::ScopedEnv;

const Direction kAll[] = {Direction::forward, Direction::backward_data, Direction::backward_weights};

// The first sweep problem `row` accepts.
Conv2dParams accepted_problem(const ConvBackend& row) {
  for (const std::string& text : test::conv_sweep()) {
    const Conv2dParams p = parse_conv2d(text);
    if (row.decline_reason(p).empty()) return p;
  }
  ADD_FAILURE() << row.name << " accepts no sweep problem";
  return parse_conv2d(test::conv_sweep().front());
}

TEST(Registry, ReferenceComesFirstStrictAndComplete) {
  const auto& table = detail::conv_backend_table();
  ASSERT_FALSE(table.empty());
  EXPECT_EQ(table.front().role, ConvRole::reference);
  EXPECT_EQ(table.front().math, Math::strict);
  for (Direction d : kAll) EXPECT_TRUE(table.front().implements(d)) << detail::direction_name(d);
  for (size_t i = 1; i < table.size(); ++i) EXPECT_NE(table[i].role, ConvRole::reference) << table[i].name;
}

// A direction a row lacks is served by a row that implements it and is no less strict (a strict
// row asked for by name never runs fast arithmetic).
TEST(Registry, StandInsImplementTheirDirectionAndAreNoLessStrict) {
  const auto& table = detail::conv_backend_table();
  for (const ConvBackend& row : table) {
    bool implements_any = false;
    for (Direction d : kAll) {
      SCOPED_TRACE(std::string(row.name) + " " + detail::direction_name(d));
      implements_any = implements_any || row.implements(d);
      if (row.implements(d)) continue;
      const ConvBackend* stand_in = detail::find_conv_backend(row.served_by[static_cast<size_t>(d)]);
      ASSERT_NE(stand_in, nullptr) << "names an unregistered row";
      EXPECT_TRUE(stand_in->implements(d));
      EXPECT_TRUE(row.math == Math::fast || stand_in->math == Math::strict);
      EXPECT_EQ(&detail::serving_row(table, row, d), stand_in);
    }
    EXPECT_TRUE(implements_any) << row.name;
  }
}

TEST(Registry, FactoriesMakeExactlyTheDeclaredDirections) {
  for (const ConvBackend& row : detail::conv_backend_table()) {
    SCOPED_TRACE(row.name);
    const ConvImpls impls = row.create(accepted_problem(row), detail::PlanContext{Activation::none, detail::active_isa()});
    EXPECT_EQ(impls.forward != nullptr, row.implements(Direction::forward));
    EXPECT_EQ(impls.backward_data != nullptr, row.implements(Direction::backward_data));
    EXPECT_EQ(impls.backward_weights != nullptr, row.implements(Direction::backward_weights));
  }
}

TEST(Registry, BackendInfoListsTheRowsInOrder) {
  const auto& table = detail::conv_backend_table();
  const std::vector<BackendInfo> info = conv2d_backend_info();
  const std::vector<std::string> names = conv2d_backends();
  ASSERT_EQ(info.size(), table.size());
  ASSERT_EQ(names.size(), table.size());
  for (size_t i = 0; i < info.size(); ++i) {
    EXPECT_EQ(info[i].name, names[i]);
    EXPECT_EQ(info[i].name, table[i].name);
    EXPECT_EQ(info[i].description, table[i].description);
    EXPECT_FALSE(info[i].description.empty()) << info[i].name;
    EXPECT_EQ(info[i].math, table[i].math) << info[i].name;
  }
}

// Made-up rows. Their objects do nothing, so tune's timing would always pick them if they were
// candidates: that is what makes the filters' tests able to fail.
class IdleConv final : public detail::ConvForward, public detail::ConvBackwardData, public detail::ConvBackwardWeights {
 public:
  explicit IdleConv(const Conv2dParams& p) : ConvBackwardData(p) {}
  size_t packed_weights_size() const override { return 1; }
  void pack_weights(const float*, float*) const override {}
  void forward_packed(const float*, const float*, const float*, float*, int) const override {}
  void forward(const float*, const float*, const float*, float*, int) const override {}
  void backward_data(const float*, const float*, float*, int) const override {}
  void backward_weights(const float*, const float*, float*, float*, int) const override {}
};
class IdleForward final : public detail::ConvForward {
 public:
  size_t packed_weights_size() const override { return 1; }
  void pack_weights(const float*, float*) const override {}
  void forward_packed(const float*, const float*, const float*, float*, int) const override {}
  void forward(const float*, const float*, const float*, float*, int) const override {}
};
ConvImpls make_idle(const Conv2dParams& p, const detail::PlanContext&) {
  return detail::conv_impls(std::make_shared<const IdleConv>(p));
}
ConvImpls make_idle_forward(const Conv2dParams&, const detail::PlanContext&) {
  return detail::conv_impls(std::make_shared<const IdleForward>());
}
std::string accepts_every(const Conv2dParams&) { return {}; }

// The registry with a fast row and a strict forward-only row ahead of its direct-summation row,
// both playing that role, so `auto`'s rule reaches them first.
std::vector<ConvBackend> table_with(std::vector<ConvBackend> extra) {
  const auto& registry = detail::conv_backend_table();
  std::vector<ConvBackend> table = {registry.front()};
  table.insert(table.end(), extra.begin(), extra.end());
  table.insert(table.end(), registry.begin() + 1, registry.end());
  return table;
}
const char* direct_summation_name() {
  for (const ConvBackend& row : detail::conv_backend_table()) {
    if (row.role == ConvRole::direct_summation) return row.name;
  }
  return nullptr;
}
ConvBackend fast_row() {
  return {"made_up_fast", "does nothing, declared fast", Math::fast, ConvRole::direct_summation,
          detail::kImplementsEveryDirection, accepts_every, make_idle};
}
ConvBackend forward_only_row() {
  const char* other = direct_summation_name();
  return {"made_up_forward_only", "does nothing, forward only", Math::strict, ConvRole::direct_summation,
          {nullptr, other, other}, accepts_every, make_idle_forward};
}

// 5x5: no registered fast row takes it, so under Math::fast auto's rule reaches the made-up one.
const Conv2dParams kProblem = parse_conv2d("mb1_ic16ih12iw12_oc16_kh5kw5_ph2pw2");

TEST(MathFilter, CandidatesAreStrictUnlessFastAndImplementTheDirection) {
  const ConvBackend fast = fast_row(), forward_only = forward_only_row();
  for (Direction d : kAll) {
    EXPECT_FALSE(detail::conv_candidate(fast, kProblem, d, Math::strict)) << detail::direction_name(d);
    EXPECT_TRUE(detail::conv_candidate(fast, kProblem, d, Math::fast)) << detail::direction_name(d);
    for (Math math : {Math::strict, Math::fast}) {
      EXPECT_EQ(detail::conv_candidate(forward_only, kProblem, d, math), d == Direction::forward);
    }
  }
}

TEST(MathFilter, AutoTakesAFastRowOnlyUnderFast) {
  ASSERT_NE(direct_summation_name(), nullptr);
  const std::vector<ConvBackend> table = table_with({fast_row()});
  const detail::ConvChoice strict = detail::auto_conv_choice(table, kProblem, Math::strict);
  const detail::ConvChoice fast = detail::auto_conv_choice(table, kProblem, Math::fast);
  for (Direction d : kAll) {
    SCOPED_TRACE(detail::direction_name(d));
    EXPECT_EQ(strict.by_direction[static_cast<size_t>(d)]->math, Math::strict);
    EXPECT_STREQ(strict.by_direction[static_cast<size_t>(d)]->name, direct_summation_name());
    EXPECT_STREQ(fast.by_direction[static_cast<size_t>(d)]->name, "made_up_fast");
  }
  // The registry itself: whatever its rows, auto under strict never runs a fast one.
  for (const std::string& text : test::conv_sweep()) {
    const Conv2dParams p = parse_conv2d(text);
    const detail::ConvChoice choice = detail::auto_conv_choice(p, Math::strict);
    for (Direction d : kAll) EXPECT_EQ(choice.by_direction[static_cast<size_t>(d)]->math, Math::strict) << text;
  }
}

TEST(MathFilter, AutoTakesARowOnlyForTheDirectionsItImplements) {
  const std::vector<ConvBackend> table = table_with({forward_only_row()});
  const detail::ConvChoice choice = detail::auto_conv_choice(table, kProblem, Math::strict);
  EXPECT_STREQ(choice.by_direction[0]->name, "made_up_forward_only");
  EXPECT_STREQ(choice.by_direction[1]->name, direct_summation_name());
  EXPECT_STREQ(choice.by_direction[2]->name, direct_summation_name());
}

std::vector<std::string> chosen_names(const detail::ConvChoice& c) {
  return {c.by_direction[0]->name, c.by_direction[1]->name, c.by_direction[2]->name};
}

// Tune with the registry's rows plus `extra` on a problem no other test tunes.
std::vector<std::string> tuned(const std::vector<ConvBackend>& table, const char* problem, Math math) {
  ScopedEnv no_file("CONVKIT_TUNE_FILE", nullptr);
  const detail::PlanContext context{Activation::none, detail::active_isa()};
  return chosen_names(detail::tuned_conv_choice(table, parse_conv2d(problem), context, 1, math));
}

TEST(MathFilter, TuneTimesAFastRowOnlyUnderFast) {
  const std::vector<ConvBackend> table = table_with({fast_row()});
  const char* problem = "mb1_ic13ih10iw11_oc11_kh3kw3_ph1pw1";
  // Idle objects win every timing they enter: the fast row under fast, in every direction...
  const std::vector<std::string> fast = tuned(table, problem, Math::fast);
  EXPECT_EQ(fast, std::vector<std::string>(3, "made_up_fast"));
  // ...and never under strict.
  const std::vector<std::string> strict = tuned(table, problem, Math::strict);
  for (const std::string& name : strict) EXPECT_NE(name, "made_up_fast");
  // Remembered per Math: each class gets its own choice back.
  EXPECT_EQ(tuned(table, problem, Math::strict), strict);
  EXPECT_EQ(tuned(table, problem, Math::fast), fast);
}

TEST(MathFilter, TuneTimesARowOnlyInTheDirectionsItImplements) {
  const std::vector<ConvBackend> table = table_with({forward_only_row()});
  const std::vector<std::string> chosen = tuned(table, "mb1_ic11ih10iw9_oc13_kh3kw3_ph1pw1", Math::strict);
  EXPECT_EQ(chosen[0], "made_up_forward_only");  // idle: it wins where it may enter
  EXPECT_NE(chosen[1], "made_up_forward_only");
  EXPECT_NE(chosen[2], "made_up_forward_only");
}

TEST(NamedRow, RunsItsStandInForADirectionItLacks) {
  const std::vector<ConvBackend> table = table_with({forward_only_row()});
  const detail::ConvChoice choice =
      detail::named_conv_choice(table, kProblem, detail::BackendRequest{"made_up_forward_only", "Options.backend"});
  EXPECT_STREQ(choice.by_direction[0]->name, "made_up_forward_only");
  EXPECT_STREQ(choice.by_direction[1]->name, direct_summation_name());
  EXPECT_STREQ(choice.by_direction[2]->name, direct_summation_name());
  // A fast row asked for by name runs: naming it is the consent.
  const std::vector<ConvBackend> with_fast = table_with({fast_row()});
  const detail::ConvChoice named_fast =
      detail::named_conv_choice(with_fast, kProblem, detail::BackendRequest{"made_up_fast", "Options.backend"});
  for (size_t d = 0; d < 3; ++d) EXPECT_STREQ(named_fast.by_direction[d]->name, "made_up_fast");
}

TEST(MathOption, DefaultsToStrict) { EXPECT_EQ(Options().math, Math::strict); }

TEST(MathOption, EnvironmentOverridesOptions) {
  Options strict, fast;
  fast.math = Math::fast;
  {
    ScopedEnv env("CONVKIT_MATH", nullptr);
    EXPECT_EQ(detail::math_request(strict), Math::strict);
    EXPECT_EQ(detail::math_request(fast), Math::fast);
  }
  {
    ScopedEnv env("CONVKIT_MATH", "");
    EXPECT_EQ(detail::math_request(fast), Math::fast) << "empty is unset";
  }
  {
    ScopedEnv env("CONVKIT_MATH", "fast");
    EXPECT_EQ(detail::math_request(strict), Math::fast);
  }
  {
    ScopedEnv env("CONVKIT_MATH", "strict");
    EXPECT_EQ(detail::math_request(fast), Math::strict);
  }
}

TEST(MathOption, InvalidEnvironmentValueIsAnErrorNamingIt) {
  for (const char* bad : {"sloppy", "Fast", "strict ", "1"}) {
    SCOPED_TRACE(bad);
    ScopedEnv env("CONVKIT_MATH", bad);
    try {
      (void)Conv2d(kProblem);
      ADD_FAILURE() << "no convkit::Error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("CONVKIT_MATH = \"" + std::string(bad) + "\""), std::string::npos)
          << e.what();
    }
    // Also when a backend is named: the setting is the process's, whoever reads it.
    EXPECT_THROW((void)Conv2d(kProblem, Options{"naive", 1, Activation::none}), Error);
  }
}

}  // namespace
}  // namespace convkit
