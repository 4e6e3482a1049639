// The winograd backend: its transforms alone against a double-precision evaluation of the
// Winograd identity (every instruction set this CPU has, channel tails, windows at every
// position across an image's border), then the backend through the public API against the
// double oracle on shapes beyond the shared sweep, held to the Math::fast bound: the strict
// bound plus 2^-13 * M per output, M the sum of the absolute values of its terms. The worst
// error / M seen is printed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "convkit/convkit.hpp"
#include "isa.hpp"
#include "kernels/winograd_transform.hpp"
#include "support/oracle.hpp"
#include "support/scoped_env.hpp"
#include "support/tensors.hpp"

namespace convkit {
namespace {

using namespace convkit::test;
using detail::Isa;
using detail::WinogradTransforms;

constexpr int kIn = 6, kOut = 4;

// Lavin and Gray's F(4x4, 3x3) matrices, written out independently of the kernels' factored forms.
constexpr double kBT[kIn][kIn] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                  {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
constexpr double kG[kIn][3] = {{1.0 / 4, 0, 0},
                               {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                               {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                               {1.0 / 24, 1.0 / 12, 1.0 / 6},
                               {1.0 / 24, -1.0 / 12, 1.0 / 6},
                               {0, 0, 1}};
constexpr double kAT[kOut][kIn] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};

// L * X * R^T for L [a x b], X [b x b'], R [c x b'].
template <int A, int B, int B2, int C>
std::vector<double> sandwich(const double (&l)[A][B], const std::vector<double>& x, const double (&r)[C][B2]) {
  std::vector<double> out(A * C, 0.0);
  for (int i = 0; i < A; ++i)
    for (int j = 0; j < C; ++j)
      for (int p = 0; p < B; ++p)
        for (int q = 0; q < B2; ++q) out[i * C + j] += l[i][p] * x[p * B2 + q] * r[j][q];
  return out;
}

std::vector<Isa> isas_of_this_cpu() {
  std::vector<Isa> isas;
  for (Isa isa : detail::kAllIsas) {
    if (isa <= detail::cpu_isa()) isas.push_back(isa);
  }
  return isas;
}

// The matrices themselves: A^T [(G g G^T) . (B^T d B)] A is the 3x3 correlation of d with g.
TEST(WinogradTransforms, MatricesSatisfyTheIdentity) {
  const Tensor d = uniform_tensor(kIn * kIn, 1), g = uniform_tensor(9, 2);
  const std::vector<double> dd(d.begin(), d.end()), gg(g.begin(), g.end());
  const std::vector<double> v = sandwich(kBT, dd, kBT), u = sandwich(kG, gg, kG);
  std::vector<double> m(kIn * kIn);
  for (int i = 0; i < kIn * kIn; ++i) m[i] = v[i] * u[i];
  const std::vector<double> y = sandwich(kAT, m, kAT);
  for (int r = 0; r < kOut; ++r) {
    for (int c = 0; c < kOut; ++c) {
      double direct = 0.0;
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) direct += dd[(r + i) * kIn + c + j] * gg[i * 3 + j];
      EXPECT_NEAR(y[r * kOut + c], direct, 1e-12) << r << ", " << c;
    }
  }
}

template <int A, int B>
void absolute_matrix(const double (&m)[A][B], double (&out)[A][B]) {
  for (int i = 0; i < A; ++i)
    for (int j = 0; j < B; ++j) out[i][j] = std::fabs(m[i][j]);
}

// The input transform of windows at every offset across the border of a 5x7 image with 19
// channels (a tail under every vector width): against B^T d B of the zero-padded window.
TEST(WinogradTransforms, InputTransformAtEveryBorderPosition) {
  constexpr int64_t rows = 5, cols = 7, channels = 19, stride = 23;  // pixels 23 floats apart
  double abs_bt[kIn][kIn];
  absolute_matrix(kBT, abs_bt);
  const Tensor image = uniform_tensor(rows * cols * stride, 3);
  for (Isa isa : isas_of_this_cpu()) {
    const WinogradTransforms& t = detail::kernels<WinogradTransforms>(isa);
    for (int64_t row0 = -kIn; row0 <= rows; ++row0) {
      for (int64_t col0 = -kIn; col0 <= cols; ++col0) {
        const int64_t position_stride = 37;  // >= channels rounded up to a vector, and odd
        Tensor v = nan_tensor(kIn * kIn * position_stride);
        t.input(image.data(), rows, cols, stride, row0, col0, channels, v.data(), position_stride);
        for (int64_t k = 0; k < channels; ++k) {
          std::vector<double> d(kIn * kIn, 0.0), dabs(kIn * kIn, 0.0);
          for (int r = 0; r < kIn; ++r)
            for (int c = 0; c < kIn; ++c) {
              const int64_t ir = row0 + r, ic = col0 + c;
              if (ir >= 0 && ir < rows && ic >= 0 && ic < cols) d[r * kIn + c] = image[(ir * cols + ic) * stride + k];
              dabs[r * kIn + c] = std::fabs(d[r * kIn + c]);
            }
          const std::vector<double> exact = sandwich(kBT, d, kBT), scale = sandwich(abs_bt, dabs, abs_bt);
          for (int xi = 0; xi < kIn * kIn; ++xi) {
            const double got = v[xi * position_stride + k];
            ASSERT_LE(std::fabs(got - exact[xi]), 8 * 0x1p-24 * scale[xi] + 1e-30)
                << isa_name(isa) << " window at " << row0 << ", " << col0 << " channel " << k << " position " << xi;
          }
        }
      }
    }
  }
}

TEST(WinogradTransforms, WeightTransformForwardAndFlipped) {
  constexpr int64_t count = 21, tap_stride = 40;
  double abs_g[kIn][3];
  absolute_matrix(kG, abs_g);
  const Tensor w = uniform_tensor(9 * tap_stride, 4);
  for (Isa isa : isas_of_this_cpu()) {
    const WinogradTransforms& t = detail::kernels<WinogradTransforms>(isa);
    for (bool flipped : {false, true}) {
      const int64_t position_stride = 29;
      Tensor u = nan_tensor(kIn * kIn * position_stride);
      t.weights(flipped ? w.data() + 8 * tap_stride : w.data(), flipped ? -tap_stride : tap_stride, count, u.data(),
                position_stride);
      for (int64_t j = 0; j < count; ++j) {
        std::vector<double> g(9), gabs(9);
        for (int tap = 0; tap < 9; ++tap) {
          g[tap] = w[(flipped ? 8 - tap : tap) * tap_stride + j];
          gabs[tap] = std::fabs(g[tap]);
        }
        const std::vector<double> exact = sandwich(kG, g, kG), scale = sandwich(abs_g, gabs, abs_g);
        for (int xi = 0; xi < kIn * kIn; ++xi) {
          EXPECT_LE(std::fabs(u[xi * position_stride + j] - exact[xi]), 8 * 0x1p-24 * scale[xi] + 1e-30)
              << isa_name(isa) << (flipped ? " flipped" : "") << " kernel " << j << " position " << xi;
        }
        for (int64_t pad = count; pad < position_stride; ++pad) {
          EXPECT_TRUE(std::isnan(u[pad])) << "wrote past the kernels at " << pad;
        }
      }
    }
  }
}

// The output transform with bias and ReLU, every partial tile (rows x cols <= 4 x 4), 19
// channels: the outputs asked for are A^T m A + bias (clamped), every other element of y untouched.
TEST(WinogradTransforms, OutputTransformPartialTilesBiasRelu) {
  constexpr int64_t channels = 19, position_stride = 32, pixel_stride = 21, row_stride = 5 * pixel_stride;
  double abs_at[kOut][kIn];
  absolute_matrix(kAT, abs_at);
  const Tensor m = uniform_tensor(kIn * kIn * position_stride, 5), bias = uniform_tensor(channels, 6);
  for (Isa isa : isas_of_this_cpu()) {
    const WinogradTransforms& t = detail::kernels<WinogradTransforms>(isa);
    for (bool relu : {false, true}) {
      for (int64_t rows = 1; rows <= kOut; ++rows) {
        for (int64_t cols = 1; cols <= kOut; ++cols) {
          Tensor y = nan_tensor(5 * row_stride);
          t.output(m.data(), position_stride, channels, bias.data(), relu, y.data(), pixel_stride, row_stride, rows,
                   cols);
          for (int64_t k = 0; k < channels; ++k) {
            std::vector<double> mm(kIn * kIn), mabs(kIn * kIn);
            for (int xi = 0; xi < kIn * kIn; ++xi) {
              mm[xi] = m[xi * position_stride + k];
              mabs[xi] = std::fabs(mm[xi]);
            }
            const std::vector<double> exact = sandwich(kAT, mm, kAT), scale = sandwich(abs_at, mabs, abs_at);
            for (int64_t r = 0; r < kOut; ++r) {
              for (int64_t c = 0; c < kOut; ++c) {
                const float got = y[r * row_stride + c * pixel_stride + k];
                if (r >= rows || c >= cols) {
                  EXPECT_TRUE(std::isnan(got)) << "wrote outside the tile at " << r << ", " << c;
                  continue;
                }
                double want = exact[r * kOut + c] + bias[k];
                if (relu && want < 0.0) want = 0.0;
                EXPECT_LE(std::fabs(got - want), 8 * 0x1p-24 * (scale[r * kOut + c] + std::fabs(bias[k])))
                    << isa_name(isa) << " tile " << rows << "x" << cols << " output " << r << ", " << c;
              }
            }
          }
          for (int64_t e = 0; e < 5 * row_stride; ++e) {
            if (e % pixel_stride >= channels) {
              EXPECT_TRUE(std::isnan(y[e])) << "wrote past the channels at " << e;
            }
          }
        }
      }
    }
  }
}

// ---- The backend through the public API ----

// Worst error / M over every test of this file, printed at the end.
double worst_error_over_m = 0.0;

struct WorstErrorPrinter : ::testing::Environment {
  void TearDown() override { std::printf("winograd: worst |error| / M seen: %.3g (2^%.2f)\n", worst_error_over_m, std::log2(worst_error_over_m)); }
};
const auto* const printer = ::testing::AddGlobalTestEnvironment(new WorstErrorPrinter);

// Every element within the fast bound: 2*(m+2)*2^-24*M + 2^-13*M with m real terms (bias included).
void expect_within_fast_bound(const std::vector<double>& exact, const std::vector<double>& magnitude, const Tensor& got,
                              int64_t terms, const std::string& what) {
  int failures = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double error = std::fabs(double(got[i]) - exact[i]), m = magnitude[i];
    const double bound = 2.0 * double(terms + 2) * 0x1p-24 * m + 0x1p-13 * m;
    if (m > 0) worst_error_over_m = std::max(worst_error_over_m, error / m);
    if (!(error <= bound)) {
      ADD_FAILURE() << what << ": element " << i << " = " << got[i] << ", exact " << exact[i] << ", bound " << bound;
      if (++failures == 5) return;
    }
  }
}

Options winograd(int threads, Activation activation = Activation::none) {
  Options o;
  o.backend = "winograd";
  o.threads = threads;
  o.activation = activation;
  return o;
}

std::vector<double> relu(std::vector<double> v) {
  for (double& e : v) e = e < 0.0 ? 0.0 : e;
  return v;
}

// Shapes around the 4x4 tile and the GEMM's blocks: odd sizes, images smaller than a tile,
// channel tails, asymmetric and large padding, batch > 1, groups, many channels (several depth
// and column blocks), many tiles (several tile blocks per thread).
const std::vector<std::string>& winograd_shapes() {
  static const std::vector<std::string> shapes = {
      "mb1_ic16ih8iw8_oc16_kh3kw3_ph1pw1",
      "mb1_ic3ih9iw11_oc5_kh3kw3_ph1pw1",
      "mb2_ic17ih7iw5_oc33_kh3kw3_ph1pw1",
      "mb1_ic1ih3iw3_oc1_kh3kw3",
      "mb1_ic5ih2iw1_oc7_kh3kw3_pt2pb1pl0pr3",
      "mb3_ic31ih13iw6_oc15_kh3kw3_pt0pb2pl1pr0",
      "mb1_ic8ih5iw5_oc8_kh3kw3_pt4pb3pl5pr2",
      "mb2_ic64ih14iw14_oc48_kh3kw3_ph1pw1",
      "mb1_ic32ih10iw10_oc64_kh3kw3_ph1pw1_g2",
      "mb2_ic48ih9iw7_oc96_kh3kw3_ph1pw0_g3",
      "mb1_ic300ih6iw9_oc40_kh3kw3_ph1pw1",
      "mb1_ic24ih5iw6_oc600_kh3kw3_ph1pw1",
      "mb1_ic16ih61iw45_oc16_kh3kw3_ph1pw1",
      "mb1_ic520ih4iw4_oc530_kh3kw3_ph1pw1",
  };
  return shapes;
}

class WinogradBackend : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    isa_cap_ = std::make_unique<ScopedEnv>("CONVKIT_ARCH", GetParam().c_str());
    if (simd_arch() != GetParam()) GTEST_SKIP() << "this CPU has no " << GetParam();
  }
  void TearDown() override { isa_cap_.reset(); }

 private:
  std::unique_ptr<ScopedEnv> isa_cap_;
};

TEST_P(WinogradBackend, ForwardWithinTheFastBound) {
  for (const std::string& text : winograd_shapes()) {
    SCOPED_TRACE(text);
    const Conv2dParams p = parse_conv2d(text);
    ASSERT_EQ(conv2d_decline_reason("winograd", p), "");
    const Tensor x = uniform_tensor(p.input_elements(), 11), w = uniform_tensor(p.weight_elements(), 12),
                 b = uniform_tensor(p.out_c, 13);
    const std::vector<double> exact = oracle(p, x.data(), w.data(), b.data(), nullptr).y;
    const std::vector<double> magnitude =
        oracle(p, absolute(x).data(), absolute(w).data(), absolute(b).data(), nullptr).y;
    const int64_t terms = 9 * p.in_c_per_group() + 1;
    Tensor first;
    for (int threads : {1, 2, 3}) {
      const Conv2d conv(p, winograd(threads));
      Tensor y = nan_tensor(p.output_elements());
      conv.forward(x.data(), w.data(), b.data(), y.data());
      expect_within_fast_bound(exact, magnitude, y, terms, "forward, threads " + std::to_string(threads));
      Tensor again = nan_tensor(p.output_elements());
      conv.forward(x.data(), conv.pack_weights(w.data()), b.data(), again.data());
      EXPECT_TRUE(bitwise_equal(y, again)) << "packed weights or the second run differ, threads " << threads;
      if (first.empty()) first = y;
      EXPECT_TRUE(bitwise_equal(first, y)) << "threads " << threads << " differ from 1 thread";
    }
    const Conv2d fused(p, winograd(2, Activation::relu));
    Tensor y = nan_tensor(p.output_elements());
    fused.forward(x.data(), w.data(), b.data(), y.data());
    expect_within_fast_bound(relu(exact), magnitude, y, terms, "fused ReLU");
    Tensor no_bias = nan_tensor(p.output_elements());
    fused.forward(x.data(), w.data(), nullptr, no_bias.data());
    expect_within_fast_bound(relu(oracle(p, x.data(), w.data(), nullptr, nullptr).y),
                             oracle(p, absolute(x).data(), absolute(w).data(), nullptr, nullptr).y, no_bias, terms,
                             "fused ReLU, no bias");
  }
}

TEST_P(WinogradBackend, BackwardDataWithinTheFastBound) {
  for (const std::string& text : winograd_shapes()) {
    SCOPED_TRACE(text);
    const Conv2dParams p = parse_conv2d(text);
    const Tensor w = uniform_tensor(p.weight_elements(), 21), dy = uniform_tensor(p.output_elements(), 22);
    const Tensor zero_x(static_cast<size_t>(p.input_elements()), 0.0f);
    const std::vector<double> exact = oracle(p, zero_x.data(), w.data(), nullptr, dy.data()).dx;
    const std::vector<double> magnitude = oracle(p, zero_x.data(), absolute(w).data(), nullptr, absolute(dy).data()).dx;
    const int64_t terms = 9 * (p.out_c / p.groups);
    Tensor first;
    for (int threads : {1, 2, 3}) {
      const Conv2d conv(p, winograd(threads));
      Tensor dx = nan_tensor(p.input_elements());
      conv.backward_data(dy.data(), w.data(), dx.data());
      expect_within_fast_bound(exact, magnitude, dx, terms, "backward data, threads " + std::to_string(threads));
      Tensor again = nan_tensor(p.input_elements());
      conv.backward_data(dy.data(), conv.pack_weights(w.data(), Direction::backward_data), again.data());
      EXPECT_TRUE(bitwise_equal(dx, again)) << "packed weights or the second run differ, threads " << threads;
      if (first.empty()) first = dx;
      EXPECT_TRUE(bitwise_equal(first, dx)) << "threads " << threads << " differ from 1 thread";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, WinogradBackend, ::testing::Values("avx512", "avx2", "sse2"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(WinogradDeclines, OtherShapesWithAReason) {
  for (const char* text : {"mb1_ic16ih8iw8_oc16_kh5kw5_ph2pw2", "mb1_ic16ih8iw8_oc16_kh3kw3_sh2sw2_ph1pw1",
                           "mb1_ic16ih8iw8_oc16_kh3kw3_ph2pw2_dh2dw2", "mb1_ic16ih8iw8_oc16_kh1kw3_pw1",
                           "mb1_ic16ih8iw8_oc16_kh3kw3_ph1pw1_g16", "mb1_ic32ih8iw8_oc8_kh3kw3_ph1pw1_g2"}) {
    const Conv2dParams p = parse_conv2d(text);
    const std::string reason = conv2d_decline_reason("winograd", p);
    EXPECT_NE(reason.find("winograd"), std::string::npos) << text << ": \"" << reason << "\"";
    EXPECT_THROW(Conv2d(p, winograd(1)), Error) << text;
  }
}

}  // namespace
}  // namespace convkit
