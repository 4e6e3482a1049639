// convkit's packed GEMM (src/gemm) against OpenBLAS cblas_sgemm when it was found at configure
// time, on square shapes and the GEMMs ResNet-50's convolutions lower to (M = output pixels at
// batch 1, N = output channels, K = kernel_h*kernel_w*in_c), with 1 and 2 threads.
// GFLOP/s is a rate counter (2*M*N*K per iteration); the label names the instruction set that
// ran (CONVKIT_ARCH caps it) and its measured FMA peak for the thread count.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "fma_peak.hpp"
#include "gemm/gemm.hpp"
#include "isa.hpp"
#include "kernels/gemm.hpp"

#ifdef CONVKIT_BENCH_OPENBLAS
#include <cblas.h>
#endif

namespace {

using convkit::detail::AlignedBuffer;

struct GemmShape {
  std::string name;
  int64_t m, n, k;
};

const std::vector<GemmShape>& shapes() {
  static const std::vector<GemmShape> list = {
      {"square256", 256, 256, 256},
      {"square512", 512, 512, 512},
      {"square1024", 1024, 1024, 1024},
      {"square2048", 2048, 2048, 2048},
      {"resnet50_conv3x3_56x56x64", 3136, 64, 576},
      {"resnet50_conv1x1_56x56x64to256", 3136, 256, 64},
      {"resnet50_conv3x3_28x28x128", 784, 128, 1152},
      {"resnet50_conv3x3_14x14x256", 196, 256, 2304},
      {"resnet50_conv3x3_7x7x512", 49, 512, 4608},
  };
  return list;
}

// Operands filled with a pattern of small values (not zeros: denormal-free, no early-outs).
struct Operands {
  explicit Operands(const GemmShape& s)
      : a(static_cast<size_t>(s.m * s.k)), b(static_cast<size_t>(s.k * s.n)), c(static_cast<size_t>(s.m * s.n)) {
    for (size_t i = 0; i < a.size(); ++i) a.data()[i] = float(int64_t(i % 7) - 3) * 0.25f;
    for (size_t i = 0; i < b.size(); ++i) b.data()[i] = float(int64_t(i % 5) - 2) * 0.5f;
  }
  AlignedBuffer a, b, c;
};

void set_rate(benchmark::State& state, const GemmShape& s, int threads) {
  const double flops = 2.0 * double(s.m) * double(s.n) * double(s.k);
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * double(state.iterations()) * 1e-9, benchmark::Counter::kIsRate);
  const convkit::detail::Isa isa = convkit::detail::active_isa();
  char label[96];
  std::snprintf(label, sizeof label, "%s, peak %.0f GFLOP/s", convkit::detail::isa_name(isa),
                convkit::bench::fma_peak_gflops(isa, threads));
  state.SetLabel(label);
}

void convkit_gemm(benchmark::State& state, const GemmShape& s, int threads) {
  const convkit::detail::GemmKernels& kern =
      convkit::detail::kernels<convkit::detail::GemmKernels>(convkit::detail::active_isa());
  Operands x(s);
  convkit::detail::WorkspacePool pool;
  const convkit::detail::GemmEpilogue overwrite;
  for (auto _ : state) {
    convkit::detail::gemm(kern, s.m, s.n, s.k, {x.a.data(), s.k, false}, {x.b.data(), s.n, false}, x.c.data(), s.n,
                          overwrite, threads, pool);
    benchmark::ClobberMemory();
  }
  set_rate(state, s, threads);
}

#ifdef CONVKIT_BENCH_OPENBLAS
void openblas_sgemm(benchmark::State& state, const GemmShape& s, int threads) {
  Operands x(s);
  openblas_set_num_threads(threads);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(s.m), int(s.n), int(s.k), 1.0f, x.a.data(), int(s.k),
                x.b.data(), int(s.n), 0.0f, x.c.data(), int(s.n));
    benchmark::ClobberMemory();
  }
  set_rate(state, s, threads);
}
#endif

const bool registered = [] {
  for (const GemmShape& s : shapes()) {
    for (int threads : {1, 2}) {
      const std::string suffix = "/" + s.name + "/threads:" + std::to_string(threads);
      benchmark::RegisterBenchmark(("convkit_gemm" + suffix).c_str(), convkit_gemm, s, threads)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
#ifdef CONVKIT_BENCH_OPENBLAS
      benchmark::RegisterBenchmark(("openblas_sgemm" + suffix).c_str(), openblas_sgemm, s, threads)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
#endif
    }
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
