// Every registered convolution backend against the double-precision oracle (and so against
// naive, which the same tests hold to the oracle) over the whole shape sweep, under every
// instruction set the CPU has.
#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "convkit/convkit.hpp"
#include "support/accuracy.hpp"
#include "support/backend_param.hpp"
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

// One plan run from two threads at once gives each the single-threaded caller's result.
TEST_P(ConvBackend, ConcurrentCallsOnOnePlan) {
  const Conv2dParams p = parse_conv2d("mb2_ic17ih12iw12_oc20_kh3kw3_sh1sw1_ph1pw1");
  if (const std::string reason = conv2d_decline_reason(backend(), p); !reason.empty()) GTEST_SKIP() << reason;
  const Tensor x = uniform_tensor(p.input_elements(), 11), w = uniform_tensor(p.weight_elements(), 12),
               dy = uniform_tensor(p.output_elements(), 13);
  const Conv2d conv(p, options(1));
  const auto run = [&](Tensor& y, Tensor& dx, Tensor& dw) {
    for (int i = 0; i < 3; ++i) {
      conv.forward(x.data(), w.data(), nullptr, y.data());
      conv.backward_data(dy.data(), w.data(), dx.data());
      conv.backward_weights(x.data(), dy.data(), dw.data(), nullptr);
    }
  };
  Tensor y0(p.output_elements()), dx0(p.input_elements()), dw0(p.weight_elements());
  run(y0, dx0, dw0);
  Tensor y1(y0.size()), dx1(dx0.size()), dw1(dw0.size()), y2(y0.size()), dx2(dx0.size()), dw2(dw0.size());
  std::thread t1([&] { run(y1, dx1, dw1); }), t2([&] { run(y2, dx2, dw2); });
  t1.join();
  t2.join();
  EXPECT_TRUE(bitwise_equal(y0, y1) && bitwise_equal(y0, y2));
  EXPECT_TRUE(bitwise_equal(dx0, dx1) && bitwise_equal(dx0, dx2));
  EXPECT_TRUE(bitwise_equal(dw0, dw1) && bitwise_equal(dw0, dw2));
}

INSTANTIATE_TEST_SUITE_P(Registry, ConvBackend,
                         ::testing::Combine(::testing::ValuesIn(conv2d_backends()), ::testing::ValuesIn(all_isas())),
                         backend_isa_name);

}  // namespace
}  // namespace convkit
