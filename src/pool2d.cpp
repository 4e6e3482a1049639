// The pooling plan: validate and choose once, then run many times.
#include "backend.hpp"
#include "bounded_geometry.hpp"
#include "convkit/pool2d.hpp"
#include "plan.hpp"
#include "threading.hpp"

namespace convkit {

namespace detail {
class PoolPlan {
 public:
  PoolPlan(const Pool2dParams& problem, const Options& options) : params(problem), options(options) {
    problem.validate();
    const Pool2dParams p = bounded_geometry(problem);
    require_threads(options.threads);
    const BackendRequest request = backend_request(options);
    // Pooling has nothing worth timing per shape: "tune" means "auto" here.
    const bool automatic = request.name == "auto" || request.name == "tune";
    backend = automatic ? &auto_pool_backend(p) : &named_backend(pool_backend_table(), p, request, "pool2d");
    log_choice("pool2d", to_string(problem), backend->name, automatic ? request.name : request.cause);
    impl = backend->create(p, PlanContext{options.activation, active_isa()});
  }
  Pool2dParams params;
  Options options;
  const PoolBackend* backend = nullptr;
  std::unique_ptr<PoolImpl> impl;
};
}  // namespace detail

Pool2d::Pool2d(const Pool2dParams& p, const Options& options)
    : plan_(std::make_shared<const detail::PoolPlan>(p, options)) {}

const Pool2dParams& Pool2d::params() const { return plan_->params; }
std::string_view Pool2d::backend() const { return plan_->backend->name; }

void Pool2d::forward(const float* x, float* y) const {
  detail::require_pointer(x, "Pool2d::forward", "x");
  detail::require_pointer(y, "Pool2d::forward", "y");
  plan_->impl->forward(x, y, detail::resolve_threads(plan_->options.threads));
}

void Pool2d::backward(const float* x, const float* dy, float* dx) const {
  detail::require_pointer(x, "Pool2d::backward", "x");
  detail::require_pointer(dy, "Pool2d::backward", "dy");
  detail::require_pointer(dx, "Pool2d::backward", "dx");
  plan_->impl->backward(x, dy, dx, detail::resolve_threads(plan_->options.threads));
}

}  // namespace convkit
