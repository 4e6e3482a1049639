// `auto`: which backend runs a problem when the caller does not name one.
// For now, the first backend after the reference (in registry order) that accepts the
// problem, else the reference.
#include "backend.hpp"

namespace convkit::detail {
namespace {
template <class Table, class Params>
const auto& first_accepting(const Table& table, const Params& p) {
  for (size_t i = 1; i < table.size(); ++i) {
    if (table[i].decline_reason(p).empty()) return table[i];
  }
  return table.front();
}
}  // namespace

const ConvBackend& auto_conv_backend(const Conv2dParams& p) { return first_accepting(conv_backend_table(), p); }
const PoolBackend& auto_pool_backend(const Pool2dParams& p) { return first_accepting(pool_backend_table(), p); }

}  // namespace convkit::detail
