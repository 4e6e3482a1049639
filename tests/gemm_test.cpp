// The packed GEMM (src/gemm, src/kernels/gemm*) under every instruction set this CPU has, on
// small-integer data so every result is exact: sizes around the register tile and the cache
// blocks, both storage orders of A and B, overwrite (C prefilled with NaN, never read) and
// accumulate, the fused bias and ReLU, prepacked B, and 1 or 2 threads. Columns of C past n
// hold a sentinel that must survive (no write out of bounds); A and B are sized exactly, so
// AddressSanitizer sees any read out of bounds.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "gemm/gemm.hpp"
#include "isa.hpp"
#include "kernels/gemm.hpp"
#include "support/tensors.hpp"

namespace convkit::detail {
namespace {

using test::Tensor;

constexpr float kSentinel = 12345.0f;

struct Case {
  int64_t m, n, k;
  bool a_transposed = false, b_transposed = false;
  bool accumulate = false, bias = false, relu = false;
  int threads = 1;
};

std::string describe(Isa isa, const Case& c) {
  return std::string(isa_name(isa)) + " m" + std::to_string(c.m) + " n" + std::to_string(c.n) + " k" +
         std::to_string(c.k) + (c.a_transposed ? " At" : "") + (c.b_transposed ? " Bt" : "") +
         (c.accumulate ? " accumulate" : " overwrite") + (c.bias ? " bias" : "") + (c.relu ? " relu" : "") + " threads" +
         std::to_string(c.threads);
}

std::vector<Isa> isas_of_this_cpu() {
  std::vector<Isa> isas;
  for (Isa isa : kAllIsas) {
    if (isa <= cpu_isa()) isas.push_back(isa);
  }
  return isas;
}

// A and B stored as the case says, the initial C (NaN unless accumulating) with ldc = n + 3.
struct Operands {
  Operands(const Case& c, uint32_t seed)
      : a(test::integer_tensor(c.m * c.k, seed)),
        b(test::integer_tensor(c.k * c.n, seed + 1)),
        bias(test::integer_tensor(c.n, seed + 2)),
        ldc(c.n + 3),
        c(static_cast<size_t>(c.m * (c.n + 3)), kSentinel) {
    const Tensor start = test::integer_tensor(c.m * c.n, seed + 3);
    for (int64_t i = 0; i < c.m; ++i) {
      for (int64_t j = 0; j < c.n; ++j) {
        this->c[i * ldc + j] = c.accumulate ? start[i * c.n + j] : std::numeric_limits<float>::quiet_NaN();
      }
    }
  }
  MatrixView a_view(const Case& c) const { return {a.data(), c.a_transposed ? c.m : c.k, c.a_transposed}; }
  MatrixView b_view(const Case& c) const { return {b.data(), c.b_transposed ? c.k : c.n, c.b_transposed}; }
  float a_at(const Case& c, int64_t i, int64_t p) const { return c.a_transposed ? a[p * c.m + i] : a[i * c.k + p]; }
  float b_at(const Case& c, int64_t p, int64_t j) const { return c.b_transposed ? b[j * c.k + p] : b[p * c.n + j]; }

  Tensor a, b, bias;
  int64_t ldc;
  Tensor c;
};

// The double-precision oracle, given the C before the call.
Tensor reference(const Case& c, const Operands& in) {
  Tensor out = in.c;
  for (int64_t i = 0; i < c.m; ++i) {
    for (int64_t j = 0; j < c.n; ++j) {
      double s = c.accumulate ? in.c[i * in.ldc + j] : 0.0;
      for (int64_t p = 0; p < c.k; ++p) s += double(in.a_at(c, i, p)) * in.b_at(c, p, j);
      if (c.bias) s += in.bias[j];
      if (c.relu && s < 0.0) s = 0.0;
      out[i * in.ldc + j] = static_cast<float>(s);
    }
  }
  return out;
}

GemmEpilogue epilogue_of(const Case& c, const Operands& in) {
  GemmEpilogue e;
  e.accumulate = c.accumulate;
  e.bias = c.bias ? in.bias.data() : nullptr;
  e.activation = c.relu ? Activation::relu : Activation::none;
  return e;
}

void expect_exact(Isa isa, const Case& c, const Tensor& expected, const Tensor& got, int64_t ldc) {
  int64_t mismatches = 0;
  for (int64_t i = 0; i < c.m && mismatches < 5; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      const float e = expected[i * ldc + j], g = got[i * ldc + j];
      if (std::memcmp(&e, &g, sizeof e) != 0) {
        ADD_FAILURE() << describe(isa, c) << ": C(" << i << ", " << j << ") = " << g << ", expected " << e
                      << (j >= c.n ? " (past n: the sentinel)" : "");
        if (++mismatches == 5) break;
      }
    }
  }
}

void check(Isa isa, const Case& c, uint32_t seed) {
  const GemmKernels& kern = kernels<GemmKernels>(isa);
  Operands in(c, seed);
  const Tensor expected = reference(c, in);
  WorkspacePool pool;
  gemm(kern, c.m, c.n, c.k, in.a_view(c), in.b_view(c), in.c.data(), in.ldc, epilogue_of(c, in), c.threads, pool);
  expect_exact(isa, c, expected, in.c, in.ldc);
}

// With B packed once (as convolution weights are), every thread computing its gemm_share.
void check_packed_b(Isa isa, const Case& c, uint32_t seed) {
  const GemmKernels& kern = kernels<GemmKernels>(isa);
  Operands in(c, seed);
  const Tensor expected = reference(c, in);
  Tensor packed(static_cast<size_t>(packed_b_floats(kern, c.k, c.n)), std::numeric_limits<float>::quiet_NaN());
  const MatrixSourceB source_b(in.b_view(c));
  pack_b(kern, source_b, c.k, c.n, packed.data(), 0, packed_b_panels(kern, c.k, c.n));
  const MatrixSourceA source_a(in.a_view(c));
  const GemmEpilogue epilogue = epilogue_of(c, in);
  const size_t per_thread = gemm_workspace_floats(kern, true);
  AlignedBuffer workspace(per_thread * static_cast<size_t>(c.threads));
#pragma omp parallel num_threads(c.threads)
  {
    const int thread = omp_get_thread_num(), team = omp_get_num_threads();
    gemm_share(kern, 1, c.m, c.n, team, thread, [&](int64_t, GemmRange rows, GemmRange cols) {
      gemm_block(kern, c.k, source_a, PackedB{packed.data(), c.k, c.n}, rows, cols, in.c.data(), in.ldc, epilogue,
                 workspace.data() + per_thread * static_cast<size_t>(thread));
    });
  }
  expect_exact(isa, c, expected, in.c, in.ldc);
}

// Sizes around a tile dimension t: 1, primes, t-1, t, t+1, 2t+3.
std::vector<int64_t> around(int64_t t) { return {1, 2, 7, t - 1, t, t + 1, 2 * t + 3, 37}; }

TEST(Gemm, TileShapesPerInstructionSet) {
  for (Isa isa : isas_of_this_cpu()) {
    const GemmKernels& kern = kernels<GemmKernels>(isa);
    EXPECT_GE(kern.mr, 1);
    EXPECT_LE(kern.mr, kGemmMaxMR);
    EXPECT_LE(kern.nr, kGemmMaxNR);
    std::printf("%s: mr x nr = %lld x %lld\n", isa_name(isa), static_cast<long long>(kern.mr),
                static_cast<long long>(kern.nr));
  }
}

TEST(Gemm, SizesAroundTheRegisterTile) {
  for (Isa isa : isas_of_this_cpu()) {
    const GemmKernels& kern = kernels<GemmKernels>(isa);
    uint32_t seed = 1;
    for (int64_t m : around(kern.mr)) {
      for (int64_t n : around(kern.nr)) {
        for (int64_t k : {int64_t{1}, int64_t{3}, int64_t{17}}) check(isa, Case{m, n, k}, seed++);
      }
    }
  }
}

TEST(Gemm, DepthsAroundTheCacheBlocks) {
  for (Isa isa : isas_of_this_cpu()) {
    uint32_t seed = 100;
    for (int64_t k : {kGemmMaxKC - 1, kGemmMaxKC, kGemmMaxKC + 1, 2 * kGemmMaxKC + 5, int64_t{577}}) {
      check(isa, Case{23, 41, k}, seed++);
      check(isa, Case{23, 41, k, false, false, true, true, true}, seed++);
    }
  }
}

TEST(Gemm, WidthsAroundTheCacheBlocks) {
  for (Isa isa : isas_of_this_cpu()) {
    uint32_t seed = 200;
    for (int64_t n : {kGemmNC - 1, kGemmNC, kGemmNC + 1, 2 * kGemmNC + 37}) {
      check(isa, Case{19, n, 29}, seed++);
      check(isa, Case{19, n, 29, false, false, false, true, false, 2}, seed++);
    }
  }
}

TEST(Gemm, ZeroDepthWritesBiasOnly) {
  for (Isa isa : isas_of_this_cpu()) {
    check(isa, Case{5, 9, 0}, 300);
    check(isa, Case{5, 9, 0, false, false, false, true, true}, 301);
  }
}

TEST(Gemm, OverwriteAccumulateBiasReluAndStorageOrders) {
  for (Isa isa : isas_of_this_cpu()) {
    const GemmKernels& kern = kernels<GemmKernels>(isa);
    uint32_t seed = 400;
    for (int mask = 0; mask < 32; ++mask) {
      Case c{3 * kern.mr + 2, 2 * kern.nr + 5, 300};
      c.a_transposed = mask & 1;
      c.b_transposed = mask & 2;
      c.accumulate = mask & 4;
      c.bias = mask & 8;
      c.relu = mask & 16;
      check(isa, c, seed++);
    }
  }
}

TEST(Gemm, ThreadsSplitRowsOrColumns) {
  for (Isa isa : isas_of_this_cpu()) {
    const GemmKernels& kern = kernels<GemmKernels>(isa);
    uint32_t seed = 500;
    for (int threads : {1, 2, 3}) {
      check(isa, Case{1, 700, 65, false, false, false, true, true, threads}, seed++);      // columns split
      check(isa, Case{kern.mr * 9 + 1, 13, 70, false, false, false, false, false, threads}, seed++);  // rows
      check(isa, Case{131, 97, 300, true, true, true, true, false, threads}, seed++);
    }
  }
}

TEST(Gemm, PrepackedB) {
  for (Isa isa : isas_of_this_cpu()) {
    const GemmKernels& kern = kernels<GemmKernels>(isa);
    uint32_t seed = 600;
    for (int threads : {1, 2}) {
      check_packed_b(isa, Case{kern.mr * 5 + 3, kern.nr * 3 + 1, 577, false, false, false, true, true, threads}, seed++);
      check_packed_b(isa, Case{4, 600, 40, false, true, false, true, false, threads}, seed++);
      check_packed_b(isa, Case{61, 67, 257, true, false, true, false, false, threads}, seed++);
    }
  }
}

// Each element of C is summed by one thread in an order fixed by k alone, so random floats
// (where summation order shows) give bitwise the same C whatever the thread count.
TEST(Gemm, BitwiseTheSameForAnyThreadCount) {
  for (Isa isa : isas_of_this_cpu()) {
    const GemmKernels& kern = kernels<GemmKernels>(isa);
    const int64_t m = 97, n = 530, k = 600;
    const Tensor a = test::uniform_tensor(m * k, 800), b = test::uniform_tensor(k * n, 801);
    const Tensor bias = test::uniform_tensor(n, 802);
    GemmEpilogue epilogue;
    epilogue.bias = bias.data();
    WorkspacePool pool;
    Tensor first;
    for (int threads : {1, 2, 3}) {
      Tensor c = test::nan_tensor(m * n);
      gemm(kern, m, n, k, {a.data(), k, false}, {b.data(), n, false}, c.data(), n, epilogue, threads, pool);
      if (first.empty()) {
        first = c;
      } else {
        EXPECT_TRUE(test::bitwise_equal(first, c)) << isa_name(isa) << " threads " << threads;
      }
    }
  }
}

// The in-place tile alone: A is stored depth-major with row distance lda > m, B with ldb > nr,
// both sized exactly (the last depth step ends at the tile's last element), C with a sentinel
// past m rows and nr columns, for every row count, depths around the unroll, both epilogues.
TEST(Gemm, InPlaceTileReadsBothMatricesWhereTheyLie) {
  for (Isa isa : isas_of_this_cpu()) {
    const GemmKernels& kern = kernels<GemmKernels>(isa);
    const int64_t nr = kern.nr, ldb = nr + 5, ldc = nr + 3;
    for (int64_t m = 1; m <= kern.mr; ++m) {
      for (int64_t k : {int64_t{0}, int64_t{1}, int64_t{2}, int64_t{7}, int64_t{64}}) {
        for (bool accumulate : {false, true}) {
          const int64_t lda = m + 3;
          const Tensor a = test::integer_tensor(k == 0 ? 1 : (k - 1) * lda + m, static_cast<uint32_t>(m * 100 + k));
          const Tensor b = test::integer_tensor(k == 0 ? 1 : (k - 1) * ldb + nr, static_cast<uint32_t>(m * 100 + k + 1));
          Tensor c(static_cast<size_t>((m + 1) * ldc), kSentinel);
          const Tensor start = test::integer_tensor(m * nr, 7);
          Tensor expected = c;
          for (int64_t i = 0; i < m; ++i) {
            for (int64_t j = 0; j < nr; ++j) {
              c[i * ldc + j] = accumulate ? start[i * nr + j] : std::numeric_limits<float>::quiet_NaN();
              double sum = accumulate ? start[i * nr + j] : 0.0;
              for (int64_t p = 0; p < k; ++p) sum += double(a[p * lda + i]) * b[p * ldb + j];
              expected[i * ldc + j] = static_cast<float>(sum);
            }
          }
          GemmTileEpilogue e;
          e.accumulate = accumulate;
          kern.tile_in_place(k, a.data(), lda, b.data(), ldb, c.data(), ldc, m, e);
          // Row m, past the tile, holds the sentinel: include it in the comparison.
          const Case rows_and_sentinel_row{m + 1, nr, k, false, false, accumulate};
          expect_exact(isa, rows_and_sentinel_row, expected, c, ldc);
        }
      }
    }
  }
}

// The batched entry: `count` products whose A lie by rows in one array (row distance wider than
// the depth, garbage in the gap), B packed once each, C with a sentinel gap between products.
// Every element must be exact, the hook must see each piece exactly once, after all of the
// piece's products are complete, and the gaps must survive.
void check_batch(Isa isa, int64_t count, int64_t m, int64_t n, int64_t k, bool relu, int threads, uint32_t seed,
                 int64_t row_gap = 5) {
  const GemmKernels& kern = kernels<GemmKernels>(isa);
  const std::string what = std::string(isa_name(isa)) + " batch" + std::to_string(count) + " m" + std::to_string(m) +
                           " n" + std::to_string(n) + " k" + std::to_string(k) + " threads" + std::to_string(threads) + " gap" + std::to_string(row_gap);
  const int64_t lda = k + row_gap, ldc = n + 2, a_stride = m * lda + 3, c_stride = m * ldc + 7;
  const Tensor a = test::integer_tensor(count * a_stride, seed);
  const Tensor b = test::integer_tensor(count * k * n, seed + 1);
  const Tensor bias = test::integer_tensor(n, seed + 2);
  const int64_t b_stride = packed_b_floats(kern, k, n);
  Tensor packed(static_cast<size_t>(count * b_stride), std::numeric_limits<float>::quiet_NaN());
  for (int64_t i = 0; i < count; ++i) {
    const MatrixSourceB source(MatrixView{b.data() + i * k * n, n, false});
    pack_b(kern, source, k, n, packed.data() + i * b_stride, 0, packed_b_panels(kern, k, n));
  }
  Tensor c(static_cast<size_t>(count * c_stride), kSentinel);
  Tensor expected = c;
  for (int64_t i = 0; i < count; ++i) {
    for (int64_t r = 0; r < m; ++r) {
      for (int64_t j = 0; j < n; ++j) {
        double sum = bias[j];
        for (int64_t p = 0; p < k; ++p) sum += double(a[i * a_stride + r * lda + p]) * b[i * k * n + p * n + j];
        if (relu && sum < 0.0) sum = 0.0;
        expected[i * c_stride + r * ldc + j] = static_cast<float>(sum);
        c[i * c_stride + r * ldc + j] = std::numeric_limits<float>::quiet_NaN();
      }
    }
  }
  GemmBatch batch;
  batch.count = count;
  batch.k = k;
  batch.n = n;
  batch.a = a.data();
  batch.a_stride = a_stride;
  batch.a_row_distance = lda;
  batch.b = packed.data();
  batch.b_stride = b_stride;
  batch.c = c.data();
  batch.c_stride = c_stride;
  batch.ldc = ldc;
  GemmEpilogue epilogue;
  epilogue.bias = bias.data();
  epilogue.activation = relu ? Activation::relu : Activation::none;
  std::vector<int> seen(static_cast<size_t>(m * n), 0);
  std::vector<int64_t> incomplete(static_cast<size_t>(threads), 0);
  gemm_batch(kern, batch, m, epilogue, threads, [&](GemmRange rows, GemmRange cols, int thread) {
    for (int64_t r = rows.begin; r < rows.end; ++r) {
      for (int64_t j = cols.begin; j < cols.end; ++j) {
        ++seen[static_cast<size_t>(r * n + j)];  // pieces are disjoint, so threads never share an element
        for (int64_t i = 0; i < count; ++i) {
          const float got = c[i * c_stride + r * ldc + j], want = expected[i * c_stride + r * ldc + j];
          if (std::memcmp(&got, &want, sizeof got) != 0) ++incomplete[static_cast<size_t>(thread)];
        }
      }
    }
  });
  for (int64_t e = 0; e < m * n; ++e) ASSERT_EQ(seen[static_cast<size_t>(e)], 1) << what << " element " << e;
  for (int64_t wrong : incomplete) EXPECT_EQ(wrong, 0) << what << ": elements not final when the hook ran";
  expect_exact(isa, Case{count * c_stride / ldc, n, k}, expected, c, ldc);
  EXPECT_TRUE(test::bitwise_equal(expected, c)) << what;
}

TEST(Gemm, BatchOfPrepackedProducts) {
  for (Isa isa : isas_of_this_cpu()) {
    const GemmKernels& kern = kernels<GemmKernels>(isa);
    uint32_t seed = 900;
    for (int threads : {1, 2, 3}) {
      check_batch(isa, 36, 2 * kern.mr + 2, 2 * kern.nr + 3, 19, false, threads, seed++);
      check_batch(isa, 3, 1, kern.nr - 1, 1, true, threads, seed++);
      check_batch(isa, 4, kern.mr + 1, 3 * kern.nr, kGemmMaxKC + 9, true, threads, seed++);  // two depth blocks
      check_batch(isa, 2, 37, 600, 64, false, threads, seed++);
      check_batch(isa, 2, 5, 7, 0, true, threads, seed++);  // no depth: bias and ReLU only
    }
  }
}

// The tile over A by rows at any row distance, every row count: a distance that is not a
// multiple of anything the tile might assume.
TEST(Gemm, TileOnRowsAtAnyRowDistance) {
  for (Isa isa : isas_of_this_cpu()) {
    const GemmKernels& kern = kernels<GemmKernels>(isa);
    for (int64_t gap : {int64_t{0}, int64_t{27}, int64_t{263}}) {
      for (int64_t m = 1; m <= kern.mr; ++m) {
        check_batch(isa, 1, m, kern.nr, 37, false, 1, static_cast<uint32_t>(1000 + m + gap), gap);
      }
    }
  }
}

TEST(Gemm, LargeSquareMatchesTheOracle) {
  for (Isa isa : isas_of_this_cpu()) check(isa, Case{300, 530, 520, false, false, false, false, false, 2}, 700);
}

}  // namespace
}  // namespace convkit::detail
