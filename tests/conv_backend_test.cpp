// Every registered convolution backend against the double-precision oracle (and so against
// naive, which the same tests hold to the oracle) over the whole shape sweep, under every
// instruction set the CPU has.
#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "convkit/convkit.hpp"
#include "support/backend_param.hpp"
#include "support/oracle.hpp"
#include "support/problems.hpp"
#include "support/tensors.hpp"

namespace convkit {
namespace {

using namespace convkit::test;

class ConvBackend : public BackendIsaTest {
 protected:
  template <class Check>
  void for_each_problem(Check check) {
    for_each_accepted(conv_sweep(), parse_conv2d, conv2d_decline_reason, check);
  }
};

std::vector<float> relu(std::vector<float> v) {
  for (float& e : v) e = e < 0.0f ? 0.0f : e;
  return v;
}

// Small integers: every backend must reproduce the oracle bit for bit, with 1 and 2 threads,
// from HWIO and from packed weights (forward and backward data), with and without the fused
// ReLU, and run to run.
TEST_P(ConvBackend, ForwardExactOnIntegers) {
  for_each_problem([&](const Conv2dParams& p) {
    const Tensor x = integer_tensor(p.input_elements(), 1), w = integer_tensor(p.weight_elements(), 2),
                 b = integer_tensor(p.out_c, 3);
    const Tensor expected = rounded(oracle(p, x.data(), w.data(), b.data(), nullptr).y);
    EXPECT_GT(fraction_nonzero(expected), 0.5) << "test data too sparse to be a strong test";
    for (int threads : {1, 2}) {
      const Conv2d conv(p, options(threads));
      Tensor y = nan_tensor(p.output_elements());
      conv.forward(x.data(), w.data(), b.data(), y.data());
      EXPECT_TRUE(bitwise_equal(y, expected)) << threads << " thread(s)";
      Tensor again = nan_tensor(p.output_elements());
      conv.forward(x.data(), conv.pack_weights(w.data()), b.data(), again.data());
      EXPECT_TRUE(bitwise_equal(again, expected)) << "packed weights, " << threads << " thread(s)";
    }
    const Conv2d fused(p, options(2, Activation::relu));
    Tensor y = nan_tensor(p.output_elements());
    fused.forward(x.data(), w.data(), b.data(), y.data());
    EXPECT_TRUE(bitwise_equal(y, relu(expected))) << "fused ReLU";
    Tensor no_bias = nan_tensor(p.output_elements());
    fused.forward(x.data(), w.data(), nullptr, no_bias.data());
    EXPECT_TRUE(bitwise_equal(no_bias, relu(rounded(oracle(p, x.data(), w.data(), nullptr, nullptr).y))))
        << "no bias";
  });
}

TEST_P(ConvBackend, BackwardExactOnIntegers) {
  for_each_problem([&](const Conv2dParams& p) {
    const Tensor x = integer_tensor(p.input_elements(), 4), w = integer_tensor(p.weight_elements(), 5),
                 dy = integer_tensor(p.output_elements(), 6);
    const OracleResult r = oracle(p, x.data(), w.data(), nullptr, dy.data());
    const Tensor dx_expected = rounded(r.dx), dw_expected = rounded(r.dw), db_expected = rounded(r.db);
    for (int threads : {1, 2}) {
      // ReLU in the plan must not change backward: it differentiates convolution + bias only.
      const Conv2d conv(p, options(threads, Activation::relu));
      Tensor dx = nan_tensor(p.input_elements()), dw = nan_tensor(p.weight_elements()), db = nan_tensor(p.out_c);
      conv.backward_data(dy.data(), w.data(), dx.data());
      conv.backward_weights(x.data(), dy.data(), dw.data(), db.data());
      EXPECT_TRUE(bitwise_equal(dx, dx_expected)) << "dx, " << threads << " thread(s)";
      Tensor dx_packed = nan_tensor(p.input_elements());
      conv.backward_data(dy.data(), conv.pack_weights(w.data(), Direction::backward_data), dx_packed.data());
      EXPECT_TRUE(bitwise_equal(dx_packed, dx_expected)) << "dx from packed weights, " << threads << " thread(s)";
      EXPECT_TRUE(bitwise_equal(dw, dw_expected)) << "dw, " << threads << " thread(s)";
      EXPECT_TRUE(bitwise_equal(db, db_expected)) << "db, " << threads << " thread(s)";
      Tensor dw_alone = nan_tensor(p.weight_elements());
      conv.backward_weights(x.data(), dy.data(), dw_alone.data(), nullptr);
      EXPECT_TRUE(bitwise_equal(dw_alone, dw_expected)) << "dw without db";
    }
  });
}

// Weights packed by a plan at batch 1 serve the plan of the same problem at its own batch, in
// both directions that take weights, with the results of HWIO weights.
TEST_P(ConvBackend, PackedWeightsServeAnotherBatch) {
  for_each_problem([&](const Conv2dParams& p) {
    if (p.batch == 1) return;
    Conv2dParams single = p;
    single.batch = 1;
    const Tensor x = integer_tensor(p.input_elements(), 21), w = integer_tensor(p.weight_elements(), 22),
                 dy = integer_tensor(p.output_elements(), 23);
    const Conv2d packer(single, options(1)), conv(p, options(2));
    Tensor y = nan_tensor(p.output_elements()), y_packed = nan_tensor(p.output_elements());
    conv.forward(x.data(), w.data(), nullptr, y.data());
    conv.forward(x.data(), packer.pack_weights(w.data()), nullptr, y_packed.data());
    EXPECT_TRUE(bitwise_equal(y_packed, y)) << "forward";
    Tensor dx = nan_tensor(p.input_elements()), dx_packed = nan_tensor(p.input_elements());
    conv.backward_data(dy.data(), w.data(), dx.data());
    conv.backward_data(dy.data(), packer.pack_weights(w.data(), Direction::backward_data), dx_packed.data());
    EXPECT_TRUE(bitwise_equal(dx_packed, dx)) << "backward data";
  });
}

// Each element within the rounding error an fp32 sum of K terms may carry:
// |actual - exact| <= (K + 2) * 2^-24 * sum |terms|, the sum of magnitudes computed by the
// oracle on absolute values.
void expect_within_bound(const Tensor& actual, const std::vector<double>& exact, const std::vector<double>& magnitude,
                         double terms, const char* what) {
  ASSERT_EQ(actual.size(), exact.size());
  int reported = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double bound = (terms + 2.0) * std::ldexp(1.0, -24) * magnitude[i] + 1e-30;
    const double error = std::fabs(double(actual[i]) - exact[i]);
    if (!(error <= bound) && reported++ < 5) {
      ADD_FAILURE() << what << "[" << i << "] = " << actual[i] << ", exact " << exact[i] << ", error " << error
                    << " > bound " << bound;
    }
  }
}

TEST_P(ConvBackend, RandomFloatsWithinRoundingBound) {
  for_each_problem([&](const Conv2dParams& p) {
    const Tensor x = uniform_tensor(p.input_elements(), 7), w = uniform_tensor(p.weight_elements(), 8),
                 b = uniform_tensor(p.out_c, 9), dy = uniform_tensor(p.output_elements(), 10);
    const OracleResult exact = oracle(p, x.data(), w.data(), b.data(), dy.data());
    const Tensor ax = absolute(x), aw = absolute(w), ab = absolute(b), ady = absolute(dy);
    const OracleResult magnitude = oracle(p, ax.data(), aw.data(), ab.data(), ady.data());
    const double k_forward = double(p.kernel_h * p.kernel_w * p.in_c_per_group()) + 1;  // + bias
    const double k_data = double(p.kernel_h * p.kernel_w * p.out_c_per_group());
    const double k_weights = double(p.batch * p.out_h() * p.out_w());

    const Conv2d conv(p, options(2));
    Tensor y = nan_tensor(p.output_elements()), dx = nan_tensor(p.input_elements()),
           dw = nan_tensor(p.weight_elements()), db = nan_tensor(p.out_c);
    conv.forward(x.data(), w.data(), b.data(), y.data());
    conv.backward_data(dy.data(), w.data(), dx.data());
    conv.backward_weights(x.data(), dy.data(), dw.data(), db.data());
    expect_within_bound(y, exact.y, magnitude.y, k_forward, "y");
    expect_within_bound(dx, exact.dx, magnitude.dx, k_data, "dx");
    expect_within_bound(dw, exact.dw, magnitude.dw, k_weights, "dw");
    expect_within_bound(db, exact.db, magnitude.db, k_weights, "db");

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
