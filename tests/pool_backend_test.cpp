// Every registered pooling backend against naive over the pooling sweep, under every
// instruction set the CPU has. Naive itself is held to hand-computed cases in pool_test.cpp
// and to the seed's numbers; here it is checked for thread-count independence like the rest.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "convkit/convkit.hpp"
#include "support/backend_param.hpp"
#include "support/concurrency.hpp"
#include "support/problems.hpp"
#include "support/tensors.hpp"

namespace convkit {
namespace {

using namespace convkit::test;

class PoolBackend : public BackendIsaTest {
 protected:
  template <class Check>
  void for_each_problem(Check check) {
    for_each_accepted(pool_sweep(), parse_pool2d, pool2d_decline_reason, check);
  }

  static Options reference() {
    Options o;
    o.backend = "naive";
    o.threads = 1;
    return o;
  }
};

// Equal bits, or both NaN (a NaN's payload may differ by path).
bool same_value(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof a) == 0;
}

void expect_same(const Tensor& actual, const Tensor& expected, const char* what) {
  ASSERT_EQ(actual.size(), expected.size());
  int reported = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    if (!same_value(actual[i], expected[i]) && reported++ < 5) {
      ADD_FAILURE() << what << "[" << i << "] = " << actual[i] << ", expected " << expected[i];
    }
  }
}

// An average rounds once in naive (double sum, one division); a float sum of `terms` values
// may differ from it by (terms + 2) * 2^-24 * (sum |x|) / divisor, which `magnitude` (naive
// run on |x|) bounds from above.
void expect_within_bound(const Tensor& actual, const Tensor& expected, const Tensor& magnitude, double terms,
                         const char* what) {
  ASSERT_EQ(actual.size(), expected.size());
  int reported = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double bound = (terms + 2.0) * std::ldexp(1.0, -24) * magnitude[i] + 1e-30;
    if (!(std::fabs(double(actual[i]) - expected[i]) <= bound) && reported++ < 5) {
      ADD_FAILURE() << what << "[" << i << "] = " << actual[i] << ", expected " << expected[i] << " within "
                    << bound;
    }
  }
}

// Small integers have many ties: max pooling's first-maximum rule decides the gradient, and
// every max result is exact. Averages are compared within their rounding bound.
TEST_P(PoolBackend, MatchesNaiveOnIntegers) {
  for_each_problem([&](const Pool2dParams& p) {
    const Tensor x = integer_tensor(p.input_elements(), 21), dy = integer_tensor(p.output_elements(), 22);
    const Pool2d ref(p, reference());
    Tensor y_ref = nan_tensor(p.output_elements()), dx_ref = nan_tensor(p.input_elements());
    ref.forward(x.data(), y_ref.data());
    ref.backward(x.data(), dy.data(), dx_ref.data());
    Tensor y_mag(y_ref.size()), dx_mag(dx_ref.size());
    const Tensor ax = absolute(x), ady = absolute(dy);
    ref.forward(ax.data(), y_mag.data());
    ref.backward(ax.data(), ady.data(), dx_mag.data());
    // Backward of average sums dy/divisor over the windows covering an input: at most
    // ceil(window/stride) per axis of them.
    const double window_terms = double(p.window_h * p.window_w);
    const double overlap = double((p.window_h + p.stride_h - 1) / p.stride_h * ((p.window_w + p.stride_w - 1) / p.stride_w));
    // 3 threads split nothing evenly; 7 outnumber the rows of the smaller problems.
    for (int threads : {1, 2, 3, 7}) {
      const Pool2d pool(p, options(threads));
      Tensor y = nan_tensor(p.output_elements()), dx = nan_tensor(p.input_elements());
      pool.forward(x.data(), y.data());
      pool.backward(x.data(), dy.data(), dx.data());
      if (p.mode == PoolMode::max) {
        expect_same(y, y_ref, "y");
        expect_same(dx, dx_ref, "dx");
      } else {
        expect_within_bound(y, y_ref, y_mag, window_terms, "y");
        expect_within_bound(dx, dx_ref, dx_mag, overlap, "dx");
      }
      Tensor y2 = nan_tensor(p.output_elements()), dx2 = nan_tensor(p.input_elements());
      pool.forward(x.data(), y2.data());
      pool.backward(x.data(), dy.data(), dx2.data());
      EXPECT_TRUE(bitwise_equal(y, y2) && bitwise_equal(dx, dx2)) << "second run differs, " << threads << " thread(s)";
    }
  });
}

// A NaN anywhere in a window makes the max NaN and takes the gradient if it comes first.
TEST_P(PoolBackend, MaxPropagatesNaN) {
  for_each_problem([&](const Pool2dParams& swept) {
    Pool2dParams p = swept;
    p.mode = PoolMode::max;
    Tensor x = uniform_tensor(p.input_elements(), 23);
    for (size_t i = 0; i < x.size(); i += 7) x[i] = std::numeric_limits<float>::quiet_NaN();
    const Tensor dy = integer_tensor(p.output_elements(), 24);  // exact sums where windows overlap
    Tensor y_ref(p.output_elements()), dx_ref(p.input_elements());
    const Pool2d ref(p, reference());
    ref.forward(x.data(), y_ref.data());
    ref.backward(x.data(), dy.data(), dx_ref.data());
    const Pool2d pool(p, options(2));
    Tensor y = nan_tensor(p.output_elements()), dx = nan_tensor(p.input_elements());
    pool.forward(x.data(), y.data());
    pool.backward(x.data(), dy.data(), dx.data());
    expect_same(y, y_ref, "y");
    expect_same(dx, dx_ref, "dx");
  });
}

// Every pointer one float off a 16-byte boundary: the same values as aligned buffers.
TEST_P(PoolBackend, MisalignedPointers) {
  for_each_problem([&](const Pool2dParams& p) {
    const Tensor x = integer_tensor(p.input_elements(), 25), dy = integer_tensor(p.output_elements(), 26);
    const Pool2d pool(p, options(2));
    Tensor y = nan_tensor(p.output_elements()), dx = nan_tensor(p.input_elements());
    pool.forward(x.data(), y.data());
    pool.backward(x.data(), dy.data(), dx.data());
    Misaligned mx(x), mdy(dy), my = Misaligned::output(p.output_elements()), mdx = Misaligned::output(p.input_elements());
    pool.forward(mx.data(), my.data());
    pool.backward(mx.data(), mdy.data(), mdx.data());
    expect_same(my.values(), y, "y");
    expect_same(mdx.values(), dx, "dx");
  });
}

// Four threads released together run one two-thread plan's calls: each gets the single
// caller's result bit for bit, every round.
TEST_P(PoolBackend, ConcurrentCallsOnOnePlan) {
  for (const char* text : {"mb2_c33ih10iw10_max_kh3kw3_sh2sw2_ceil", "mb2_c37ih6iw11_avg_kh3kw3_sh1sw1_pt1pb1pl1pr1_incl"}) {
    SCOPED_TRACE(text);
    const Pool2dParams p = parse_pool2d(text);
    if (const std::string reason = pool2d_decline_reason(backend(), p); !reason.empty()) GTEST_SKIP() << reason;
    const Tensor x = uniform_tensor(p.input_elements(), 27), dy = uniform_tensor(p.output_elements(), 28);
    const Pool2d pool(p, options(2));
    const auto run = [&](Tensor& y, Tensor& dx) {
      y = nan_tensor(p.output_elements()), dx = nan_tensor(p.input_elements());
      pool.forward(x.data(), y.data());
      pool.backward(x.data(), dy.data(), dx.data());
    };
    Tensor y, dx;
    run(y, dx);
    constexpr int kThreads = 4, kRounds = 3;
    std::vector<std::vector<Tensor>> ys(kThreads, std::vector<Tensor>(kRounds)), dxs = ys;
    run_together(kThreads, [&](int t) {
      for (int r = 0; r < kRounds; ++r) run(ys[size_t(t)][size_t(r)], dxs[size_t(t)][size_t(r)]);
    });
    for (int t = 0; t < kThreads; ++t) {
      for (int r = 0; r < kRounds; ++r) {
        EXPECT_TRUE(bitwise_equal(ys[size_t(t)][size_t(r)], y)) << "y, thread " << t << ", round " << r;
        EXPECT_TRUE(bitwise_equal(dxs[size_t(t)][size_t(r)], dx)) << "dx, thread " << t << ", round " << r;
      }
    }
  }
}

// The ceil_mode rule that drops a last window starting in the end padding is reached by the
// sweep (so the backends run it, not only out_h()): some problem has fewer outputs than
// rounding up alone would give.
TEST(PoolSweep, CeilModeDropRuleIsReached) {
  const auto rounded_up = [](int64_t in, int64_t pads, int64_t window, int64_t stride) {
    return (in + pads - window + stride - 1) / stride + 1;
  };
  int dropped = 0;
  for (const std::string& text : pool_sweep()) {
    const Pool2dParams p = parse_pool2d(text);
    if (!p.ceil_mode) continue;
    dropped += p.out_h() < rounded_up(p.in_h, p.pad_top + p.pad_bottom, p.window_h, p.stride_h);
    dropped += p.out_w() < rounded_up(p.in_w, p.pad_left + p.pad_right, p.window_w, p.stride_w);
  }
  EXPECT_GE(dropped, 2);
}

INSTANTIATE_TEST_SUITE_P(Registry, PoolBackend,
                         ::testing::Combine(::testing::ValuesIn(pool2d_backends()), ::testing::ValuesIn(all_isas())),
                         backend_isa_name);

}  // namespace
}  // namespace convkit
