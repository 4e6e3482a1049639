#pragma once
// Integer helpers every backend uses (docs/design.md, "Shared layer").
#include <cstdint>

namespace convkit::detail {

// a / b rounded down and up, for a of either sign and b > 0: tap and output ranges start below
// zero at a padded border.
inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
inline int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

// a rounded up to a whole number of `multiple`s (a >= 0, multiple > 0): channels padded to vectors.
inline int64_t round_up(int64_t a, int64_t multiple) { return ceil_div(a, multiple) * multiple; }

}  // namespace convkit::detail
