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

// One plan's convolution. All methods are const and may run concurrently; `threads` >= 1 is
// the size of the one OpenMP parallel region the call may open.
class ConvImpl {
 public:
  explicit ConvImpl(const Conv2dParams& p) : weight_elements_(static_cast<size_t>(p.weight_elements())) {}
  virtual ~ConvImpl() = default;

  // The floats pack_weights writes; forward_packed reads them.
  virtual size_t packed_weights_size() const = 0;
  virtual void pack_weights(const float* w, float* packed) const = 0;
  virtual void forward_packed(const float* x, const float* packed_w, const float* b, float* y,
                              int threads) const = 0;
  // Forward from HWIO weights. A backend whose kernels read HWIO as it is overrides this to
  // skip the packing; the default packs into a workspace first.
  virtual void forward(const float* x, const float* w, const float* b, float* y, int threads) const;

  virtual void backward_data(const float* dy, const float* w, float* dx, int threads) const = 0;
  // Backward data from weights packed once. The default packed form is HWIO itself, for
  // backends whose backward data packs nothing worth keeping.
  virtual size_t backward_data_packed_size() const { return weight_elements_; }
  virtual void pack_backward_data_weights(const float* w, float* packed) const;
  virtual void backward_data_packed(const float* dy, const float* packed_w, float* dx, int threads) const {
    backward_data(dy, packed_w, dx, threads);
  }
  virtual void backward_weights(const float* x, const float* dy, float* dw, float* db,
                                int threads) const = 0;

 protected:
  mutable WorkspacePool scratch_;  // per-call buffers, reused across calls

 private:
  size_t weight_elements_;
};

// One plan's pooling.
class PoolImpl {
 public:
  virtual ~PoolImpl() = default;
  virtual void forward(const float* x, float* y, int threads) const = 0;
  virtual void backward(const float* x, const float* dy, float* dx, int threads) const = 0;
};

struct ConvBackend {
  const char* name;
  const char* description;
  // Empty when the backend handles the (valid) problem; otherwise why it declines.
  std::string (*decline_reason)(const Conv2dParams&);
  std::unique_ptr<ConvImpl> (*create)(const Conv2dParams&, const PlanContext&);
};

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
inline constexpr Direction kDirections[] = {Direction::forward, Direction::backward_data, Direction::backward_weights};

// A backend for each Direction (indexed by it), and why, for CONVKIT_VERBOSE.
struct ConvChoice {
  std::array<const ConvBackend*, 3> by_direction{};
  std::string why;
};

// The registry row of that name, or null.
const ConvBackend* find_conv_backend(std::string_view name);

// `auto`'s choices: registered backends that accept the problem. Defined in auto_select.cpp.
ConvChoice auto_conv_choice(const Conv2dParams&);
const PoolBackend& auto_pool_backend(const Pool2dParams&);

}  // namespace convkit::detail
