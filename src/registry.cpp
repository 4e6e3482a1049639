// The registry: the only place convkit's backends are named. Tests and benchmarks iterate
// these tables, so a backend added here is tested and benchmarked with no new code.
// Rows are in `auto`'s preference order after the reference, which stays first. Each row
// declares its accuracy class, the part it plays for `auto`, and the directions it implements
// (docs/design.md).
#include <string>
#include <string_view>

#include "convkit/pool2d.hpp"

#include "backend.hpp"
#include "backends/direct/direct.hpp"
#include "backends/direct/direct_pool.hpp"
#include "backends/im2col/im2col.hpp"
#include "backends/naive/naive.hpp"
#include "backends/winograd/winograd.hpp"

namespace convkit::detail {
namespace {
std::string accepts_every_conv(const Conv2dParams&) { return {}; }
std::string accepts_every_pool(const Pool2dParams&) { return {}; }
}  // namespace

const std::vector<ConvBackend>& conv_backend_table() {
  static const std::vector<ConvBackend> table = {
      {"naive", "reference loop nest of the seed notebook, double accumulation, every feature", Math::strict,
       ConvRole::reference, kImplementsEveryDirection, accepts_every_conv, make_naive_conv},
      {"direct", "vectorized direct convolution on prepacked weights, register-tiled per ISA; depthwise kernel",
       Math::strict, ConvRole::direct_summation, kImplementsEveryDirection, accepts_every_conv, make_direct_conv},
      {"im2col", "lower to columns, multiply with convkit's packed GEMM", Math::strict, ConvRole::lowered_gemm,
       kImplementsEveryDirection, accepts_every_conv, make_im2col_conv},
      {"winograd",
       "Winograd F(4x4, 3x3) or F(6x6, 3x3) for 3x3 stride-1 layers: transformed tiles times transformed weights as "
       "batched GEMMs; backward weights by direct",
       Math::fast, ConvRole::minimal_filtering, {nullptr, nullptr, "direct"}, winograd_decline_reason,
       make_winograd_conv},
  };
  return table;
}

const std::vector<PoolBackend>& pool_backend_table() {
  static const std::vector<PoolBackend> table = {
      {"naive", "reference loop nest, double accumulation, every feature", accepts_every_pool, make_naive_pool},
      {"direct", "vectorized over channels, one pass per output row", accepts_every_pool, make_direct_pool},
  };
  return table;
}

const ConvBackend* find_conv_backend(std::string_view name) {
  for (const ConvBackend& b : conv_backend_table()) {
    if (name == b.name) return &b;
  }
  return nullptr;
}

const ConvBackend& serving_row(const std::vector<ConvBackend>& table, const ConvBackend& row, Direction d) {
  if (row.implements(d)) return row;
  const std::string_view name = row.served_by[static_cast<size_t>(d)];
  for (const ConvBackend& b : table) {
    if (name == b.name) return b;
  }
  return table.front();  // unreachable for a well-formed table (registry_test)
}

bool conv_candidate(const ConvBackend& row, const Conv2dParams& p, Direction d, Math math) {
  return row.implements(d) && (row.math == Math::strict || math == Math::fast) && row.decline_reason(p).empty();
}

const ConvBackend* conv_row_for_role(const std::vector<ConvBackend>& table, ConvRole role, const Conv2dParams& p,
                                     Direction d, Math math) {
  for (size_t i = 1; i < table.size(); ++i) {
    if (table[i].role == role && conv_candidate(table[i], p, d, math)) return &table[i];
  }
  return nullptr;
}

}  // namespace convkit::detail

namespace convkit {

std::vector<std::string> conv2d_backends() {
  std::vector<std::string> names;
  for (const auto& b : detail::conv_backend_table()) names.emplace_back(b.name);
  return names;
}

std::vector<BackendInfo> conv2d_backend_info() {
  std::vector<BackendInfo> rows;
  for (const auto& b : detail::conv_backend_table()) rows.push_back({b.name, b.description, b.math});
  return rows;
}

std::vector<std::string> pool2d_backends() {
  std::vector<std::string> names;
  for (const auto& b : detail::pool_backend_table()) names.emplace_back(b.name);
  return names;
}

namespace {
template <class Table, class Params>
std::string decline_reason(const Table& table, std::string_view name, const Params& p, const char* kind) {
  for (const auto& b : table) {
    if (name == b.name) return b.decline_reason(p);
  }
  throw Error("convkit: \"" + std::string(name) + "\" is not a " + kind + " backend");
}
}  // namespace

std::string conv2d_decline_reason(std::string_view backend, const Conv2dParams& p) {
  return decline_reason(detail::conv_backend_table(), backend, p, "conv2d");
}

std::string pool2d_decline_reason(std::string_view backend, const Pool2dParams& p) {
  return decline_reason(detail::pool_backend_table(), backend, p, "pool2d");
}

}  // namespace convkit
