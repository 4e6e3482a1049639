// Options.backend = "tune" and its tuning file.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "convkit/convkit.hpp"
#include "support/scoped_env.hpp"
#include "tuning.hpp"

namespace convkit {
namespace {

using detail::TuneEntry;
using test::ScopedEnv;

std::string scratch_path(const std::string& name) {
  return ::testing::TempDir() + "convkit_" + name + "_" + std::to_string(::getpid());
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TuneEntry entry(int i, const std::string& backend = "naive") {
  Conv2dParams p = parse_conv2d("ic8ih8oc8kh3ph1pw1");
  p.out_c = 8 + i;
  return {to_string(p), 2, "avx512", "strict", "bwd_w", backend, 10.0 + i};
}

TEST(Tune, PicksBackendsThatAcceptTheProblem) {
  const Conv2dParams p = parse_conv2d("mb1_ic16ih12iw12_oc16_kh3kw3_ph1pw1");
  const Conv2d conv(p, Options{"tune", 1, Activation::none});
  const Conv2d again(p, Options{"tune", 1, Activation::none});
  for (Direction d : {Direction::forward, Direction::backward_data, Direction::backward_weights}) {
    EXPECT_EQ(conv2d_decline_reason(conv.backend(d), p), "");
    EXPECT_NE(conv.backend(d), "naive") << "the reference is a candidate only when nothing else accepts";
    // Remembered for the process: the same problem gets the same choice without timing again.
    EXPECT_EQ(again.backend(d), conv.backend(d));
  }
}

TEST(Tune, RecordsEveryDirectionInTheFile) {
  const std::string path = scratch_path("recorded");
  std::remove(path.c_str());
  {
    ScopedEnv env("CONVKIT_TUNE_FILE", path.c_str());
    // A problem no other test tunes, so the process has not remembered it.
    (void)Conv2d(parse_conv2d("mb1_ic5ih9iw9_oc7_kh3kw3_ph1pw1"), Options{"tune", 1, Activation::none});
  }
  bool foreign = true;
  const auto entries = detail::tune_file::read(path, &foreign);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].problem, "mb1_ic5ih9iw9_oc7_kh3kw3_sh1sw1_pt1pb1pl1pr1_dh1dw1_g1");
}

TEST(TuneFile, RoundTrips) {
  const std::string path = scratch_path("roundtrip");
  std::remove(path.c_str());
  ASSERT_TRUE(detail::tune_file::merge(path, {entry(1), entry(2)}));
  ASSERT_TRUE(detail::tune_file::merge(path, {entry(2, "other"), entry(3)}));  // newer entry wins its key
  bool foreign = true;
  const auto entries = detail::tune_file::read(path, &foreign);
  EXPECT_FALSE(foreign);
  std::map<std::string, TuneEntry> by_problem;
  for (const TuneEntry& e : entries) by_problem[e.problem] = e;
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(by_problem[entry(1).problem].backend, "naive");
  EXPECT_EQ(by_problem[entry(2).problem].backend, "other");
  EXPECT_EQ(by_problem[entry(3).problem].microseconds, 13.0);
  EXPECT_EQ(by_problem[entry(3).problem].threads, 2);
  EXPECT_EQ(by_problem[entry(3).problem].isa, "avx512");
}

TEST(TuneFile, SurvivesTruncationAndGarbage) {
  const std::string path = scratch_path("damaged");
  std::remove(path.c_str());
  ASSERT_TRUE(detail::tune_file::merge(path, {entry(1), entry(2), entry(3)}));
  const std::string whole = slurp(path);
  // Cut in the middle of the last line, then append garbage lines.
  {
    std::ofstream out(path, std::ios::trunc);
    out << whole.substr(0, whole.size() - 6) << "\n\x01\x02 garbage\nmb1_nonsense 2 avx512 strict fwd naive 3\n"
        << entry(5).problem << " 2 avx512 strict sideways naive 3\n"
        << entry(6).problem << " 2 avx512 sloppy fwd naive 3\n"
        << entry(7).problem << " 2 avx512 fwd naive 3\n\n";
  }
  bool foreign = true;
  const auto entries = detail::tune_file::read(path, &foreign);
  EXPECT_FALSE(foreign);
  EXPECT_EQ(entries.size(), 2u);
  // A writer keeps the valid entries and drops the damage.
  ASSERT_TRUE(detail::tune_file::merge(path, {entry(4)}));
  EXPECT_EQ(detail::tune_file::read(path, &foreign).size(), 3u);
}

// A file written before Math had no math field: its entries were all strict, and the next merge
// rewrites it in the current form.
TEST(TuneFile, ReadsTheVersionBeforeMathAsStrict) {
  const std::string path = scratch_path("before_math");
  {
    std::ofstream out(path, std::ios::trunc);
    out << "# convkit tuning file v2: problem threads isa direction backend microseconds\n"
        << entry(1).problem << " 2 avx512 fwd direct 12.5\n";
  }
  bool foreign = true;
  auto entries = detail::tune_file::read(path, &foreign);
  EXPECT_FALSE(foreign);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].math, "strict");
  EXPECT_EQ(entries[0].direction, "fwd");
  EXPECT_EQ(entries[0].backend, "direct");
  TuneEntry fast = entry(2);
  fast.math = "fast";
  ASSERT_TRUE(detail::tune_file::merge(path, {fast}));
  entries = detail::tune_file::read(path, &foreign);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_NE(slurp(path).find(entry(1).problem + " 2 avx512 strict fwd direct"), std::string::npos) << slurp(path);
  EXPECT_NE(slurp(path).find(entry(2).problem + " 2 avx512 fast bwd_w naive"), std::string::npos) << slurp(path);
}

TEST(TuneFile, ForeignFileIsIgnoredAndLeftAlone) {
  const std::string path = scratch_path("foreign");
  {
    std::ofstream out(path, std::ios::trunc);
    out << "someone else's data\n";
  }
  bool foreign = false;
  EXPECT_TRUE(detail::tune_file::read(path, &foreign).empty());
  EXPECT_TRUE(foreign);
  EXPECT_FALSE(detail::tune_file::merge(path, {entry(1)}));
  EXPECT_EQ(slurp(path), "someone else's data\n");
  // A plan still tunes (with one warning on stderr) and runs.
  ScopedEnv env("CONVKIT_TUNE_FILE", path.c_str());
  const Conv2dParams p = parse_conv2d("mb1_ic4ih6iw6_oc4_kh3kw3");
  EXPECT_NO_THROW(Conv2d(p, Options{"tune", 1, Activation::none}));
}

// Two processes merging at once, many times: every entry of both survives.
TEST(TuneFile, ConcurrentWritersLoseNothing) {
  const std::string path = scratch_path("concurrent");
  std::remove(path.c_str());
  constexpr int kPerWriter = 40;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  const int first = child == 0 ? 0 : kPerWriter;
  bool ok = true;
  for (int i = first; i < first + kPerWriter; ++i) ok = detail::tune_file::merge(path, {entry(i)}) && ok;
  if (child == 0) ::_exit(ok ? 0 : 1);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_TRUE(ok);
  bool foreign = true;
  EXPECT_EQ(detail::tune_file::read(path, &foreign).size(), size_t(2 * kPerWriter));
}

}  // namespace
}  // namespace convkit
