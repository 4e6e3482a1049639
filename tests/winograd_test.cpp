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
#include <map>
#include <string>
#include <vector>

#include "convkit/convkit.hpp"
#include "conv/cache_sizes.hpp"
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

// A tile size's matrices, written out independently of the kernels' factored forms: F(4x4, 3x3)
// is Lavin and Gray's, F(6x6, 3x3) NNPACK's and ncnn's.
struct TileMatrices {
  const char* name;
  int in, out;
  std::vector<double> bt, g, at;  // [in x in], [in x 3], [out x in], row-major
  const detail::WinogradTileTransforms& of(Isa isa) const {
    const WinogradTransforms& t = detail::kernels<WinogradTransforms>(isa);
    return out == 4 ? t.f4x4 : t.f6x6;
  }
};

const std::vector<TileMatrices>& tile_sizes() {
  static const std::vector<TileMatrices> sizes = {
      {"F(4x4,3x3)", 6, 4,
       {4, 0, -5, 0, 1, 0, 0, -4, -4, 1, 1, 0, 0, 4, -4, -1, 1, 0, 0, -2, -1, 2, 1, 0, 0, 2, -1, -2, 1, 0, 0, 4, 0, -5, 0, 1},
       {1.0 / 4, 0, 0, -1.0 / 6, -1.0 / 6, -1.0 / 6, -1.0 / 6, 1.0 / 6, -1.0 / 6, 1.0 / 24, 1.0 / 12, 1.0 / 6, 1.0 / 24,
        -1.0 / 12, 1.0 / 6, 0, 0, 1},
       {1, 1, 1, 1, 1, 0, 0, 1, -1, 2, -2, 0, 0, 1, 1, 4, 4, 0, 0, 1, -1, 8, -8, 1}},
      {"F(6x6,3x3)", 8, 6,
       {1, 0, -21.0 / 4, 0, 21.0 / 4, 0, -1, 0,  //
        0, 1, 1, -17.0 / 4, -17.0 / 4, 1, 1, 0,  //
        0, -1, 1, 17.0 / 4, -17.0 / 4, -1, 1, 0,  //
        0, 0.5, 0.25, -2.5, -1.25, 2, 1, 0,  //
        0, -0.5, 0.25, 2.5, -1.25, -2, 1, 0,  //
        0, 2, 4, -2.5, -5, 0.5, 1, 0,  //
        0, -2, 4, 2.5, -5, -0.5, 1, 0,  //
        0, -1, 0, 21.0 / 4, 0, -21.0 / 4, 0, 1},
       {1, 0, 0, -2.0 / 9, -2.0 / 9, -2.0 / 9, -2.0 / 9, 2.0 / 9, -2.0 / 9, 1.0 / 90, 1.0 / 45, 2.0 / 45, 1.0 / 90,
        -1.0 / 45, 2.0 / 45, 32.0 / 45, 16.0 / 45, 8.0 / 45, 32.0 / 45, -16.0 / 45, 8.0 / 45, 0, 0, 1},
       {1, 1, 1, 1, 1, 1, 1, 0,  //
        0, 1, -1, 2, -2, 0.5, -0.5, 0,  //
        0, 1, 1, 4, 4, 0.25, 0.25, 0,  //
        0, 1, -1, 8, -8, 0.125, -0.125, 0,  //
        0, 1, 1, 16, 16, 0.0625, 0.0625, 0,  //
        0, 1, -1, 32, -32, 0.03125, -0.03125, 1}},
  };
  return sizes;
}

// L * X * R^T for L [a x b], X [b x c], R [d x c]: [a x d].
std::vector<double> sandwich(const std::vector<double>& l, int a, int b, const std::vector<double>& x, int c,
                             const std::vector<double>& r, int d) {
  std::vector<double> out(static_cast<size_t>(a * d), 0.0);
  for (int i = 0; i < a; ++i)
    for (int j = 0; j < d; ++j)
      for (int p = 0; p < b; ++p)
        for (int q = 0; q < c; ++q) out[i * d + j] += l[i * b + p] * x[p * c + q] * r[j * c + q];
  return out;
}

std::vector<double> absolute_values(std::vector<double> v) {
  for (double& e : v) e = std::fabs(e);
  return v;
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
  for (const TileMatrices& f : tile_sizes()) {
    const Tensor d = uniform_tensor(f.in * f.in, 1), g = uniform_tensor(9, 2);
    const std::vector<double> dd(d.begin(), d.end()), gg(g.begin(), g.end());
    const std::vector<double> v = sandwich(f.bt, f.in, f.in, dd, f.in, f.bt, f.in);
    const std::vector<double> u = sandwich(f.g, f.in, 3, gg, 3, f.g, f.in);
    std::vector<double> m(static_cast<size_t>(f.in * f.in));
    for (size_t i = 0; i < m.size(); ++i) m[i] = v[i] * u[i];
    const std::vector<double> y = sandwich(f.at, f.out, f.in, m, f.in, f.at, f.out);
    for (int r = 0; r < f.out; ++r) {
      for (int c = 0; c < f.out; ++c) {
        double direct = 0.0;
        for (int i = 0; i < 3; ++i)
          for (int j = 0; j < 3; ++j) direct += dd[(r + i) * f.in + c + j] * gg[i * 3 + j];
        EXPECT_NEAR(y[r * f.out + c], direct, 1e-12) << f.name << " " << r << ", " << c;
      }
    }
  }
}

// The input transform of windows at every offset across the border of a 5x7 image with 19
// channels (a tail under every vector width): against B^T d B of the zero-padded window, within
// a few roundings of the sum of the absolute terms.
TEST(WinogradTransforms, InputTransformAtEveryBorderPosition) {
  constexpr int64_t rows = 5, cols = 7, channels = 19, stride = 23;  // pixels 23 floats apart
  const Tensor image = uniform_tensor(rows * cols * stride, 3);
  for (const TileMatrices& f : tile_sizes()) {
    const std::vector<double> abs_bt = absolute_values(f.bt);
    for (Isa isa : isas_of_this_cpu()) {
      for (int64_t row0 = -f.in; row0 <= rows; ++row0) {
        for (int64_t col0 = -f.in; col0 <= cols; ++col0) {
          const int64_t position_stride = 37;  // >= channels rounded up to a vector, and odd
          Tensor v = nan_tensor(f.in * f.in * position_stride);
          f.of(isa).input(image.data(), rows, cols, stride, row0, col0, channels, v.data(), position_stride);
          for (int64_t k = 0; k < channels; ++k) {
            std::vector<double> d(static_cast<size_t>(f.in * f.in), 0.0);
            for (int r = 0; r < f.in; ++r)
              for (int c = 0; c < f.in; ++c) {
                const int64_t ir = row0 + r, ic = col0 + c;
                if (ir >= 0 && ir < rows && ic >= 0 && ic < cols) d[r * f.in + c] = image[(ir * cols + ic) * stride + k];
              }
            const std::vector<double> exact = sandwich(f.bt, f.in, f.in, d, f.in, f.bt, f.in);
            const std::vector<double> scale = sandwich(abs_bt, f.in, f.in, absolute_values(d), f.in, abs_bt, f.in);
            for (int xi = 0; xi < f.in * f.in; ++xi) {
              const double got = v[xi * position_stride + k];
              ASSERT_LE(std::fabs(got - exact[xi]), 8 * 0x1p-24 * scale[xi])
                  << f.name << " " << isa_name(isa) << " window at " << row0 << ", " << col0 << " channel " << k
                  << " position " << xi;
            }
          }
        }
      }
    }
  }
}

TEST(WinogradTransforms, WeightTransformForwardAndFlipped) {
  constexpr int64_t count = 21, tap_stride = 40;
  const Tensor w = uniform_tensor(9 * tap_stride, 4);
  for (const TileMatrices& f : tile_sizes()) {
    const std::vector<double> abs_g = absolute_values(f.g);
    for (Isa isa : isas_of_this_cpu()) {
      for (bool flipped : {false, true}) {
        const int64_t position_stride = 29;
        Tensor u = nan_tensor(f.in * f.in * position_stride);
        f.of(isa).weights(flipped ? w.data() + 8 * tap_stride : w.data(), flipped ? -tap_stride : tap_stride, count,
                          u.data(), position_stride);
        for (int64_t j = 0; j < count; ++j) {
          std::vector<double> g(9);
          for (int tap = 0; tap < 9; ++tap) g[tap] = w[(flipped ? 8 - tap : tap) * tap_stride + j];
          const std::vector<double> exact = sandwich(f.g, f.in, 3, g, 3, f.g, f.in);
          const std::vector<double> scale = sandwich(abs_g, f.in, 3, absolute_values(g), 3, abs_g, f.in);
          for (int xi = 0; xi < f.in * f.in; ++xi) {
            EXPECT_LE(std::fabs(u[xi * position_stride + j] - exact[xi]), 8 * 0x1p-24 * scale[xi])
                << f.name << " " << isa_name(isa) << (flipped ? " flipped" : "") << " kernel " << j << " position "
                << xi;
          }
        }
        for (int xi = 0; xi < f.in * f.in; ++xi) {
          for (int64_t pad = count; pad < position_stride; ++pad) {
            EXPECT_TRUE(std::isnan(u[xi * position_stride + pad])) << "wrote past the kernels at " << pad;
          }
        }
      }
    }
  }
}

// The output transform with bias and ReLU, every partial tile (rows x cols <= m x m), 19
// channels: the outputs asked for are A^T e A + bias (clamped), every other element of y untouched.
TEST(WinogradTransforms, OutputTransformPartialTilesBiasRelu) {
  constexpr int64_t channels = 19, position_stride = 32, pixel_stride = 21;
  const Tensor bias = uniform_tensor(channels, 6);
  for (const TileMatrices& f : tile_sizes()) {
    const std::vector<double> abs_at = absolute_values(f.at);
    const int64_t row_stride = (f.out + 1) * pixel_stride, y_floats = (f.out + 1) * row_stride;
    const Tensor e = uniform_tensor(f.in * f.in * position_stride, 5);
    for (Isa isa : isas_of_this_cpu()) {
      for (bool relu : {false, true}) {
        for (int64_t rows = 1; rows <= f.out; ++rows) {
          for (int64_t cols = 1; cols <= f.out; ++cols) {
            Tensor y = nan_tensor(y_floats);
            f.of(isa).output(e.data(), position_stride, channels, bias.data(), relu ? Activation::relu : Activation::none, y.data(), pixel_stride,
                             row_stride, rows, cols);
            for (int64_t k = 0; k < channels; ++k) {
              std::vector<double> ee(static_cast<size_t>(f.in * f.in));
              for (int xi = 0; xi < f.in * f.in; ++xi) ee[xi] = e[xi * position_stride + k];
              const std::vector<double> exact = sandwich(f.at, f.out, f.in, ee, f.in, f.at, f.out);
              const std::vector<double> scale = sandwich(abs_at, f.out, f.in, absolute_values(ee), f.in, abs_at, f.out);
              for (int64_t r = 0; r < f.out; ++r) {
                for (int64_t c = 0; c < f.out; ++c) {
                  const float got = y[r * row_stride + c * pixel_stride + k];
                  if (r >= rows || c >= cols) {
                    EXPECT_TRUE(std::isnan(got)) << f.name << " wrote outside the tile at " << r << ", " << c;
                    continue;
                  }
                  double want = exact[r * f.out + c] + bias[k];
                  if (relu && want < 0.0) want = 0.0;
                  EXPECT_LE(std::fabs(got - want), 8 * 0x1p-24 * (scale[r * f.out + c] + std::fabs(bias[k])))
                      << f.name << " " << isa_name(isa) << " tile " << rows << "x" << cols << " output " << r << ", "
                      << c;
                }
              }
            }
            for (int64_t index = 0; index < y_floats; ++index) {
              if (index % pixel_stride >= channels) {
                EXPECT_TRUE(std::isnan(y[index])) << f.name << " wrote past the channels at " << index;
              }
            }
          }
        }
      }
    }
  }
}

// ---- The backend through the public API ----

// Worst error / M over every test of this file, printed at the end.
// Worst error / M per problem (the tile size a problem gets shows in how large it is).
std::map<std::string, double> worst_error_over_m;
std::string current_problem;

struct WorstErrorPrinter : ::testing::Environment {
  void TearDown() override {
    for (const auto& [problem, worst] : worst_error_over_m) {
      std::printf("winograd: worst |error| / M %.3g (2^%.2f) on %s\n", worst, std::log2(worst), problem.c_str());
    }
  }
};
const auto* const printer = ::testing::AddGlobalTestEnvironment(new WorstErrorPrinter);

// Every element within the fast bound: 2*(m+2)*2^-24*M + 2^-13*M with m real terms (bias included).
void expect_within_fast_bound(const std::vector<double>& exact, const std::vector<double>& magnitude, const Tensor& got,
                              int64_t terms, const std::string& what) {
  int failures = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double error = std::fabs(double(got[i]) - exact[i]), m = magnitude[i];
    const double bound = 2.0 * double(terms + 2) * 0x1p-24 * m + 0x1p-13 * m;
    if (m > 0) worst_error_over_m[current_problem] = std::max(worst_error_over_m[current_problem], error / m);
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

// Shapes around the tiles and the GEMM's blocks: odd sizes, images smaller than a tile,
// channel tails (at least the 16 per group the backend takes), asymmetric and large padding, batch > 1, groups, many channels (several depth
// and column blocks), many tiles (several tile blocks per thread).
const std::vector<std::string>& winograd_shapes() {
  static const std::vector<std::string> shapes = {
      "mb1_ic16ih8iw8_oc16_kh3kw3_ph1pw1",
      "mb1_ic19ih9iw11_oc17_kh3kw3_ph1pw1",
      "mb2_ic17ih7iw5_oc33_kh3kw3_ph1pw1",
      "mb1_ic16ih3iw3_oc16_kh3kw3",
      "mb1_ic21ih2iw1_oc23_kh3kw3_pt2pb1pl0pr3",
      "mb3_ic31ih13iw6_oc47_kh3kw3_pt0pb2pl1pr0",
      "mb1_ic18ih5iw5_oc20_kh3kw3_pt4pb3pl5pr2",
      "mb2_ic64ih14iw14_oc48_kh3kw3_ph1pw1",
      "mb1_ic32ih10iw10_oc64_kh3kw3_ph1pw1_g2",
      "mb2_ic48ih9iw7_oc96_kh3kw3_ph1pw0_g3",
      "mb1_ic300ih6iw9_oc40_kh3kw3_ph1pw1",
      "mb1_ic24ih5iw6_oc600_kh3kw3_ph1pw1",
      "mb1_ic16ih61iw45_oc16_kh3kw3_ph1pw1",
      "mb1_ic520ih4iw4_oc530_kh3kw3_ph1pw1",
      "mb1_ic20ih113iw118_oc24_kh3kw3_pt1pb0pl2pr1",  // large enough for F(6x6, 3x3)
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
    current_problem = text;
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
    current_problem = text;
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
                           "mb1_ic16ih8iw8_oc16_kh3kw3_ph1pw1_g16", "mb1_ic32ih8iw8_oc8_kh3kw3_ph1pw1_g2",
                           "mb1_ic3ih8iw8_oc16_kh3kw3_ph1pw1", "mb1_ic16ih8iw8_oc15_kh3kw3_ph1pw1"}) {
    const Conv2dParams p = parse_conv2d(text);
    const std::string reason = conv2d_decline_reason("winograd", p);
    EXPECT_NE(reason.find("winograd"), std::string::npos) << text << ": \"" << reason << "\"";
    EXPECT_THROW(Conv2d(p, winograd(1)), Error) << text;
  }
}

}  // namespace
}  // namespace convkit

namespace convkit {
namespace {

std::string auto_choice(const char* problem, Math math, Direction d) {
  ScopedEnv no_override("CONVKIT_MATH", nullptr);
  ScopedEnv no_backend("CONVKIT_BACKEND", nullptr);
  Options o;
  o.math = math;
  return std::string(Conv2d(parse_conv2d(problem), o).backend(d));
}

// auto's rule (src/auto_select.cpp): winograd only under Math::fast, only for the directions it
// implements, and only where its transforms pay: forward on ungrouped layers of 7x7 outputs
// and up, below 64 output pixels only with transformed weights within 1.5 L2, backward data from
// 9 tiles of dx and one tile per 1.5 L2 of transformed weights, never on grouped layers.
TEST(WinogradAuto, TakenUnderFastWhereItPays) {
  const char* res2b = "mb1_ic64ih56iw56_oc64_kh3kw3_ph1pw1";
  for (Direction d : {Direction::forward, Direction::backward_data, Direction::backward_weights}) {
    EXPECT_NE(auto_choice(res2b, Math::strict, d), "winograd") << static_cast<int>(d);
  }
  EXPECT_EQ(auto_choice(res2b, Math::fast, Direction::forward), "winograd");
  EXPECT_EQ(auto_choice(res2b, Math::fast, Direction::backward_data), "winograd");
  EXPECT_NE(auto_choice(res2b, Math::fast, Direction::backward_weights), "winograd");
  EXPECT_NE(auto_choice("mb1_ic64ih7iw7_oc64_kh3kw3_ph1pw1", Math::fast, Direction::backward_data), "winograd");
  EXPECT_NE(auto_choice("mb1_ic512ih7iw7_oc512_kh3kw3_ph1pw1", Math::fast, Direction::forward), "winograd");
  EXPECT_EQ(auto_choice("mb1_ic128ih7iw7_oc32_kh3kw3_ph1pw1", Math::fast, Direction::forward), "winograd");
  EXPECT_EQ(auto_choice("mb1_ic448ih8iw8_oc384_kh3kw3_ph1pw1", Math::fast, Direction::forward), "winograd");
  EXPECT_EQ(auto_choice("mb1_ic128ih28iw28_oc128_kh3kw3_ph1pw1", Math::fast, Direction::backward_data), "winograd");
  EXPECT_EQ(auto_choice("mb1_ic256ih14iw14_oc256_kh3kw3_ph1pw1", Math::fast, Direction::backward_data), "winograd");
  EXPECT_NE(auto_choice("mb1_ic1024ih10iw10_oc1024_kh3kw3_ph1pw1", Math::fast, Direction::backward_data), "winograd");
  EXPECT_EQ(auto_choice("mb1_ic512ih28iw28_oc512_kh3kw3_ph1pw1", Math::fast, Direction::backward_data), "winograd");
  EXPECT_NE(auto_choice("mb1_ic512ih7iw7_oc512_kh3kw3_ph1pw1", Math::fast, Direction::backward_data), "winograd");
  EXPECT_EQ(auto_choice("mb1_ic256ih56iw56_oc256_kh3kw3_ph1pw1", Math::fast, Direction::backward_data), "winograd");
  EXPECT_NE(auto_choice("mb1_ic512ih14iw14_oc512_kh3kw3_ph1pw1_g32", Math::fast, Direction::forward), "winograd");
  EXPECT_NE(auto_choice("mb1_ic128ih56iw56_oc128_kh3kw3_ph1pw1_g4", Math::fast, Direction::backward_data), "winograd");
  EXPECT_NE(auto_choice("mb1_ic8ih56iw56_oc8_kh3kw3_ph1pw1", Math::fast, Direction::forward), "winograd");
  for (const char* small : {"mb1_ic256ih1iw1_oc84_kh3kw3_ph1pw1", "mb1_ic128ih5iw5_oc256_kh3kw3",
                            "mb1_ic256ih5iw5_oc24_kh3kw3_ph1pw1", "mb1_ic256ih6iw9_oc64_kh3kw3_ph1pw1"}) {
    EXPECT_NE(auto_choice(small, Math::fast, Direction::forward), "winograd") << small;
  }
  // 63 output pixels: taken while the transformed weights (36 floats per channel pair) fit in
  // 1.5 of this CPU's L2, declined from one input channel more.
  const int64_t fitting_channels = 3 * detail::l2_bytes() / 2 / (36 * 64 * int64_t{sizeof(float)});
  const auto nine_by_seven = [](int64_t in_c) {
    return "mb1_ic" + std::to_string(in_c) + "ih9iw7_oc64_kh3kw3_ph1pw1";
  };
  EXPECT_EQ(auto_choice(nine_by_seven(fitting_channels).c_str(), Math::fast, Direction::forward), "winograd");
  EXPECT_NE(auto_choice(nine_by_seven(fitting_channels + 1).c_str(), Math::fast, Direction::forward), "winograd");
}

}  // namespace
}  // namespace convkit

namespace convkit {
namespace {

// The README's layers, forward and backward data, within the fast bound; the worst error / M of
// each is printed at the end. Minutes of double-precision oracle, so run on request:
//   build/tests/winograd_test --gtest_also_run_disabled_tests --gtest_filter='*NamedLayers*'
TEST(WinogradNamedLayers, DISABLED_WithinTheFastBound) {
  for (const char* text :
       {"mb1_ic64ih56iw56_oc64_kh3kw3_ph1pw1", "mb1_ic128ih28iw28_oc128_kh3kw3_ph1pw1",
        "mb1_ic256ih14iw14_oc256_kh3kw3_ph1pw1", "mb1_ic512ih7iw7_oc512_kh3kw3_ph1pw1",
        "mb1_ic64ih224iw224_oc64_kh3kw3_ph1pw1", "mb1_ic256ih56iw56_oc256_kh3kw3_ph1pw1",
        "mb8_ic64ih56iw56_oc64_kh3kw3_ph1pw1"}) {
    SCOPED_TRACE(text);
    const Conv2dParams p = parse_conv2d(text);
    const Tensor x = uniform_tensor(p.input_elements(), 41), w = uniform_tensor(p.weight_elements(), 42),
                 b = uniform_tensor(p.out_c, 43), dy = uniform_tensor(p.output_elements(), 44);
    const OracleResult exact = oracle(p, x.data(), w.data(), b.data(), dy.data());
    const OracleResult magnitude =
        oracle(p, absolute(x).data(), absolute(w).data(), absolute(b).data(), absolute(dy).data());
    const Conv2d conv(p, winograd(2));
    Tensor y = nan_tensor(p.output_elements()), dx = nan_tensor(p.input_elements());
    conv.forward(x.data(), w.data(), b.data(), y.data());
    conv.backward_data(dy.data(), w.data(), dx.data());
    current_problem = std::string(text) + " fwd";
    expect_within_fast_bound(exact.y, magnitude.y, y, 9 * p.in_c_per_group() + 1, "forward");
    current_problem = std::string(text) + " bwd_d";
    expect_within_fast_bound(exact.dx, magnitude.dx, dx, 9 * (p.out_c / p.groups), "backward data");
  }
}

}  // namespace
}  // namespace convkit
