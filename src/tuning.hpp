#pragma once
// Options.backend = "tune": time every row that may run each direction of a problem (it
// implements the direction, accepts the problem, and is strict unless Math::fast) when its plan
// is made, keep the fastest per direction, and remember the choices per (problem, threads,
// instruction set, Math) for the process — and across processes in the file CONVKIT_TUNE_FILE
// names.
#include <string>
#include <vector>

#include "backend.hpp"

namespace convkit::detail {

struct TuneEntry {
  std::string problem;  // canonical problem string
  int threads = 0;
  std::string isa;
  std::string math;       // strict or fast: the class the choice was made under
  std::string direction;  // fwd, bwd_d or bwd_w
  std::string backend;
  double microseconds = 0.0;  // the winner's time when it was measured
};

// The tuning file: a header line, then one entry per line:
//   <problem> <threads> <isa> <math> <direction> <backend> <microseconds>
// A file of the version before Math (no <math> field) is read as strict, and rewritten in this
// form by the next merge.
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

// The fastest row of `table` (the registry's, or a test's) for each direction of this problem,
// measured now or remembered.
ConvChoice tuned_conv_choice(const std::vector<ConvBackend>& table, const Conv2dParams&, const PlanContext&,
                             int threads, Math);
inline ConvChoice tuned_conv_choice(const Conv2dParams& p, const PlanContext& context, int threads, Math math) {
  return tuned_conv_choice(conv_backend_table(), p, context, threads, math);
}

}  // namespace convkit::detail
