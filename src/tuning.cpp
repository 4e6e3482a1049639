#include "tuning.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <tuple>
#include <vector>
#include <algorithm>

namespace convkit::detail {
namespace {

constexpr const char* kHeader = "# convkit tuning file v3: problem threads isa math direction backend microseconds";
constexpr const char* kHeaderBeforeMath = "# convkit tuning file v2: problem threads isa direction backend microseconds";

using Key = std::tuple<std::string, int, std::string, std::string, std::string>;  // problem, threads, isa, math, direction
Key key_of(const TuneEntry& e) { return {e.problem, e.threads, e.isa, e.math, e.direction}; }

bool is_direction(const std::string& name) {
  for (Direction d : kDirections) {
    if (name == direction_name(d)) return true;
  }
  return false;
}

bool is_math(const std::string& name) { return name == math_name(Math::strict) || name == math_name(Math::fast); }

// One entry; `with_math` false for the version before Math, whose entries were all strict.
bool parse_line(const std::string& line, bool with_math, TuneEntry& e) {
  std::istringstream in(line);
  std::string rest;
  in >> e.problem >> e.threads >> e.isa;
  if (with_math) {
    in >> e.math;
  } else {
    e.math = math_name(Math::strict);
  }
  if (!(in >> e.direction >> e.backend >> e.microseconds) || (in >> rest)) return false;
  if (!is_direction(e.direction) || !is_math(e.math)) return false;
  try {
    (void)parse_conv2d(e.problem);
  } catch (const Error&) {
    return false;
  }
  return e.threads > 0 && e.microseconds >= 0.0;
}

void warn_once(const std::string& message) {
  static std::once_flag once;
  std::call_once(once, [&] { std::fprintf(stderr, "convkit: %s\n", message.c_str()); });
}

// Holds an exclusive flock on <path>.lock for its lifetime (none if it cannot be opened).
class FileLock {
 public:
  explicit FileLock(const std::string& path) : fd_(::open((path + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the lock
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  bool held() const { return fd_ >= 0; }

 private:
  int fd_;
};

}  // namespace

namespace tune_file {

std::vector<TuneEntry> read(const std::string& path, bool* foreign) {
  *foreign = false;
  std::ifstream in(path);
  std::vector<TuneEntry> entries;
  std::string line;
  if (!in || !std::getline(in, line)) return entries;  // missing or empty: nothing tuned yet
  if (line != kHeader && line != kHeaderBeforeMath) {
    *foreign = true;
    return entries;
  }
  const bool with_math = line == kHeader;
  while (std::getline(in, line)) {
    TuneEntry e;
    if (parse_line(line, with_math, e)) entries.push_back(e);  // a truncated or garbled line is skipped
  }
  return entries;
}

bool merge(const std::string& path, const std::vector<TuneEntry>& entries) {
  const FileLock lock(path);
  if (!lock.held()) return false;
  bool foreign = false;
  std::map<Key, TuneEntry> merged;
  for (const TuneEntry& e : read(path, &foreign)) merged[key_of(e)] = e;
  if (foreign) return false;
  for (const TuneEntry& e : entries) merged[key_of(e)] = e;
  const std::string temporary = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << kHeader << '\n';
    for (const auto& [key, e] : merged) {
      out << e.problem << ' ' << e.threads << ' ' << e.isa << ' ' << e.math << ' ' << e.direction << ' ' << e.backend << ' '
          << e.microseconds << '\n';
    }
    out.flush();
    if (!out) {
      std::remove(temporary.c_str());
      return false;
    }
  }
  return std::rename(temporary.c_str(), path.c_str()) == 0;
}

}  // namespace tune_file

namespace {

// Times one direction of one row's objects (forward with packed weights, the inference path):
// the best of three calls after a warm-up.
double microseconds(const ConvImpls& impls, const Conv2dParams& p, Direction direction, int threads) {
  const size_t packed_size = direction == Direction::forward ? impls.forward->packed_weights_size() : 0;
  AlignedBuffer x(static_cast<size_t>(p.input_elements())), w(static_cast<size_t>(p.weight_elements())),
      b(static_cast<size_t>(p.out_c)), y(static_cast<size_t>(p.output_elements())), packed(packed_size);
  // Small values, no denormals: timing does not depend on the data otherwise.
  for (size_t i = 0; i < x.size(); ++i) x.data()[i] = float(int(i % 7) - 3) * 0.125f;
  for (size_t i = 0; i < w.size(); ++i) w.data()[i] = float(int(i % 5) - 2) * 0.0625f;
  for (size_t i = 0; i < y.size(); ++i) y.data()[i] = float(int(i % 3) - 1) * 0.25f;
  for (size_t i = 0; i < b.size(); ++i) b.data()[i] = 0.5f;
  if (direction == Direction::forward) impls.forward->pack_weights(w.data(), packed.data());
  // Backward writes dx over x and dw, db over w, b: their values do not matter here.
  const auto run = [&] {
    switch (direction) {
      case Direction::forward:
        impls.forward->forward_packed(x.data(), packed.data(), b.data(), y.data(), threads);
        break;
      case Direction::backward_data: impls.backward_data->backward_data(y.data(), w.data(), x.data(), threads); break;
      case Direction::backward_weights:
        impls.backward_weights->backward_weights(x.data(), y.data(), w.data(), b.data(), threads);
        break;
    }
  };
  run();
  double best = 0.0;
  for (int i = 0; i < 3; ++i) {
    const auto start = std::chrono::steady_clock::now();
    run();
    const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
    best = i == 0 ? us : std::min(best, us);
  }
  return best;
}

struct Memory {
  std::mutex mutex;
  std::map<Key, std::string> choices;
  bool file_loaded = false;
};

Memory& memory() {
  static Memory m;
  return m;
}

const ConvBackend* find_row(const std::vector<ConvBackend>& table, const std::string& name) {
  for (const ConvBackend& row : table) {
    if (name == row.name) return &row;
  }
  return nullptr;
}

}  // namespace

ConvChoice tuned_conv_choice(const std::vector<ConvBackend>& table, const Conv2dParams& p, const PlanContext& context,
                             int threads, Math math) {
  const char* file = std::getenv("CONVKIT_TUNE_FILE");
  const std::string path = file != nullptr ? file : "", problem = to_string(p), isa = isa_name(context.isa),
                    math_class = math_name(math);
  Memory& m = memory();
  // One plan tunes at a time: concurrent timings would disturb each other.
  std::lock_guard<std::mutex> lock(m.mutex);
  if (!path.empty() && !m.file_loaded) {
    m.file_loaded = true;
    bool foreign = false;
    for (const TuneEntry& e : tune_file::read(path, &foreign)) m.choices[key_of(e)] = e.backend;
    if (foreign) warn_once("CONVKIT_TUNE_FILE " + path + " is not a convkit tuning file; it is ignored and left as it is");
  }
  ConvChoice choice;
  choice.why = "tune: remembered";
  std::vector<TuneEntry> measured;
  std::vector<std::optional<ConvImpls>> made(table.size());  // each row made once, timed in each direction it may run
  for (Direction d : kDirections) {
    const Key key{problem, threads, isa, math_class, direction_name(d)};
    const ConvBackend*& chosen = choice.by_direction[static_cast<size_t>(d)];
    if (const auto it = m.choices.find(key); it != m.choices.end()) {
      const ConvBackend* remembered = find_row(table, it->second);
      if (remembered != nullptr && conv_candidate(*remembered, p, d, math)) {
        chosen = remembered;
        continue;
      }
    }
    // Candidates: every row that may run d, each timed on its own objects; the reference only
    // when none else may.
    chosen = &table.front();
    double best_us = 0.0;
    for (size_t i = 1; i < table.size(); ++i) {
      if (!conv_candidate(table[i], p, d, math)) continue;
      if (!made[i]) made[i] = table[i].create(p, context);
      const double us = microseconds(*made[i], p, d, threads);
      if (chosen == &table.front() || us < best_us) chosen = &table[i], best_us = us;
    }
    m.choices[key] = chosen->name;
    measured.push_back({problem, threads, isa, math_class, direction_name(d), chosen->name, best_us});
    choice.why = "tune: measured";
  }
  if (!path.empty() && !measured.empty() && !tune_file::merge(path, measured)) {
    warn_once("could not record tuning results in " + path);
  }
  return choice;
}

}  // namespace convkit::detail
