// Every registered convolution backend against the double-precision oracle (and so against
// naive, which the same tests hold to the oracle) over the whole shape sweep, under every
// instruction set the CPU has.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <string>
#include <vector>

#include "convkit/convkit.hpp"
#include "support/accuracy.hpp"
#include "support/backend_param.hpp"
#include "support/concurrency.hpp"
#include "support/oracle.hpp"
#include "support/problems.hpp"
#include "support/tensors.hpp"

namespace convkit {
namespace {

using namespace convkit::test;

// The oracle on absolute values: each result's sum of |terms|, which the bounds scale with.
OracleResult magnitudes(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor* b, const Tensor* dy) {
  const Tensor ax = absolute(x), aw = absolute(w), ab = b != nullptr ? absolute(*b) : Tensor(),
               ady = dy != nullptr ? absolute(*dy) : Tensor();
  return oracle(p, ax.data(), aw.data(), b != nullptr ? ab.data() : nullptr, dy != nullptr ? ady.data() : nullptr);
}

class ConvBackend : public BackendIsaTest {
 protected:
  template <class Check>
  void for_each_problem(Check check) {
    for_each_accepted(conv_sweep(), parse_conv2d, conv2d_decline_reason, check);
  }
  // The class of the row asked for (magnitudes are computed when it is fast; the rows serving
  // its missing directions are never less strict than it: registry_test).
  Math math() const { return conv_backend_math(backend()); }
  // magnitudes(), where the comparison on integers reads them: for a fast row only.
  OracleResult integer_magnitudes(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor* b,
                                  const Tensor* dy) const {
    return math() == Math::fast ? magnitudes(p, x, w, b, dy) : OracleResult{};
  }
};

// The class of the row that runs `d` in this plan: where the row asked for lacks a direction,
// the one serving it.
Math math_of(const Conv2d& conv, Direction d) { return conv_backend_math(std::string(conv.backend(d))); }

std::vector<double> relu(std::vector<double> v) {
  for (double& e : v) e = e < 0.0 ? 0.0 : e;
  return v;
}

// The number of products summed into one element of each result (the bias counted in forward).
struct Terms {
  double forward, data, weights;
  explicit Terms(const Conv2dParams& p)
      : forward(double(p.kernel_h * p.kernel_w * p.in_c_per_group()) + 1),
        data(double(p.kernel_h * p.kernel_w * p.out_c_per_group())),
        weights(double(p.batch * p.out_h() * p.out_w())) {}
};

// Small integers: every strict backend must reproduce the oracle bit for bit (a fast one stay
// within its bound), with 1 and 2 threads, from HWIO and from packed weights (forward and
// backward data), with and without the fused ReLU, and run to run.
TEST_P(ConvBackend, ForwardExactOnIntegers) {
  for_each_problem([&](const Conv2dParams& p) {
    const Tensor x = integer_tensor(p.input_elements(), 1), w = integer_tensor(p.weight_elements(), 2),
                 b = integer_tensor(p.out_c, 3);
    const std::vector<double> exact = oracle(p, x.data(), w.data(), b.data(), nullptr).y;
    const std::vector<double> magnitude = integer_magnitudes(p, x, w, &b, nullptr).y;
    const double terms = Terms(p).forward;
    EXPECT_GT(fraction_nonzero(rounded(exact)), 0.5) << "test data too sparse to be a strong test";
    for (int threads : {1, 2}) {
      const Conv2d conv(p, options(threads));
      Tensor y = nan_tensor(p.output_elements());
      conv.forward(x.data(), w.data(), b.data(), y.data());
      EXPECT_TRUE(matches_on_integers(y, exact, magnitude, terms, math_of(conv, Direction::forward))) << threads << " thread(s)";
      Tensor again = nan_tensor(p.output_elements());
      conv.forward(x.data(), conv.pack_weights(w.data()), b.data(), again.data());
      EXPECT_TRUE(matches_on_integers(again, exact, magnitude, terms, math_of(conv, Direction::forward)))
          << "packed weights, " << threads << " thread(s)";
    }
    const Conv2d fused(p, options(2, Activation::relu));
    Tensor y = nan_tensor(p.output_elements());
    fused.forward(x.data(), w.data(), b.data(), y.data());
    // |relu(a) - relu(e)| <= |a - e|: the bound carries over.
    EXPECT_TRUE(matches_on_integers(y, relu(exact), magnitude, terms, math_of(fused, Direction::forward))) << "fused ReLU";
    Tensor no_bias = nan_tensor(p.output_elements());
    fused.forward(x.data(), w.data(), nullptr, no_bias.data());
    EXPECT_TRUE(matches_on_integers(no_bias, relu(oracle(p, x.data(), w.data(), nullptr, nullptr).y),
                                    integer_magnitudes(p, x, w, nullptr, nullptr).y, terms, math_of(fused, Direction::forward)))
        << "no bias";
  });
}

TEST_P(ConvBackend, BackwardExactOnIntegers) {
  for_each_problem([&](const Conv2dParams& p) {
    const Tensor x = integer_tensor(p.input_elements(), 4), w = integer_tensor(p.weight_elements(), 5),
                 dy = integer_tensor(p.output_elements(), 6);
    const OracleResult exact = oracle(p, x.data(), w.data(), nullptr, dy.data());
    const OracleResult magnitude = integer_magnitudes(p, x, w, nullptr, &dy);
    const Terms terms(p);
    for (int threads : {1, 2}) {
      // ReLU in the plan must not change backward: it differentiates convolution + bias only.
      const Conv2d conv(p, options(threads, Activation::relu));
      Tensor dx = nan_tensor(p.input_elements()), dw = nan_tensor(p.weight_elements()), db = nan_tensor(p.out_c);
      conv.backward_data(dy.data(), w.data(), dx.data());
      conv.backward_weights(x.data(), dy.data(), dw.data(), db.data());
      EXPECT_TRUE(matches_on_integers(dx, exact.dx, magnitude.dx, terms.data, math_of(conv, Direction::backward_data))) << "dx, " << threads << " thread(s)";
      Tensor dx_packed = nan_tensor(p.input_elements());
      conv.backward_data(dy.data(), conv.pack_weights(w.data(), Direction::backward_data), dx_packed.data());
      EXPECT_TRUE(matches_on_integers(dx_packed, exact.dx, magnitude.dx, terms.data, math_of(conv, Direction::backward_data)))
          << "dx from packed weights, " << threads << " thread(s)";
      EXPECT_TRUE(matches_on_integers(dw, exact.dw, magnitude.dw, terms.weights, math_of(conv, Direction::backward_weights)))
          << "dw, " << threads << " thread(s)";
      EXPECT_TRUE(matches_on_integers(db, exact.db, magnitude.db, terms.weights, math_of(conv, Direction::backward_weights)))
          << "db, " << threads << " thread(s)";
      Tensor dw_alone = nan_tensor(p.weight_elements());
      conv.backward_weights(x.data(), dy.data(), dw_alone.data(), nullptr);
      EXPECT_TRUE(bitwise_equal(dw_alone, dw)) << "dw without db";
    }
  });
}

// Weights packed by a plan at batch 1 serve the plan of the same problem at its own batch, in
// both directions that take weights, with the results of HWIO weights (on integers: exact for a
// strict row, within the bound for a fast one).
TEST_P(ConvBackend, PackedWeightsServeAnotherBatch) {
  for_each_problem([&](const Conv2dParams& p) {
    if (p.batch == 1) return;
    Conv2dParams single = p;
    single.batch = 1;
    const Tensor x = integer_tensor(p.input_elements(), 21), w = integer_tensor(p.weight_elements(), 22),
                 dy = integer_tensor(p.output_elements(), 23);
    const OracleResult exact = oracle(p, x.data(), w.data(), nullptr, dy.data());
    const OracleResult magnitude = integer_magnitudes(p, x, w, nullptr, &dy);
    const Terms terms(p);
    const Conv2d packer(single, options(1)), conv(p, options(2));
    Tensor y = nan_tensor(p.output_elements()), y_packed = nan_tensor(p.output_elements());
    conv.forward(x.data(), packer.pack_weights(w.data()), nullptr, y_packed.data());
    EXPECT_TRUE(matches_on_integers(y_packed, exact.y, magnitude.y, terms.forward, math_of(conv, Direction::forward))) << "forward";
    Tensor dx_packed = nan_tensor(p.input_elements());
    conv.backward_data(dy.data(), packer.pack_weights(w.data(), Direction::backward_data), dx_packed.data());
    EXPECT_TRUE(matches_on_integers(dx_packed, exact.dx, magnitude.dx, terms.data, math_of(conv, Direction::backward_data))) << "backward data";
  });
}

// Each element within the bound of the row's accuracy class, the sum of magnitudes computed by
// the oracle on absolute values.
TEST_P(ConvBackend, RandomFloatsWithinRoundingBound) {
  for_each_problem([&](const Conv2dParams& p) {
    const Tensor x = uniform_tensor(p.input_elements(), 7), w = uniform_tensor(p.weight_elements(), 8),
                 b = uniform_tensor(p.out_c, 9), dy = uniform_tensor(p.output_elements(), 10);
    const OracleResult exact = oracle(p, x.data(), w.data(), b.data(), dy.data());
    const OracleResult magnitude = magnitudes(p, x, w, &b, &dy);
    const Terms terms(p);

    const Conv2d conv(p, options(2));
    Tensor y = nan_tensor(p.output_elements()), dx = nan_tensor(p.input_elements()),
           dw = nan_tensor(p.weight_elements()), db = nan_tensor(p.out_c);
    conv.forward(x.data(), w.data(), b.data(), y.data());
    conv.backward_data(dy.data(), w.data(), dx.data());
    conv.backward_weights(x.data(), dy.data(), dw.data(), db.data());
    EXPECT_TRUE(within_bound(y, exact.y, magnitude.y, terms.forward, math_of(conv, Direction::forward))) << "y";
    EXPECT_TRUE(within_bound(dx, exact.dx, magnitude.dx, terms.data, math_of(conv, Direction::backward_data))) << "dx";
    EXPECT_TRUE(within_bound(dw, exact.dw, magnitude.dw, terms.weights, math_of(conv, Direction::backward_weights))) << "dw";
    EXPECT_TRUE(within_bound(db, exact.db, magnitude.db, terms.weights, math_of(conv, Direction::backward_weights))) << "db";

    // Bitwise reproducible run to run for a given thread count, rounding order included.
    Tensor y2 = nan_tensor(p.output_elements()), dx2 = nan_tensor(p.input_elements()),
           dw2 = nan_tensor(p.weight_elements()), db2 = nan_tensor(p.out_c);
    conv.forward(x.data(), w.data(), b.data(), y2.data());
    conv.backward_data(dy.data(), w.data(), dx2.data());
    conv.backward_weights(x.data(), dy.data(), dw2.data(), db2.data());
    EXPECT_TRUE(bitwise_equal(y, y2) && bitwise_equal(dx, dx2) && bitwise_equal(dw, dw2) && bitwise_equal(db, db2))
        << "second run differs";
  });
}

// Thread counts that split nothing evenly (3), and more threads than output rows (7 where
// batch * out_h < 7): every output still written exactly once, the oracle's values on integers.
TEST_P(ConvBackend, OddAndExcessThreadCounts) {
  for_each_problem([&](const Conv2dParams& p) {
    const Tensor x = integer_tensor(p.input_elements(), 24), w = integer_tensor(p.weight_elements(), 25),
                 b = integer_tensor(p.out_c, 26), dy = integer_tensor(p.output_elements(), 27);
    const OracleResult exact = oracle(p, x.data(), w.data(), b.data(), dy.data());
    const OracleResult magnitude = integer_magnitudes(p, x, w, &b, &dy);
    const Terms terms(p);
    std::vector<int> counts = {3};
    if (p.batch * p.out_h() < 7) counts.push_back(7);
    for (int threads : counts) {
      SCOPED_TRACE(std::to_string(threads) + " threads");
      const Conv2d conv(p, options(threads));
      Tensor y = nan_tensor(p.output_elements()), dx = nan_tensor(p.input_elements()),
             dw = nan_tensor(p.weight_elements()), db = nan_tensor(p.out_c);
      conv.forward(x.data(), w.data(), b.data(), y.data());
      conv.backward_data(dy.data(), w.data(), dx.data());
      conv.backward_weights(x.data(), dy.data(), dw.data(), db.data());
      EXPECT_TRUE(matches_on_integers(y, exact.y, magnitude.y, terms.forward, math_of(conv, Direction::forward))) << "y";
      EXPECT_TRUE(matches_on_integers(dx, exact.dx, magnitude.dx, terms.data, math_of(conv, Direction::backward_data)))
          << "dx";
      EXPECT_TRUE(matches_on_integers(dw, exact.dw, magnitude.dw, terms.weights,
                                      math_of(conv, Direction::backward_weights)))
          << "dw";
      EXPECT_TRUE(matches_on_integers(db, exact.db, magnitude.db, terms.weights,
                                      math_of(conv, Direction::backward_weights)))
          << "db";
    }
  });
}

// Every pointer one float off a 16-byte boundary (the contract asks for no alignment): the
// oracle's values on integers, from HWIO and packed weights alike.
TEST_P(ConvBackend, MisalignedPointers) {
  for_each_problem([&](const Conv2dParams& p) {
    const Tensor x = integer_tensor(p.input_elements(), 28), w = integer_tensor(p.weight_elements(), 29),
                 b = integer_tensor(p.out_c, 30), dy = integer_tensor(p.output_elements(), 31);
    const OracleResult exact = oracle(p, x.data(), w.data(), b.data(), dy.data());
    const OracleResult magnitude = integer_magnitudes(p, x, w, &b, &dy);
    const Terms terms(p);
    Misaligned mx(x), mw(w), mb(b), mdy(dy);
    Misaligned y = Misaligned::output(p.output_elements()), y_packed = Misaligned::output(p.output_elements()),
               dx = Misaligned::output(p.input_elements()), dx_packed = Misaligned::output(p.input_elements()),
               dw = Misaligned::output(p.weight_elements()), db = Misaligned::output(p.out_c);
    const Conv2d conv(p, options(2));
    conv.forward(mx.data(), mw.data(), mb.data(), y.data());
    conv.forward(mx.data(), conv.pack_weights(mw.data()), mb.data(), y_packed.data());
    conv.backward_data(mdy.data(), mw.data(), dx.data());
    conv.backward_data(mdy.data(), conv.pack_weights(mw.data(), Direction::backward_data), dx_packed.data());
    conv.backward_weights(mx.data(), mdy.data(), dw.data(), db.data());
    const Math forward = math_of(conv, Direction::forward), data = math_of(conv, Direction::backward_data),
               weights = math_of(conv, Direction::backward_weights);
    EXPECT_TRUE(matches_on_integers(y.values(), exact.y, magnitude.y, terms.forward, forward)) << "y";
    EXPECT_TRUE(matches_on_integers(y_packed.values(), exact.y, magnitude.y, terms.forward, forward)) << "y, packed";
    EXPECT_TRUE(matches_on_integers(dx.values(), exact.dx, magnitude.dx, terms.data, data)) << "dx";
    EXPECT_TRUE(matches_on_integers(dx_packed.values(), exact.dx, magnitude.dx, terms.data, data)) << "dx, packed";
    EXPECT_TRUE(matches_on_integers(dw.values(), exact.dw, magnitude.dw, terms.weights, weights)) << "dw";
    EXPECT_TRUE(matches_on_integers(db.values(), exact.db, magnitude.db, terms.weights, weights)) << "db";
  });
}

// Four threads released together run every call of one two-thread plan, the weights packed once
// and shared: each gets the single caller's result bit for bit, every round.
TEST_P(ConvBackend, ConcurrentCallsOnOnePlan) {
  const Conv2dParams p = parse_conv2d("mb2_ic17ih12iw12_oc20_kh3kw3_sh1sw1_ph1pw1");
  if (const std::string reason = conv2d_decline_reason(backend(), p); !reason.empty()) GTEST_SKIP() << reason;
  const Tensor x = uniform_tensor(p.input_elements(), 11), w = uniform_tensor(p.weight_elements(), 12),
               b = uniform_tensor(p.out_c, 14), dy = uniform_tensor(p.output_elements(), 13);
  const Conv2d conv(p, options(2));
  const PackedWeights forward_weights = conv.pack_weights(w.data()),
                      data_weights = conv.pack_weights(w.data(), Direction::backward_data);
  struct Results {
    Tensor y, y_packed, dx, dx_packed, dw, db;
  };
  const auto run = [&](Results& r) {
    r = {nan_tensor(p.output_elements()), nan_tensor(p.output_elements()), nan_tensor(p.input_elements()),
         nan_tensor(p.input_elements()),  nan_tensor(p.weight_elements()), nan_tensor(p.out_c)};
    conv.forward(x.data(), w.data(), b.data(), r.y.data());
    conv.forward(x.data(), forward_weights, b.data(), r.y_packed.data());
    conv.backward_data(dy.data(), w.data(), r.dx.data());
    conv.backward_data(dy.data(), data_weights, r.dx_packed.data());
    conv.backward_weights(x.data(), dy.data(), r.dw.data(), r.db.data());
  };
  Results expected;
  run(expected);
  constexpr int kThreads = 4, kRounds = 3;
  std::vector<std::vector<Results>> got(kThreads, std::vector<Results>(kRounds));
  run_together(kThreads, [&](int thread) {
    for (Results& r : got[static_cast<size_t>(thread)]) run(r);
  });
  for (int thread = 0; thread < kThreads; ++thread) {
    for (int round = 0; round < kRounds; ++round) {
      SCOPED_TRACE("thread " + std::to_string(thread) + ", round " + std::to_string(round));
      const Results& r = got[static_cast<size_t>(thread)][static_cast<size_t>(round)];
      EXPECT_TRUE(bitwise_equal(r.y, expected.y) && bitwise_equal(r.y_packed, expected.y_packed));
      EXPECT_TRUE(bitwise_equal(r.dx, expected.dx) && bitwise_equal(r.dx_packed, expected.dx_packed));
      EXPECT_TRUE(bitwise_equal(r.dw, expected.dw) && bitwise_equal(r.db, expected.db));
    }
  }
}

// A one-thread plan opens no OpenMP region of its own, so its calls must not bind to a caller's:
// called from inside the caller's parallel region, by one of its threads or by all of them at
// once, each call still gives the oracle's values (an orphaned worksharing loop would split a
// call's work among the caller's threads; an orphaned barrier would wait for them).
TEST_P(ConvBackend, OneThreadPlansInsideACallersParallelRegion) {
  for (const char* text : {"mb2_ic17ih8iw7_oc20_kh3kw3_ph1pw1", "mb1_ic32ih9iw9_oc32_kh3kw3_ph1pw1_g32"}) {
    SCOPED_TRACE(text);
    const Conv2dParams p = parse_conv2d(text);
    if (!conv2d_decline_reason(backend(), p).empty()) continue;
    const Tensor x = integer_tensor(p.input_elements(), 32), w = integer_tensor(p.weight_elements(), 33),
                 b = integer_tensor(p.out_c, 34), dy = integer_tensor(p.output_elements(), 35);
    const OracleResult exact = oracle(p, x.data(), w.data(), b.data(), dy.data());
    const OracleResult magnitude = integer_magnitudes(p, x, w, &b, &dy);
    const Terms terms(p);
    const Conv2d conv(p, options(1));
    for (bool every_thread_calls : {true, false}) {
      std::vector<Tensor> y(2, nan_tensor(p.output_elements())), dx(2, nan_tensor(p.input_elements())),
          dw(2, nan_tensor(p.weight_elements())), db(2, nan_tensor(p.out_c));
#pragma omp parallel num_threads(2)
      {
        const size_t t = static_cast<size_t>(omp_get_thread_num());
        if (every_thread_calls || t == 0) {
          conv.forward(x.data(), w.data(), b.data(), y[t].data());
          conv.backward_data(dy.data(), w.data(), dx[t].data());
          conv.backward_weights(x.data(), dy.data(), dw[t].data(), db[t].data());
        }
      }
      for (size_t t = 0; t < (every_thread_calls ? 2u : 1u); ++t) {
        SCOPED_TRACE("caller thread " + std::to_string(t));
        EXPECT_TRUE(matches_on_integers(y[t], exact.y, magnitude.y, terms.forward, math_of(conv, Direction::forward)));
        EXPECT_TRUE(
            matches_on_integers(dx[t], exact.dx, magnitude.dx, terms.data, math_of(conv, Direction::backward_data)));
        EXPECT_TRUE(matches_on_integers(dw[t], exact.dw, magnitude.dw, terms.weights,
                                        math_of(conv, Direction::backward_weights)));
        EXPECT_TRUE(matches_on_integers(db[t], exact.db, magnitude.db, terms.weights,
                                        math_of(conv, Direction::backward_weights)));
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Registry, ConvBackend,
                         ::testing::Combine(::testing::ValuesIn(conv2d_backends()), ::testing::ValuesIn(all_isas())),
                         backend_isa_name);

}  // namespace
}  // namespace convkit

namespace convkit {
namespace {

using namespace convkit::test;

// Along one axis: whether some window reads a pad before the input, and one after it.
struct AxisReads {
  bool begin_pad, end_pad;
};
AxisReads pads_read(int64_t in, int64_t kernel, int64_t stride, int64_t dilation, int64_t pad_begin, int64_t out) {
  AxisReads reads{false, false};
  for (int64_t o = 0; o < out; ++o) {
    for (int64_t k = 0; k < kernel; ++k) {
      const int64_t i = o * stride - pad_begin + k * dilation;
      reads.begin_pad = reads.begin_pad || i < 0;
      reads.end_pad = reads.end_pad || i >= in;
    }
  }
  return reads;
}

// A pad no window reads tests nothing: a backend could mishandle it and still pass.
TEST(ConvSweep, EveryPadIsRead) {
  for (const std::string& text : conv_sweep()) {
    SCOPED_TRACE(text);
    const Conv2dParams p = parse_conv2d(text);
    const AxisReads rows = pads_read(p.in_h, p.kernel_h, p.stride_h, p.dilation_h, p.pad_top, p.out_h());
    const AxisReads columns = pads_read(p.in_w, p.kernel_w, p.stride_w, p.dilation_w, p.pad_left, p.out_w());
    EXPECT_TRUE(p.pad_top == 0 || rows.begin_pad) << "pad_top unread";
    EXPECT_TRUE(p.pad_bottom == 0 || rows.end_pad) << "pad_bottom unread";
    EXPECT_TRUE(p.pad_left == 0 || columns.begin_pad) << "pad_left unread";
    EXPECT_TRUE(p.pad_right == 0 || columns.end_pad) << "pad_right unread";
  }
}

// The general backends (README: they take every shape) decline nothing the sweep holds, so the
// registry suites cannot pass them by skipping.
TEST(ConvSweep, GeneralBackendsDeclineNothing) {
  for (const char* backend : {"direct", "im2col"}) {
    for (const std::string& text : conv_sweep()) {
      EXPECT_EQ(conv2d_decline_reason(backend, parse_conv2d(text)), "") << backend << " " << text;
    }
  }
}

}  // namespace
}  // namespace convkit
