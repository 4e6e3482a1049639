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

void ConvBackwardData::pack_backward_data_weights(const float* w, float* packed) const {
  std::memcpy(packed, w, weight_elements_ * sizeof(float));
}

ConvChoice named_conv_choice(const std::vector<ConvBackend>& table, const Conv2dParams& p,
                             const BackendRequest& request) {
  const ConvBackend& named = named_backend(table, p, request, "conv2d");
  ConvChoice choice;
  for (Direction d : kDirections) {
    const ConvBackend& serving = serving_row(table, named, d);
    if (const std::string reason = serving.decline_reason(p); !reason.empty()) {
      throw Error("convkit: " + request.cause + " = \"" + request.name + "\" runs " + direction_name(d) + " on " +
                  serving.name + ", which declines " + to_string(p) + ": " + reason);
    }
    choice.by_direction[static_cast<size_t>(d)] = &serving;
  }
  choice.why = request.cause;
  return choice;
}

class ConvPlan {
 public:
  ConvPlan(const Conv2dParams& problem, const Options& options) : params(problem), options(options) {
    problem.validate();
    const Conv2dParams p = bounded_geometry(problem);
    require_threads(options.threads);
    const PlanContext context{options.activation, active_isa()};
    const Math math = math_request(options);
    const BackendRequest request = backend_request(options);
    ConvChoice choice;
    if (request.name == "auto") {
      choice = auto_conv_choice(p, math);
      choice.why += std::string(" (Math::") + math_name(math) + ")";
    } else if (request.name == "tune") {
      choice = tuned_conv_choice(p, context, threads(), math);
      choice.why += std::string(" (Math::") + math_name(math) + ")";
    } else {
      choice = named_conv_choice(conv_backend_table(), p, request);
    }
    // One creation per distinct row, shared by the directions that run on it.
    std::array<ConvImpls, 3> made;
    for (size_t d = 0; d < 3; ++d) {
      backends[d] = choice.by_direction[d];
      size_t e = 0;
      while (e < d && backends[e] != backends[d]) ++e;
      made[d] = e < d ? made[e] : backends[d]->create(p, context);
    }
    forward_impl = made[0].forward;
    backward_data_impl = made[1].backward_data;
    backward_weights_impl = made[2].backward_weights;
    std::string chosen = backends[0]->name;
    if (backends[1] != backends[0] || backends[2] != backends[0]) {
      chosen = std::string("fwd ") + backends[0]->name + ", bwd_d " + backends[1]->name + ", bwd_w " + backends[2]->name;
    }
    log_choice("conv2d", to_string(problem), chosen, choice.why);
    // Packed weights fit any plan of the same problem (batch aside) that runs their direction
    // on the same row and instruction set: the row that runs it, not the one asked for.
    Conv2dParams layout = p;
    layout.batch = 1;
    for (Direction d : {Direction::forward, Direction::backward_data}) {
      const std::string key = std::string(direction_name(d)) + "/" + backends[static_cast<size_t>(d)]->name + "/" +
                              isa_name(context.isa) + "/" + to_string(layout);
      packed_layouts[static_cast<size_t>(d)] = std::hash<std::string>{}(key);
    }
  }

  int threads() const { return resolve_threads(options.threads); }

  Conv2dParams params;
  Options options;
  std::array<const ConvBackend*, 3> backends{};  // the row running each Direction (indexed by it)
  std::shared_ptr<const ConvForward> forward_impl;
  std::shared_ptr<const ConvBackwardData> backward_data_impl;
  std::shared_ptr<const ConvBackwardWeights> backward_weights_impl;
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
  plan_->forward_impl->forward(x, w, b, y, plan_->threads());
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
  const bool forward = direction == Direction::forward;
  PackedWeights packed;
  packed.storage_ = std::make_unique<PackedWeights::Storage>();
  const size_t floats =
      forward ? plan_->forward_impl->packed_weights_size() : plan_->backward_data_impl->backward_data_packed_size();
  packed.storage_->data = detail::AlignedBuffer(floats);
  packed.storage_->layout = plan_->packed_layouts[static_cast<size_t>(direction)];
  packed.storage_->direction = direction;
  if (forward) {
    plan_->forward_impl->pack_weights(w, packed.storage_->data.data());
  } else {
    plan_->backward_data_impl->pack_backward_data_weights(w, packed.storage_->data.data());
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
  plan_->forward_impl->forward_packed(x, packed, b, y, plan_->threads());
}

void Conv2d::backward_data(const float* dy, const float* w, float* dx) const {
  detail::require_pointer(dy, "Conv2d::backward_data", "dy");
  detail::require_pointer(w, "Conv2d::backward_data", "w");
  detail::require_pointer(dx, "Conv2d::backward_data", "dx");
  plan_->backward_data_impl->backward_data(dy, w, dx, plan_->threads());
}

void Conv2d::backward_data(const float* dy, const PackedWeights& w, float* dx) const {
  detail::require_pointer(dy, "Conv2d::backward_data", "dy");
  detail::require_pointer(dx, "Conv2d::backward_data", "dx");
  const float* packed = packed_data(w, Direction::backward_data, "backward_data");
  plan_->backward_data_impl->backward_data_packed(dy, packed, dx, plan_->threads());
}

void Conv2d::backward_weights(const float* x, const float* dy, float* dw, float* db) const {
  detail::require_pointer(x, "Conv2d::backward_weights", "x");
  detail::require_pointer(dy, "Conv2d::backward_weights", "dy");
  detail::require_pointer(dw, "Conv2d::backward_weights", "dw");
  plan_->backward_weights_impl->backward_weights(x, dy, dw, db, plan_->threads());
}

}  // namespace convkit
