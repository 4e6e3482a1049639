// The im2col backend on shapes the shared sweep is too small to reach: backward_data's dcol
// chunks (several per call, boundaries inside an image, with and without groups), reductions
// longer than several GEMM depth blocks, and GEMMs wider than one column block. Exact integer
// data, so im2col must match naive bit for bit, under every instruction set, 1 and 2 threads;
// and on random floats, bitwise the same results whatever the thread count.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "convkit/convkit.hpp"
#include "support/scoped_env.hpp"
#include "support/tensors.hpp"

namespace convkit {
namespace {

using namespace convkit::test;

const std::vector<std::string>& large_problems() {
  static const std::vector<std::string> problems = {
      "mb3_ic64ih30iw30_oc16_kh3kw3_ph1pw1",                           // 4 dcol chunks, cut inside images
      "mb2_ic40ih33iw27_oc24_kh3kw3_sh2sw2_pt2pb1pl0pr2_dh2dw1",       // stride, dilation, asymmetric pads
      "mb2_ic512ih9iw9_oc8_kh3kw3_ph1pw1_g2",                          // 2 chunks with groups, 9 depth blocks
      "mb1_ic24ih9iw9_oc600_kh3kw3_ph1pw1",                             // wider than one column block
      "mb2_ic300ih20iw20_oc70_kh1kw1",                                  // pointwise, long reduction
      "mb2_ic16ih40iw40_oc16_kh5kw5_sh3sw3_pt0pb4pl4pr0",               // stride > kernel rows skipped by chunks
      "mb1_ic100ih12iw12_oc20_kh3kw3_ph1pw1",                           // depth blocks start inside kernel rows
  };
  return problems;
}

std::vector<const char*> isas_of_this_cpu() {
  std::vector<const char*> isas = {"sse2"};
  const std::string best = simd_arch();
  if (best == "avx2" || best == "avx512") isas.push_back("avx2");
  if (best == "avx512") isas.push_back("avx512");
  return isas;
}

struct Results {
  Tensor y, dx, dw, db;
};

Results run(const Conv2dParams& p, const std::string& backend, int threads, const Tensor& x, const Tensor& w,
            const Tensor& b, const Tensor& dy) {
  Options options;
  options.backend = backend;
  options.threads = threads;
  options.activation = Activation::relu;
  const Conv2d conv(p, options);
  Results r{nan_tensor(p.output_elements()), nan_tensor(p.input_elements()), nan_tensor(p.weight_elements()),
            nan_tensor(p.out_c)};
  conv.forward(x.data(), w.data(), b.data(), r.y.data());
  conv.backward_data(dy.data(), w.data(), r.dx.data());
  conv.backward_weights(x.data(), dy.data(), r.dw.data(), r.db.data());
  if (backend != "naive") {
    Tensor packed_y = nan_tensor(p.output_elements());
    conv.forward(x.data(), conv.pack_weights(w.data()), b.data(), packed_y.data());
    EXPECT_TRUE(bitwise_equal(packed_y, r.y)) << "forward from packed weights";
  }
  return r;
}

TEST(Im2col, LargeProblemsMatchNaiveExactly) {
  for (const std::string& text : large_problems()) {
    SCOPED_TRACE(text);
    const Conv2dParams p = parse_conv2d(text);
    const Tensor x = integer_tensor(p.input_elements(), 11), w = integer_tensor(p.weight_elements(), 12),
                 b = integer_tensor(p.out_c, 13), dy = integer_tensor(p.output_elements(), 14);
    const Results expected = run(p, "naive", 2, x, w, b, dy);
    EXPECT_GT(fraction_nonzero(expected.dx), 0.3);
    for (const char* isa : isas_of_this_cpu()) {
      const ScopedEnv cap("CONVKIT_ARCH", isa);
      for (int threads : {1, 2}) {
        const Results got = run(p, "im2col", threads, x, w, b, dy);
        EXPECT_TRUE(bitwise_equal(got.y, expected.y)) << isa << " forward, threads " << threads;
        EXPECT_TRUE(bitwise_equal(got.dx, expected.dx)) << isa << " backward_data, threads " << threads;
        EXPECT_TRUE(bitwise_equal(got.dw, expected.dw)) << isa << " backward_weights, threads " << threads;
        EXPECT_TRUE(bitwise_equal(got.db, expected.db)) << isa << " bias gradient, threads " << threads;
      }
    }
  }
}

// The order of every sum is fixed by the shape alone, so random floats (where order shows) give
// bitwise the same results for 1, 2 and 3 threads.
TEST(Im2col, BitwiseTheSameForAnyThreadCount) {
  for (const std::string& text : large_problems()) {
    SCOPED_TRACE(text);
    const Conv2dParams p = parse_conv2d(text);
    const Tensor x = uniform_tensor(p.input_elements(), 21), w = uniform_tensor(p.weight_elements(), 22),
                 b = uniform_tensor(p.out_c, 23), dy = uniform_tensor(p.output_elements(), 24);
    const Results one = run(p, "im2col", 1, x, w, b, dy);
    for (int threads : {2, 3}) {
      const Results more = run(p, "im2col", threads, x, w, b, dy);
      EXPECT_TRUE(bitwise_equal(more.y, one.y)) << "forward, threads " << threads;
      EXPECT_TRUE(bitwise_equal(more.dx, one.dx)) << "backward_data, threads " << threads;
      EXPECT_TRUE(bitwise_equal(more.dw, one.dw)) << "backward_weights, threads " << threads;
      EXPECT_TRUE(bitwise_equal(more.db, one.db)) << "bias gradient, threads " << threads;
    }
  }
}

}  // namespace
}  // namespace convkit
