// The convolution plan: validate and choose once, then run many times.
#include <array>
#include <cstring>
#include <functional>
#include <memory>
#include <string>

#include "backend.hpp"
#include "bounded_geometry.hpp"
#include "plan.hpp"
#include "threading.hpp"
#include "tuning.hpp"

namespace convkit {

namespace detail {

void ConvImpl::forward(const float* x, const float* w, const float* b, float* y, int threads) const {
  auto packed = scratch_.acquire(packed_weights_size());
  pack_weights(w, packed.data());
  forward_packed(x, packed.data(), b, y, threads);
}

void ConvImpl::pack_backward_data_weights(const float* w, float* packed) const {
  std::memcpy(packed, w, weight_elements_ * sizeof(float));
}

class ConvPlan {
 public:
  ConvPlan(const Conv2dParams& problem, const Options& options) : params(problem), options(options) {
    problem.validate();
    const Conv2dParams p = bounded_geometry(problem);
    require_threads(options.threads);
    const PlanContext context{options.activation, active_isa()};
    const BackendRequest request = backend_request(options);
    ConvChoice choice;
    if (request.name == "auto") {
      choice = auto_conv_choice(p);
    } else if (request.name == "tune") {
      choice = tuned_conv_choice(p, context, threads());
    } else {
      const ConvBackend& b = named_backend(conv_backend_table(), p, request, "conv2d");
      choice = {{&b, &b, &b}, request.cause};
    }
    // One implementation per distinct backend, shared by the directions that chose it.
    for (size_t d = 0; d < 3; ++d) {
      backends[d] = choice.by_direction[d];
      for (size_t e = 0; e < d && impls[d] == nullptr; ++e) {
        if (backends[e] == backends[d]) impls[d] = impls[e];
      }
      if (impls[d] == nullptr) impls[d] = backends[d]->create(p, context);
    }
    std::string chosen = backends[0]->name;
    if (backends[1] != backends[0] || backends[2] != backends[0]) {
      chosen = std::string("fwd ") + backends[0]->name + ", bwd_d " + backends[1]->name + ", bwd_w " + backends[2]->name;
    }
    log_choice("conv2d", to_string(problem), chosen, choice.why);
    // Packed weights fit any plan of the same problem (batch aside) that runs their direction
    // on the same backend and instruction set.
    Conv2dParams layout = p;
    layout.batch = 1;
    for (Direction d : {Direction::forward, Direction::backward_data}) {
      const std::string key = std::string(direction_name(d)) + "/" + backends[static_cast<size_t>(d)]->name + "/" +
                              isa_name(context.isa) + "/" + to_string(layout);
      packed_layouts[static_cast<size_t>(d)] = std::hash<std::string>{}(key);
    }
  }

  const ConvImpl& impl(Direction d) const { return *impls[static_cast<size_t>(d)]; }
  int threads() const { return resolve_threads(options.threads); }

  Conv2dParams params;
  Options options;
  std::array<const ConvBackend*, 3> backends{};  // indexed by Direction
  std::array<std::shared_ptr<const ConvImpl>, 3> impls;
  std::array<size_t, 2> packed_layouts{};  // forward, backward data
};

}  // namespace detail

struct PackedWeights::Storage {
  detail::AlignedBuffer data;
  size_t layout = 0;
  Direction direction = Direction::forward;
};

PackedWeights::PackedWeights() = default;
PackedWeights::PackedWeights(PackedWeights&&) noexcept = default;
PackedWeights& PackedWeights::operator=(PackedWeights&&) noexcept = default;
PackedWeights::~PackedWeights() = default;
bool PackedWeights::empty() const { return storage_ == nullptr; }

Conv2d::Conv2d(const Conv2dParams& p, const Options& options)
    : plan_(std::make_shared<const detail::ConvPlan>(p, options)) {}

const Conv2dParams& Conv2d::params() const { return plan_->params; }
std::string_view Conv2d::backend() const { return backend(Direction::forward); }
std::string_view Conv2d::backend(Direction d) const { return plan_->backends[static_cast<size_t>(d)]->name; }

void Conv2d::forward(const float* x, const float* w, const float* b, float* y) const {
  detail::require_pointer(x, "Conv2d::forward", "x");
  detail::require_pointer(w, "Conv2d::forward", "w");
  detail::require_pointer(y, "Conv2d::forward", "y");
  plan_->impl(Direction::forward).forward(x, w, b, y, plan_->threads());
}

namespace {

// As the caller spells it: Direction::backward_data.
std::string enumerator(Direction d) {
  switch (d) {
    case Direction::forward: return "Direction::forward";
    case Direction::backward_data: return "Direction::backward_data";
    case Direction::backward_weights: return "Direction::backward_weights";
  }
  return "";
}

}  // namespace

PackedWeights Conv2d::pack_weights(const float* w, Direction direction) const {
  detail::require_pointer(w, "Conv2d::pack_weights", "w");
  if (direction == Direction::backward_weights) {
    throw Error("convkit: Conv2d::pack_weights: direction is " + enumerator(direction) + ", which takes no weights (" +
                enumerator(Direction::forward) + " or " + enumerator(Direction::backward_data) + ")");
  }
  const detail::ConvImpl& impl = plan_->impl(direction);
  const bool forward = direction == Direction::forward;
  PackedWeights packed;
  packed.storage_ = std::make_unique<PackedWeights::Storage>();
  const size_t floats = forward ? impl.packed_weights_size() : impl.backward_data_packed_size();
  packed.storage_->data = detail::AlignedBuffer(floats);
  packed.storage_->layout = plan_->packed_layouts[static_cast<size_t>(direction)];
  packed.storage_->direction = direction;
  if (forward) {
    impl.pack_weights(w, packed.storage_->data.data());
  } else {
    impl.pack_backward_data_weights(w, packed.storage_->data.data());
  }
  return packed;
}

const float* Conv2d::packed_data(const PackedWeights& packed, Direction direction, const char* call) const {
  const PackedWeights::Storage* w = packed.storage_.get();
  const size_t d = static_cast<size_t>(direction);
  if (w != nullptr && w->direction == direction && w->layout == plan_->packed_layouts[d]) return w->data.data();
  // The message is built only here: every packed call passes through this check.
  const std::string where = std::string("convkit: Conv2d::") + call + ": ";
  if (w == nullptr) throw Error(where + "the PackedWeights are empty (moved from or default-made)");
  if (w->direction != direction) {
    throw Error(where + "the PackedWeights were packed for " + enumerator(w->direction) + ", not " +
                enumerator(direction) + " (pack_weights(w, " + enumerator(direction) + "))");
  }
  throw Error(where + "the PackedWeights were packed for another problem, backend or instruction set than " +
              to_string(plan_->params) + " on " + plan_->backends[d]->name);
}

void Conv2d::forward(const float* x, const PackedWeights& w, const float* b, float* y) const {
  detail::require_pointer(x, "Conv2d::forward", "x");
  detail::require_pointer(y, "Conv2d::forward", "y");
  const float* packed = packed_data(w, Direction::forward, "forward");
  plan_->impl(Direction::forward).forward_packed(x, packed, b, y, plan_->threads());
}

void Conv2d::backward_data(const float* dy, const float* w, float* dx) const {
  detail::require_pointer(dy, "Conv2d::backward_data", "dy");
  detail::require_pointer(w, "Conv2d::backward_data", "w");
  detail::require_pointer(dx, "Conv2d::backward_data", "dx");
  plan_->impl(Direction::backward_data).backward_data(dy, w, dx, plan_->threads());
}

void Conv2d::backward_data(const float* dy, const PackedWeights& w, float* dx) const {
  detail::require_pointer(dy, "Conv2d::backward_data", "dy");
  detail::require_pointer(dx, "Conv2d::backward_data", "dx");
  const float* packed = packed_data(w, Direction::backward_data, "backward_data");
  plan_->impl(Direction::backward_data).backward_data_packed(dy, packed, dx, plan_->threads());
}

void Conv2d::backward_weights(const float* x, const float* dy, float* dw, float* db) const {
  detail::require_pointer(x, "Conv2d::backward_weights", "x");
  detail::require_pointer(dy, "Conv2d::backward_weights", "dy");
  detail::require_pointer(dw, "Conv2d::backward_weights", "dw");
  plan_->impl(Direction::backward_weights).backward_weights(x, dy, dw, db, plan_->threads());
}

}  // namespace convkit
