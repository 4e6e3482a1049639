// convkit-network-bench: one direction of convolution (forward unless told) at batch 1 over
// real networks (bench/networks.hpp), `auto` under Math::strict against oneDNN in the same
// process, weights as the direction's series of bench/conv_series.hpp has them (forward: packed
// once on both sides; bwd_d: HWIO on every call). Each distinct shape is one benchmark, counted
// in every network that has it; its loop alternates one call of each side, and each side's rate
// is that of its fastest call, so that both see the same machine and calls slowed by other
// processes (on a shared machine, most of them: a call waits for whichever of its threads is
// descheduled) move neither. The run closes with each network's geometric mean ratio, the
// overall one and the layers below 0.9x (medians over repetitions).
//
//   convkit-network-bench [--networks=NAME[,NAME...]] [--direction=fwd|bwd_d|bwd_d_packed|bwd_w]
//                         [--fast] [--list] [Google Benchmark flags]
//
// --direction picks the series (a training step runs bwd_d and bwd_w on fresh weights); --fast
// adds `auto` under Math::fast (auto_fast) to the alternation; --list prints the networks and
// exits. Unless given: --benchmark_min_time=0.1 --benchmark_repetitions=3 with random
// interleaving.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "bench_data.hpp"
#include "conv_series.hpp"
#include "convkit/convkit.hpp"
#include "networks.hpp"
#ifdef CONVKIT_BENCH_ONEDNN
#include "onednn_baseline.hpp"
#endif

namespace convkit::bench {
namespace {

constexpr double kSlowRatio = 0.9;
// Rounds of calls a layer runs at least, however long they take: Google Benchmark stops at one
// iteration when that one outlasts min_time, as it does when the process was stopped meanwhile.
constexpr int kMinRounds = 10;
constexpr const char* kBaseline = "onednn";

// The networks named in `list` (comma-separated), all of them when it is empty.
std::vector<const Network*> selected_networks(const std::string& list) {
  std::vector<const Network*> chosen;
  std::set<std::string> wanted;
  std::stringstream names(list);
  for (std::string name; std::getline(names, name, ',');) wanted.insert(name);
  const bool all = wanted.empty();
  for (const Network& network : networks()) {
    if (all || wanted.erase(network.name) > 0) chosen.push_back(&network);
  }
  if (!wanted.empty()) {
    std::string known;
    for (const Network& network : networks()) known += std::string(" ") + network.name;
    throw Error("convkit-network-bench: unknown network \"" + *wanted.begin() + "\"; known:" + known);
  }
  return chosen;
}

// A side of the alternation: `auto` under one Math, or oneDNN.
struct Contender {
  std::string series;  // the counter's name: auto, auto_fast or onednn
  Math math;
};

// Seconds of each call of one side.
class Side {
 public:
  Side(std::string series, std::function<void()> call) : series_(std::move(series)), call_(std::move(call)) {}
  void time() {
    const auto start = std::chrono::steady_clock::now();
    call_();
    seconds_.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  void warm_up() { call_(); }
  double fastest_seconds() const { return *std::min_element(seconds_.begin(), seconds_.end()); }
  const std::string& series() const { return series_; }

 private:
  std::string series_;
  std::function<void()> call_;
  std::vector<double> seconds_;
};

// The series named `name` (bench/conv_series.hpp).
const ConvSeries& series_named(const std::string& name) {
  std::string known;
  for (const ConvSeries& series : kConvSeries) {
    if (name == series.name) return series;
    known += std::string(" ") + series.name;
  }
  throw Error("convkit-network-bench: unknown direction \"" + name + "\"; known:" + known);
}

// One layer: every side's call of the series in turn, each iteration and for at least
// kMinRounds rounds, after a call of each to warm up (first touches of its buffers); reports
// each side's GFLOP/s in its fastest call.
void network_layer(benchmark::State& state, const std::string& problem, const std::string& networks,
                   const std::vector<Contender>& contenders, const ConvSeries& series) {
  const Conv2dParams p = parse_conv2d(problem);
  ConvData d(p);
  std::vector<std::unique_ptr<Conv2d>> plans;
  std::deque<PackedWeights> packed;  // the sides keep references: a deque's elements stay put
  std::vector<Side> sides;
  std::string label = networks;
  for (const Contender& c : contenders) {
    plans.push_back(std::make_unique<Conv2d>(p, Options{"auto", 0, Activation::none, c.math}));
    packed.push_back(prepare(*plans.back(), series, d));
    const Conv2d& conv = *plans.back();
    const PackedWeights& weights = packed.back();
    sides.emplace_back(c.series, [&conv, &weights, &series, &d] { run(conv, series, d, weights); });
    label += " " + c.series + "->" + std::string(conv.backend(series.direction));
  }
#ifdef CONVKIT_BENCH_ONEDNN
  std::unique_ptr<OnednnConv> onednn;
  try {
    onednn = std::make_unique<OnednnConv>(p, series.direction, d.x.data(), d.w.data(), d.b.data(), d.y.data(),
                                          d.dy.data(), d.dx.data(), d.dw.data(), d.db.data(), !series.packed_once);
    sides.emplace_back(kBaseline, [&onednn] { onednn->run(); });
    label += " onednn:" + onednn->implementation();
  } catch (const std::exception& e) {
    label += std::string(" (oneDNN: ") + e.what() + ")";
  }
#endif
  for (Side& side : sides) side.warm_up();
  int rounds = 0;
  for (auto _ : state) {
    for (Side& side : sides) side.time();
    benchmark::ClobberMemory();
    ++rounds;
  }
  for (; rounds < kMinRounds; ++rounds) {
    for (Side& side : sides) side.time();
  }
  for (Side& side : sides) state.counters[side.series()] = p.flops() * 1e-9 / side.fastest_seconds();
  state.SetLabel(label + " " + simd_arch() + " " + std::to_string(omp_get_max_threads()) + "t");
}

// Registers each distinct shape of the chosen networks once; returns the convkit series.
std::vector<std::string> register_layers(const std::vector<const Network*>& chosen, bool fast,
                                         const ConvSeries& direction) {
  std::map<std::string, std::string> holders;  // canonical problem -> networks holding it
  std::vector<std::string> order;
  for (const Network* network : chosen) {
    for (const NetworkLayer& layer : network->layers) {
      const std::string problem = to_string(parse_conv2d(layer.problem));
      std::string& names = holders[problem];
      if (names.empty()) order.push_back(problem);
      names += (names.empty() ? "" : ",") + std::string(network->name);
    }
  }
  std::vector<Contender> contenders = {{"auto", Math::strict}};
  if (fast) contenders.push_back({"auto_fast", Math::fast});
  std::vector<std::string> series;
  for (const Contender& c : contenders) series.push_back(c.series);
  for (const std::string& problem : order) {
    benchmark::RegisterBenchmark(("net_" + std::string(direction.name) + "/" + problem).c_str(), network_layer, problem,
                                 holders[problem], contenders, direction)
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime();
  }
  return series;
}

// Prints the median (or only) run of each benchmark, keeps its rate, and closes with the
// per-network summary of each convkit series against oneDNN.
class NetworkReporter : public benchmark::ConsoleReporter {
 public:
  NetworkReporter(std::vector<const Network*> chosen, std::vector<std::string> series, std::string direction)
      : chosen_(std::move(chosen)), series_(std::move(series)), direction_(std::move(direction)) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    std::vector<Run> shown;
    for (const Run& run : runs) {
      const bool single = run.run_type == Run::RT_Iteration && run.repetitions <= 1;
      const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      if (!(single || median || run.error_occurred)) continue;
      shown.push_back(run);
      if (run.error_occurred) continue;
      const std::string& name = run.run_name.function_name;  // net_<direction>/problem
      const std::string problem = name.substr(name.find('/') + 1);
      for (const auto& [series, counter] : run.counters) rates_[series][problem] = counter.value;
    }
    if (!shown.empty()) ConsoleReporter::ReportRuns(shown);
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    const auto baseline = rates_.find(kBaseline);
    if (baseline == rates_.end()) {
      std::printf("\nno oneDNN results (built without oneDNN, or filtered out): no ratios\n");
      return;
    }
    for (const std::string& series : series_) summarize(series, rates_[series], baseline->second);
  }

 private:
  // The ratio of each problem timed on both sides.
  static std::map<std::string, double> ratios(const std::map<std::string, double>& ours,
                                              const std::map<std::string, double>& theirs) {
    std::map<std::string, double> r;
    for (const auto& [problem, rate] : ours) {
      const auto it = theirs.find(problem);
      if (it != theirs.end() && it->second > 0) r[problem] = rate / it->second;
    }
    return r;
  }

  void summarize(const std::string& series, const std::map<std::string, double>& ours,
                 const std::map<std::string, double>& theirs) const {
    const std::map<std::string, double> ratio = ratios(ours, theirs);
    std::printf("\n%s, %s / oneDNN: ratios of fastest-call GFLOP/s, median over repetitions (%s, %d threads)\n",
                direction_.c_str(), series.c_str(), simd_arch().c_str(), omp_get_max_threads());
    std::printf("  geomean: over the layers as the network runs them (a shape occurring n times counts n times)\n");
    std::printf("  distinct: over its distinct shapes; time: the network's summed oneDNN time / summed %s time\n",
                series.c_str());
    std::printf("%-18s %8s %8s %9s %6s %7s  %s\n", "network", "layers", "geomean", "distinct", "time", "worst",
                "worst layer");
    double all_log = 0, all_count = 0;
    std::map<std::string, std::pair<int, std::string>> slow;  // problem -> (occurrences, networks)
    for (const Network* network : chosen_) {
      double log_sum = 0, count = 0, distinct_log = 0, ours_time = 0, theirs_time = 0;
      int distinct = 0, total = 0, missing = 0;
      std::string worst;
      for (const NetworkLayer& layer : network->layers) {
        const Conv2dParams p = parse_conv2d(layer.problem);
        const std::string problem = to_string(p);
        total += layer.count;
        const auto it = ratio.find(problem);
        if (it == ratio.end()) {
          ++missing;
          continue;
        }
        log_sum += layer.count * std::log(it->second);
        count += layer.count;
        distinct_log += std::log(it->second);
        ++distinct;
        ours_time += layer.count * p.flops() / ours.at(problem);
        theirs_time += layer.count * p.flops() / theirs.at(problem);
        if (worst.empty() || it->second < ratio.at(worst)) worst = problem;
        if (it->second < kSlowRatio) {
          auto& entry = slow[problem];
          entry.first += layer.count;
          entry.second += (entry.second.empty() ? "" : ",") + std::string(network->name);
        }
      }
      all_log += log_sum, all_count += count;
      if (distinct == 0) {
        std::printf("%-18s %8s (no layer timed on both sides)\n", network->name, "-");
        continue;
      }
      std::printf("%-18s %4d/%-3zu %7.2fx %8.2fx %5.2fx %6.2fx  %s%s\n", network->name, total,
                  network->layers.size(), std::exp(log_sum / count), std::exp(distinct_log / distinct),
                  theirs_time / ours_time, ratio.at(worst), worst.c_str(),
                  missing > 0 ? (" (" + std::to_string(missing) + " shapes untimed)").c_str() : "");
    }
    double distinct_log = 0;
    for (const auto& [problem, r] : ratio) distinct_log += std::log(r);
    if (all_count > 0) {
      std::printf("overall: %.2fx over every layer of these networks, %.2fx over their %zu distinct shapes\n",
                  std::exp(all_log / all_count), std::exp(distinct_log / double(ratio.size())), ratio.size());
    }
    std::vector<std::pair<double, std::string>> worst_first;
    for (const auto& [problem, entry] : slow) worst_first.push_back({ratio.at(problem), problem});
    std::sort(worst_first.begin(), worst_first.end());
    std::printf("\nlayers below %.1fx (%zu), worst first: ratio, %s and oneDNN GFLOP/s, occurrences, networks\n",
                kSlowRatio, worst_first.size(), series.c_str());
    for (const auto& [r, problem] : worst_first) {
      const auto& [occurrences, names] = slow.at(problem);
      std::printf("  %5.2fx %8.2f %8.2f %3d  %-60s %s\n", r, ours.at(problem), theirs.at(problem), occurrences,
                  problem.c_str(), names.c_str());
    }
  }

  std::vector<const Network*> chosen_;
  std::vector<std::string> series_;
  std::string direction_;
  std::map<std::string, std::map<std::string, double>> rates_;  // series -> problem -> GFLOP/s
};

}  // namespace
}  // namespace convkit::bench

int main(int argc, char** argv) {
  using namespace convkit::bench;
  // Defaults first, so that the caller's own flags, parsed later, win.
  std::vector<char*> args = {argv[0]};
  std::string defaults[] = {"--benchmark_min_time=0.1", "--benchmark_repetitions=3",
                            "--benchmark_enable_random_interleaving=true"};
  for (std::string& flag : defaults) args.push_back(flag.data());
  args.insert(args.end(), argv + 1, argv + argc);
  int count = static_cast<int>(args.size());
  benchmark::Initialize(&count, args.data());
  std::string names, direction = "fwd";
  bool fast = false, list = false;
  std::vector<char*> rest = {args[0]};
  for (int i = 1; i < count; ++i) {
    const std::string arg = args[i];
    if (arg.rfind("--networks=", 0) == 0) {
      names = arg.substr(arg.find('=') + 1);
    } else if (arg.rfind("--direction=", 0) == 0) {
      direction = arg.substr(arg.find('=') + 1);
    } else if (arg == "--fast") {
      fast = true;
    } else if (arg == "--list") {
      list = true;
    } else {
      rest.push_back(args[i]);
    }
  }
  int rest_count = static_cast<int>(rest.size());
  if (benchmark::ReportUnrecognizedArguments(rest_count, rest.data())) return 1;
  try {
    const std::vector<const Network*> chosen = selected_networks(names);
    const ConvSeries& series = series_named(direction);
    if (list) {
      for (const Network* network : chosen) {
        int total = 0;
        for (const NetworkLayer& layer : network->layers) total += layer.count;
        std::printf("%-18s %4d layers, %3zu distinct\n", network->name, total, network->layers.size());
      }
      return 0;
    }
    NetworkReporter reporter(chosen, register_layers(chosen, fast, series), series.name);
    benchmark::RunSpecifiedBenchmarks(&reporter);
  } catch (const convkit::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
  benchmark::Shutdown();
  return 0;
}
