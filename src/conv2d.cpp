// The convolution plan: validate and choose once, then run many times.
#include <functional>
#include <string>

#include "backend.hpp"
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

class ConvPlan {
 public:
  ConvPlan(const Conv2dParams& p, const Options& options) : params(p), options(options) {
    p.validate();
    require_threads(options.threads);
    const PlanContext context{options.activation, active_isa()};
    const auto tune = [&](const Conv2dParams& q) -> const ConvBackend& {
      return tuned_conv_backend(q, context, resolve_threads(options.threads));
    };
    backend = &choose_backend(conv_backend_table(), p, options, auto_conv_backend, tune, "conv2d");
    impl = backend->create(p, context);
    // Packed weights fit any plan of the same problem (batch aside) on the same backend and ISA.
    Conv2dParams layout = p;
    layout.batch = 1;
    packed_layout = std::hash<std::string>{}(std::string(backend->name) + "/" + isa_name(context.isa) + "/" +
                                             to_string(layout));
  }

  Conv2dParams params;
  Options options;
  const ConvBackend* backend = nullptr;
  std::unique_ptr<ConvImpl> impl;
  size_t packed_layout = 0;

  int threads() const { return resolve_threads(options.threads); }
};

}  // namespace detail

struct PackedWeights::Storage {
  detail::AlignedBuffer data;
  size_t layout = 0;
};

PackedWeights::PackedWeights() = default;
PackedWeights::PackedWeights(PackedWeights&&) noexcept = default;
PackedWeights& PackedWeights::operator=(PackedWeights&&) noexcept = default;
PackedWeights::~PackedWeights() = default;
bool PackedWeights::empty() const { return storage_ == nullptr; }

Conv2d::Conv2d(const Conv2dParams& p, const Options& options)
    : plan_(std::make_shared<const detail::ConvPlan>(p, options)) {}

const Conv2dParams& Conv2d::params() const { return plan_->params; }
std::string_view Conv2d::backend() const { return plan_->backend->name; }

void Conv2d::forward(const float* x, const float* w, const float* b, float* y) const {
  detail::require_pointer(x, "Conv2d::forward", "x");
  detail::require_pointer(w, "Conv2d::forward", "w");
  detail::require_pointer(y, "Conv2d::forward", "y");
  plan_->impl->forward(x, w, b, y, plan_->threads());
}

PackedWeights Conv2d::pack_weights(const float* w) const {
  detail::require_pointer(w, "Conv2d::pack_weights", "w");
  PackedWeights packed;
  packed.storage_ = std::make_unique<PackedWeights::Storage>();
  packed.storage_->data = detail::AlignedBuffer(plan_->impl->packed_weights_size());
  packed.storage_->layout = plan_->packed_layout;
  plan_->impl->pack_weights(w, packed.storage_->data.data());
  return packed;
}

void Conv2d::forward(const float* x, const PackedWeights& w, const float* b, float* y) const {
  detail::require_pointer(x, "Conv2d::forward", "x");
  detail::require_pointer(y, "Conv2d::forward", "y");
  if (w.empty()) throw Error("convkit: Conv2d::forward: the PackedWeights are empty (moved from or default-made)");
  if (w.storage_->layout != plan_->packed_layout) {
    throw Error("convkit: Conv2d::forward: the PackedWeights were packed for another problem, backend or "
                "instruction set than " + to_string(plan_->params) + " on " + plan_->backend->name);
  }
  plan_->impl->forward_packed(x, w.storage_->data.data(), b, y, plan_->threads());
}

void Conv2d::backward_data(const float* dy, const float* w, float* dx) const {
  detail::require_pointer(dy, "Conv2d::backward_data", "dy");
  detail::require_pointer(w, "Conv2d::backward_data", "w");
  detail::require_pointer(dx, "Conv2d::backward_data", "dx");
  plan_->impl->backward_data(dy, w, dx, plan_->threads());
}

void Conv2d::backward_weights(const float* x, const float* dy, float* dw, float* db) const {
  detail::require_pointer(x, "Conv2d::backward_weights", "x");
  detail::require_pointer(dy, "Conv2d::backward_weights", "dy");
  detail::require_pointer(dw, "Conv2d::backward_weights", "dw");
  plan_->impl->backward_weights(x, dy, dw, db, plan_->threads());
}

}  // namespace convkit
