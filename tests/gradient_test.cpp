// Backward checked without reference to any backward code: the adjoint identity for every
// backend, and float64 finite differences for the reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>

#include "convkit/convkit.hpp"
#include "support/accuracy.hpp"
#include "support/backend_param.hpp"
#include "support/tensors.hpp"

namespace convkit {
namespace {

using namespace convkit::test;

const char* const kAdjointProblems[] = {
    "mb2_ic5ih9iw8_oc7_kh3kw3_sh1sw1_ph1pw1",
    "mb1_ic8ih11iw11_oc6_kh3kw2_sh2sw3_pt2pb0pl1pr1_dh2dw1",
    "mb2_ic12ih7iw7_oc8_kh3kw3_ph1pw1_g4",
    "mb1_ic16ih10iw10_oc16_kh5kw5_sh2sw2_ph2pw2_g16",
    "mb1_ic3ih15iw15_oc8_kh7kw7_sh2sw2_ph3pw3",
    "mb2_ic17ih9iw10_oc19_kh3kw3_pt1pb2pl0pr1",  // 3x3 stride 1 with a vector of channels: winograd's
};

class Adjoint : public BackendIsaTest {};

// Convolution is linear in x and in w, so <conv(x, w), dy> = <x, backward_data(dy, w)>
// = <w, backward_weights(x, dy)>. Each side's fp32 error is bounded by K * 2^-24 times
// sum |x||w||dy| over the same triples, plus 2^-13 times it for each side a fast row computes
// (its per-output bound, summed against |dy|). A backend declining every problem fails: the
// test would otherwise pass having checked nothing.
TEST_P(Adjoint, InnerProductsAgree) {
  int ran = 0;
  for (const char* text : kAdjointProblems) {
    SCOPED_TRACE(text);
    const Conv2dParams p = parse_conv2d(text);
    if (const std::string reason = conv2d_decline_reason(backend(), p); !reason.empty()) {
      std::printf("  %s declined %s: %s\n", backend().c_str(), text, reason.c_str());
      continue;
    }
    ++ran;
    const Tensor x = uniform_tensor(p.input_elements(), 31), w = uniform_tensor(p.weight_elements(), 32);
    const Conv2d conv(p, options(2));
    Tensor y(p.output_elements()), dx(p.input_elements()), dw(p.weight_elements());
    conv.forward(x.data(), w.data(), nullptr, y.data());
    // dy = y makes the forward side a sum of squares: no cancellation to hide an error in.
    const Tensor& dy = y;
    conv.backward_data(dy.data(), w.data(), dx.data());
    conv.backward_weights(x.data(), dy.data(), dw.data(), nullptr);
    const Tensor ax = absolute(x), aw = absolute(w), ady = absolute(dy);
    Tensor magnitude(p.output_elements());
    conv.forward(ax.data(), aw.data(), nullptr, magnitude.data());
    const double triples = dot(magnitude, ady);
    const double k = double(p.kernel_h * p.kernel_w * p.in_c_per_group() + p.kernel_h * p.kernel_w * p.out_c_per_group() +
                            p.batch * p.out_h() * p.out_w());
    int fast_sides = 0;
    for (Direction d : {Direction::forward, Direction::backward_data, Direction::backward_weights}) {
      fast_sides += conv_backend_math(std::string(conv.backend(d))) == Math::fast;
    }
    const double bound = (2.0 * k * std::ldexp(1.0, -24) + fast_sides * std::ldexp(1.0, -13)) * triples;
    const double forward_side = dot(y, dy);
    EXPECT_NEAR(dot(x, dx), forward_side, bound);
    EXPECT_NEAR(dot(w, dw), forward_side, bound);
    EXPECT_LT(bound, 1e-2 * std::fabs(forward_side)) << "too loose to catch a wrong gradient";
  }
  EXPECT_GT(ran, 0) << backend() << " declined every adjoint problem: nothing was checked";
}

INSTANTIATE_TEST_SUITE_P(Registry, Adjoint,
                         ::testing::Combine(::testing::ValuesIn(conv2d_backends()), ::testing::ValuesIn(all_isas())),
                         backend_isa_name);

// L = <conv(x, w) + b, dy>, evaluated in double from the reference's float outputs. L is
// linear in every input, so a central difference with a step of 1/4 has no truncation error:
// what remains is the outputs' float rounding, far below the tolerance.
class FiniteDifference : public ::testing::Test {
 protected:
  Conv2dParams p = parse_conv2d("mb2_ic3ih6iw5_oc4_kh3kw2_sh2sw1_pt1pb0pl1pr1_dh1dw2_g1");
  Tensor x = uniform_tensor(p.input_elements(), 41), w = uniform_tensor(p.weight_elements(), 42),
         b = uniform_tensor(p.out_c, 43), dy = uniform_tensor(p.output_elements(), 44);
  Conv2d conv{p, Options{"naive", 1, Activation::none}};

  double loss() const {
    Tensor y(p.output_elements());
    conv.forward(x.data(), w.data(), b.data(), y.data());
    return dot(y, dy);
  }
  double central_difference(float& coordinate) {
    const float h = 0.25f, saved = coordinate;
    coordinate = saved + h;
    const double up = loss();
    coordinate = saved - h;
    const double down = loss();
    coordinate = saved;
    return (up - down) / (2.0 * h);
  }
};

TEST_F(FiniteDifference, MatchesBackward) {
  Tensor dx(p.input_elements()), dw(p.weight_elements()), db(p.out_c);
  conv.backward_data(dy.data(), w.data(), dx.data());
  conv.backward_weights(x.data(), dy.data(), dw.data(), db.data());
  for (size_t i = 0; i < x.size(); i += 5) EXPECT_NEAR(central_difference(x[i]), dx[i], 1e-5) << "x[" << i << "]";
  for (size_t i = 0; i < w.size(); i += 3) EXPECT_NEAR(central_difference(w[i]), dw[i], 1e-5) << "w[" << i << "]";
  for (size_t i = 0; i < b.size(); ++i) EXPECT_NEAR(central_difference(b[i]), db[i], 1e-5) << "b[" << i << "]";
}

// Pooling: average is linear; max is linear while no window's argmax changes, which distinct
// values 0.01 apart and a step of 0.001 guarantee.
TEST(PoolFiniteDifference, MatchesBackward) {
  for (const char* text : {"mb2_c3ih7iw6_max_kh3kw3_sh2sw2_pt1pb1pl1pr1_ceil",
                           "mb2_c3ih7iw6_avg_kh3kw2_sh2sw1_pt1pb1pl1pr0_ceil",
                           "mb2_c3ih7iw6_avg_kh3kw3_sh2sw2_pt1pb1pl1pr1_incl_ceil"}) {
    SCOPED_TRACE(text);
    const Pool2dParams p = parse_pool2d(text);
    Tensor x(p.input_elements());
    std::iota(x.begin(), x.end(), 0.0f);
    for (float& v : x) v *= 0.01f;
    std::shuffle(x.begin(), x.end(), std::mt19937(45));
    const Tensor dy = uniform_tensor(p.output_elements(), 46);
    const Pool2d pool(p, Options{"naive", 1, Activation::none});
    const auto loss = [&] {
      Tensor y(p.output_elements());
      pool.forward(x.data(), y.data());
      return dot(y, dy);
    };
    Tensor dx(p.input_elements());
    pool.backward(x.data(), dy.data(), dx.data());
    for (size_t i = 0; i < x.size(); ++i) {
      const float h = 1e-3f, saved = x[i];
      x[i] = saved + h;
      const double up = loss();
      x[i] = saved - h;
      const double down = loss();
      x[i] = saved;
      // Step errors: the float rounding of x +- h and of y, relative ~1e-7 / h.
      EXPECT_NEAR((up - down) / (2.0 * double(h)), dx[i], 2e-3) << "x[" << i << "]";
    }
  }
}

}  // namespace
}  // namespace convkit
