// The named layer set, every registered backend (and `auto`, under Math::strict and as
// `auto_fast` under Math::fast), every direction, GFLOP/s; with
// oneDNN interleaved in the same process when it was found at configure time. A table of
// convkit-vs-oneDNN ratios closes the run (medians when --benchmark_repetitions is given).
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "bench_data.hpp"
#include "conv_series.hpp"
#include "convkit/convkit.hpp"
#include "fma_peak.hpp"
#include "layers.hpp"
#ifdef CONVKIT_BENCH_ONEDNN
#include "onednn_baseline.hpp"
#endif

namespace convkit::bench {
namespace {

// Reports `amount` per iteration as a rate named `unit` ("GFLOP/s", or "GB/s" for pooling, which
// moves data rather than doing arithmetic), labelled with the layer, instruction set and threads.
void set_rate(benchmark::State& state, const char* unit, double amount, const std::string& label) {
  state.counters[unit] = benchmark::Counter(amount * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(label + " " + simd_arch() + " " + std::to_string(omp_get_max_threads()) + "t");
}

// Marks the benchmark skipped, with the backend's reason, when it declines the problem (`auto` never does).
bool declined(benchmark::State& state, const std::string& reason) {
  if (reason.empty()) return false;
  state.SkipWithError(("declines: " + reason).c_str());
  return true;
}

// A series of convkit results: a registered backend, or `auto` under one Math.
struct ConvContender {
  std::string series;   // the name in the benchmark's name: the backend, auto, or auto_fast
  std::string backend;  // Options.backend
  Math math;
};

std::vector<ConvContender> conv_contenders() {
  std::vector<ConvContender> contenders;
  for (const std::string& name : conv2d_backends()) contenders.push_back({name, name, Math::strict});
  contenders.push_back({"auto", "auto", Math::strict});
  contenders.push_back({"auto_fast", "auto", Math::fast});
  return contenders;
}

void conv_convkit(benchmark::State& state, const Layer& layer, const ConvContender& contender, ConvSeries series) {
  const Conv2dParams p = parse_conv2d(layer.problem);
  const std::string& backend = contender.backend;
  if (declined(state, backend == "auto" ? "" : conv2d_decline_reason(backend, p))) return;
  ConvData d(p);
  const Conv2d conv(p, Options{backend, 0, Activation::none, contender.math});
  const PackedWeights packed = prepare(conv, series, d);
  for (auto _ : state) {
    run(conv, series, d, packed);
    benchmark::ClobberMemory();
  }
  set_rate(state, "GFLOP/s", p.flops(),
           std::string(layer.name) + (backend == "auto" ? " ->" + std::string(conv.backend(series.direction)) : ""));
}

#ifdef CONVKIT_BENCH_ONEDNN
void conv_onednn(benchmark::State& state, const Layer& layer, ConvSeries series) {
  const Conv2dParams p = parse_conv2d(layer.problem);
  ConvData d(p);
  try {
    OnednnConv conv(p, series.direction, d.x.data(), d.w.data(), d.b.data(), d.y.data(), d.dy.data(), d.dx.data(),
                    d.dw.data(), d.db.data(), !series.packed_once);
    for (auto _ : state) {
      conv.run();
      benchmark::ClobberMemory();
    }
    set_rate(state, "GFLOP/s", p.flops(), std::string(layer.name) + " " + conv.implementation());
  } catch (const std::exception& e) {
    state.SkipWithError((std::string("oneDNN: ") + e.what()).c_str());
  }
}
#endif

void pool_convkit(benchmark::State& state, const Layer& layer, const std::string& backend, bool backward) {
  const Pool2dParams p = parse_pool2d(layer.problem);
  if (declined(state, backend == "auto" ? "" : pool2d_decline_reason(backend, p))) return;
  const Buffer x = random_floats(p.input_elements(), 5), dy = random_floats(p.output_elements(), 6);
  Buffer y(dy.size()), dx(x.size());
  const Pool2d pool(p, Options{backend, 0, Activation::none});
  for (auto _ : state) {
    if (backward) {
      pool.backward(x.data(), dy.data(), dx.data());
    } else {
      pool.forward(x.data(), y.data());
    }
    benchmark::ClobberMemory();
  }
  const double in_bytes = 4.0 * double(p.input_elements()), out_bytes = 4.0 * double(p.output_elements());
  set_rate(state, "GB/s", backward ? 2 * in_bytes + out_bytes : in_bytes + out_bytes, layer.name);
}

#ifdef CONVKIT_BENCH_ONEDNN
void pool_onednn(benchmark::State& state, const Layer& layer) {
  const Pool2dParams p = parse_pool2d(layer.problem);
  const Buffer x = random_floats(p.input_elements(), 5);
  Buffer y(static_cast<size_t>(p.output_elements()));
  try {
    OnednnPool pool(p, x.data(), y.data());
    for (auto _ : state) {
      pool.run();
      benchmark::ClobberMemory();
    }
    set_rate(state, "GB/s", 4.0 * double(p.input_elements() + p.output_elements()),
                  std::string(layer.name) + " " + pool.implementation());
  } catch (const std::exception& e) {
    state.SkipWithError((std::string("oneDNN: ") + e.what()).c_str());
  }
}
#endif

void register_all() {
  std::vector<std::string> pool_backends = pool2d_backends();
  pool_backends.push_back("auto");
  for (const Layer& layer : conv_layers()) {
    for (const ConvSeries& series : kConvSeries) {
      const std::string suffix = "/" + to_string(parse_conv2d(layer.problem));
      for (const ConvContender& contender : conv_contenders()) {
        benchmark::RegisterBenchmark(("conv_" + (series.name + ("/" + contender.series)) + suffix).c_str(), conv_convkit,
                                     layer, contender, series)
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
      }
#ifdef CONVKIT_BENCH_ONEDNN
      benchmark::RegisterBenchmark(("conv_" + (series.name + std::string("/onednn")) + suffix).c_str(), conv_onednn,
                                   layer, series)
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
#endif
    }
  }
  for (const Layer& layer : pool_layers()) {
    for (bool backward : {false, true}) {
      const std::string direction = backward ? "pool_bwd" : "pool_fwd";
      for (const std::string& backend : pool_backends) {
        benchmark::RegisterBenchmark((direction + "/" + backend + "/" + to_string(parse_pool2d(layer.problem))).c_str(), pool_convkit, layer,
                                     backend, backward)
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
      }
#ifdef CONVKIT_BENCH_ONEDNN
      if (!backward) {
        benchmark::RegisterBenchmark(("pool_fwd/onednn/" + to_string(parse_pool2d(layer.problem))).c_str(), pool_onednn, layer)
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
      }
#endif
    }
  }
}

// Prints, after the usual output, one row per (direction, problem): each backend's rate and
// the best convkit backend's ratio to oneDNN — medians when repetitions were asked for.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      const bool single = run.run_type == Run::RT_Iteration && run.repetitions <= 1;
      const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      if (run.error_occurred || !(single || median)) continue;
      const std::string& name = run.run_name.function_name;  // direction/backend/problem
      const size_t a = name.find('/'), b = name.find('/', a + 1);
      for (const char* counter : {"GFLOP/s", "GB/s"}) {
        const auto it = run.counters.find(counter);
        if (it == run.counters.end()) continue;
        Row& row = rows_[name.substr(0, a) + " " + name.substr(b + 1)];
        row.rates[name.substr(a + 1, b - a - 1)] = it->second.value;
        row.unit = counter;
      }
    }
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\n%-11s %-62s %-8s %9s %9s %7s\n", "direction", "problem", "best", "rate", "oneDNN", "ratio");
    for (const auto& [key, row] : rows_) {
      std::string best;
      double best_rate = 0.0, onednn = 0.0;
      for (const auto& [backend, rate] : row.rates) {
        if (backend == "onednn") {
          onednn = rate;
        } else if (backend != "auto" && backend != "auto_fast" && rate > best_rate) {
          best = backend, best_rate = rate;
        }
      }
      const size_t space = key.find(' ');
      std::printf("%-11s %-62s %-8s %9.2f ", key.substr(0, space).c_str(), key.substr(space + 1).c_str(), best.c_str(),
                  best_rate);
      if (onednn > 0) {
        std::printf("%9.2f %6.2fx %s\n", onednn, best_rate / onednn, row.unit.c_str());
      } else {
        std::printf("%9s %7s %s\n", "-", "-", row.unit.c_str());
      }
    }
  }

 private:
  struct Row {
    std::map<std::string, double> rates;
    std::string unit;
  };
  std::map<std::string, Row> rows_;
};

}  // namespace
}  // namespace convkit::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  convkit::bench::register_all();
  // The plot draws the machine's peak beside the results; it lands in the JSON's "context".
  const int threads = omp_get_max_threads();
  benchmark::AddCustomContext("convkit_isa", convkit::simd_arch());
  benchmark::AddCustomContext("convkit_threads", std::to_string(threads));
  benchmark::AddCustomContext("convkit_fma_peak_gflops",
                              std::to_string(convkit::bench::fma_peak_gflops(convkit::detail::active_isa(), threads)));
  convkit::bench::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
