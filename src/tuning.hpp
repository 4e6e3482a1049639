#pragma once
// Options.backend = "tune": time every backend that accepts a problem in each direction when
// its plan is made, keep the fastest per direction, and remember the choices per (problem,
// threads, instruction set) for the process — and across processes in the file
// CONVKIT_TUNE_FILE names.
#include <string>
#include <vector>

#include "backend.hpp"

namespace convkit::detail {

struct TuneEntry {
  std::string problem;  // canonical problem string
  int threads = 0;
  std::string isa;
  std::string direction;  // fwd, bwd_d or bwd_w
  std::string backend;
  double microseconds = 0.0;  // the winner's time when it was measured
};

// The tuning file: a header line, then one entry per line:
//   <problem> <threads> <isa> <direction> <backend> <microseconds>
// Readers skip what they cannot parse; writers hold an exclusive lock on <path>.lock, re-read,
// merge (the newer entry wins a key), write <path>.tmp.<pid> and rename it over the file, so
// concurrent writers lose nothing valid and readers never see a half-written file.
namespace tune_file {
// The file's valid entries. A missing file is empty; a foreign one (no header) is reported
// through `foreign` and read as empty.
std::vector<TuneEntry> read(const std::string& path, bool* foreign);
// Merges `entries` into the file. Returns false (writing nothing) when the file is foreign or
// cannot be written.
bool merge(const std::string& path, const std::vector<TuneEntry>& entries);
}  // namespace tune_file

// The fastest backend for each direction of this problem, measured now or remembered.
ConvChoice tuned_conv_choice(const Conv2dParams&, const PlanContext&, int threads);

}  // namespace convkit::detail
