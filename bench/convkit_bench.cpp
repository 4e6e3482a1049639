// convkit-bench: time any problem, benchdnn-style, on every backend (and oneDNN when built
// with it). The problem is the canonical string the tests print on failure.
//
//   convkit-bench --conv mb1_ic64ih56iw56_oc64_kh3kw3_ph1pw1 [--dir fwd|bwd_d|bwd_d_packed|bwd_w|bwd|all]
//                 [--threads N] [--backend all|NAME[,NAME...]] [--min-time SECONDS] [--math strict|fast]
//                 (NAME: a registered backend, auto, or onednn when built with it; --math is
//                 Options.math, which decides what auto may choose)
//   convkit-bench --pool mb1_c64ih112iw112_max_kh3kw3_sh2sw2_ph1pw1 [--dir fwd|bwd|all] ...
//   convkit-bench --batch-file FILE ...   (one "--conv PROBLEM" or "--pool PROBLEM" per line, # comments)
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "bench_data.hpp"
#include "conv_series.hpp"
#include "convkit/convkit.hpp"
#include "fma_peak.hpp"
#ifdef CONVKIT_BENCH_ONEDNN
#include "onednn_baseline.hpp"
#endif

namespace convkit::bench {
namespace {

struct Settings {
  std::string direction = "all";
  std::string backends = "all";
  int threads = 0;
  double min_time = 0.5;
  Math math = Math::strict;
};

struct Problem {
  bool is_conv = true;
  std::string text;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "convkit-bench: %s\n"
               "usage: convkit-bench (--conv PROBLEM | --pool PROBLEM | --batch-file FILE)...\n"
               "                     [--dir fwd|bwd_d|bwd_d_packed|bwd_w|bwd|all] [--threads N] [--backend all|NAME[,NAME...]]\n"
               "                     (NAME: a registered backend, auto, or onednn when built with it)\n"
               "                     [--min-time SECONDS] [--math strict|fast]\n",
               why.c_str());
  std::exit(2);
}

// Median seconds of one call: a warm-up call, then calls until `min_time` has passed (at least 5).
double median_seconds(const std::function<void()>& call, double min_time) {
  call();
  std::vector<double> times;
  double total = 0.0;
  while (times.size() < 5 || total < min_time) {
    const auto start = std::chrono::steady_clock::now();
    call();
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    times.push_back(t);
    total += t;
  }
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  return times[times.size() / 2];
}

struct Result {
  std::string who, note;
  double seconds;
};

void print(const std::string& direction, const std::string& problem, double work, const char* unit,
           std::vector<Result> results, double peak) {
  if (results.empty()) return;
  double fastest = results.front().seconds;
  for (const Result& r : results) fastest = std::min(fastest, r.seconds);
  std::printf("%s %s\n", direction.c_str(), problem.c_str());
  std::printf("  %-10s %12s %10s %8s %9s\n", "backend", "median us", unit, "% peak", "vs best");
  for (const Result& r : results) {
    const double rate = work / r.seconds * 1e-9;
    std::printf("  %-10s %12.1f %10.2f ", r.who.c_str(), r.seconds * 1e6, rate);
    if (peak > 0) {
      std::printf("%7.1f%% ", 100.0 * rate / peak);
    } else {
      std::printf("%8s ", "-");
    }
    std::printf("%8.2fx %s\n", fastest / r.seconds, r.note.c_str());
  }
}

std::vector<std::string> chosen_backends(const Settings& s, const std::vector<std::string>& registered) {
  if (s.backends == "all") return registered;
  std::vector<std::string> names;
  std::stringstream list(s.backends);
  for (std::string name; std::getline(list, name, ',');) names.push_back(name);
  return names;
}

// "bwd" asks for every backward direction (conv's bwd_d and bwd_w, pooling's bwd).
bool wants(const Settings& s, const std::string& direction) {
  return s.direction == "all" || s.direction == direction || (s.direction == "bwd" && direction.rfind("bwd", 0) == 0);
}

#ifdef CONVKIT_BENCH_ONEDNN
// oneDNN runs with `--backend all` or when named in the list.
bool wants_onednn(const Settings& s) {
  return s.backends == "all" || ("," + s.backends + ",").find(",onednn,") != std::string::npos;
}
#endif

void bench_conv(const Settings& s, const std::string& text) {
  const Conv2dParams p = parse_conv2d(text);
  p.validate();
  ConvData d(p);
  const int threads = s.threads > 0 ? s.threads : omp_get_max_threads();
  const double peak = fma_peak_gflops(detail::active_isa(), threads);
  std::vector<std::string> backends = chosen_backends(s, conv2d_backends());
  if (s.backends == "all") backends.push_back("auto");
  for (const ConvSeries& series : kConvSeries) {
    if (!wants(s, series.name)) continue;
    std::vector<Result> results;
    for (const std::string& backend : backends) {
      if (backend == "onednn") continue;
      const std::string reason = backend == "auto" ? "" : conv2d_decline_reason(backend, p);
      if (!reason.empty()) {
        std::printf("  %-10s declines: %s\n", backend.c_str(), reason.c_str());
        continue;
      }
      const Conv2d conv(p, Options{backend, threads, Activation::none, s.math});
      const PackedWeights packed = prepare(conv, series, d);
      results.push_back({backend, backend == "auto" ? "-> " + std::string(conv.backend(series.direction)) : "",
                         median_seconds([&] { run(conv, series, d, packed); }, s.min_time)});
    }
#ifdef CONVKIT_BENCH_ONEDNN
    if (wants_onednn(s)) {
      try {
        omp_set_num_threads(threads);
        OnednnConv onednn(p, series.direction, d.x.data(), d.w.data(), d.b.data(), d.y.data(), d.dy.data(),
                          d.dx.data(), d.dw.data(), d.db.data(), !series.packed_once);
        results.push_back({"onednn", onednn.implementation(), median_seconds([&] { onednn.run(); }, s.min_time)});
      } catch (const std::exception& e) {
        std::printf("  onednn     failed: %s\n", e.what());
      }
    }
#endif
    print(std::string("conv ") + series.name, to_string(p), p.flops(), "GFLOP/s", results, peak);
  }
}

void bench_pool(const Settings& s, const std::string& text) {
  const Pool2dParams p = parse_pool2d(text);
  p.validate();
  const Buffer x = random_floats(p.input_elements(), 5), dy = random_floats(p.output_elements(), 6);
  Buffer y(dy.size()), dx(x.size());
  const int threads = s.threads > 0 ? s.threads : omp_get_max_threads();
  std::vector<std::string> backends = chosen_backends(s, pool2d_backends());
  const double in_bytes = 4.0 * double(p.input_elements()), out_bytes = 4.0 * double(p.output_elements());
  for (bool backward : {false, true}) {
    if (!wants(s, backward ? "bwd" : "fwd")) continue;
    std::vector<Result> results;
    for (const std::string& backend : backends) {
      if (backend == "onednn") continue;
      const std::string reason = pool2d_decline_reason(backend, p);
      if (!reason.empty()) {
        std::printf("  %-10s declines: %s\n", backend.c_str(), reason.c_str());
        continue;
      }
      const Pool2d pool(p, Options{backend, threads, Activation::none});
      results.push_back({backend, "", median_seconds([&] {
                           if (backward) {
                             pool.backward(x.data(), dy.data(), dx.data());
                           } else {
                             pool.forward(x.data(), y.data());
                           }
                         }, s.min_time)});
    }
#ifdef CONVKIT_BENCH_ONEDNN
    if (!backward && wants_onednn(s)) {
      omp_set_num_threads(threads);
      OnednnPool onednn(p, x.data(), y.data());
      results.push_back({"onednn", onednn.implementation(), median_seconds([&] { onednn.run(); }, s.min_time)});
    }
#endif
    print(backward ? "pool bwd" : "pool fwd", to_string(p), backward ? 2 * in_bytes + out_bytes : in_bytes + out_bytes,
          "GB/s", results, 0.0);
  }
}

void read_batch_file(const std::string& path, std::vector<Problem>& problems) {
  std::ifstream in(path);
  if (!in) usage("cannot read batch file " + path);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    std::stringstream words(line.substr(0, line.find('#')));
    std::string kind, text;
    if (!(words >> kind)) continue;
    if ((kind != "--conv" && kind != "--pool") || !(words >> text)) {
      usage(path + ":" + std::to_string(number) + ": expected \"--conv PROBLEM\" or \"--pool PROBLEM\"");
    }
    problems.push_back({kind == "--conv", text});
  }
}

}  // namespace
}  // namespace convkit::bench

int main(int argc, char** argv) {
  using namespace convkit::bench;
  Settings settings;
  std::vector<Problem> problems;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--conv" || arg == "--pool") {
      problems.push_back({arg == "--conv", value()});
    } else if (arg == "--batch-file") {
      read_batch_file(value(), problems);
    } else if (arg == "--dir") {
      settings.direction = value();
    } else if (arg == "--backend") {
      settings.backends = value();
    } else if (arg == "--threads") {
      settings.threads = std::atoi(value().c_str());
      if (settings.threads < 1) usage("--threads takes a whole number >= 1");
    } else if (arg == "--math") {
      const std::string math = value();
      if (math != "strict" && math != "fast") usage("--math takes strict or fast, not " + math);
      settings.math = math == "fast" ? convkit::Math::fast : convkit::Math::strict;
    } else if (arg == "--min-time") {
      settings.min_time = std::atof(value().c_str());
    } else {
      usage("unknown argument " + arg);
    }
  }
  if (problems.empty()) usage("no problem given");
  const int threads = settings.threads > 0 ? settings.threads : omp_get_max_threads();
  std::printf("convkit-bench: %s, %d thread(s), Math::%s, FMA peak %.1f GFLOP/s (measured)\n",
              convkit::simd_arch().c_str(), threads, settings.math == convkit::Math::fast ? "fast" : "strict",
              fma_peak_gflops(convkit::detail::active_isa(), threads));
  for (const Problem& problem : problems) {
    try {
      if (problem.is_conv) {
        bench_conv(settings, problem.text);
      } else {
        bench_pool(settings, problem.text);
      }
    } catch (const convkit::Error& e) {
      std::fprintf(stderr, "convkit-bench: %s\n", e.what());
      return 2;
    }
  }
  return 0;
}
