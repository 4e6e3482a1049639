#pragma once
// What a backend provides. A backend is a row of the registry (registry.cpp): a name, a
// description, a supports() check with a reason, and a factory for the per-plan object that
// runs the problem. Plans validate pointers and shapes before any of this is called, so
// implementations never throw while running (they may throw std::bad_alloc when created).
#include <array>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "convkit/conv2d.hpp"
#include "convkit/params.hpp"
#include "aligned_buffer.hpp"
#include "isa.hpp"

namespace convkit::detail {

// What a backend is told when a plan is made.
struct PlanContext {
  Activation activation = Activation::none;
  Isa isa = Isa::sse2;  // the instruction set its kernels must use
};

// One plan's convolution, one interface per direction: a backend implements those its registry
// row declares (ConvBackend::served_by) and no others, so a forward-only algorithm carries no
// backward code. All methods are const and may run concurrently; `threads` >= 1 is the size of
// the one OpenMP parallel region the call may open. Why three interfaces: docs/design.md.
class ConvForward {
 public:
  virtual ~ConvForward() = default;
  // The floats pack_weights writes; forward_packed reads them.
  virtual size_t packed_weights_size() const = 0;
  virtual void pack_weights(const float* w, float* packed) const = 0;
  virtual void forward_packed(const float* x, const float* packed_w, const float* b, float* y,
                              int threads) const = 0;
  // Forward from HWIO weights (packing them in the call where the backend needs them packed).
  virtual void forward(const float* x, const float* w, const float* b, float* y, int threads) const = 0;
};

class ConvBackwardData {
 public:
  explicit ConvBackwardData(const Conv2dParams& p) : weight_elements_(static_cast<size_t>(p.weight_elements())) {}
  virtual ~ConvBackwardData() = default;
  virtual void backward_data(const float* dy, const float* w, float* dx, int threads) const = 0;
  // Backward data from weights packed once. The default packed form is HWIO itself, for
  // backends whose backward data packs nothing worth keeping.
  virtual size_t backward_data_packed_size() const { return weight_elements_; }
  virtual void pack_backward_data_weights(const float* w, float* packed) const;
  virtual void backward_data_packed(const float* dy, const float* packed_w, float* dx, int threads) const {
    backward_data(dy, packed_w, dx, threads);
  }

 private:
  size_t weight_elements_;
};

class ConvBackwardWeights {
 public:
  virtual ~ConvBackwardWeights() = default;
  virtual void backward_weights(const float* x, const float* dy, float* dw, float* db, int threads) const = 0;
};

// What a row's factory makes for one plan: an object for each direction the row implements,
// null for the others. One object may serve several directions.
struct ConvImpls {
  std::shared_ptr<const ConvForward> forward;
  std::shared_ptr<const ConvBackwardData> backward_data;
  std::shared_ptr<const ConvBackwardWeights> backward_weights;
};

// The slots of `impl` filled for every direction interface its class derives from.
template <class Impl>
ConvImpls conv_impls(std::shared_ptr<const Impl> impl) {
  ConvImpls impls;
  if constexpr (std::is_base_of_v<ConvForward, Impl>) impls.forward = impl;
  if constexpr (std::is_base_of_v<ConvBackwardData, Impl>) impls.backward_data = impl;
  if constexpr (std::is_base_of_v<ConvBackwardWeights, Impl>) impls.backward_weights = impl;
  return impls;
}

// One plan's pooling.
class PoolImpl {
 public:
  virtual ~PoolImpl() = default;
  virtual void forward(const float* x, float* y, int threads) const = 0;
  virtual void backward(const float* x, const float* dy, float* dx, int threads) const = 0;
};

// The part a row plays, by which `auto`'s rule asks the registry for it (auto_select.cpp names
// no backend).
enum class ConvRole {
  reference,         // the oracle; auto and tune take it only when nothing else accepts
  direct_summation,  // sums of products straight from the input
  lowered_gemm,      // the input lowered to a matrix, multiplied by convkit's packed GEMM
  minimal_filtering, // Winograd: transformed tiles and weights, fewer multiplications (Math::fast)
};

struct ConvBackend {
  const char* name;
  const char* description;
  Math math;  // the accuracy class: auto and tune take a fast row only under Math::fast
  ConvRole role;
  // Indexed by Direction: null where the row implements the direction; otherwise the name of
  // the row that runs it when this one is asked for by name (that row implements it).
  std::array<const char*, 3> served_by;
  // Empty when the backend handles the (valid) problem; otherwise why it declines.
  std::string (*decline_reason)(const Conv2dParams&);
  ConvImpls (*create)(const Conv2dParams&, const PlanContext&);

  bool implements(Direction d) const { return served_by[static_cast<size_t>(d)] == nullptr; }
};
// Every direction implemented: the served_by of most rows.
inline constexpr std::array<const char*, 3> kImplementsEveryDirection{};

struct PoolBackend {
  const char* name;
  const char* description;
  std::string (*decline_reason)(const Pool2dParams&);
  std::unique_ptr<PoolImpl> (*create)(const Pool2dParams&, const PlanContext&);
};

// The registry (registry.cpp), the only place backends are named; "naive" first.
const std::vector<ConvBackend>& conv_backend_table();
const std::vector<PoolBackend>& pool_backend_table();

inline const char* direction_name(Direction d) {
  switch (d) {
    case Direction::forward: return "fwd";
    case Direction::backward_data: return "bwd_d";
    case Direction::backward_weights: return "bwd_w";
  }
  return "";
}
inline const char* math_name(Math math) { return math == Math::fast ? "fast" : "strict"; }
inline constexpr Direction kDirections[] = {Direction::forward, Direction::backward_data, Direction::backward_weights};

// A backend for each Direction (indexed by it), and why, for CONVKIT_VERBOSE.
struct ConvChoice {
  std::array<const ConvBackend*, 3> by_direction{};
  std::string why;
};

// The registry row of that name, or null.
const ConvBackend* find_conv_backend(std::string_view name);
// The row of `table` that runs direction `d` when `row` is asked for by name: itself, or the
// one it names (registry_test checks that one exists and implements d).
const ConvBackend& serving_row(const std::vector<ConvBackend>& table, const ConvBackend& row, Direction d);

// Whether `auto` or `tune` may run `row` for direction `d` of `p` under `math`: the row
// implements d, accepts p, and is strict unless math is fast.
bool conv_candidate(const ConvBackend& row, const Conv2dParams& p, Direction d, Math math);
// The first row of `table` after the reference that is a candidate and plays `role`, or null.
const ConvBackend* conv_row_for_role(const std::vector<ConvBackend>& table, ConvRole role, const Conv2dParams& p,
                                     Direction d, Math math);

// `auto`'s choices among the candidates of `table` (the registry's, or a test's). Defined in
// auto_select.cpp.
ConvChoice auto_conv_choice(const std::vector<ConvBackend>& table, const Conv2dParams&, Math);
inline ConvChoice auto_conv_choice(const Conv2dParams& p, Math math) {
  return auto_conv_choice(conv_backend_table(), p, math);
}
const PoolBackend& auto_pool_backend(const Pool2dParams&);

}  // namespace convkit::detail
